"""The discovery client against the demo federation served for real on loopback (HTTP and DNS)."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.rrset
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app, demo
from app.cli import cli
from app.client.cache import Cache
from app.client.errors import NoSuchService, NotRegistered, TechnicalFailure, Untrusted
from app.client.locate import DnsOptions, _from_cname, apply_regexp, locate
from app.client.lookup import LookupOptions, choose_endpoint, lookup
from app.client.smp import HttpOptions, service_url
from app.dns.server import EmbeddedDnsServer
from app.identifiers import DocumentTypeId, ParticipantId
from app.registry.models import FunctionAddress, Organisation
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from app.trust.certificates import load_certificate
from app.trust.devpki import DevelopmentPki
from app.wiring import wire
from tests.conftest import make_settings
from tests.named import answers_soa, free_port
from tests.processes import EXECUTABLE, service_environ, wait_until

KOMMUN = ParticipantId.parse("iso6523-actorid-upis::0203:exempelkommun.se")
DEMO_ENDPOINT = "https://ap0001.demo.sdk-addressbook.test/as4"


@dataclass
class Federation:
    settings: object
    http_port: int
    dns_port: int
    trusted: tuple
    dns_server: object = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def options(self, **overrides) -> LookupOptions:
        options = LookupOptions(
            dns=DnsOptions(zone=self.settings.sml_zone, server=("127.0.0.1", self.dns_port), timeout=2),
            http=HttpOptions(timeout=3, trusted=self.trusted),
            directory_url=f"{self.base}/addressbook/api/v1",
        )
        return replace(options, **overrides)


@contextlib.contextmanager
def demo_served_over_http(db, settings, http_port: int):
    """The demo federation published with ``settings`` and served by the real app on ``http_port``."""
    wire(db, settings)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    server = make_server("127.0.0.1", http_port, create_app(settings, database=db), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _trusted(settings) -> tuple:
    return (load_certificate((settings.pki_dir / "smp-ca.crt").read_bytes()),)


@contextlib.contextmanager
def served_federation(db, pki_instance_dir, **environ):
    """The demo federation, published for a public URL on a free port, served by HTTP and embedded DNS."""
    http_port, dns_port = free_port(), free_port()
    settings = make_settings(
        pki_instance_dir,
        db.url,
        SDK_PUBLIC_URL=f"http://127.0.0.1:{http_port}",
        SDK_DNS_LISTEN=f"127.0.0.1:{dns_port}",
        SDK_DIRECTORY_RATE_LIMIT="0",
        **environ,
    )
    with demo_served_over_http(db, settings, http_port):
        dns_server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
        dns_server.start()
        try:
            federation = Federation(settings, http_port, dns_port, _trusted(settings))
            federation.dns_server = dns_server
            yield federation
        finally:
            dns_server.stop()


@pytest.fixture
def federation(db, pki_instance_dir):
    with served_federation(db, pki_instance_dir) as served:
        yield served


def test_lookup_through_named_in_rfc2136_mode(db, pki_instance_dir, tmp_path):
    from app.dns.rfc2136 import OutboxPublisher
    from tests.named import start_named

    named = start_named(tmp_path / "named", "sml.lookup.test")
    try:
        http_port = free_port()
        settings = make_settings(
            pki_instance_dir, db.url, SDK_PUBLIC_URL=f"http://127.0.0.1:{http_port}", **named.environ
        )
        with demo_served_over_http(db, settings, http_port):
            assert OutboxPublisher(settings, db).drain() == 3  # the three demo participants' NAPTR records
            dns_options = DnsOptions(zone=named.zone, server=("127.0.0.1", named.port), timeout=2)
            options = LookupOptions(dns=dns_options, http=HttpOptions(timeout=3, trusted=_trusted(settings)))
            for participant in ("0203:exempelkommun.se", "0203:regionexempel.se", "0203:exempelmyndigheten.se"):
                result = lookup(participant, options, Cache())
                assert result.endpoint.url == DEMO_ENDPOINT
                assert result.located.smp_url == f"http://127.0.0.1:{http_port}/smp"
            with pytest.raises(NotRegistered):
                lookup("0203:okand.se", options, Cache())
    finally:
        named.stop()


def test_every_demo_function_address_resolves_to_a_verified_endpoint(federation, db):
    with db.reader() as session:
        rows = session.execute(
            select(FunctionAddress.identifier, Organisation)
            .join(Organisation)
            .where(FunctionAddress.status == "active")
        ).all()
        addresses = [(i, o.participant_organisation.participant_identifier) for i, o in rows]
    assert len(addresses) == 6
    cache = Cache()
    for identifier, participant in addresses:
        result = lookup(identifier, federation.options(), cache)
        assert result.participant == ParticipantId.parse(participant)
        assert result.function_address.identifier == identifier
        assert result.located.record_type == "NAPTR"
        assert result.endpoint.url == DEMO_ENDPOINT
        assert result.endpoint.transport_profile == "digg-transport-as4-v1_0"
        assert "AP0001-DEMO" in result.endpoint.certificate.subject.rfc4514_string()
        assert set(result.metadata.certificates) == {"signing", "encryption"}
        assert "SMP0001-DEV" in result.metadata.signer.subject.rfc4514_string()


def test_the_command_prints_a_table_or_json_and_exits_by_kind(federation, monkeypatch):
    monkeypatch.setenv("SDK_INSTANCE_DIR", str(federation.settings.instance_dir))
    monkeypatch.setenv("SDK_ENV_FILE", "/nonexistent.env")
    dns = ["--dns-server", f"127.0.0.1:{federation.dns_port}", "--zone", federation.settings.sml_zone]
    runner = CliRunner()
    shown = runner.invoke(cli, ["lookup", str(KOMMUN), *dns])
    assert shown.exit_code == 0, shown.output
    assert DEMO_ENDPOINT in shown.output and "CertPub signing" in shown.output
    as_json = runner.invoke(cli, ["lookup", "0203:EXEMPELKOMMUN.SE", *dns, "--json"])
    body = json.loads(as_json.output)
    assert body["endpoint"]["url"] == DEMO_ENDPOINT
    assert body["endpoint"]["certificate"]["issuer"].startswith("CN=Accesspunkt CA-SDK-DEV")
    assert {c["subject"].split(",")[0] for c in body["certpub"]["encryption"]} == {
        "CN=0203:exempelkommun.se encryption"
    }
    unknown = runner.invoke(cli, ["lookup", "0203:okand.se", *dns])
    assert unknown.exit_code == 3 and "not registered in DNS" in unknown.output
    document = runner.invoke(cli, ["lookup", str(KOMMUN), *dns, "--document-type", "busdox-docid-qns::x::y"])
    assert document.exit_code == 4 and "no such participant or document type" in document.output
    down = runner.invoke(cli, ["lookup", str(KOMMUN), "--dns-server", f"127.0.0.1:{free_port()}", "--timeout", "0.3"])
    assert down.exit_code == 6 and "did not answer" in down.output
    untrusted = runner.invoke(
        cli, ["lookup", str(KOMMUN), *dns, "--trust", str(federation.settings.pki_dir / "ap-ca.crt")]
    )
    assert untrusted.exit_code == 5 and "untrusted" in untrusted.output
    directory = ["--directory-url", f"{federation.base}/addressbook/api/v1"]
    unknown_address = runner.invoke(cli, ["lookup", "sdk:okand:0203:exempelkommun.se", *dns, *directory])
    assert unknown_address.exit_code == 3 and "sdk:okand:0203:exempelkommun.se" in unknown_address.output


def test_failures_are_told_apart(federation):
    cache = Cache()
    with pytest.raises(NotRegistered):
        lookup("0203:okand.se", federation.options(), cache)
    with pytest.raises(NotRegistered, match="no active function address"):
        lookup("sdk:finns-inte:0203:exempelkommun.se", federation.options(), cache)
    with pytest.raises(NoSuchService):
        lookup(str(KOMMUN), federation.options(document_type="busdox-docid-qns::x::y"), cache)
    with pytest.raises(NoSuchService, match="transport profile"):
        lookup(str(KOMMUN), federation.options(transport_profiles=("peppol-transport-as4-v2_0",)), cache)
    dead = DnsOptions(zone=federation.settings.sml_zone, server=("127.0.0.1", free_port()), timeout=0.3)
    with pytest.raises(TechnicalFailure, match="did not answer"):
        lookup(str(KOMMUN), federation.options(dns=dead), Cache())
    with pytest.raises(TechnicalFailure, match="could not be fetched"):
        lookup(str(KOMMUN), federation.options(smp_url=f"http://127.0.0.1:{free_port()}/smp"), Cache())


class FixedServer:
    """An SMP that answers every GET with the same bytes (to serve tampered or foreign documents)."""

    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.body, self.headers, self.requests = body, headers or {}, []
        fixed = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fixed.requests.append(dict(self.headers))
                etag = fixed.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                for name, value in fixed.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(fixed.body)))
                self.end_headers()
                self.wfile.write(fixed.body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/smp"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def genuine(federation):
    """The signed document of Exempelkommun's message service as the real SMP serves it."""
    import urllib.request

    url = service_url(f"{federation.base}/smp", KOMMUN, DocumentTypeId.parse(SDK_MESSAGE_DOCUMENT_TYPE))
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _corrupt_signature_value(body: bytes) -> bytes:
    """Swap the first two characters of the SignatureValue (still base64, no longer the signature)."""
    match = re.search(rb"SignatureValue[^>]*>\s*(.)(.)", body)
    assert match and match.group(1) != match.group(2)
    start = match.start(1)
    return body[:start] + match.group(2) + match.group(1) + body[start + 2 :]


