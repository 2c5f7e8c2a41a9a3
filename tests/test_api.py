"""The management API: authentication, role and tenant scopes, concurrency, errors, bulk changes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from app.operations.credentials import issue_token, revoke_token
from app.registry.columns import utcnow
from app.registry.models import Credential
from tests.api_support import SYSTEM, problem, register_participant

ROOT = Path(__file__).resolve().parents[1]


# -- authentication ----------------------------------------------------------------------------------


def test_no_token_bad_token_expired_and_revoked_are_401(api, db):
    assert problem(api("GET", "/api/v1/organisations", None), 401)["detail"].startswith("send Authorization")
    response = api("GET", "/api/v1/organisations", None, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    problem(response, 401)
    problem(api("GET", "/api/v1/organisations", None, headers={"Authorization": "Bearer sdkab_unknown"}), 401)
    with db.writer() as session:
        expiring = issue_token(session, SYSTEM, name="kort", role="operator", expires_at=utcnow() + timedelta(hours=1))
        session.execute(
            update(Credential)
            .where(Credential.id == expiring.credential.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        revoked = issue_token(session, SYSTEM, name="indragen", role="operator")
        revoke_token(session, SYSTEM, revoked.credential.id)
    for token in (expiring.token, revoked.token):
        problem(api("GET", "/api/v1/organisations", None, headers={"Authorization": f"Bearer {token}"}), 401)


def test_last_used_is_recorded(api, db):
    assert api("GET", "/api/v1/organisations", "kommun").status_code == 200
    with db.reader() as session:
        assert session.scalar(select(Credential.last_used_at).where(Credential.name == "kommun")) is not None


# -- scopes ------------------------------------------------------------------------------------------


def _names(response) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["name"] for item in response.get_json()["items"]}


def test_each_role_lists_what_it_may_see(api):
    everything = {"Exempelkommun", "Socialförvaltningen", "Region Exempel", "Exempelmyndigheten"}
    assert _names(api("GET", "/api/v1/organisations")) == everything
    assert _names(api("GET", "/api/v1/organisations", "kommun")) == {"Exempelkommun", "Socialförvaltningen"}
    assert _names(api("GET", "/api/v1/organisations", "ap")) == everything
    assert _names(api("GET", "/api/v1/organisations", "other_ap")) == set()


def test_org_admin_cannot_read_for_write_or_change_another_organisation(api):
    region = api.ids["0203:regionexempel.se"]
    problem(api("GET", f"/api/v1/organisations/{region}", "kommun"), 403)
    problem(
        api("PATCH", f"/api/v1/organisations/{region}", "kommun", json={"name": "x"}, headers={"If-Match": "*"}), 403
    )
    body = {"identifier": "sdk:intrang:0203:regionexempel.se", "name": "Intrång"}
    problem(api("POST", f"/api/v1/organisations/{region}/function-addresses", "kommun", json=body), 403)
    problem(api("GET", f"/api/v1/organisations/{region}/function-addresses", "kommun"), 403)


def test_org_admin_reads_but_cannot_change_smp_data(api):
    kommun = api.ids["0203:exempelkommun.se"]
    assert len(api("GET", f"/api/v1/organisations/{kommun}/services", "kommun").get_json()) == 2
    body = {"documentType": "busdox-docid-qns::x", "endpointConfiguration": str(api.ids["endpoint"])}
    problem(api("POST", f"/api/v1/organisations/{kommun}/services", "kommun", json=body), 403)


def test_ap_operators_only_touch_their_own_access_points(api):
    endpoint = api.ids["endpoint"]
    problem(api("GET", f"/api/v1/endpoint-configurations/{endpoint}", "other_ap"), 403)
    body = {"endpointUrl": "https://kapad.example/as4"}
    problem(
        api("PATCH", f"/api/v1/endpoint-configurations/{endpoint}", "other_ap", json=body, headers={"If-Match": "*"}),
        403,
    )
    assert api("GET", "/api/v1/access-points", "other_ap").get_json() == []
    [mine] = api("GET", "/api/v1/access-points", "ap").get_json()
    problem(api("GET", f"/api/v1/access-points/{mine['id']}", "other_ap"), 403)
    problem(api("GET", "/api/v1/access-points", "kommun"), 403)


def test_only_the_operator_approves_and_manages_tokens(api):
    kommun = api.ids["0203:exempelkommun.se"]
    for who in ("ap", "kommun"):
        problem(api("POST", f"/api/v1/organisations/{kommun}/suspend", who, json={}), 403)
        problem(api("GET", "/api/v1/tokens", who), 403)
        problem(api("POST", "/api/v1/tokens", who, json={"name": "x", "role": "operator"}), 403)


# -- the participant journey -------------------------------------------------------------------------


def test_ap_operator_registers_and_operator_approves_a_participant(api):
    body = {
        "type": "o",
        "participantIdentifier": "iso6523-actorid-upis::0203:Ny-Kommun.se",
        "organisationNumber": "2120000142",
        "name": "Nya kommunen",
    }
    created = api("POST", "/api/v1/organisations", "ap", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    organisation = created.get_json()
    assert created.headers["Location"] == f"/api/v1/organisations/{organisation['id']}"
    assert created.headers["ETag"] == '"1"'
    assert organisation["participantIdentifier"] == "iso6523-actorid-upis::0203:ny-kommun.se"
    assert organisation["federationStatus"] == "pending"
    assert organisation["apOperator"] == str(api.ids["ap"])
    service = {"documentType": demo_document(), "endpointConfiguration": str(api.ids["endpoint"])}
    assert api("POST", f"/api/v1/organisations/{organisation['id']}/services", "ap", json=service).status_code == 201
    smp = "/smp/" + quote("iso6523-actorid-upis::0203:ny-kommun.se", safe="")
    assert api.client.get(smp).status_code == 404
    approved = api("POST", f"/api/v1/organisations/{organisation['id']}/approve", json={})
    assert approved.get_json()["federationStatus"] == "approved"
    assert api.client.get(smp).status_code == 200
    again = api("POST", f"/api/v1/organisations/{organisation['id']}/approve", json={})
    assert "cannot approve an organisation that is approved" in problem(again, 409)["detail"]
    problem(api("POST", f"/api/v1/organisations/{organisation['id']}/reject", json={}), 422)  # reason missing
    rejected = api("POST", f"/api/v1/organisations/{organisation['id']}/reject", json={"reason": "Fel"})
    problem(rejected, 409)


def demo_document() -> str:
    from app.settings import SDK_MESSAGE_DOCUMENT_TYPE

    return SDK_MESSAGE_DOCUMENT_TYPE


def test_another_ap_operator_cannot_register_for_someone_else(api):
    body = {
        "type": "o",
        "participantIdentifier": "0203:annan.se",
        "organisationNumber": "2120000142",
        "name": "Annan",
        "apOperator": str(api.ids["ap"]),
    }
    problem(api("POST", "/api/v1/organisations", "other_ap", json=body), 403)
    problem(api("POST", "/api/v1/organisations", "kommun", json=body), 403)


def test_function_address_lifecycle_for_an_org_admin(api):
    kommun = api.ids["0203:exempelkommun.se"]
    base = f"/api/v1/organisations/{kommun}/function-addresses"
    created = api(
        "POST",
        base,
        "kommun",
        json={"identifier": "sdk:ekonomi:0203:exempelkommun.se", "name": "Ekonomi", "keywords": ["faktura"]},
    )
    assert created.status_code == 201
    address = created.get_json()
    item = created.headers["Location"]
    assert item == f"{base}/{address['id']}"
    assert api("GET", item, "kommun").headers["ETag"] == '"1"'
    problem(api("PATCH", item, "kommun", json={"name": "Ekonomienheten"}), 428)
    problem(api("PATCH", item, "kommun", json={"name": "Ekonomienheten"}, headers={"If-Match": '"7"'}), 412)
    changed = api("PATCH", item, "kommun", json={"name": "Ekonomienheten"}, headers={"If-Match": '"1"'})
    assert (changed.status_code, changed.get_json()["name"], changed.headers["ETag"]) == (200, "Ekonomienheten", '"2"')
    duplicate = api("POST", base, "kommun", json={"identifier": "SDK:EKONOMI:0203:exempelkommun.se", "name": "Dubbel"})
    assert problem(duplicate, 409)["errors"][0]["field"] == "identifier"
    assert api("DELETE", item, "kommun", headers={"If-Match": '"2"'}).status_code == 204
    assert api("GET", item, "kommun").get_json()["status"] == "inactive"
    listed = api("GET", f"{base}?status=active&sort=-name&pageSize=1", "kommun").get_json()
    assert listed["pageSize"] == 1
    assert listed["total"] == 1  # the registrator; the socialtjänst address lives in the sub-organisation


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (
            {"type": "o", "name": "<b>", "participantIdentifier": "0203:a.se", "organisationNumber": "2120000142"},
            "name",
            "'<'",
        ),
        (
            {"type": "o", "name": "x" * 257, "participantIdentifier": "0203:a.se", "organisationNumber": "2120000142"},
            "name",
            "256",
        ),
        (
            {"type": "o", "name": "A", "participantIdentifier": "0203:a", "organisationNumber": "2120000142"},
            "participantIdentifier",
            "top domain",
        ),
        (
            {"type": "o", "name": "A", "participantIdentifier": "0203:a.se", "organisationNumber": "1"},
            "organisationNumber",
            "ten digits",
        ),
        ({"type": "o", "name": 5, "participantIdentifier": "0203:a.se"}, "name", "Not a valid string"),
        ({"type": "o", "name": "A", "bogus": 1}, "bogus", "Unknown field"),
        ({"name": "A"}, "type", "Missing data"),
    ],
)
def test_invalid_input_is_422_with_the_field(api, body, field, reason):
    errors = problem(api("POST", "/api/v1/organisations", json=body), 422)["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors


def test_malformed_json_wrong_media_type_and_unknown_routes(api):
    problem(api("POST", "/api/v1/organisations", data="{not json", content_type="application/json"), 400)
    problem(api("POST", "/api/v1/organisations", data="type=o", content_type="application/x-www-form-urlencoded"), 415)
    problem(api("GET", "/api/v1/nothing-here"), 404)
    problem(api("GET", "/api/v1/organisations/not-a-uuid"), 404)
    problem(api("GET", "/api/v1/organisations/7b1f1b9e-0000-0000-0000-000000000000"), 404)
    response = api("PUT", "/api/v1/organisations", json={})
    assert problem(response, 405)
    problem(api("GET", "/api/v1/organisations?pageSize=0"), 422)
    problem(api("GET", "/api/v1/organisations?sort=secret"), 422)


def test_immutable_fields_say_why(api):
    kommun = api.ids["0203:exempelkommun.se"]
    body = problem(
        api(
            "PATCH",
            f"/api/v1/organisations/{kommun}",
            json={"participantIdentifier": "0203:ny.se"},
            headers={"If-Match": "*"},
        ),
        422,
    )
    assert "cannot be changed" in body["errors"][0]["reason"]


def test_certificates_that_are_garbage_are_refused(api):
    kommun = api.ids["0203:exempelkommun.se"]
    body = problem(
        api(
            "POST",
            f"/api/v1/organisations/{kommun}/certificates",
            "ap",
            json={"usage": "signing", "certificate": "not a certificate"},
        ),
        422,
    )
    assert body["errors"][0]["field"] == "certificate"


# -- concurrency -------------------------------------------------------------------------------------


def test_two_writers_with_the_same_version_one_wins_one_gets_412(api):
    kommun = api.ids["0203:exempelkommun.se"]
    url = f"/api/v1/organisations/{kommun}"
    version = api("GET", url, "kommun").headers["ETag"]
    first = api("PATCH", url, "kommun", json={"description": "Först"}, headers={"If-Match": version})
    second = api("PATCH", url, "kommun", json={"description": "Sen"}, headers={"If-Match": version})
    assert (first.status_code, second.status_code) == (200, 412)
    assert api("GET", url, "kommun").get_json()["description"] == "Först"


@pytest.mark.parametrize("if_match", ["*", "named"])
def test_a_write_that_waits_for_another_sees_what_it_wrote(api, db, if_match):
    """One transaction holds the resource (changed, not yet committed) while a PATCH arrives: the PATCH waits.
    ``*`` then applies to the newer version (200); the version the PATCH read before is a 412. The same on
    SQLite and PostgreSQL."""
    from app.operations import organisations
    from app.operations.checks import get_for_update
    from app.registry.models import Organisation

    kommun = api.ids["0203:exempelkommun.se"]
    url = f"/api/v1/organisations/{kommun}"
    read = api("GET", url, "kommun").headers["ETag"]
    started, answers = threading.Event(), []

    def patch() -> None:
        client = api.client.application.test_client()
        started.set()
        headers = {"Authorization": f"Bearer {api.tokens['kommun']}", "If-Match": "*" if if_match == "*" else read}
        answers.append(client.patch(url, json={"alternateName": "Den andra"}, headers=headers))

    with db.writer() as session:
        get_for_update(session, Organisation, kommun, "organisation", None)
        organisations.update_organisation(session, SYSTEM, kommun, {"description": "Den första"})
        session.flush()
        other = threading.Thread(target=patch)
        other.start()
        started.wait(5)
        time.sleep(0.5)  # the PATCH is now waiting for this transaction
        assert answers == []
    other.join(60)
    [answer] = answers
    final = api("GET", url, "kommun").get_json()
    assert final["description"] == "Den första"  # the first write is never lost
    if if_match == "*":
        assert answer.status_code == 200, answer.get_json()
        assert final["alternateName"] == "Den andra"
        assert final["version"] == int(read.strip('"')) + 2
    else:
        assert answer.status_code == 412 and answer.get_json()["type"].endswith("version-mismatch")
        assert final["version"] == int(read.strip('"')) + 1


def test_concurrent_writers_never_lose_an_update(api):
    kommun = api.ids["0203:exempelkommun.se"]
    base = f"/api/v1/organisations/{kommun}/function-addresses"
    item = api("POST", base, "kommun", json={"identifier": "sdk:samtidigt:0203:exempelkommun.se", "name": "N"}).headers[
        "Location"
    ]
    errors: list[str] = []

    def writer(word: str) -> None:
        client = api.client.application.test_client()
        for _ in range(100):
            current = client.get(item, headers={"Authorization": f"Bearer {api.tokens['kommun']}"})
            keywords = current.get_json()["keywords"] + [word]
            response = client.patch(
                item,
                json={"keywords": keywords},
                headers={"Authorization": f"Bearer {api.tokens['kommun']}", "If-Match": current.headers["ETag"]},
            )
            if response.status_code == 200:
                return
            if response.status_code != 412:
                errors.append(response.get_data(as_text=True))
                return
        errors.append(f"{word} never got through")

    threads = [threading.Thread(target=writer, args=(f"ord{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = api("GET", item, "kommun").get_json()
    assert sorted(final["keywords"]) == sorted(f"ord{n}" for n in range(6))
    assert final["version"] == 7


# -- bulk, tokens, audit -----------------------------------------------------------------------------


def _new_endpoint(api, name: str, host: str) -> dict:
    """A second endpoint configuration at the demo AP operator's access point."""
    [access_point] = api("GET", "/api/v1/access-points", "ap").get_json()
    body = {
        "accessPoint": access_point["id"],
        "name": name,
        "transportProfile": "digg-transport-as4-v1_0",
        "endpointUrl": f"https://{host}/as4",
        "technicalContactUrl": f"https://{host}",
        "description": name,
    }
    return api("POST", "/api/v1/endpoint-configurations", "ap", json=body).get_json()


