"""Gated changes: the live publication stays exactly as it was until the federation operator approves."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select

from app.registry.models import Publication
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from app.trust.devpki import DevelopmentPki, KeyPair, ensure_development_pki, issue_leaf
from tests.api_support import problem


def _published(db) -> dict[tuple[str, str], bytes]:
    with db.reader() as session:
        return {(p.flavour, p.path_key): bytes(p.document) for p in session.scalars(select(Publication))}


def test_a_new_document_type_waits_for_approval(api, db, settings):
    kommun = api.ids["0203:exempelkommun.se"]
    before = _published(db)
    body = {
        "documentType": settings.document_types[1],
        "process": "urn:fdc:digg.se:edelivery:process::other",
        "endpointConfiguration": str(api.ids["endpoint"]),
    }
    requested = api("POST", f"/api/v1/organisations/{kommun}/services", "ap", json=body)
    assert requested.status_code == 202, requested.get_data(as_text=True)
    change = requested.get_json()
    assert (change["kind"], change["status"], change["requestedBy"]) == ("add_service", "pending", "ap")
    assert requested.headers["Location"] == f"/api/v1/pending-changes/{change['id']}"
    assert _published(db) == before, "nothing may change before the operator approves"
    queue = api("GET", "/api/v1/pending-changes").get_json()["items"]
    assert [c["id"] for c in queue] == [change["id"]]
    problem(api("POST", f"/api/v1/pending-changes/{change['id']}/approve", "ap", json={}), 403)
    approved = api("POST", f"/api/v1/pending-changes/{change['id']}/approve", json={})
    assert approved.get_json()["status"] == "approved"
    after = _published(db)
    assert after != before
    assert any(b"urn:fdc:digg.se:edelivery:process" in doc and b">other<" in doc for doc in after.values())
    problem(api("POST", f"/api/v1/pending-changes/{change['id']}/approve", json={}), 409)


def test_a_rejected_certificate_change_leaves_the_publication_unchanged(api, db, settings, tmp_path):
    kommun = api.ids["0203:exempelkommun.se"]
    pki = DevelopmentPki(settings.pki_dir)
    target = KeyPair(tmp_path / "new.key", tmp_path / "new.crt")
    renewed = issue_leaf(pki.o2o_ca, target, "0203:exempelkommun.se signing", usage="signing")
    before = _published(db)
    body = {"usage": "signing", "certificate": renewed.certificate.read_text()}
    requested = api("POST", f"/api/v1/organisations/{kommun}/certificates", "ap", json=body)
    assert requested.status_code == 202, requested.get_data(as_text=True)
    change = requested.get_json()
    problem(api("POST", f"/api/v1/pending-changes/{change['id']}/reject", json={}), 422)  # a reason is needed
    rejected = api("POST", f"/api/v1/pending-changes/{change['id']}/reject", json={"reason": "Fel utfärdare"})
    assert (rejected.get_json()["status"], rejected.get_json()["reason"]) == ("rejected", "Fel utfärdare")
    assert _published(db) == before


def test_certificates_from_other_authorities_are_refused_at_once(api, settings, tmp_path):
    kommun = api.ids["0203:exempelkommun.se"]
    stranger = ensure_development_pki(tmp_path / "pki", access_points=[], participants=["0203:exempelkommun.se"])
    refused = api(
        "POST",
        f"/api/v1/organisations/{kommun}/certificates",
        "ap",
        json={
            "usage": "signing",
            "certificate": stranger.participant("0203:exempelkommun.se", "signing").certificate.read_text(),
        },
    )
    assert problem(refused, 422)["errors"][0]["reason"].startswith("not issued by a trusted O2O CA")


def test_removing_a_certificate_is_gated_too_and_approval_publishes(api, db):
    kommun = api.ids["0203:exempelkommun.se"]
    certificates = api("GET", f"/api/v1/organisations/{kommun}/certificates", "ap").get_json()
    signing = next(c for c in certificates if c["usage"] == "signing")
    before = _published(db)
    requested = api(
        "DELETE", f"/api/v1/organisations/{kommun}/certificates/{signing['id']}", "ap", headers={"If-Match": "*"}
    )
    assert requested.status_code == 202
    assert _published(db) == before
    api("POST", f"/api/v1/pending-changes/{requested.get_json()['id']}/approve", json={})
    metadata = "/smp/" + quote("iso6523-actorid-upis::0203:exempelkommun.se", safe="") + "/services/"
    metadata += quote(SDK_MESSAGE_DOCUMENT_TYPE, safe="")
    document = api.client.get(metadata).data
    assert b"certpub:signing-cert" not in document
    assert b"certpub:encryption-cert" in document


def test_the_operator_and_unapproved_participants_are_not_gated(api, db):
    kommun = api.ids["0203:exempelkommun.se"]
    body = {
        "documentType": SDK_MESSAGE_DOCUMENT_TYPE,
        "process": "urn:fdc:digg.se:edelivery:process::direkt",
        "endpointConfiguration": str(api.ids["endpoint"]),
    }
    assert api("POST", f"/api/v1/organisations/{kommun}/services", json=body).status_code == 201


def test_endpoint_url_changes_apply_at_once(api, db):
    before = _published(db)
    changed = api(
        "PATCH",
        f"/api/v1/endpoint-configurations/{api.ids['endpoint']}",
        "ap",
        json={"endpointUrl": "https://direkt.example.se/as4"},
        headers={"If-Match": "*"},
    )
    assert changed.status_code == 200
    after = _published(db)
    assert after != before
    assert sum(b"https://direkt.example.se/as4" in doc for doc in after.values()) == 18
