"""The development PKI: complete, correctly chained, private keys 0600, never overwritten."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store

from app.trust.certificates import common_name, load_certificate
from app.trust.devpki import ensure_development_pki


def _chain_ok(leaf_path, ca_path) -> None:
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    leaf = x509.load_pem_x509_certificate(leaf_path.read_bytes())
    # Not a web server certificate: the CA side keeps the Web PKI rules, the leaf needs no subjectAltName.
    verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .time(datetime.now(UTC))
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    verified = verifier.verify(leaf, [])  # raises VerificationError when the chain is wrong
    assert verified.chain[-1] == ca


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    return ensure_development_pki(root, access_points=["AP0001-DEMO"], participants=["0203:exempel.se"])


def test_every_key_pair_exists_and_keys_are_private(pki):
    pairs = [
        *(pki.smp_ca, pki.smp_signing, pki.ap_ca, pki.o2o_ca, pki.access_point("AP0001-DEMO")),
        *(pki.participant("0203:exempel.se", usage) for usage in ("signing", "encryption")),
    ]
    for pair in pairs:
        assert pair.certificate.is_file()
        assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600, pair.key


def test_certificates_chain_to_their_own_ca(pki):
    _chain_ok(pki.smp_signing.certificate, pki.smp_ca.certificate)
    _chain_ok(pki.access_point("AP0001-DEMO").certificate, pki.ap_ca.certificate)
    _chain_ok(pki.participant("0203:exempel.se", "signing").certificate, pki.o2o_ca.certificate)
    with pytest.raises(x509.verification.VerificationError):
        _chain_ok(pki.access_point("AP0001-DEMO").certificate, pki.smp_ca.certificate)


def test_the_access_point_certificate_names_the_access_point(pki):
    certificate = load_certificate(pki.access_point("AP0001-DEMO").certificate.read_text())
    assert common_name(certificate) == "AP0001-DEMO"


def test_key_usage_matches_the_purpose(pki):
    signing = x509.load_pem_x509_certificate(pki.smp_signing.certificate.read_bytes())
    usage = signing.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    encryption = x509.load_pem_x509_certificate(
        pki.participant("0203:exempel.se", "encryption").certificate.read_bytes()
    )
    usage = encryption.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment and not usage.digital_signature


def test_running_again_never_overwrites(pki):
    before = {p: p.read_bytes() for p in pki.root.rglob("*") if p.is_file()}
    ensure_development_pki(pki.root, access_points=["AP0001-DEMO"], participants=["0203:exempel.se"])
    after = {p: p.read_bytes() for p in pki.root.rglob("*") if p.is_file()}
    assert after == before


def test_a_lonely_key_is_reported_not_replaced(tmp_path):
    (tmp_path / "smp-ca.key").write_text("mine")
    with pytest.raises(FileExistsError, match="without its partner"):
        ensure_development_pki(tmp_path, access_points=[], participants=[])
    assert (tmp_path / "smp-ca.key").read_text() == "mine"


def test_each_ca_keeps_a_crl_that_revoke_extends_once(pki):
    from datetime import timedelta

    from app.trust.devpki import CRL_DAYS, crl_path, ensure_crl, revoke

    ap = load_certificate(pki.access_point("AP0001-DEMO").certificate.read_bytes())
    path = revoke(pki.ap_ca, ap)
    crl = x509.load_pem_x509_crl(path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(ap.serial_number) is not None
    assert crl.next_update_utc - datetime.now(UTC) > timedelta(days=CRL_DAYS - 1)
    revoke(pki.ap_ca, ap)
    assert len(x509.load_pem_x509_crl(path.read_bytes())) == 1  # a second time adds nothing
    with pytest.raises(ValueError, match="was not issued by"):
        revoke(pki.o2o_ca, ap)
    # a CRL past half its life is issued again by ensure_crl (init), keeping what it revoked
    ca = load_certificate(pki.ap_ca.certificate.read_bytes())
    old = x509.load_pem_x509_crl(path.read_bytes())
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(pki.ap_ca.key.read_bytes(), password=None)
    aging = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(datetime.now(UTC) - timedelta(days=6))
        .next_update(datetime.now(UTC) + timedelta(days=1))
        .add_revoked_certificate(old[0])
        .sign(key, hashes.SHA256())
    )
    crl_path(pki.ap_ca).write_bytes(aging.public_bytes(serialization.Encoding.PEM))
    renewed = x509.load_pem_x509_crl(ensure_crl(pki.ap_ca).read_bytes())
    assert renewed.next_update_utc - datetime.now(UTC) > timedelta(days=CRL_DAYS - 1)
    assert renewed.get_revoked_certificate_by_serial_number(ap.serial_number) is not None
