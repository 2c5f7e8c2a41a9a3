"""The management API under test: a seeded federation and a token per role (a pytest plugin)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import demo
from app.audit import Actor
from app.operations.access_points import create_ap_operator
from app.operations.credentials import issue_token
from app.registry.models import AccessPointOperator, EndpointConfiguration, Organisation
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from app.trust.devpki import DevelopmentPki

SYSTEM = Actor("test", "system")


class Api:
    def __init__(self, client, tokens: dict[str, str], ids: dict[str, object]) -> None:
        self.client = client
        self.tokens = tokens
        self.ids = ids

    def __call__(self, method: str, path: str, who: str | None = "operator", *, json=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.open(path, method=method, json=json, headers=headers, **kwargs)


@pytest.fixture
def api(app, db, settings):
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
        ids = {o.participant_value or o.name: o.id for o in session.scalars(select(Organisation))}
        ids["ap"] = session.scalar(select(AccessPointOperator.id))
        other = create_ap_operator(session, SYSTEM, name="Annan AP AB")
        ids["other_ap"] = other.id
        ids["endpoint"] = session.scalar(select(EndpointConfiguration.id))
        tokens = {
            "operator": issue_token(session, SYSTEM, name="op", role="operator").token,
            "ap": issue_token(session, SYSTEM, name="ap", role="ap_operator", scope_id=ids["ap"]).token,
            "other_ap": issue_token(session, SYSTEM, name="other-ap", role="ap_operator", scope_id=other.id).token,
            "kommun": issue_token(
                session, SYSTEM, name="kommun", role="org_admin", scope_id=ids["0203:exempelkommun.se"]
            ).token,
            "region": issue_token(
                session, SYSTEM, name="region", role="org_admin", scope_id=ids["0203:regionexempel.se"]
            ).token,
        }
    return Api(app.test_client(), tokens, ids)


def register_participant(api: Api, value: str, name: str) -> str:
    """A new participant with the SDK message service, registered by the AP operator: pending, its id."""
    body = {"type": "o", "participantIdentifier": value, "organisationNumber": "2120000142", "name": name}
    created = api("POST", "/api/v1/organisations", "ap", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    ident = created.get_json()["id"]
    service = {"documentType": SDK_MESSAGE_DOCUMENT_TYPE, "endpointConfiguration": str(api.ids["endpoint"])}
    assert api("POST", f"/api/v1/organisations/{ident}/services", "ap", json=service).status_code == 201
    return ident


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith("urn:sdk-addressbook:problem:")
    return body
