"""Is an AP or CertPub certificate revoked? Checked against its CA's certificate revocation list.

The CRL comes from the files given (``--crl``), else from the certificate's CRL distribution points
(``http``/``https`` URLs, fetched once and cached until the CRL's next update). A CRL counts only when
its issuer is the certificate's issuer, one of the CAs given (``--ca``), and its signature verifies
with that CA's key; an out-of-date CRL does not count. OCSP is not asked.

Modes: ``off`` checks nothing; ``soft`` refuses a revoked certificate and reports one whose status is
unknown (no CRL to be had, an unknown issuer); ``hard`` refuses both.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from app.client.cache import Cache
from app.trust.certificates import CertificateError, load_crl_bundle

MODES = ("off", "soft", "hard")
MAX_CRL = 16 * 1024 * 1024
#: How long a fetched CRL without a next update is kept.
DEFAULT_CRL_SECONDS = 3600.0


@dataclass(frozen=True)
class RevocationOptions:
    mode: str = "soft"
    #: The CAs that issue AP and CertPub certificates: a CRL must be signed by the certificate's issuer among them.
    issuers: tuple[x509.Certificate, ...] = ()
    #: CRLs given as files: used before any distribution point is fetched.
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    timeout: float = 5.0


@dataclass(frozen=True)
class Status:
    #: ``good``, ``revoked``, ``unknown`` or ``not-checked``.
    state: str
    detail: str


def check(certificate: x509.Certificate, options: RevocationOptions, cache: Cache, moment: datetime) -> Status:
    if options.mode == "off":
        return Status("not-checked", "revocation checks are off")
    issuer = _issuer(certificate, options.issuers)
    if issuer is None:
        return Status("unknown", f"its issuer {certificate.issuer.rfc4514_string()} is not among the CAs given (--ca)")
    name = issuer.subject.rfc4514_string()
    candidates = [crl for crl in options.crls if crl.issuer == issuer.subject]
    problems: list[str] = []
    if not candidates:
        urls = distribution_points(certificate)
        if not urls:
            return Status("unknown", f"no CRL of {name} was given (--crl) and the certificate names none")
        for url in urls:
            try:
                candidates.extend(_fetch(url, options, cache, moment))
            except CertificateError as error:
                problems.append(f"{url}: {error}")
    for crl in candidates:
        if crl.issuer != issuer.subject or not _signed_by(crl, issuer):
            problems.append(f"a CRL for {name} is not signed by it")
            continue
        if crl.next_update_utc is not None and crl.next_update_utc < moment:
            problems.append(f"the CRL of {name} is out of date (next update was due {crl.next_update_utc.isoformat()})")
            continue
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is not None:
            return Status("revoked", f"revoked by {name} on {entry.revocation_date_utc.date().isoformat()}")
        until = "" if crl.next_update_utc is None else f", next update {crl.next_update_utc.isoformat()}"
        return Status("good", f"not on the CRL of {name} (issued {crl.last_update_utc.isoformat()}{until})")
    return Status("unknown", "; ".join(problems) or f"no usable CRL of {name}")


def distribution_points(certificate: x509.Certificate) -> list[str]:
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        str(name.value)
        for point in points
        for name in point.full_name or []
        if isinstance(name, x509.UniformResourceIdentifier) and str(name.value).startswith(("http://", "https://"))
    ]


def _issuer(certificate: x509.Certificate, issuers: tuple[x509.Certificate, ...]) -> x509.Certificate | None:
    for candidate in issuers:
        if candidate.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]  # a CA's key signs
    except (TypeError, ValueError):
        return False


def _fetch(
    url: str, options: RevocationOptions, cache: Cache, moment: datetime
) -> list[x509.CertificateRevocationList]:
    key = f"crl:{url}"
    entry = cache.get(key)
    if entry is None or not entry.fresh(cache.clock()):
        request = urllib.request.Request(url, headers={"Accept": "application/pkix-crl"})  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=options.timeout) as response:  # noqa: S310 (http(s) only)
                body = response.read(MAX_CRL + 1)
        except urllib.error.HTTPError as error:
            error.close()
            raise CertificateError(f"answered HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise CertificateError(f"could not be fetched ({getattr(error, 'reason', error)})") from None
        if len(body) > MAX_CRL:
            raise CertificateError(f"is larger than {MAX_CRL} bytes")
        crls = load_crl_bundle(body)
        next_updates = [crl.next_update_utc for crl in crls if crl.next_update_utc is not None]
        seconds = min((when - moment).total_seconds() for when in next_updates) if next_updates else 0.0
        entry = cache.put(key, body, seconds if seconds > 0 else DEFAULT_CRL_SECONDS)
    return load_crl_bundle(entry.value)
