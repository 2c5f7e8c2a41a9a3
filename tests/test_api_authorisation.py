"""Every operation of the OpenAPI document, for every role: allowed, or 403; without a token, 401.

"kommun" administers Exempelkommun (the organisation in the paths); "region" administers another one;
"ap" serves Exempelkommun; "other_ap" is another access point operator. A new operation must be added
to RULES, or this test fails.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.registry.models import (
    AccessPoint,
    CodeSystem,
    FunctionAddress,
    ParticipantCertificate,
    ParticipantService,
)
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from app.trust.devpki import DevelopmentPki

ROLES = ("operator", "ap", "other_ap", "kommun", "region")
ALL = set(ROLES)
OPERATOR = {"operator"}
SERVES = {"operator", "ap"}
READERS = {"operator", "ap", "kommun"}
DIRECTORY = {"operator", "kommun"}
APS = {"operator", "ap", "other_ap"}

ORG = "/api/v1/organisations/{organisation_id}"
FA = ORG + "/function-addresses"
RULES: dict[tuple[str, str], set[str]] = {
    ("get", "/api/v1/organisations"): ALL,
    ("post", "/api/v1/organisations"): SERVES,
    ("get", ORG): READERS,
    ("patch", ORG): DIRECTORY,
    ("delete", ORG): DIRECTORY,
    **{
        ("post", f"{ORG}/{action}"): OPERATOR
        for action in ("approve", "reject", "suspend", "reinstate", "deregister", "resubmit")
    },
    ("get", FA): READERS,
    ("post", FA): DIRECTORY,
    ("get", FA + "/{address_id}"): READERS,
    ("patch", FA + "/{address_id}"): DIRECTORY,
    ("delete", FA + "/{address_id}"): DIRECTORY,
    ("post", FA + "/import"): DIRECTORY,
    ("get", FA + "/export"): READERS,
    ("get", ORG + "/services"): READERS,
    ("post", ORG + "/services"): SERVES,
    ("get", ORG + "/services/{service_id}"): READERS,
    ("delete", ORG + "/services/{service_id}"): SERVES,
    ("get", ORG + "/certificates"): READERS,
    ("post", ORG + "/certificates"): SERVES,
    ("get", ORG + "/certificates/{certificate_id}"): READERS,
    ("delete", ORG + "/certificates/{certificate_id}"): SERVES,
    ("get", "/api/v1/ap-operators"): ALL,
    ("post", "/api/v1/ap-operators"): OPERATOR,
    ("get", "/api/v1/access-points"): APS,
    ("post", "/api/v1/access-points"): SERVES,
    ("get", "/api/v1/access-points/{access_point_id}"): SERVES,
    ("patch", "/api/v1/access-points/{access_point_id}"): SERVES,
    ("get", "/api/v1/endpoint-configurations"): APS,
    ("post", "/api/v1/endpoint-configurations"): SERVES,
    ("get", "/api/v1/endpoint-configurations/{configuration_id}"): SERVES,
    ("patch", "/api/v1/endpoint-configurations/{configuration_id}"): SERVES,
    ("post", "/api/v1/endpoint-configurations/{configuration_id}/move-services"): SERVES,
    ("get", "/api/v1/code-systems"): ALL,
    ("post", "/api/v1/code-systems"): OPERATOR,
    ("post", "/api/v1/code-systems/{system_id}/codes"): OPERATOR,
    ("get", "/api/v1/tokens"): OPERATOR,
    ("post", "/api/v1/tokens"): OPERATOR,
    ("delete", "/api/v1/tokens/{token_id}"): OPERATOR,
    ("get", "/api/v1/audit-events"): ALL,
    ("get", "/api/v1/audit-events/head"): OPERATOR,
    ("get", "/api/v1/pending-changes"): ALL,
    ("get", "/api/v1/pending-changes/{change_id}"): READERS,
    ("post", "/api/v1/pending-changes/{change_id}/approve"): OPERATOR,
    ("post", "/api/v1/pending-changes/{change_id}/reject"): OPERATOR,
    ("get", "/api/v1/status"): OPERATOR,
    ("get", "/api/v1/trust-anchors"): ALL,
    ("post", "/api/v1/trust-anchors"): OPERATOR,
    ("get", "/api/v1/trust-anchors/{anchor_id}"): ALL,
    ("delete", "/api/v1/trust-anchors/{anchor_id}"): OPERATOR,
    **{
        (method, "/api/v1/smps" + tail): OPERATOR
        for method, tail in (
            ("get", ""),
            ("post", ""),
            ("get", "/{smp_id}"),
            ("patch", "/{smp_id}"),
            ("delete", "/{smp_id}"),
            ("get", "/{smp_id}/participants"),
            ("post", "/{smp_id}/participants/take-over"),
            ("get", "/{smp_id}/migrations"),
            ("post", "/{smp_id}/migrations"),
            ("get", "/{smp_id}/migrations/{migration_id}"),
            ("delete", "/{smp_id}/migrations/{migration_id}"),
        )
    },
}


def _operations(api) -> list[tuple[str, str]]:
    document = api.client.get("/openapi.json").get_json()
    return [
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete") and path.startswith("/api/")
    ]


def test_the_documented_directory_is_anonymous(api):
    document = api.client.get("/openapi.json").get_json()
    directory = [path for path in document["paths"] if path.startswith("/addressbook/api/v1/")]
    assert len(directory) == 6
    for path in directory:
        assert document["paths"][path]["get"]["security"] == []
        url = path.replace("{id}", str(api.ids["0203:exempelkommun.se"]))
        assert api.client.get(url).status_code in (200, 404), url  # no token, no 401


def test_every_operation_has_a_rule(api):
    missing = sorted(set(_operations(api)) - set(RULES))
    assert not missing, f"add these operations to RULES: {missing}"
    assert not sorted(set(RULES) - set(_operations(api))), "RULES names operations that no longer exist"


def _context(api, db, settings) -> tuple[dict[str, str], dict]:
    kommun = api.ids["0203:exempelkommun.se"]
    with db.reader() as session:
        ids = {
            "organisation_id": kommun,
            "address_id": session.scalar(select(FunctionAddress.id).where(FunctionAddress.organisation_id == kommun)),
            "service_id": session.scalar(
                select(ParticipantService.id).where(ParticipantService.organisation_id == kommun)
            ),
            "certificate_id": session.scalar(
                select(ParticipantCertificate.id).where(ParticipantCertificate.organisation_id == kommun)
            ),
            "access_point_id": session.scalar(select(AccessPoint.id)),
            "configuration_id": api.ids["endpoint"],
            "system_id": session.scalar(select(CodeSystem.id)),
            "token_id": None,
        }
    with db.writer() as session:
        from app.audit import Actor
        from app.operations.credentials import issue_token

        ids["token_id"] = issue_token(session, Actor("t", "system"), name="att-dra-in", role="operator").credential.id
    with db.writer() as session:
        from app.audit import Actor
        from app.operations import pending_changes

        ids["change_id"] = pending_changes.add_certificate(
            session,
            Actor("ap", "ap_operator", api.ids["ap"]),
            api.ids["0203:exempelkommun.se"],
            usage="signing",
            certificate=DevelopmentPki(settings.pki_dir)
            .participant("0203:regionexempel.se", "signing")
            .certificate.read_text(),
        ).id
    pki = DevelopmentPki(settings.pki_dir)
    with db.writer() as session:
        from app.operations.trust_anchors import add_trust_anchor

        ids["anchor_id"] = add_trust_anchor(
            session, Actor("t", "system"), purpose="smp", certificate=pki.o2o_ca.certificate.read_text()
        ).id
    with db.writer() as session:
        from app.identifiers import WrittenParticipant
        from app.operations import sml_migrations
        from app.sml.registrations import local_smp

        local = local_smp(session)
        ids["smp_id"] = local.id
        kommun_written = WrittenParticipant("iso6523-actorid-upis", "0203:exempelkommun.se")
        ids["migration_id"] = sml_migrations.prepare(session, Actor("t", "system"), local, kommun_written)[0].id
    from tests.sml_support import smp_identity

    newcomer = smp_identity(pki, settings.instance_dir, f"SMP-MATRIS-{ids['smp_id'].hex[:6]}")
    bodies = {
        ("post", "/api/v1/smps"): {
            "smpId": newcomer.name,
            "logicalAddress": "https://matris.example.se/smp",
            "physicalAddress": "192.0.2.55",
            "certificate": newcomer.pem,
        },
        ("patch", "/api/v1/smps/{smp_id}"): {"physicalAddress": "192.0.2.56"},
        ("post", "/api/v1/smps/{smp_id}/migrations"): {
            "participantIdentifier": "iso6523-actorid-upis::0203:exempelkommun.se"
        },
        ("post", "/api/v1/smps/{smp_id}/participants/take-over"): {
            "participantIdentifier": "iso6523-actorid-upis::0203:exempelkommun.se",
            "migrationKey": "Ab1@cd2#Ef3$",
        },
        ("post", "/api/v1/trust-anchors"): {"purpose": "o2o", "certificate": pki.ap_ca.certificate.read_text()},
        ("post", "/api/v1/organisations"): {
            "type": "o",
            "participantIdentifier": "0203:matris.se",
            "organisationNumber": "2120000142",
            "name": "Matris",
            "apOperator": str(api.ids["ap"]),
        },
        ("patch", ORG): {"description": "Ändrad"},
        ("post", FA): {"identifier": "sdk:matris:0203:exempelkommun.se", "name": "Matris"},
        ("patch", FA + "/{address_id}"): {"name": "Matris"},
        ("post", FA + "/import"): [],
        ("post", ORG + "/services"): {
            "documentType": SDK_MESSAGE_DOCUMENT_TYPE + "x",
            "endpointConfiguration": str(ids["configuration_id"]),
        },
        ("post", ORG + "/certificates"): {
            "usage": "signing",
            "certificate": pki.participant("0203:exempelkommun.se", "signing").certificate.read_text(),
        },
        ("post", "/api/v1/ap-operators"): {"name": "Matris AP"},
        ("post", "/api/v1/access-points"): {
            "apOperator": str(api.ids["ap"]),
            "certificate": pki.access_point("AP0001-DEMO").certificate.read_text(),
        },
        ("patch", "/api/v1/access-points/{access_point_id}"): {
            "certificate": pki.access_point("AP0001-DEMO").certificate.read_text()
        },
        ("post", "/api/v1/endpoint-configurations"): {
            "accessPoint": str(ids["access_point_id"]),
            "name": "M",
            "transportProfile": "digg-transport-as4-v1_0",
            "endpointUrl": "https://m.example/as4",
            "technicalContactUrl": "https://m.example",
            "description": "M",
        },
        ("patch", "/api/v1/endpoint-configurations/{configuration_id}"): {"description": "Matris"},
        ("post", "/api/v1/endpoint-configurations/{configuration_id}/move-services"): {
            "target": str(ids["configuration_id"])
        },
        ("post", "/api/v1/code-systems"): {"identifier": "urn:matris", "name": "Matris"},
        ("post", "/api/v1/code-systems/{system_id}/codes"): {"code": "matris", "displayName": "Matris"},
        ("post", "/api/v1/tokens"): {"name": "matris", "role": "operator"},
        ("post", ORG + "/reject"): {"reason": "Matris"},
        ("post", "/api/v1/pending-changes/{change_id}/reject"): {"reason": "Matris"},
    }
    return ids, bodies


def _request(api, who, method, path, ids, bodies):
    url = path.format(**{k: str(v) for k, v in ids.items()})
    headers = {"If-Match": "*"} if method in ("patch", "delete") else {}
    body = bodies.get((method, path), {} if method in ("post", "patch") else None)
    return api(method.upper(), url, who, json=body, headers=headers)


def test_every_operation_for_every_role(api, db, settings):
    ids, bodies = _context(api, db, settings)
    failures = []
    for method, path in _operations(api):
        allowed = RULES[(method, path)]
        response = _request(api, None, method, path, ids, bodies)
        if response.status_code != 401:
            failures.append(f"{method.upper()} {path} without a token: {response.status_code}")
        # denied roles first: they must not change anything the allowed ones then see
        for who in sorted(ALL - allowed) + sorted(allowed):
            response = _request(api, who, method, path, ids, bodies)
            status = response.status_code
            if who in allowed and status in (401, 403):
                failures.append(f"{method.upper()} {path} as {who}: {status} but should be allowed")
            elif (
                who not in allowed
                and status not in (403,)
                and not (method == "get" and status == 200 and _empty(response))
            ):
                excerpt = response.get_data(as_text=True)[:120]
                failures.append(f"{method.upper()} {path} as {who}: {status} but should be 403 ({excerpt})")
            if status >= 500:
                failures.append(f"{method.upper()} {path} as {who}: {status}")
    assert not failures, "\n".join(failures)


def _empty(response) -> bool:
    """A list outside one's scope may answer 200 with nothing in it instead of 403."""
    body = response.get_json(silent=True)
    return body == [] or (isinstance(body, dict) and body.get("items") == [])


@pytest.mark.parametrize("who", ["kommun", "region", "other_ap"])
def test_lists_outside_the_scope_are_empty_not_leaky(api, who):
    organisations = api("GET", "/api/v1/organisations", who).get_json()["items"]
    visible = {o["id"] for o in organisations}
    if who == "kommun":
        assert str(api.ids["0203:regionexempel.se"]) not in visible
    if who == "other_ap":
        assert visible == set()
