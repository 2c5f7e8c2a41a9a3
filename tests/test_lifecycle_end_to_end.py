"""The participant lifecycle through the HTTP API, seen by an access point: SMP over HTTP and NAPTR in DNS."""

from __future__ import annotations

import time
from urllib.parse import quote

import dns.message
import dns.query
import dns.rcode
import pytest

from app.dns.naming import naptr_name
from app.dns.server import EmbeddedDnsServer
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from tests.api_support import problem
from tests.conftest import make_settings
from tests.test_dns_server import _free_port

PARTICIPANT = "iso6523-actorid-upis::0203:livscykel.se"


@pytest.fixture
def dns_server(api, db, pki_instance_dir):
    settings = make_settings(pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{_free_port()}")
    server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
    server.start()
    yield server
    server.stop()


def _wait_for(server, rcode: int) -> None:
    name = naptr_name("iso6523-actorid-upis", "0203:livscykel.se", server.settings.sml_zone)
    started = time.monotonic()
    while True:
        query = dns.message.make_query(name, "NAPTR")
        answer = dns.query.udp(query, "127.0.0.1", port=server.settings.dns_listen.port, timeout=3)
        if answer.rcode() == rcode and (rcode != dns.rcode.NOERROR or answer.answer):
            return
        assert time.monotonic() - started < 1.0, f"DNS did not answer {dns.rcode.to_text(rcode)} within a second"
        time.sleep(0.02)


def test_approve_suspend_reinstate_deregister(api, dns_server):
    body = {"type": "o", "participantIdentifier": PARTICIPANT, "organisationNumber": "2120000142", "name": "Livscykel"}
    created = api("POST", "/api/v1/organisations", "ap", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    organisation = created.headers["Location"]
    service = {"documentType": SDK_MESSAGE_DOCUMENT_TYPE, "endpointConfiguration": str(api.ids["endpoint"])}
    assert api("POST", f"{organisation}/services", "ap", json=service).status_code == 201
    smp = "/smp/" + quote(PARTICIPANT, safe="")

    def step(action: str, smp_status: int, rcode: int) -> None:
        response = api("POST", f"{organisation}/{action}", json={"reason": "test"} if action == "reject" else {})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert api.client.get(smp).status_code == smp_status
        _wait_for(dns_server, rcode)

    assert api.client.get(smp).status_code == 404  # pending: nothing published
    _wait_for(dns_server, dns.rcode.NXDOMAIN)
    step("approve", 200, dns.rcode.NOERROR)
    step("suspend", 404, dns.rcode.NXDOMAIN)
    step("reinstate", 200, dns.rcode.NOERROR)
    step("deregister", 404, dns.rcode.NXDOMAIN)
    refused = problem(api("POST", f"{organisation}/reinstate", json={}), 409)
    assert "deregistered" in refused["detail"]


def test_what_awaits_a_decision_and_rejection_with_a_reason(api):
    body = {"type": "o", "participantIdentifier": PARTICIPANT, "organisationNumber": "2120000142", "name": "Livscykel"}
    created = api("POST", "/api/v1/organisations", "ap", json=body).get_json()
    waiting = api("GET", "/api/v1/organisations?federationStatus=pending").get_json()["items"]
    assert [o["id"] for o in waiting] == [created["id"]]
    problem(api("POST", f"/api/v1/organisations/{created['id']}/reject", json={}), 422)
    rejected = api("POST", f"/api/v1/organisations/{created['id']}/reject", json={"reason": "Fel organisationsnummer"})
    assert rejected.get_json()["federationStatus"] == "rejected"
    assert api("GET", "/api/v1/organisations?federationStatus=pending").get_json()["items"] == []
