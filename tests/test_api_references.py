"""Every reference a write sets is authorised on its target: point at another tenant's resource, for every
reference field and every role that may write the source, and the write is refused with nothing changed.

The cases are checked against the OpenAPI document: a request-body field holding an id that is neither a
case here nor named as not a tenant's resource fails the test, so a new reference cannot slip past.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.audit import Actor
from app.auth import rules
from app.operations import access_points, organisations
from app.operations.organisations import OrganisationInput
from app.registry.models import (
    AccessPoint,
    AuditEvent,
    EndpointConfiguration,
    FunctionAddress,
    Organisation,
    ParticipantService,
)
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from app.trust.devpki import ensure_development_pki

SYSTEM = Actor("test", "system")
OTHER_AP_ID = "AP0002-ANNAN"
NEW_AP_ID = "AP0003-NY"

# Request-body fields that hold an id but point at nothing a tenant owns, and why.
NOT_A_TENANTS = {
    "categories": "codes of the federation's code systems, shared by every tenant",
    "scope": "only the federation operator issues tokens (tests/test_api_authorisation.py)",
    "services": "must be services of the source configuration (a use case rule: 422), which the right over "
    "the source covers",
}


@pytest.fixture
def tenants(api, db, settings) -> dict[str, str]:
    pki = ensure_development_pki(settings.pki_dir, access_points=[OTHER_AP_ID, NEW_AP_ID], participants=[])
    kommun, region = api.ids["0203:exempelkommun.se"], api.ids["0203:regionexempel.se"]
    with db.writer() as session:
        own_ap = session.scalar(select(AccessPoint).where(AccessPoint.ap_operator_id == api.ids["ap"]))
        other_ap = access_points.create_access_point(
            session,
            SYSTEM,
            ap_operator_id=api.ids["other_ap"],
            certificate=pki.access_point(OTHER_AP_ID).certificate.read_text(),
        )
        other_endpoint, other_endpoint_2 = (
            access_points.create_endpoint_configuration(
                session,
                SYSTEM,
                access_points.EndpointConfigurationInput(
                    access_point=other_ap.id,
                    name=name,
                    transport_profile=settings.transport_profiles[0],
                    endpoint_url=f"https://{name}.example/as4",
                    technical_contact_url=f"https://{name}.example",
                    description=name,
                ),
                transport_profiles=settings.transport_profiles,
            )
            for name in ("annan", "annan-2")
        )
        served_by_other = organisations.create_organisation(
            session,
            SYSTEM,
            OrganisationInput(
                type="o",
                participant_identifier="0203:annan.se",
                organisation_number="2120000142",
                name="Annan kommun",
                ap_operator=api.ids["other_ap"],
            ),
            settings.identifier_policy,
        )
        units = {}
        for name, parent in (("kommun_ou", kommun), ("region_ou", region)):
            units[name] = organisations.create_organisation(
                session,
                SYSTEM,
                OrganisationInput(type="ou", name=f"Enhet {name}", parent=parent),
                settings.identifier_policy,
            ).id
        ids = {
            "kommun": kommun,
            "region": region,
            "annan": served_by_other.id,
            "ap": api.ids["ap"],
            "other_ap": api.ids["other_ap"],
            "own_access_point": own_ap.id,
            "other_access_point": other_ap.id,
            "own_endpoint": api.ids["endpoint"],
            "other_endpoint": other_endpoint.id,
            "other_endpoint_2": other_endpoint_2.id,
            "kommun_address": session.scalar(
                select(FunctionAddress.id).where(FunctionAddress.organisation_id == kommun)
            ),
            "region_address": session.scalar(
                select(FunctionAddress.id).where(FunctionAddress.organisation_id == region)
            ),
            **units,
        }
    ids["new_ap_certificate"] = pki.access_point(NEW_AP_ID).certificate.read_text()
    return {key: str(value) if not isinstance(value, str) else value for key, value in ids.items()}


@dataclass(frozen=True)
class Case:
    """``who`` sets ``field`` of a write it may make to point at another tenant's resource."""

    field: str
    method: str
    path: str
    who: str
    body: dict
    denied: tuple[int, ...] = (403,)
    operator: tuple[int, ...] = (200, 201, 202)  # the same write by the federation operator


def _service(document: str) -> str:
    return SDK_MESSAGE_DOCUMENT_TYPE + document


