"""The SMP read interface: status codes, content types, caching validators, identifier handling."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app import demo
from app.audit import Actor
from app.operations import organisations
from app.registry.models import Organisation
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE, SDK_RECEIPT_DOCUMENT_TYPE
from app.trust.devpki import DevelopmentPki
from tests.conftest import make_settings

PARTICIPANT = "iso6523-actorid-upis::0203:exempelkommun.se"
GROUP = "/smp/" + quote(PARTICIPANT, safe="")
METADATA = f"{GROUP}/services/{quote(SDK_MESSAGE_DOCUMENT_TYPE, safe='')}"


@pytest.fixture
def seeded_client(app, db, settings):
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    return app.test_client()


def test_service_group(seeded_client):
    response = seeded_client.get(GROUP)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=UTF-8"
    assert response.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    body = response.data.decode()
    assert ">0203:exempelkommun.se</ParticipantIdentifier>" in body
    # absolute, percent-encoded references built from SDK_PUBLIC_URL
    for document in (SDK_MESSAGE_DOCUMENT_TYPE, SDK_RECEIPT_DOCUMENT_TYPE):
        href = f'href="http://127.0.0.1:8080/smp/{quote(PARTICIPANT, safe="")}/services/{quote(document, safe="")}"'
        assert href in body


def test_signed_service_metadata(seeded_client):
    response = seeded_client.get(METADATA)
    assert response.status_code == 200
    assert b"<SignedServiceMetadata" in response.data
    assert b"<ds:Signature" in response.data
    assert b">bdx:noprocess</ProcessIdentifier>" in response.data


def test_cache_validators_and_304(seeded_client, settings):
    first = seeded_client.get(METADATA)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["Cache-Control"] == f"public, max-age={settings.smp_cache_max_age}"
    not_modified = seeded_client.get(METADATA, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.data == b""
    assert not_modified.headers["ETag"] == etag
    assert seeded_client.get(METADATA, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert seeded_client.get(METADATA, headers={"If-None-Match": '"other"'}).status_code == 200
    assert seeded_client.get(METADATA, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert (
        seeded_client.get(METADATA, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    )
    assert seeded_client.get(METADATA, headers={"If-Modified-Since": "garbage"}).status_code == 200


def test_head_answers_headers_without_body(seeded_client):
    get = seeded_client.get(GROUP)
    head = seeded_client.head(GROUP)
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(get.data))
    assert head.headers["ETag"] == get.headers["ETag"]


@pytest.mark.parametrize(
    "path",
    [
        "/smp/iso6523-actorid-upis::0203:exempelkommun.se",
        "/smp/iso6523-actorid-upis%3a%3a0203%3aexempelkommun.se",
        "/smp/ISO6523-ACTORID-UPIS%3A%3A0203%3AExempelKommun.SE",
        "/smp/iso6523-actorid-upis::0203:EXEMPELKOMMUN.SE",
        "/smp/0203:exempelkommun.se",
    ],
)
def test_participants_match_case_insensitively_and_any_encoding(seeded_client, path):
    response = seeded_client.get(path)
    assert response.status_code == 200, response.data
    assert b">0203:exempelkommun.se</ParticipantIdentifier>" in response.data  # the canonical form


def test_document_identifier_with_raw_colons(seeded_client):
    raw = f"/smp/{PARTICIPANT}/services/{SDK_MESSAGE_DOCUMENT_TYPE.replace('#', '%23')}"
    assert seeded_client.get(raw).status_code == 200


def test_document_identifiers_are_case_sensitive_by_default(seeded_client):
    upper = f"{GROUP}/services/{quote(SDK_MESSAGE_DOCUMENT_TYPE.upper(), safe='')}"
    response = seeded_client.get(upper)
    assert response.status_code == 404


def test_an_encoded_slash_never_splits_the_path(seeded_client):
    # %2F stays inside the document identifier: a 404 for that identifier, not a different route
    response = seeded_client.get(f"{GROUP}/services/busdox-docid-qns%3A%3Aa%2Fservices%2Fb")
    assert response.status_code == 404
    assert "busdox-docid-qns::a/services/b" in response.json["detail"]


def _problem(response, status):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(response.data)
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/smp/iso6523-actorid-upis::0203:okand.se",
        f"/smp/iso6523-actorid-upis::0203:okand.se/services/{quote(SDK_MESSAGE_DOCUMENT_TYPE, safe='')}",
        f"{GROUP}/services/busdox-docid-qns%3A%3Aurn%3Aother",
        "/smp/urn:oasis:names:tc:ebcore:partyid-type:iso6523:0088::123",
        f"{GROUP}/other/thing",
        f"{GROUP}/services",
        "/smp/bdxr-smp-2/iso6523-actorid-upis::0203:okand.se",
    ],
)
def test_unknown_resources_are_404_with_a_small_clear_body(seeded_client, path):
    body = _problem(seeded_client.get(path), 404)
    assert body["type"] == "urn:sdk-addressbook:problem:not-found"
    assert len(json.dumps(body)) < 400


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/smp/iso6523-actorid-upis::0203:not a domain", "participantIdentifier"),
        ("/smp/iso6523-actorid-upis::0203:%FF%FE.se", "participantIdentifier"),
        (f"{GROUP}/services/no-separator", "documentIdentifier"),
        (f"{GROUP}/services/busdox-docid-qns%3A%3A%00", "documentIdentifier"),
    ],
)
def test_malformed_identifiers_are_400_naming_the_field(seeded_client, path, field):
    body = _problem(seeded_client.get(path), 400)
    assert body["errors"][0]["field"] == field


def test_suspended_participant_answers_404_at_once(seeded_client, db):
    assert seeded_client.get(GROUP).status_code == 200  # now in the in-process cache
    with db.writer() as session:
        organisation = session.scalar(
            select(Organisation).where(Organisation.participant_value == "0203:exempelkommun.se")
        )
        organisations.change_status(session, Actor("op", "operator"), organisation.id, "suspend")
    assert seeded_client.get(GROUP).status_code == 404
    assert seeded_client.get(METADATA).status_code == 404


def test_smp2_and_peppol_flavours(seeded_client):
    smp2 = seeded_client.get("/smp/bdxr-smp-2/" + quote(PARTICIPANT, safe=""))
    assert smp2.status_code == 200
    assert smp2.headers["Content-Type"] == "application/xml; charset=UTF-8"
    assert b"<smb:SMPVersionID>2.0</smb:SMPVersionID>" in smp2.data
    assert b"<ds:Signature" in smp2.data  # SMP 2.0 signs the ServiceGroup too
    smp2_metadata = seeded_client.get(
        f"/smp/bdxr-smp-2/{PARTICIPANT}/services/{quote(SDK_MESSAGE_DOCUMENT_TYPE, safe='')}"
    )
    assert smp2_metadata.status_code == 200
    assert b"http://www.w3.org/2006/12/xml-c14n11" in smp2_metadata.data
    peppol = seeded_client.get(f"/smp/peppol/{PARTICIPANT}/services/{quote(SDK_MESSAGE_DOCUMENT_TYPE, safe='')}")
    assert peppol.status_code == 200
    assert b"http://busdox.org/serviceMetadata/publishing/1.0/" in peppol.data
    assert b"<wsa:Address>https://ap0001.demo.sdk-addressbook.test/as4</wsa:Address>" in peppol.data


def test_smp_path_and_cache_age_follow_the_settings(db, pki_instance_dir):
    from app import create_app

    settings = make_settings(
        pki_instance_dir,
        db.url,
        SDK_SMP_PATH="/x/smp",
        SDK_SMP_CACHE_MAX_AGE="60",
        SDK_PUBLIC_URL="https://smp.example.se",
    )
    app = create_app(settings, database=db)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    client = app.test_client()
    response = client.get("/x/smp/" + quote(PARTICIPANT, safe=""))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert b'href="https://smp.example.se/x/smp/iso6523-actorid-upis%3A%3A0203' in response.data
    assert client.get("/smp/" + quote(PARTICIPANT, safe="")).status_code == 404


_SCHEME_CASES = {"lower": str.lower, "upper": str.upper, "mixed": str.title}


@pytest.mark.parametrize(
    "flavour", ["/smp/", "/smp/peppol/", "/smp/bdxr-smp-2/", "/"], ids=["oasis1", "peppol", "oasis2", "root"]
)
@pytest.mark.parametrize("participant_case", ["lower", "upper"])
@pytest.mark.parametrize("document_case", list(_SCHEME_CASES))
def test_identifier_schemes_match_in_any_case_on_every_route(seeded_client, flavour, participant_case, document_case):
    """Scheme × case form × flavour (and the classic host-root form): one canonical document each time."""
    participant_scheme, participant_value = PARTICIPANT.split("::", 1)
    document_scheme, document_value = SDK_MESSAGE_DOCUMENT_TYPE.split("::", 1)
    participant = f"{_SCHEME_CASES[participant_case](participant_scheme)}::{participant_value}"
    document = f"{_SCHEME_CASES[document_case](document_scheme)}::{document_value}"
    group = seeded_client.get(flavour + quote(participant, safe=""))
    assert group.status_code == 200, group.data[:200]
    metadata = seeded_client.get(f"{flavour}{quote(participant, safe='')}/services/{quote(document, safe='')}")
    assert metadata.status_code == 200, metadata.data[:200]
    body = metadata.data.decode()
    assert "busdox-docid-qns" in body and "BUSDOX" not in body and "Busdox" not in body
    assert "iso6523-actorid-upis" in body and "ISO6523" not in body and "Iso6523" not in body
