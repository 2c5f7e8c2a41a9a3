"""One lookup, start to end: input → (directory) → DNS → SMP → verified endpoint and certificates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from app.client import directory as directory_api
from app.client.cache import Cache
from app.client.errors import NoSuchService, Revoked, TechnicalFailure
from app.client.locate import DnsOptions, Located, locate
from app.client.revocation import RevocationOptions, Status
from app.client.revocation import check as revocation_status
from app.client.smp import Endpoint, HttpOptions, ServiceMetadata, fetch_service
from app.dns.naming import SMP2_SERVICE
from app.identifiers import DocumentTypeId, IdentifierError, ParticipantId
from app.settings import DEFAULT_TRANSPORT_PROFILES, SDK_MESSAGE_DOCUMENT_TYPE


@dataclass(frozen=True)
class LookupOptions:
    dns: DnsOptions
    http: HttpOptions = field(default_factory=HttpOptions)
    #: Skip DNS: ask this SMP (base URL, without the participant path).
    smp_url: str | None = None
    directory_url: str | None = None
    document_type: str = SDK_MESSAGE_DOCUMENT_TYPE
    #: Acceptable transport profiles, best first.
    transport_profiles: tuple[str, ...] = DEFAULT_TRANSPORT_PROFILES
    revocation: RevocationOptions = field(default_factory=RevocationOptions)


@dataclass(frozen=True)
class LookupResult:
    participant: ParticipantId
    document: DocumentTypeId
    located: Located | None
    metadata: ServiceMetadata
    endpoint: Endpoint
    function_address: directory_api.FunctionAddress | None = None
    #: The revocation status of each certificate given out, by its SHA-256 fingerprint.
    revocation: dict[str, Status] = field(default_factory=dict)

    def status_of(self, certificate: x509.Certificate) -> Status | None:
        return self.revocation.get(certificate.fingerprint(hashes.SHA256()).hex())

    def as_dict(self) -> dict[str, Any]:
        return {
            "participant": str(self.participant),
            "functionAddress": None
            if self.function_address is None
            else {
                "identifier": self.function_address.identifier,
                "name": self.function_address.name,
                "organisation": self.function_address.organisation,
            },
            "documentType": str(self.document),
            "dns": None
            if self.located is None
            else {
                "name": self.located.name,
                "type": self.located.record_type,
                "dnssec": {
                    "validated": bool(self.located.validated_with),
                    "keyTags": list(self.located.validated_with),
                },
            },
            "smp": {"url": self.metadata.url, "signer": _certificate(self.metadata.signer)},
            "endpoint": {
                "url": self.endpoint.url,
                "transportProfile": self.endpoint.transport_profile,
                "process": self.endpoint.process,
                "activation": _iso(self.endpoint.activation),
                "expiration": _iso(self.endpoint.expiration),
                "certificate": self._described(self.endpoint.certificate),
                "description": self.endpoint.description,
                "technicalContactUrl": self.endpoint.technical_contact_url,
            },
            "certpub": {
                usage: [self._described(c) for c in certificates]
                for usage, certificates in self.metadata.certificates.items()
            },
        }

    def _described(self, certificate: x509.Certificate) -> dict[str, Any]:
        status = self.status_of(certificate)
        revocation = None if status is None else {"state": status.state, "detail": status.detail}
        return {**_certificate(certificate), "revocation": revocation}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _certificate(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serialNumber": f"{certificate.serial_number:x}",
        "notBefore": _iso(certificate.not_valid_before_utc),
        "notAfter": _iso(certificate.not_valid_after_utc),
        "pem": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def parse_subject(text: str) -> ParticipantId | None:
    """A participant id, or None when ``text`` is not one (then it is taken as a function address)."""
    try:
        return ParticipantId.parse(text)
    except IdentifierError:
        return None


def lookup(subject: str, options: LookupOptions, cache: Cache, *, now: datetime | None = None) -> LookupResult:
    try:
        document = DocumentTypeId.parse(options.document_type)
    except IdentifierError as error:
        raise ValueError(f"document type: {error}") from None
    participant = parse_subject(subject)
    function_address = None
    if participant is None:
        if not options.directory_url:
            raise ValueError(f"{subject!r} is not a participant id; to look up a function address give --directory-url")
        function_address = directory_api.resolve(options.directory_url, subject, timeout=options.http.timeout)
        participant = function_address.participant
    located = None
    smp_url, http = options.smp_url, options.http
    if smp_url is None:
        located = locate(participant, options.dns, cache)
        smp_url = located.smp_url
        if located.service == SMP2_SERVICE and http.flavour == "auto":
            http = replace(http, flavour="smp2")  # an SMP 2.0 root: the client adds /bdxr-smp-2 (§5)
    metadata = fetch_service(smp_url.rstrip("/"), participant, document, http, cache)
    moment = now or datetime.now(UTC)
    endpoint = choose_endpoint(metadata, options.transport_profiles, moment)
    revocation = check_revocation(metadata, endpoint, options.revocation, cache, moment)
    return LookupResult(participant, document, located, metadata, endpoint, function_address, revocation)


def check_revocation(
    metadata: ServiceMetadata, endpoint: Endpoint, options: RevocationOptions, cache: Cache, moment: datetime
) -> dict[str, Status]:
    """The status of the AP certificate and each CertPub certificate; Revoked when one may not be used."""
    labelled = [("AP certificate", endpoint.certificate)] + [
        (f"CertPub {usage} certificate", certificate)
        for usage, certificates in sorted(metadata.certificates.items())
        for certificate in certificates
    ]
    statuses = {}
    for label, certificate in labelled:
        status = revocation_status(certificate, options, cache, moment)
        subject = certificate.subject.rfc4514_string()
        if status.state == "revoked":
            raise Revoked(f"the {label} {subject} is {status.detail}")
        if status.state == "unknown" and options.mode == "hard":
            raise Revoked(f"the {label} {subject} cannot be checked for revocation: {status.detail}")
        statuses[certificate.fingerprint(hashes.SHA256()).hex()] = status
    return statuses


def choose_endpoint(metadata: ServiceMetadata, profiles: tuple[str, ...], moment: datetime) -> Endpoint:
    """The active endpoint with the most preferred transport profile."""
    if not metadata.endpoints:
        raise TechnicalFailure(f"{metadata.url} lists no endpoint")
    for profile in profiles:
        for endpoint in metadata.endpoints:
            if endpoint.transport_profile == profile and endpoint.active(moment):
                return endpoint
    offered = ", ".join(sorted({e.transport_profile for e in metadata.endpoints}))
    raise NoSuchService(
        f"no endpoint active now with transport profile {' or '.join(profiles)} (offered: {offered or 'none'})"
    )


def table(result: LookupResult) -> str:
    """A readable summary of a lookup."""
    rows = [("participant", str(result.participant))]
    if result.function_address is not None:
        address = result.function_address
        rows.append(("function address", f"{address.identifier} ({address.name}, {address.organisation})"))
    rows.append(("document type", str(result.document)))
    if result.located is not None:
        rows.append(("found in DNS", f"{result.located.record_type} {result.located.name}"))
        tags = ", ".join(str(tag) for tag in result.located.validated_with)
        rows.append(("DNSSEC", f"validated (key tag {tags})" if tags else "not validated (no trust anchor given)"))
    rows += [
        ("SMP", result.metadata.url),
        ("SMP signer", result.metadata.signer.subject.rfc4514_string()),
        ("endpoint", result.endpoint.url),
        ("transport profile", result.endpoint.transport_profile),
    ]
    ap_certificate = result.endpoint.certificate
    rows += _certificate_rows("AP certificate", ap_certificate, result.status_of(ap_certificate))
    for usage, certificates in sorted(result.metadata.certificates.items()):
        for certificate in certificates:
            rows += _certificate_rows(f"CertPub {usage}", certificate, result.status_of(certificate))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _certificate_rows(label: str, certificate: x509.Certificate, status: Status | None) -> list[tuple[str, str]]:
    rows = [
        (label, certificate.subject.rfc4514_string()),
        ("  issuer", certificate.issuer.rfc4514_string()),
        ("  valid", f"{_iso(certificate.not_valid_before_utc)} to {_iso(certificate.not_valid_after_utc)}"),
        ("  SHA-256", certificate.fingerprint(hashes.SHA256()).hex()),
    ]
    if status is not None:
        rows.append(("  revocation", f"{status.state}: {status.detail}"))
    return rows