CASES = [
    # a new sub-organisation under another tenant's organisation
    Case("parent", "POST", "/api/v1/organisations", "kommun", {"type": "ou", "name": "Smuggel", "parent": "{region}"}),
    Case("parent", "POST", "/api/v1/organisations", "region", {"type": "ou", "name": "Smuggel", "parent": "{kommun}"}),
    # an own sub-organisation moved under another tenant's organisation
    Case("parent", "PATCH", "/api/v1/organisations/{kommun_ou}", "kommun", {"parent": "{region}"}),
    Case("parent", "PATCH", "/api/v1/organisations/{region_ou}", "region", {"parent": "{kommun}"}),
    # an own function address moved into another tenant's organisation
    Case(
        "organisation",
        "PATCH",
        "/api/v1/organisations/{kommun}/function-addresses/{kommun_address}",
        "kommun",
        {"organisation": "{region}"},
        operator=(422,),
    ),
    Case(
        "organisation",
        "PATCH",
        "/api/v1/organisations/{region}/function-addresses/{region_address}",
        "region",
        {"organisation": "{kommun}"},
        operator=(422,),
    ),
    # a participant registered for another AP operator, or handed over to one
    Case(
        "apOperator",
        "POST",
        "/api/v1/organisations",
        "ap",
        {
            "type": "o",
            "participantIdentifier": "0203:smuggel.se",
            "organisationNumber": "2120000142",
            "name": "Smuggel",
            "apOperator": "{other_ap}",
        },
    ),
    Case(
        "apOperator",
        "POST",
        "/api/v1/organisations",
        "other_ap",
        {
            "type": "o",
            "participantIdentifier": "0203:smuggel.se",
            "organisationNumber": "2120000142",
            "name": "Smuggel",
            "apOperator": "{ap}",
        },
    ),
    Case("apOperator", "PATCH", "/api/v1/organisations/{kommun}", "kommun", {"apOperator": "{other_ap}"}),
    # an access point registered for another AP operator
    Case(
        "apOperator",
        "POST",
        "/api/v1/access-points",
        "ap",
        {"apOperator": "{other_ap}", "certificate": "{new_ap_certificate}"},
    ),
    Case(
        "apOperator",
        "POST",
        "/api/v1/access-points",
        "other_ap",
        {"apOperator": "{ap}", "certificate": "{new_ap_certificate}"},
    ),
    # an endpoint configuration on another AP operator's access point
    *(
        Case(
            "accessPoint",
            "POST",
            "/api/v1/endpoint-configurations",
            who,
            {
                "accessPoint": target,
                "name": "Smuggel",
                "transportProfile": "digg-transport-as4-v1_0",
                "endpointUrl": "https://smuggel.example/as4",
                "technicalContactUrl": "https://smuggel.example",
                "description": "Smuggel",
            },
        )
        for who, target in (("ap", "{other_access_point}"), ("other_ap", "{own_access_point}"))
    ),
    # a served participant's service routed to another AP operator's endpoint
    Case(
        "endpointConfiguration",
        "POST",
        "/api/v1/organisations/{kommun}/services",
        "ap",
        {
            "documentType": SDK_MESSAGE_DOCUMENT_TYPE,
            "process": "cenbii-procid-ubl::urn:smuggel",
            "endpointConfiguration": "{other_endpoint}",
        },
    ),
    Case(
        "endpointConfiguration",
        "POST",
        "/api/v1/organisations/{annan}/services",
        "other_ap",
        {
            "documentType": SDK_MESSAGE_DOCUMENT_TYPE,
            "process": "cenbii-procid-ubl::urn:smuggel",
            "endpointConfiguration": "{own_endpoint}",
        },
    ),
    # own services moved to another AP operator's endpoint
    Case(
        "target",
        "POST",
        "/api/v1/endpoint-configurations/{own_endpoint}/move-services",
        "ap",
        {"target": "{other_endpoint}"},
    ),
    Case(
        "target",
        "POST",
        "/api/v1/endpoint-configurations/{other_endpoint}/move-services",
        "other_ap",
        {"target": "{own_endpoint}"},
    ),
    # another configuration's services named in a move of one's own
    Case(
        "services",
        "POST",
        "/api/v1/endpoint-configurations/{other_endpoint}/move-services",
        "other_ap",
        {"target": "{other_endpoint_2}", "services": ["{kommun_service}"]},
        denied=(422,),
        operator=(422,),
    ),
]


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return {k: _fill(v, ids) for k, v in value.items()}


