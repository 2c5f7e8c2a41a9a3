"""Two services, as a federation runs them: one is the SML (behind nginx doing mutual TLS), the other an SMP
registered in it (``SDK_SML_URL``), which registers its approved participants there. Real processes,
sockets and DNS only."""

from __future__ import annotations

import dns.rcode
import pytest
import requests

from app.dns.naming import naptr_name
from app.trust.devpki import DevelopmentPki, KeyPair, issue_ca, issue_leaf
from tests.conftest import fresh_postgres_database
from tests.nginx_front import TlsFront
from tests.processes import wait_until
from tests.served.service import ZONE, Served

KOMMUN = "0203:exempelkommun.se"


def naptr(service: Served, value: str) -> list[str]:
    response = service.ask(naptr_name("iso6523-actorid-upis", value, ZONE))
    if response.rcode() != dns.rcode.NOERROR:
        return []
    return [rdata.to_text() for rrset in response.answer for rdata in rrset]


def status(service: Served, token: str) -> dict:
    return service.http("GET", "/api/v1/status", token).json()["sml"]


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sml-federation")
    with fresh_postgres_database() as url:
        sml = Served(folder / "sml", url)
        sml.folder.mkdir()
        sml.cli("init")  # the SML's own PKI: its SMP CA is what SMP client certificates chain to
        tls = folder / "tls"
        ca = issue_ca(KeyPair(tls / "ca.key", tls / "ca.crt"), "TLS test CA")
        server = issue_leaf(
            ca, KeyPair(tls / "sml.key", tls / "sml.crt"), "sml.test", usage="tls-server", hosts=["127.0.0.1"]
        )
        smp_ca = DevelopmentPki(sml.folder / "instance" / "pki").smp_ca
        client = issue_leaf(smp_ca, KeyPair(tls / "smp-b.key", tls / "smp-b.crt"), "SMP-B", usage="smp-signing")
        front = TlsFront(folder / "nginx", sml.http_port, server.certificate, server.key, smp_ca.certificate)
        smp = Served(
            folder / "smp",
            f"sqlite:///{folder / 'smp.sqlite3'}",
            extra={
                "SDK_SML_URL": "",  # set below, once nginx has its port
                "SDK_SML_SMP_ID": "SMP-B",
                "SDK_SML_CLIENT_CERT": str(client.certificate),
                "SDK_SML_CLIENT_KEY": str(client.key),
                "SDK_SML_CA": str(ca.certificate),
            },
        )
        smp.folder.mkdir()
        front.start()
        smp.extra["SDK_SML_URL"] = f"{front.base}/sml"
        sml.start()
        sml.cli(
            "sml",
            "smp",
            "add",
            "--smp-id",
            "SMP-B",
            "--logical-address",
            f"{smp.base}/smp",
            "--physical-address",
            "127.0.0.1",
            "--certificate",
            str(client.certificate),
        )
        try:
            smp.prepare()  # init and the demo federation: three approved participants, queued for the SML
            smp.start()
            yield sml, smp, front
        finally:
            smp.stop()
            sml.stop()
            front.stop()


def test_approved_participants_of_the_smp_resolve_through_the_sml(federation):
    sml, smp, _front = federation
    expected = [f'100 10 "U" "Meta:SMP" "!^.*$!{smp.base}/smp!" .']
    assert wait_until(lambda: naptr(sml, KOMMUN) == expected, 30), smp.log_tail()
    assert naptr(sml, "0203:regionexempel.se") == expected
    # The SMP's own zone has none of them: the SML publishes them.
    assert smp.ask(naptr_name("iso6523-actorid-upis", KOMMUN, ZONE)).rcode() == dns.rcode.NXDOMAIN
    checked = smp.cli("sml", "client", "check")
    assert f"{smp.base}/smp" in checked.stdout
    listed = sml.cli("sml", "participants", "SMP-B").stdout.split()
    assert f"iso6523-actorid-upis::{KOMMUN}" in listed and len(listed) == 3


def test_a_withdrawal_reaches_the_sml_and_an_outage_only_delays(federation):
    sml, smp, front = federation
    token = smp.token("operator")
    kommun = smp.organisation_id(f"iso6523-actorid-upis::{KOMMUN}", token)
    assert wait_until(lambda: naptr(sml, KOMMUN), 30)
    suspended = smp.http("POST", f"/api/v1/organisations/{kommun}/suspend", token)
    assert suspended.status_code == 200, suspended.text
    assert wait_until(lambda: naptr(sml, KOMMUN) == [], 10)
    front.stop()
    try:
        reinstated = smp.http("POST", f"/api/v1/organisations/{kommun}/reinstate", token)
        assert reinstated.status_code == 200
        assert wait_until(lambda: (status(smp, token)["client"] or {}).get("errors", 0) >= 1, 10)
        client = status(smp, token)["client"]
        assert client["pending"] == 1 and client["lastError"] and client["url"] == f"{front.base}/sml"
        metrics = requests.get(smp.base + "/metrics", timeout=10).text
        assert "\nsdk_sml_client_pending 1\n" in metrics and "sdk_sml_client_errors_total" in metrics
    finally:
        front.start()
    assert wait_until(lambda: naptr(sml, KOMMUN) != [], 30), smp.log_tail()
    assert wait_until(lambda: status(smp, token)["client"]["pending"] == 0, 10)


def test_only_a_certificate_of_the_federation_gets_through(federation, tmp_path):
    sml, _smp, front = federation
    stranger_ca = issue_ca(KeyPair(tmp_path / "x-ca.key", tmp_path / "x-ca.crt"), "Not the federation")
    stranger = issue_leaf(stranger_ca, KeyPair(tmp_path / "x.key", tmp_path / "x.crt"), "SMP-X", usage="smp-signing")
    answer = requests.post(
        f"{front.base}/sml/manageparticipantidentifier",
        data=b"<x/>",
        cert=(str(stranger.certificate), str(stranger.key)),
        verify=str(front.certificate.parent / "ca.crt"),
        timeout=10,
    )
    assert answer.status_code == 400  # nginx refuses the handshake's certificate: nothing reaches the SML
    sml_status = status(sml, sml.token("operator"))  # the SML operator's view: one external SMP, its participants
    assert sml_status["smps"] == 1 and sml_status["participants"] >= 2