def test_moving_every_service_to_another_endpoint_configuration(api):
    target = _new_endpoint(api, "Ny AS4", "ny.ap.example.se")
    moved = api(
        "POST",
        f"/api/v1/endpoint-configurations/{api.ids['endpoint']}/move-services",
        "ap",
        json={"target": target["id"]},
    )
    assert moved.get_json() == {"moved": 6, "republished": 3}
    from app.settings import SDK_MESSAGE_DOCUMENT_TYPE

    participant = quote("iso6523-actorid-upis::0203:exempelkommun.se", safe="")
    smp = f"/smp/{participant}/services/{quote(SDK_MESSAGE_DOCUMENT_TYPE, safe='')}"
    assert b"https://ny.ap.example.se/as4" in api.client.get(smp).data
    problem(
        api(
            "POST",
            f"/api/v1/endpoint-configurations/{target['id']}/move-services",
            "other_ap",
            json={"target": str(api.ids["endpoint"])},
        ),
        403,
    )


def test_moving_chosen_services_leaves_the_others_and_refuses_strangers(api):
    target = _new_endpoint(api, "Delvis", "delvis.ap.example.se")
    kommun = api.ids["0203:exempelkommun.se"]
    services = api("GET", f"/api/v1/organisations/{kommun}/services", "ap").get_json()
    chosen = [s["id"] for s in services]
    source = f"/api/v1/endpoint-configurations/{api.ids['endpoint']}/move-services"
    stray = problem(api("POST", source, "ap", json={"target": target["id"], "services": [*chosen, str(kommun)]}), 422)
    assert stray["errors"][0]["field"] == "services" and str(kommun) in stray["errors"][0]["reason"]
    problem(api("POST", source, "ap", json={"target": target["id"], "services": []}), 422)
    moved = api("POST", source, "ap", json={"target": target["id"], "services": chosen}).get_json()
    assert moved == {"moved": len(chosen), "republished": 1}
    left = api("GET", f"/api/v1/endpoint-configurations/{api.ids['endpoint']}", "ap")
    assert left.status_code == 200
    after = api("GET", f"/api/v1/organisations/{kommun}/services", "ap").get_json()
    assert {s["endpointConfiguration"] for s in after} == {target["id"]}
    participant = quote("iso6523-actorid-upis::0203:exempelkommun.se", safe="")
    assert (
        b"https://delvis.ap.example.se/as4"
        in api.client.get(f"/smp/{participant}/services/" + quote(services[0]["documentType"], safe="")).data
    )