@pytest.mark.parametrize(
    ("change", "failure", "reason"),
    [
        (lambda body: body.replace(DEMO_ENDPOINT.encode(), b"https://evil.example/as4"), Untrusted, "changed"),
        (lambda body: _corrupt_signature_value(body), Untrusted, "signature value does not match"),
        (lambda body: body[: len(body) // 2], TechnicalFailure, "malformed"),
        (lambda body: b"<html>not an SMP</html>", TechnicalFailure, "malformed"),
    ],
)
def test_tampered_or_broken_answers_are_refused(federation, genuine, change, failure, reason):
    server = FixedServer(change(genuine))
    try:
        with pytest.raises(failure, match=reason):
            lookup(str(KOMMUN), federation.options(smp_url=server.url), Cache())
    finally:
        server.close()


def test_an_answer_about_someone_else_is_refused(federation, genuine):
    server = FixedServer(genuine)  # Exempelkommun's genuine, correctly signed document…
    try:
        with pytest.raises(Untrusted, match="answers for participant"):  # …offered for the region
            lookup("0203:regionexempel.se", federation.options(smp_url=server.url), Cache())
    finally:
        server.close()


def test_cache_honours_max_age_and_revalidates_with_etag(federation, genuine, tmp_path):
    fresh = FixedServer(genuine, {"Cache-Control": "max-age=60"})
    stale = FixedServer(genuine, {"Cache-Control": "max-age=0", "ETag": '"v1"'})
    try:
        cache = Cache()
        for _ in range(3):
            lookup(str(KOMMUN), federation.options(smp_url=fresh.url), cache)
        assert len(fresh.requests) == 1  # then answered from memory
        for _ in range(2):
            lookup(str(KOMMUN), federation.options(smp_url=stale.url), cache)
        assert len(stale.requests) == 2 and stale.requests[1].get("If-None-Match") == '"v1"'
        on_disk = Cache(tmp_path / "cache")
        lookup(str(KOMMUN), federation.options(smp_url=fresh.url), on_disk)
        again = lookup(str(KOMMUN), federation.options(smp_url=fresh.url), Cache(tmp_path / "cache"))
        assert again.endpoint.url == DEMO_ENDPOINT and len(fresh.requests) == 2  # read back from the folder
    finally:
        fresh.close()
        stale.close()


def test_dns_answers_are_kept_for_their_ttl(federation):
    now = [1000.0]
    cache = Cache(clock=lambda: now[0])
    lookup(str(KOMMUN), federation.options(), cache)
    [(key, entry)] = [(k, e) for k, e in cache._memory.items() if k.startswith("dns:")]
    assert entry.expires_at == 1000.0 + federation.settings.dns_ttl
    now[0] += federation.settings.dns_ttl + 1
    assert not entry.fresh(now[0])
    lookup(str(KOMMUN), federation.options(), cache)
    assert cache._memory[key].expires_at == now[0] + federation.settings.dns_ttl  # asked again


def test_endpoints_are_chosen_by_profile_and_dates(federation):
    result = lookup(str(KOMMUN), federation.options(), Cache())
    endpoint = result.endpoint
    later = replace(endpoint, transport_profile="digg-transport-as4-v1_2", url="https://new.example/as4")
    expired = replace(later, expiration=datetime.now(UTC) - timedelta(days=1))
    metadata = replace(result.metadata, endpoints=[endpoint, later])
    now = datetime.now(UTC)
    assert choose_endpoint(metadata, ("digg-transport-as4-v1_2", "digg-transport-as4-v1_0"), now) == later
    metadata = replace(result.metadata, endpoints=[endpoint, expired])
    assert choose_endpoint(metadata, ("digg-transport-as4-v1_2", "digg-transport-as4-v1_0"), now) == endpoint
    future = replace(endpoint, activation=now + timedelta(days=1))
    with pytest.raises(NoSuchService):
        choose_endpoint(replace(result.metadata, endpoints=[future]), ("digg-transport-as4-v1_0",), now)


@pytest.mark.parametrize(
    ("regexp", "subject", "expected"),
    [
        ("!^.*$!https://smp.example/smp!", "abc.zone", "https://smp.example/smp"),
        ("!.*!https://smp.example!", "abc.zone", "https://smp.example"),
        ("!^(.*)\\.zone$!https://\\1.smp.example!", "abc.zone", "https://abc.smp.example"),
        ("!^ABC.*$!https://x!i", "abc.zone", "https://x"),
        ("!^xyz$!https://x!", "abc.zone", None),
    ],
)
def test_naptr_regexp(regexp, subject, expected):
    assert apply_regexp(regexp, subject) == expected


def test_malformed_naptr_regexp_is_a_technical_failure():
    with pytest.raises(TechnicalFailure):
        apply_regexp("!^.*$!https://x", "abc")
    with pytest.raises(TechnicalFailure):
        apply_regexp("!([!x!", "abc")


def test_cname_fallback_reads_the_target_as_the_smp_host():
    response = dns.message.make_response(dns.message.make_query("b-x.iso6523-actorid-upis.zone.", "CNAME"))
    response.answer.append(dns.rrset.from_text("b-x.iso6523-actorid-upis.zone.", 60, "IN", "CNAME", "smp.example."))
    located, ttl = _from_cname("b-x.iso6523-actorid-upis.zone.", response)
    assert (located.smp_url, located.record_type, ttl) == ("http://smp.example", "CNAME", 60)


def test_the_client_imports_no_flask():
    import subprocess
    import sys

    code = "import sys, app.client.lookup; sys.exit('flask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], check=False).returncode == 0


def test_serve_with_embedded_dns_answers_a_lookup_for_every_demo_function_address(tmp_path, pki_instance_dir):
    """``init`` + ``seed-demo`` + ``serve`` as a user runs them (SQLite, embedded DNS), then the client."""
    import subprocess
    import time
    import urllib.request

    http_port, dns_port = free_port(), free_port()
    environ = service_environ()
    environ.update(
        SDK_INSTANCE_DIR=str(tmp_path / "instance"),
        SDK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        SDK_PUBLIC_URL=f"http://127.0.0.1:{http_port}",
        SDK_DNS_LISTEN=f"127.0.0.1:{dns_port}",
        SDK_ENV_FILE=str(tmp_path / "none.env"),
    )
    for command in ("init", "seed-demo"):
        subprocess.run([EXECUTABLE, command], env=environ, check=True, capture_output=True)
    process = subprocess.Popen([EXECUTABLE, "serve"], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        # The DNS worker is a program of its own: it answers a moment after HTTP.
        assert wait_until(lambda: answers_soa(dns_port, "sml.sdk-addressbook.test"), 10)
        trusted = (load_certificate((tmp_path / "instance" / "pki" / "smp-ca.crt").read_bytes()),)
        options = LookupOptions(
            dns=DnsOptions(zone="sml.sdk-addressbook.test", server=("127.0.0.1", dns_port), timeout=2),
            http=HttpOptions(timeout=3, trusted=trusted),
            directory_url=f"http://127.0.0.1:{http_port}/addressbook/api/v1",
        )
        identifiers = [
            function.identifier for organisation in demo.ORGANISATIONS for function in organisation.functions
        ]
        assert len(identifiers) == 6
        for identifier in identifiers:
            result = lookup(identifier, options, Cache())
            assert result.endpoint.url == DEMO_ENDPOINT and result.metadata.certificates["encryption"]
        # No --directory-url: the instance's own directory, under SDK_PUBLIC_URL, is the default.
        command = [EXECUTABLE, "lookup", identifiers[0], "--json"]
        shown = subprocess.run(command, env=environ, capture_output=True, text=True, check=False)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["functionAddress"]["identifier"] == identifiers[0]
    finally:
        process.terminate()
        process.wait(timeout=30)


def _signed_redirect(settings, href: str, certificate_uid: str) -> bytes:
    from lxml import etree

    from app.client.smp import OASIS
    from app.publishing.keys import load_signing_credentials
    from app.publishing.signing import Signer
    from app.trust.xmldsig import C14N_10

    root = etree.Element(f"{{{OASIS}}}SignedServiceMetadata", nsmap={None: OASIS})
    metadata = etree.SubElement(root, f"{{{OASIS}}}ServiceMetadata")
    redirect = etree.SubElement(metadata, f"{{{OASIS}}}Redirect", href=href)
    etree.SubElement(redirect, f"{{{OASIS}}}CertificateUID").text = certificate_uid
    return Signer(load_signing_credentials(settings)).sign(root, C14N_10)


def test_one_smp_redirect_is_followed_to_a_document_signed_as_named(federation):
    document = DocumentTypeId.parse(SDK_MESSAGE_DOCUMENT_TYPE)
    target = service_url(f"{federation.base}/smp", KOMMUN, document)
    signer = "CN=SMP0001-DEV,O=SDK Address Book development PKI,C=SE"
    for uid, outcome in ((signer, None), ("CN=another SMP", "not 'CN=another SMP'")):
        server = FixedServer(_signed_redirect(federation.settings, target, uid))
        try:
            if outcome is None:
                result = lookup(str(KOMMUN), federation.options(smp_url=server.url), Cache())
                assert result.endpoint.url == DEMO_ENDPOINT and result.metadata.url == target
            else:
                with pytest.raises(Untrusted, match=outcome):
                    lookup(str(KOMMUN), federation.options(smp_url=server.url), Cache())
        finally:
            server.close()
    loop = FixedServer(b"")
    loop.body = _signed_redirect(federation.settings, loop.url + "/again", signer)
    try:
        with pytest.raises(Untrusted, match="only one SMP redirect"):
            lookup(str(KOMMUN), federation.options(smp_url=loop.url), Cache())
    finally:
        loop.close()


def test_cname_fallback_is_used_only_when_asked(db, pki_instance_dir):
    """A zone with only Peppol CNAME records, served by the embedded DNS server."""
    dns_port = free_port()
    settings = make_settings(
        pki_instance_dir,
        db.url,
        SDK_DNS_LISTEN=f"127.0.0.1:{dns_port}",
        SDK_DNS_RECORD_TYPES="cname",
        SDK_PUBLIC_URL="http://smp.example.se",
    )
    wire(db, settings)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
    server.start()
    try:
        options = DnsOptions(zone=settings.sml_zone, server=("127.0.0.1", dns_port), timeout=2)
        with pytest.raises(NotRegistered, match="NAPTR"):
            locate(KOMMUN, options, Cache())
        located = locate(KOMMUN, replace(options, cname_fallback=True), Cache())
        assert (located.smp_url, located.record_type) == ("http://smp.example.se", "CNAME")
        assert located.name.lower().startswith("b-")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("flavour", "suffix", "asked"),
    [("peppol", "/smp/peppol", "/smp/peppol/iso6523"), ("oasis2", "/smp", "/smp/bdxr-smp-2/iso6523")],
)
def test_the_lookup_follows_the_flavour_the_naptr_leads_to(db, pki_instance_dir, flavour, suffix, asked):
    """SDK_DNS_SMP_FLAVOUR: the NAPTR leads to that flavour's base (for OASIS SMP 2.0 the SMP root with the
    service oasis-bdxr-smp-2, the client adding /bdxr-smp-2), and the client reads that flavour's document
    to the same verified endpoint."""
    with served_federation(db, pki_instance_dir, SDK_DNS_SMP_FLAVOUR=flavour) as federation:
        with db.reader() as session:
            identifier = session.scalars(
                select(FunctionAddress.identifier).order_by(FunctionAddress.identifier)
            ).first()
        result = lookup(identifier, federation.options(), Cache())
    assert result.located.smp_url == federation.base + suffix
    assert result.metadata.url.startswith(federation.base + asked)
    assert result.endpoint.url == DEMO_ENDPOINT
    assert "AP0001-DEMO" in result.endpoint.certificate.subject.rfc4514_string()
