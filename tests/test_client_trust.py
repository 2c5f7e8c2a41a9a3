"""The discovery client checks the whole chain: DNSSEC from a trust anchor, SMP 2.0 documents, revocation.

Served for real on loopback: the demo federation over HTTP and a signed embedded DNS server; a relay in
front of it forges answers; CRLs come from the development PKI and from a distribution point over HTTP.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from app.client.cache import Cache
from app.client.dnssec import AnchorError, TrustAnchor
from app.client.errors import DnssecFailure, NotRegistered, Revoked, TechnicalFailure, Untrusted
from app.client.locate import DnsOptions
from app.client.lookup import lookup
from app.client.revocation import RevocationOptions, check
from app.client.smp import service_url
from app.dns.dnssec import create_key, dnskey_text, ds_text, load_key
from app.identifiers import DocumentTypeId
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from app.trust.certificates import load_certificate, load_crl_bundle
from app.trust.devpki import DevelopmentPki, KeyPair, crl_path, issue_leaf, revoke
from tests.test_client_lookup import DEMO_ENDPOINT, KOMMUN, FixedServer, served_federation

DOCUMENT = DocumentTypeId.parse(SDK_MESSAGE_DOCUMENT_TYPE)


@pytest.fixture
def federation(db, pki_instance_dir):
    with served_federation(db, pki_instance_dir) as served:
        yield served


@pytest.fixture
def signed(db, pki_instance_dir, tmp_path):
    """The demo federation over HTTP with a DNSSEC-signed embedded DNS server, and the zone's key."""
    key_path = tmp_path / "zone.key"
    create_key(key_path)
    with served_federation(db, pki_instance_dir, SDK_DNSSEC="on", SDK_DNSSEC_KEY=str(key_path)) as served:
        served.key = load_key(key_path)  # type: ignore[attr-defined]
        yield served


def _anchor(federation, tmp_path: Path, kind: str = "ds") -> TrustAnchor:
    zone = federation.settings.sml_zone
    text = ds_text(zone, federation.key) if kind == "ds" else dnskey_text(zone, federation.key)
    path = tmp_path / f"anchor-{kind}.txt"
    path.write_text(f"; the SML zone's trust anchor\n{text}\n", encoding="utf-8")
    return TrustAnchor.load(path, zone)


def _options(federation, anchor: TrustAnchor | None, server: tuple[str, int] | None = None, **overrides):
    dns_options = DnsOptions(
        zone=federation.settings.sml_zone,
        server=server or ("127.0.0.1", federation.dns_port),
        timeout=2,
        anchor=anchor,
    )
    return replace(federation.options(dns=dns_options), **overrides)


# -- DNSSEC ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ds", "dnskey"])
def test_a_validated_lookup_names_the_key_it_was_validated_with(signed, tmp_path, kind):
    result = lookup(str(KOMMUN), _options(signed, _anchor(signed, tmp_path, kind)), Cache())
    assert result.endpoint.url == DEMO_ENDPOINT
    assert result.located.validated_with == (signed.key.key_tag,)
    assert result.as_dict()["dns"]["dnssec"] == {"validated": True, "keyTags": [signed.key.key_tag]}


def test_without_an_anchor_the_lookup_says_it_did_not_validate(signed):
    result = lookup(str(KOMMUN), _options(signed, None), Cache())
    assert result.located.validated_with == ()
    assert result.as_dict()["dns"]["dnssec"]["validated"] is False


def test_a_proven_nxdomain_is_not_registered(signed, tmp_path):
    with pytest.raises(NotRegistered):
        lookup("0203:okand.se", _options(signed, _anchor(signed, tmp_path)), Cache())


def _anchor_of_another_key(zone: str, tmp_path: Path) -> TrustAnchor:
    """A trust anchor for a key that signs nothing here."""
    other = tmp_path / "other.key"
    create_key(other)
    path = tmp_path / "other-anchor.txt"
    path.write_text(ds_text(zone, load_key(other)) + "\n", encoding="utf-8")
    return TrustAnchor.load(path, zone)


def test_an_anchor_for_another_key_refuses_everything(signed, tmp_path):
    anchor = _anchor_of_another_key(signed.settings.sml_zone, tmp_path)
    with pytest.raises(DnssecFailure, match="matches the trust anchor"):
        lookup(str(KOMMUN), _options(signed, anchor), Cache())