def test_tokens_are_shown_once_and_revocation_takes_effect(api):
    created = api(
        "POST",
        "/api/v1/tokens",
        json={"name": "ci", "role": "org_admin", "scope": str(api.ids["0203:exempelkommun.se"])},
    )
    assert created.status_code == 201
    token = created.get_json()["token"]
    assert created.headers["Cache-Control"] == "no-store"
    listed = api("GET", "/api/v1/tokens").get_data(as_text=True)
    assert token not in listed
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/organisations", headers=headers).status_code == 200
    problem(api("DELETE", created.headers["Location"]), 428)  # like every DELETE: If-Match
    problem(api("DELETE", created.headers["Location"], headers={"If-Match": "1"}), 400)  # not an ETag
    problem(api("DELETE", created.headers["Location"], headers={"If-Match": '"2"'}), 412)
    assert created.get_json()["version"] == 1
    assert api("DELETE", created.headers["Location"], headers={"If-Match": '"1"'}).status_code == 204
    problem(api.client.get("/api/v1/organisations", headers=headers), 401)
    problem(api("POST", "/api/v1/tokens", json={"name": "x", "role": "org_admin"}), 422)


def test_audit_events_are_scoped_and_filtered(api):
    kommun = api.ids["0203:exempelkommun.se"]
    api(
        "PATCH",
        f"/api/v1/organisations/{kommun}",
        "kommun",
        json={"description": "Granskad"},
        headers={"If-Match": "*"},
    )
    own = api("GET", "/api/v1/audit-events?pageSize=500", "kommun").get_json()["items"]
    assert own
    assert {event["organisation"] for event in own} == {str(kommun)}
    updates = api("GET", "/api/v1/audit-events?action=organisation:update").get_json()["items"]
    assert [event["actor"] for event in updates] == ["kommun"]
    assert updates[0]["after"]["description"] == "Granskad"
    assert updates[0]["requestId"]


