"""Load X.509 certificates from whatever clients paste (PEM, base64 DER, DER) and describe them."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----")


class CertificateError(ValueError):
    """The data is not a usable X.509 certificate; the message says why."""


def load_certificate(data: str | bytes) -> x509.Certificate:
    """One certificate from PEM, bare base64 of DER (as SMP documents carry it) or raw DER."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    blocks = _PEM_BLOCK.findall(raw)
    if len(blocks) > 1:
        raise CertificateError("expected one certificate, found a bundle of several")
    try:
        if blocks:
            der = base64.b64decode(b"".join(blocks[0].split()), validate=True)
        elif raw[:1] == b"\x30":  # a DER SEQUENCE; base64 text never starts with this byte
            der = raw
        else:
            der = base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("not a certificate: neither PEM nor base64 DER") from None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise CertificateError(f"not a valid X.509 certificate: {error}") from None


def certificate_from_header(value: str) -> x509.Certificate:
    """A client certificate a TLS-terminating proxy passed on in a header, in any of the usual forms:
    RFC 9440 (``:base64 DER:``), nginx's ``$ssl_client_escaped_cert`` (URL-encoded PEM), PEM with its line
    breaks turned into spaces (Apache, HAProxy), or bare base64 DER."""
    text = value.strip()
    if len(text) > 2 and text.startswith(":") and text.endswith(":"):
        text = text[1:-1]
    elif "%" in text:
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise CertificateError("not a certificate: the escaped text is not UTF-8") from None
    return load_certificate(text)


_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


def load_crl_bundle(data: bytes) -> list[x509.CertificateRevocationList]:
    """Certificate revocation lists from PEM (one or several) or a single DER CRL."""
    try:
        blocks = _PEM_CRL.findall(data)
        if blocks:
            return [x509.load_pem_x509_crl(block) for block in blocks]
        return [x509.load_der_x509_crl(data)]
    except ValueError as error:
        raise CertificateError(f"not a certificate revocation list: {error}") from None


def load_certificate_bundle(data: bytes) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise CertificateError(f"not a PEM certificate bundle: {error}") from None
    return certificates


def to_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def to_base64_der(certificate: x509.Certificate) -> str:
    """The certificate as SMP documents carry it: base64 of DER, no header lines, no line breaks."""
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def common_name(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


@dataclass(frozen=True)
class CertificateFacts:
    pem: str
    sha256: str
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    common_name: str | None


def describe(certificate: x509.Certificate) -> CertificateFacts:
    return CertificateFacts(
        pem=to_pem(certificate),
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial_number=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        common_name=common_name(certificate),
    )