def test_an_unsigned_zone_is_refused_with_an_anchor(federation, tmp_path):
    anchor = _anchor_of_another_key(federation.settings.sml_zone, tmp_path)
    with pytest.raises(DnssecFailure, match="not signed"):
        lookup(str(KOMMUN), _options(federation, anchor), Cache())


def test_expired_signatures_are_refused(signed, tmp_path):
    anchor = _anchor(signed, tmp_path)
    table = signed.dns_server.table
    table.signer.renew(now=datetime.now(UTC).timestamp() - 40 * 86400)
    for rrset in table.rrsets():
        if rrset.rdtype not in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC):
            table.set_rrset(
                rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, [r.to_text() for r in rrset]
            )
    with pytest.raises(DnssecFailure, match="does not validate"):
        lookup(str(KOMMUN), _options(signed, anchor), Cache())


class Relay:
    """A DNS server in front of the signed one that changes its answers on the way back (UDP)."""

    def __init__(self, upstream: int, change) -> None:
        self.upstream, self.change = upstream, change
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import dns.query

        while self.running:
            try:
                data, client = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            answer = dns.query.udp(query, "127.0.0.1", port=self.upstream, timeout=2)
            self.sock.sendto(self.change(query, answer).to_wire(), client)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


def _forge_naptr(query, answer):
    if query.question[0].rdtype == dns.rdatatype.NAPTR:
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.NAPTR:
                forged = dns.rdata.from_text("IN", "NAPTR", '100 10 "U" "Meta:SMP" "!^.*$!https://evil.example/smp!" .')
                rrset.clear()
                rrset.add(forged)
    return answer


def _strip_signatures(query, answer):
    answer.answer = [r for r in answer.answer if r.rdtype != dns.rdatatype.RRSIG]
    return answer


def _bare_nxdomain(query, answer):
    if query.question[0].rdtype == dns.rdatatype.NAPTR:
        answer.set_rcode(dns.rcode.NXDOMAIN)
        answer.answer, answer.authority = [], []
    return answer


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_forge_naptr, "the signature does not validate"),
        (_strip_signatures, "is not signed"),
        (_bare_nxdomain, "carries no NSEC proof"),
    ],
)
def test_forged_answers_are_refused(signed, tmp_path, change, reason):
    relay = Relay(signed.dns_port, change)
    try:
        options = _options(signed, _anchor(signed, tmp_path), server=("127.0.0.1", relay.port))
        with pytest.raises(DnssecFailure, match=reason):
            lookup(str(KOMMUN), options, Cache())
        # the same forgery without an anchor goes unnoticed (or is a plain miss): what the anchor is for
        unprotected = _options(signed, None, server=("127.0.0.1", relay.port))
        try:
            result = lookup(str(KOMMUN), unprotected, Cache())
            assert result.located.validated_with == ()
        except (NotRegistered, TechnicalFailure):
            pass
    finally:
        relay.close()