# -- the document ------------------------------------------------------------------------------------


def test_the_committed_openapi_document_is_current(app):
    from app.api.spec import openapi_text

    committed = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_text(app), "openapi/openapi.json is stale: run 'make openapi'"


def test_openapi_and_its_ui_are_served(api):
    document = api.client.get("/openapi.json").get_json()
    assert document["info"]["title"] == "SDK Address Book"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert operation.get("summary"), f"{method.upper()} {path} has no summary"
    page = api.client.get("/api/docs")
    assert page.status_code == 200
    assert b"/api/docs/static/swagger-ui-bundle.js" in page.data
    script = api.client.get("/api/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.get_data()) > 100_000
    script.close()


def test_an_action_needs_no_body_but_a_body_must_be_json(api):
    """``curl -X POST …/approve`` sends neither a body nor a content type: that is a complete request."""
    ident = register_participant(api, "0203:utan-kropp.se", "Utan kropp")
    approved = api("POST", f"/api/v1/organisations/{ident}/approve")
    assert approved.status_code == 200, approved.get_data(as_text=True)
    assert approved.get_json()["federationStatus"] == "approved"
    for action in ("suspend", "reinstate"):
        assert api("POST", f"/api/v1/organisations/{ident}/{action}").status_code == 200
    text = api("POST", f"/api/v1/organisations/{ident}/suspend", data="x", content_type="text/plain")
    assert "application/json" in problem(text, 415)["detail"]
    broken = api("POST", f"/api/v1/organisations/{ident}/suspend", data="{", content_type="application/json")
    problem(broken, 400)
    assert problem(api("POST", f"/api/v1/organisations/{ident}/reject"), 422)["errors"][0]["field"] == "reason"
    assert api("GET", f"/api/v1/organisations/{ident}").get_json()["federationStatus"] == "approved"


def test_a_sub_organisation_cannot_be_moved_under_another_tenant(api):
    """The write is checked against the target it points to, not only the resource it changes."""
    kommun, region = api.ids["0203:exempelkommun.se"], api.ids["0203:regionexempel.se"]
    unit = api("POST", "/api/v1/organisations", "kommun", json={"type": "ou", "name": "Enhet", "parent": str(kommun)})
    assert unit.status_code == 201, unit.get_data(as_text=True)
    ident = unit.get_json()["id"]
    address = {"identifier": "sdk:enhet:0203:exempelkommun.se", "name": "Enhetens brevlåda"}
    assert api("POST", f"/api/v1/organisations/{ident}/function-addresses", "kommun", json=address).status_code == 201
    move = {"parent": str(region)}
    refused = api("PATCH", f"/api/v1/organisations/{ident}", "kommun", json=move, headers={"If-Match": "*"})
    assert "outside your scope" in problem(refused, 403)["detail"]
    for who in ("ap", "region"):
        problem(api("PATCH", f"/api/v1/organisations/{ident}", who, json=move, headers={"If-Match": "*"}), 403)
    create_under_other = {"type": "ou", "name": "Smuggel", "parent": str(region)}
    problem(api("POST", "/api/v1/organisations", "kommun", json=create_under_other), 403)
    assert api("GET", f"/api/v1/organisations/{ident}").get_json()["parent"] == str(kommun)
    moved = api("PATCH", f"/api/v1/organisations/{ident}", json=move, headers={"If-Match": "*"})  # the operator may
    assert moved.status_code == 200 and moved.get_json()["parent"] == str(region)


def test_every_change_and_removal_needs_if_match_first(api):
    """One precondition rule for every PUT, PATCH and DELETE the document lists: without If-Match 428, with a
    malformed one 400, whatever the resource (the check comes before the resource is even looked up)."""
    import json
    import re
    import uuid

    document = json.loads((Path(__file__).resolve().parents[1] / "openapi" / "openapi.json").read_text())
    writes = [
        (method, path)
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method in operations
        if method in ("put", "patch", "delete")
    ]
    assert len(writes) >= 10
    schemas = document["components"]["schemas"]
    for method, path in writes:
        url = re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), path)
        body = None
        if method != "delete":  # what the body schema needs, so the precondition is what answers
            reference = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            body = dict.fromkeys(schemas[reference["$ref"].rsplit("/", 1)[1]].get("required", []), "x")
        problem(api(method.upper(), url, json=body), 428)
        problem(api(method.upper(), url, json=body, headers={"If-Match": "3"}), 400)
        parameters = document["paths"][path][method].get("parameters", [])
        assert any(p["name"] == "If-Match" and p["in"] == "header" and p["required"] for p in parameters), path
