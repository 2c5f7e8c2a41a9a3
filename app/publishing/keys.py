"""The SMP signing key and certificate: from settings (PEM or PKCS#12) or the development PKI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from app.settings import Settings
from app.trust.devpki import DevelopmentPki

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SigningKeyError(Exception):
    """The signing key or certificate cannot be used; the message is one line saying why."""


@dataclass(frozen=True)
class SigningCredentials:
    key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    source: str
    development: bool


def _password(settings: Settings) -> bytes | None:
    return settings.signing_key_password.encode() if settings.signing_key_password else None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"cannot read {path}: {error.strerror}") from None


def _load_key(data: bytes, password: bytes | None, path: Path) -> tuple[SigningKey, list[x509.Certificate]]:
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as error:
            raise SigningKeyError(f"{path}: not a usable PEM private key ({error})") from None
        return _supported(key, path), []
    try:
        bundled_key, certificate, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError as error:
        raise SigningKeyError(f"{path}: neither a PEM key nor a PKCS#12 file with this password ({error})") from None
    if bundled_key is None:
        raise SigningKeyError(f"{path}: the PKCS#12 file holds no private key")
    key = bundled_key
    return _supported(key, path), [c for c in [certificate, *extra] if c is not None]


def _supported(key: object, path: Path) -> SigningKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SigningKeyError(f"{path}: RSA keys shorter than 2048 bits are refused")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1):
        return key
    raise SigningKeyError(f"{path}: only RSA (2048+) and ECDSA P-256/P-384 keys can sign SMP documents")


def _load_certificates(data: bytes, password: bytes | None, path: Path) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as error:
            raise SigningKeyError(f"{path}: not a PEM certificate ({error})") from None
    try:
        _key, certificate, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        try:
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise SigningKeyError(f"{path}: not a PEM, DER or PKCS#12 certificate") from None
    return [c for c in [certificate, *extra] if c is not None]


def load_signing_credentials(settings: Settings, *, now: datetime | None = None) -> SigningCredentials:
    """Load and check the signing key: it must match its certificate, which must be valid now."""
    if settings.signing_key is not None and settings.signing_cert is not None:
        key_path, cert_path, development = settings.signing_key, settings.signing_cert, False
    else:
        pair = DevelopmentPki(settings.pki_dir).smp_signing
        key_path, cert_path, development = pair.key, pair.certificate, True
        if not key_path.exists():
            raise SigningKeyError(f"no signing key configured and no development key at {key_path}: run 'init'")
    password = _password(settings)
    key, bundled = _load_key(_read(key_path), password, key_path)
    certificates = _load_certificates(_read(cert_path), password, cert_path) if cert_path != key_path else bundled
    if not certificates:
        raise SigningKeyError(f"{cert_path}: no certificate found")
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    matching = [
        c
        for c in certificates
        if c.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        == public
    ]
    if not matching:
        raise SigningKeyError(f"the signing key {key_path} does not match the certificate {cert_path}")
    certificate = matching[0]
    moment = now or datetime.now(UTC)
    if certificate.not_valid_after_utc <= moment:
        raise SigningKeyError(
            f"the signing certificate {certificate.subject.rfc4514_string()} expired on "
            f"{certificate.not_valid_after_utc.date().isoformat()}"
        )
    if certificate.not_valid_before_utc > moment:
        raise SigningKeyError(
            f"the signing certificate is not valid before {certificate.not_valid_before_utc.isoformat()}"
        )
    chain = tuple(c for c in certificates if c is not certificate)
    return SigningCredentials(key, certificate, chain, str(key_path), development)