def test_anchor_files_are_checked(tmp_path):
    zone = "sml.example.test"
    cases = {
        "empty": "",
        "garbage": "this is not a record\n",
        "other type": f"{zone}. IN A 127.0.0.1\n",
        "other zone": "other.test. IN DS 1 13 2 " + "00" * 32 + "\n",
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(AnchorError):
            TrustAnchor.load(path, zone)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(AnchorError, match="cannot be read"):
        TrustAnchor.load(binary, zone)


# -- SMP 2.0 -----------------------------------------------------------------------------------------------


def test_the_smp2_flavour_reads_and_verifies_oasis_2_documents(federation):
    result = lookup(str(KOMMUN), federation.options(http=replace(federation.options().http, flavour="smp2")), Cache())
    assert result.metadata.url.endswith("/bdxr-smp-2/" + service_url("", KOMMUN, DOCUMENT).lstrip("/"))
    one = lookup(str(KOMMUN), federation.options(), Cache())
    assert result.endpoint.url == one.endpoint.url == DEMO_ENDPOINT
    assert result.endpoint.certificate == one.endpoint.certificate
    assert result.metadata.certificates == one.metadata.certificates
    assert result.endpoint.transport_profile == one.endpoint.transport_profile


def test_auto_detects_smp2_from_the_namespace_and_a_named_flavour_must_match(federation):
    base = f"{federation.base}/smp/bdxr-smp-2"
    auto = lookup(str(KOMMUN), federation.options(smp_url=base), Cache())
    assert auto.endpoint.url == DEMO_ENDPOINT
    wrong = federation.options(smp_url=base, http=replace(federation.options().http, flavour="oasis1"))
    with pytest.raises(TechnicalFailure, match="is not a oasis1 document"):
        lookup(str(KOMMUN), wrong, Cache())


def _smp2_document(federation) -> bytes:
    import urllib.request

    url = service_url(f"{federation.base}/smp", KOMMUN, DOCUMENT, "smp2")
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def test_a_tampered_smp2_document_is_refused(federation):
    body = _smp2_document(federation).replace(DEMO_ENDPOINT.encode(), b"https://evil.example/as4")
    server = FixedServer(body)
    try:
        with pytest.raises(Untrusted):
            lookup(str(KOMMUN), federation.options(smp_url=server.url), Cache())
    finally:
        server.close()


def test_an_smp2_redirect_is_followed_to_a_document_signed_by_its_certificate(federation):
    from app.publishing.keys import load_signing_credentials
    from app.publishing.signing import Signer
    from app.trust.xmldsig import C14N_11

    genuine = etree.fromstring(_smp2_document(federation))
    sma = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents"
    smb = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents"
    credentials = load_signing_credentials(federation.settings)

    def redirect_to(target: str, certificate_pem: bytes) -> bytes:
        root = etree.fromstring(etree.tostring(genuine))
        for element in list(root):
            if etree.QName(element).localname in ("ProcessMetadata", "Signature", "SMPExtensions"):
                root.remove(element)
        metadata = etree.SubElement(root, f"{{{sma}}}ProcessMetadata")
        redirect = etree.SubElement(metadata, f"{{{sma}}}Redirect")
        etree.SubElement(redirect, f"{{{smb}}}PublisherURI").text = target
        holder = etree.SubElement(redirect, f"{{{sma}}}Certificate")
        binary = etree.SubElement(holder, f"{{{smb}}}ContentBinaryObject", mimeCode="application/base64")
        binary.text = b"".join(certificate_pem.split(b"\n")[1:-2]).decode()
        return Signer(credentials).sign(root, C14N_11)

    signer_pem = credentials.certificate.public_bytes(serialization.Encoding.PEM)
    other_pem = (federation.settings.pki_dir / "ap-ca.crt").read_bytes()
    for pem, outcome in ((signer_pem, None), (other_pem, "is signed by")):
        server = FixedServer(redirect_to(f"{federation.base}/smp", pem))
        try:
            options = federation.options(smp_url=server.url)
            if outcome is None:
                result = lookup(str(KOMMUN), options, Cache())
                assert result.endpoint.url == DEMO_ENDPOINT and "/bdxr-smp-2/" in result.metadata.url
            else:
                with pytest.raises(Untrusted, match=outcome):
                    lookup(str(KOMMUN), options, Cache())
        finally:
            server.close()


# -- revocation -------------------------------------------------------------------------------------------


@pytest.fixture
def own_pki(pki_instance_dir, tmp_path):
    """A copy of the session's development PKI, so that revoking in it touches no other test."""
    root = tmp_path / "pki"
    shutil.copytree(pki_instance_dir / "pki", root)
    return DevelopmentPki(root)


def _issuers(pki: DevelopmentPki) -> tuple[x509.Certificate, ...]:
    return tuple(load_certificate(pair.certificate.read_bytes()) for pair in (pki.ap_ca, pki.o2o_ca))


def _crls(pki: DevelopmentPki) -> tuple[x509.CertificateRevocationList, ...]:
    return tuple(crl for pair in (pki.ap_ca, pki.o2o_ca) for crl in load_crl_bundle(crl_path(pair).read_bytes()))


def test_the_development_pki_publishes_a_crl_per_ca(own_pki):
    for pair in own_pki.cas:
        [crl] = load_crl_bundle(crl_path(pair).read_bytes())
        ca = load_certificate(pair.certificate.read_bytes())
        assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())
        assert len(crl) == 0 and crl.next_update_utc > datetime.now(UTC) + timedelta(days=3)