def _state(db) -> tuple:
    """What a refused write must leave as it was: the audit chain (every write is audited) and every reference."""
    with db.reader() as session:
        return (
            session.scalar(select(func.count()).select_from(AuditEvent)),
            sorted(session.execute(select(Organisation.id, Organisation.parent_id, Organisation.ap_operator_id)).all()),
            sorted(session.execute(select(FunctionAddress.id, FunctionAddress.organisation_id)).all()),
            sorted(session.execute(select(ParticipantService.id, ParticipantService.endpoint_configuration_id)).all()),
            sorted(session.execute(select(EndpointConfiguration.id, EndpointConfiguration.access_point_id)).all()),
            session.scalar(select(func.count()).select_from(AccessPoint)),
        )


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.field}-{c.method}-{c.who}")
def test_pointing_at_another_tenants_resource_is_refused(api, db, tenants, case):
    ids = dict(tenants)
    with db.reader() as session:
        ids["kommun_service"] = str(
            session.scalar(
                select(ParticipantService.id).where(
                    ParticipantService.organisation_id == api.ids["0203:exempelkommun.se"]
                )
            )
        )
    url, body = case.path.format(**ids), _fill(case.body, ids)
    headers = {"If-Match": "*"} if case.method == "PATCH" else {}
    before = _state(db)
    refused = api(case.method, url, case.who, json=body, headers=headers)
    assert refused.status_code in case.denied, refused.get_data(as_text=True)
    assert case.field in refused.get_json()["detail"] or any(
        error["field"].startswith(case.field) for error in refused.get_json().get("errors", [])
    ), refused.get_json()
    assert _state(db) == before
    # the federation operator reaches every target: where the write is allowed at all, it succeeds
    allowed = api(case.method, url, "operator", json=body, headers=headers)
    assert allowed.status_code in case.operator, allowed.get_data(as_text=True)
    assert (_state(db) != before) == (allowed.status_code < 300)


def _reference_fields(document: dict) -> set[str]:
    """Request-body properties that hold an id (format uuid, or a list of them), by name."""
    schemas = document["components"]["schemas"]
    found: set[str] = set()

    def walk(schema: dict, name: str | None) -> None:
        if "$ref" in schema:
            walk(schemas[schema["$ref"].rsplit("/", 1)[-1]], name)
            return
        if schema.get("readOnly"):
            return
        if schema.get("format") == "uuid" and name:
            found.add(name)
        for key in ("allOf", "oneOf", "anyOf"):
            for part in schema.get(key, []):
                walk(part, name)
        if "items" in schema:
            walk(schema["items"], name)
        for prop, inner in schema.get("properties", {}).items():
            walk(inner, prop)

    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                for media in operation["requestBody"]["content"].values():
                    walk(media["schema"], None)
    return found


def test_every_reference_field_has_a_rule_and_a_case(api):
    fields = _reference_fields(api.client.get("/openapi.json").get_json())
    assert {"parent", "apOperator", "endpointConfiguration", "target"} <= fields  # the walk finds them
    unruled = fields - set(rules.REFERENCES) - set(NOT_A_TENANTS)
    assert not unruled, f"add a target rule to app.auth.rules.REFERENCES for {sorted(unruled)}"
    untested = (set(rules.REFERENCES) | {"services"}) - {case.field for case in CASES}
    assert not untested, f"add a CASES entry for {sorted(untested)}"
    assert not set(rules.REFERENCES) - fields, "REFERENCES names a field the API no longer has"


def _events_seen_by(api, who: str, entity_id: str) -> list[dict]:
    response = api("GET", f"/api/v1/audit-events?entityId={entity_id}", who)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["items"]


def test_a_sub_organisation_moved_between_tenants_shows_in_both_histories(api, tenants):
    moved = api(
        "PATCH",
        f"/api/v1/organisations/{tenants['kommun_ou']}",
        json={"parent": tenants["region"]},
        headers={"If-Match": "*"},
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    for who in ("kommun", "region"):
        events = [e for e in _events_seen_by(api, who, tenants["kommun_ou"]) if e["action"] == "organisation:update"]
        assert len(events) == 1, who
        assert events[0]["organisation"] == tenants["region"]
        assert events[0]["alsoVisibleTo"] == [tenants["kommun"]]
    assert _events_seen_by(api, "other_ap", tenants["kommun_ou"]) == []


def test_a_participant_handed_to_another_ap_operator_shows_in_both_histories(api, tenants):
    handed = api(
        "PATCH",
        f"/api/v1/organisations/{tenants['kommun']}",
        json={"apOperator": tenants["other_ap"]},
        headers={"If-Match": "*"},
    )
    assert handed.status_code == 200, handed.get_data(as_text=True)
    for who in ("ap", "other_ap", "kommun"):
        actions = [e["action"] for e in _events_seen_by(api, who, tenants["kommun"])]
        assert "organisation:update" in actions, who


def test_services_moved_between_ap_operators_show_in_both_histories(api, tenants):
    moved = api(
        "POST",
        f"/api/v1/endpoint-configurations/{tenants['own_endpoint']}/move-services",
        json={"target": tenants["other_endpoint"]},
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    for who in ("ap", "other_ap", "kommun"):
        events = _events_seen_by(api, who, tenants["own_endpoint"])
        assert [e["action"] for e in events if e["action"] == "participant_service:move"] == [
            "participant_service:move"
        ], who


def test_an_ap_operator_reads_the_history_of_its_own_access_points_only(api, tenants):
    own = _events_seen_by(api, "other_ap", tenants["other_access_point"])
    assert [e["action"] for e in own] == ["access_point:create"]
    assert _events_seen_by(api, "ap", tenants["other_access_point"]) == []
    assert _events_seen_by(api, "kommun", tenants["other_access_point"]) == []
