"""Is a certificate acceptable for its purpose? Chain to the right anchor, validity, key usage.

Purposes and their anchors (``SDK_TRUST_AP_CA``, ``SDK_TRUST_O2O_CA``, ``SDK_TRUST_SMP_CA``; by default
the development PKI's CAs): access points (the federation's AP CA), participant signing and encryption
certificates (O2O CAs), SMP signing. Path validation is ``cryptography``'s (Web PKI rules for the CA
certificates, none of the server-certificate rules for the leaf). Each failure has its own message.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from app.trust.certificates import CertificateError, load_certificate, load_certificate_bundle, load_crl_bundle

PURPOSES = ("access-point", "signing", "encryption", "smp")


@dataclass(frozen=True)
class Anchors:
    access_point: tuple[x509.Certificate, ...]
    o2o: tuple[x509.Certificate, ...]
    smp: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    def for_purpose(self, purpose: str) -> tuple[x509.Certificate, ...]:
        return {"access-point": self.access_point, "signing": self.o2o, "encryption": self.o2o, "smp": self.smp}[
            purpose
        ]


@functools.cache
def _bundle(path: Path | None) -> tuple[x509.Certificate, ...]:
    if path is None or not path.is_file():
        return ()
    return tuple(load_certificate_bundle(path.read_bytes()))


def anchors_from(
    *, access_point: Path, o2o: Path, smp: Path, crls: Path | None, added: Iterable[tuple[str, str]] = ()
) -> Anchors:
    """The CA bundles in these files, plus ``added``: the ``(purpose, PEM)`` of further anchors (the caller
    reads them from wherever they are kept; trust reads no settings and no registry)."""
    extra: dict[str, list[x509.Certificate]] = defaultdict(list)
    for purpose, pem in added:
        extra[purpose].append(_from_pem(pem))
    return Anchors(
        access_point=_bundle(access_point) + tuple(extra["access-point"]),
        o2o=_bundle(o2o) + tuple(extra["o2o"]),
        smp=_bundle(smp) + tuple(extra["smp"]),
        crls=_crls(crls),
    )


@functools.lru_cache(maxsize=256)
def _from_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


@functools.cache
def _crls(path: Path | None) -> tuple[x509.CertificateRevocationList, ...]:
    return tuple(load_crl_bundle(path.read_bytes())) if path is not None else ()


_NAMES = {"access-point": "access point", "signing": "O2O", "encryption": "O2O", "smp": "SMP"}


def validate(certificate: x509.Certificate, purpose: str, anchors: Anchors, *, now: datetime | None = None) -> None:
    """Raise :class:`CertificateError` saying exactly why ``certificate`` is not acceptable for ``purpose``."""
    moment = now or datetime.now(UTC)
    if certificate.not_valid_after_utc <= moment:
        raise CertificateError(f"expired on {certificate.not_valid_after_utc.date().isoformat()}")
    if certificate.not_valid_before_utc > moment:
        raise CertificateError(f"not valid before {certificate.not_valid_before_utc.isoformat()}")
    _check_key_usage(certificate, purpose)
    trusted = anchors.for_purpose(purpose)
    if not trusted:
        raise CertificateError(f"no trusted {_NAMES[purpose]} CA is configured (SDK_TRUST_*)")
    verifier = (
        PolicyBuilder()
        .store(Store(list(trusted)))
        .time(moment)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(certificate, [])
    except VerificationError:
        raise CertificateError(
            f"not issued by a trusted {_NAMES[purpose]} CA (issuer {certificate.issuer.rfc4514_string()})"
        ) from None
    _check_revocation(certificate, verified.chain[1], anchors.crls, moment)


def _check_revocation(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    crls: tuple[x509.CertificateRevocationList, ...],
    moment: datetime,
) -> None:
    """Checked against the configured CRLs of the certificate's issuer; an issuer without a CRL is not checked.

    A CRL that is out of date fails closed: the certificate might have been revoked since.
    """
    for crl in crls:
        key = issuer.public_key()
        if crl.issuer != issuer.subject or not crl.is_signature_valid(key):  # type: ignore[arg-type]  # a CA's key signs
            continue
        name = issuer.subject.rfc4514_string()
        if crl.next_update_utc is not None and crl.next_update_utc < moment:
            raise CertificateError(
                f"cannot be checked: the CRL of {name} is out of date (next update was due "
                f"{crl.next_update_utc.isoformat()}); configure a current one (SDK_TRUST_CRLS)"
            )
        revoked = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if revoked is not None:
            raise CertificateError(f"revoked by {name} on {revoked.revocation_date_utc.date().isoformat()}")


def _check_key_usage(certificate: x509.Certificate, purpose: str) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return  # no restriction stated
    if usage.key_cert_sign:
        raise CertificateError("is a CA certificate, not an end-entity certificate")
    if purpose in ("signing", "smp", "access-point") and not (usage.digital_signature or usage.content_commitment):
        raise CertificateError("its key usage does not allow signing (digitalSignature)")
    if purpose == "encryption" and not (usage.key_encipherment or usage.data_encipherment or usage.key_agreement):
        raise CertificateError("its key usage does not allow encryption (keyEncipherment)")


def acceptable(text: str, purpose: str, anchors: Anchors) -> x509.Certificate:
    """Load a certificate from what a client sent and check it for ``purpose``; CertificateError says why not."""
    certificate = load_certificate(text)
    validate(certificate, purpose, anchors)
    return certificate