def test_a_revoked_ap_certificate_ends_the_lookup(federation, own_pki):
    options = federation.options(
        revocation=RevocationOptions(mode="soft", issuers=_issuers(own_pki), crls=_crls(own_pki))
    )
    result = lookup(str(KOMMUN), options, Cache())
    assert result.status_of(result.endpoint.certificate).state == "good"
    assert result.as_dict()["endpoint"]["certificate"]["revocation"]["state"] == "good"
    revoke(own_pki.ap_ca, result.endpoint.certificate)
    options = replace(options, revocation=replace(options.revocation, crls=_crls(own_pki)))
    with pytest.raises(Revoked, match=r"AP certificate CN=AP0001.* is revoked by CN=Accesspunkt CA-SDK-DEV"):
        lookup(str(KOMMUN), options, Cache())
    off = replace(options, revocation=replace(options.revocation, mode="off"))
    assert lookup(str(KOMMUN), off, Cache()).status_of(result.endpoint.certificate).state == "not-checked"


def test_a_revoked_certpub_certificate_ends_the_lookup(federation, own_pki):
    options = federation.options(
        revocation=RevocationOptions(mode="soft", issuers=_issuers(own_pki), crls=_crls(own_pki))
    )
    result = lookup(str(KOMMUN), options, Cache())
    [encryption] = result.metadata.certificates["encryption"]
    revoke(own_pki.o2o_ca, encryption)
    options = replace(options, revocation=replace(options.revocation, crls=_crls(own_pki)))
    with pytest.raises(Revoked, match=r"CertPub encryption certificate .* is revoked"):
        lookup(str(KOMMUN), options, Cache())


def test_unknown_status_passes_soft_and_fails_hard(federation):
    soft = federation.options(revocation=RevocationOptions(mode="soft"))
    result = lookup(str(KOMMUN), soft, Cache())
    status = result.status_of(result.endpoint.certificate)
    assert status.state == "unknown" and "not among the CAs given" in status.detail
    hard = federation.options(revocation=RevocationOptions(mode="hard"))
    with pytest.raises(Revoked, match="cannot be checked for revocation"):
        lookup(str(KOMMUN), hard, Cache())


class CrlServer:
    """A CRL distribution point on loopback that serves a file as it is now, and counts requests."""

    def __init__(self, path: Path) -> None:
        self.path, self.requests = path, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = outer.path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ap-ca.crl"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_crl_is_fetched_from_the_distribution_point_and_cached(own_pki, tmp_path):
    server = CrlServer(crl_path(own_pki.ap_ca))
    try:
        leaf = issue_leaf(
            own_pki.ap_ca,
            KeyPair(tmp_path / "ap.key", tmp_path / "ap.crt"),
            "AP0042",
            usage="access-point",
            crl_url=server.url,
        )
        certificate = load_certificate(leaf.certificate.read_bytes())
        options = RevocationOptions(mode="hard", issuers=_issuers(own_pki))
        cache = Cache()
        now = datetime.now(UTC)
        assert check(certificate, options, cache, now).state == "good"
        assert check(certificate, options, cache, now).state == "good"
        assert server.requests == 1  # kept until the CRL's next update
        revoke(own_pki.ap_ca, certificate)
        assert check(certificate, options, cache, now).state == "good"  # the cached CRL still says so
        fresh = check(certificate, options, Cache(), now)
        assert fresh.state == "revoked" and server.requests == 2
        stale = check(certificate, options, Cache(), now + timedelta(days=30))
        assert stale.state == "unknown" and "out of date" in stale.detail
    finally:
        server.close()
    gone = check(certificate, options, Cache(), datetime.now(UTC))
    assert gone.state == "unknown" and "could not be fetched" in gone.detail


def test_a_crl_signed_by_another_ca_does_not_count(own_pki, pki_instance_dir):
    certificate = load_certificate((own_pki.root / "access-points" / "ap0001-demo.crt").read_bytes())
    foreign = load_crl_bundle(crl_path(own_pki.o2o_ca).read_bytes())
    status = check(
        certificate,
        RevocationOptions(mode="hard", issuers=_issuers(own_pki), crls=tuple(foreign)),
        Cache(),
        datetime.now(UTC),
    )
    assert status.state == "unknown"
