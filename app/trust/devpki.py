"""A development PKI, made by ``init`` when no keys are configured.

Three CAs as in the SDK federation (SMP signing, access points, organisation-to-organisation), the SMP
signing certificate, one access-point certificate and a signing and an encryption certificate per
demo organisation. Existing files are never overwritten; private keys are written with mode 0600.

Each CA publishes a certificate revocation list next to its certificate (``ap-ca.crl``, …; empty until
:func:`revoke` adds a certificate), valid for :data:`CRL_DAYS` and issued again whenever it changes or
runs out; certificates issued with ``crl_url`` name where it can be fetched (a CRL distribution point).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANISATION = "SDK Address Book development PKI"
CA_YEARS = 10
LEAF_YEARS = 2
CRL_DAYS = 7


@dataclass(frozen=True)
class KeyPair:
    key: Path
    certificate: Path


@dataclass(frozen=True)
class DevelopmentPki:
    root: Path

    @property
    def smp_ca(self) -> KeyPair:
        return self._pair("smp-ca")

    @property
    def smp_signing(self) -> KeyPair:
        return self._pair("smp-signing")

    @property
    def ap_ca(self) -> KeyPair:
        return self._pair("ap-ca")

    @property
    def o2o_ca(self) -> KeyPair:
        return self._pair("o2o-ca")

    def access_point(self, ap_id: str) -> KeyPair:
        return self._pair(f"access-points/{_slug(ap_id)}")

    def participant(self, participant_value: str, usage: str) -> KeyPair:
        return self._pair(f"participants/{_slug(participant_value)}-{usage}")

    def _pair(self, stem: str) -> KeyPair:
        return KeyPair(self.root / f"{stem}.key", self.root / f"{stem}.crt")

    @property
    def cas(self) -> tuple[KeyPair, ...]:
        return (self.smp_ca, self.ap_ca, self.o2o_ca)


def crl_path(ca: KeyPair) -> Path:
    """Where a development CA keeps its CRL: next to its certificate, ``.crl`` for ``.crt``."""
    return ca.certificate.with_suffix(".crl")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.\-]+", "-", text.lower()).strip("-")


def ensure_development_pki(
    root: Path, *, access_points: list[str], participants: list[str], smp_name: str = "SMP0001-DEV"
) -> DevelopmentPki:
    """Create whatever part of the development PKI is missing and return where it lives."""
    pki = DevelopmentPki(root)
    root.mkdir(parents=True, exist_ok=True)
    smp_ca = _ensure_ca(pki.smp_ca, "Rot CA eDelivery SMP-DEV")
    _ensure_leaf(pki.smp_signing, smp_ca, smp_name, usage="smp-signing")
    ap_ca = _ensure_ca(pki.ap_ca, "Accesspunkt CA-SDK-DEV")
    for ap_id in access_points:
        _ensure_leaf(pki.access_point(ap_id), ap_ca, ap_id, usage="access-point")
    o2o_ca = _ensure_ca(pki.o2o_ca, "O2O Function CA-SDK-DEV")
    for participant in participants:
        for usage in ("signing", "encryption"):
            _ensure_leaf(pki.participant(participant, usage), o2o_ca, f"{participant} {usage}", usage=usage)
    for ca in pki.cas:
        ensure_crl(ca)
    return pki


@dataclass(frozen=True)
class _Issuer:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_private(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))


def _load(pair: KeyPair) -> _Issuer:
    key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{pair.key} is not an RSA key")
    return _Issuer(key, x509.load_pem_x509_certificate(pair.certificate.read_bytes()))


def _exists(pair: KeyPair) -> bool:
    if pair.key.exists() != pair.certificate.exists():
        present = pair.key if pair.key.exists() else pair.certificate
        raise FileExistsError(f"{present} exists without its partner; remove it or supply both")
    return pair.key.exists()


def _ensure_ca(pair: KeyPair, common_name: str) -> _Issuer:
    if _exists(pair):
        return _load(pair)
    key = _new_key()
    now = datetime.now(UTC)
    name = _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(pair.key, key)
    _write_certificate(pair.certificate, certificate)
    return _Issuer(key, certificate)


def _ensure_leaf(
    pair: KeyPair,
    issuer: _Issuer,
    common_name: str,
    *,
    usage: str,
    days: int = 365 * LEAF_YEARS,
    not_before: datetime | None = None,
    hosts: Sequence[str] = (),
    crl_url: str | None = None,
) -> None:
    if _exists(pair):
        return
    key = _new_key()
    now = not_before or datetime.now(UTC)
    signing = usage in ("smp-signing", "signing", "access-point", "tls-server")
    encryption = usage in ("encryption", "access-point", "tls-server")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=signing,
                content_commitment=False,
                key_encipherment=encryption,
                data_encipherment=encryption and usage == "encryption",
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )
    if usage == "access-point":
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if usage == "tls-server":
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_host_name(host) for host in hosts]), critical=False
        )
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    certificate = builder.sign(issuer.key, hashes.SHA256())
    _write_private(pair.key, key)
    _write_certificate(pair.certificate, certificate)


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_ca(target: KeyPair, common_name: str) -> KeyPair:
    """A further development CA (a new trust anchor to add, in tests and examples)."""
    _ensure_ca(target, common_name)
    return target


def issue_leaf(
    issuer: KeyPair,
    target: KeyPair,
    common_name: str,
    *,
    usage: str,
    days: int = 365 * LEAF_YEARS,
    not_before: datetime | None = None,
    hosts: Sequence[str] = (),
    crl_url: str | None = None,
) -> KeyPair:
    """A further certificate from an existing development CA (renewals, tests of expiry and trust; with
    ``usage="tls-server"`` and ``hosts``, a TLS server certificate for those names and addresses; with
    ``crl_url``, naming where its CA's CRL is published)."""
    ca = _load(issuer)
    _ensure_leaf(target, ca, common_name, usage=usage, days=days, not_before=not_before, hosts=hosts, crl_url=crl_url)
    return target


def ensure_crl(ca: KeyPair) -> Path:
    """The CA's CRL, issued again when it is missing or past half its validity."""
    path = crl_path(ca)
    if path.exists():
        crl = x509.load_pem_x509_crl(path.read_bytes())
        next_update = crl.next_update_utc
        if next_update is not None and next_update - datetime.now(UTC) > timedelta(days=CRL_DAYS / 2):
            return path
        revoked = [(entry.serial_number, entry.revocation_date_utc) for entry in crl]
    else:
        revoked = []
    return _issue_crl(ca, revoked)


def revoke(ca: KeyPair, certificate: x509.Certificate, *, when: datetime | None = None) -> Path:
    """Add ``certificate`` (issued by ``ca``) to the CA's CRL and issue the CRL again; a second time changes
    nothing. ValueError when ``ca`` did not issue it."""
    issuer = _load(ca)
    try:
        certificate.verify_directly_issued_by(issuer.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise ValueError(f"{certificate.subject.rfc4514_string()} was not issued by {ca.certificate}") from None
    path = ensure_crl(ca)
    revoked = [(entry.serial_number, entry.revocation_date_utc) for entry in x509.load_pem_x509_crl(path.read_bytes())]
    if all(serial != certificate.serial_number for serial, _ in revoked):
        revoked.append((certificate.serial_number, when or datetime.now(UTC)))
    return _issue_crl(ca, revoked)


def _issue_crl(ca: KeyPair, revoked: list[tuple[int, datetime]]) -> Path:
    issuer = _load(ca)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=CRL_DAYS))
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    crl = builder.sign(issuer.key, hashes.SHA256())
    path = crl_path(ca)
    temporary = path.with_suffix(".crl.tmp")
    temporary.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    temporary.replace(path)
    return path
