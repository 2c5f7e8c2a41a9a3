"""Fetch a participant's SignedServiceMetadata, verify it, and read the endpoints and certificates.

Reads OASIS SMP 1.0 (with Digg's CertPub extension), Peppol SMP 1.x and OASIS SMP 2.0 answers: the
flavour is asked for (``smp2`` requests ``{base}/bdxr-smp-2/…``, SMP 2.0 §5) or, with ``auto``, told by
the answer's namespace. The signature is verified with the project's verifier (:mod:`app.trust.xmldsig`,
C14N 1.0 or 1.1 as the document declares) against the trusted SMP CAs; the answer must be about the
participant and document type that were asked for. One ``Redirect`` is followed (SMP 1.0 §2.1.3, SMP 2.0
§4.3.4), and its target must be signed by the certificate the redirect names (SMP 1.0: its subject or
serial in ``CertificateUID``; SMP 2.0: the certificate itself).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

from cryptography import x509
from lxml import etree

from app.client.cache import Cache, Entry
from app.client.errors import NoSuchService, TechnicalFailure, Untrusted
from app.identifiers import (
    CERTPUB_EXTENSION_ID,
    CERTPUB_TYPE_CODES,
    DocumentTypeId,
    IdentifierError,
    ParticipantId,
    url_segment,
)
from app.trust.xmldsig import SignatureError, verify_enveloped

OASIS = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"
PEPPOL = "http://busdox.org/serviceMetadata/publishing/1.0/"
PEPPOL_IDS = "http://busdox.org/transport/identifiers/1.0/"
WSA = "http://www.w3.org/2005/08/addressing"
SMC = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents"
SMB = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents"
SMP2 = "http://docs.oasis-open.org/bdxr/ns/SMP/2/ServiceMetadata"
EXT = "http://docs.oasis-open.org/bdxr/ns/SMP/2/ExtensionComponents"
CERTPUB_USAGES = {code: usage for usage, code in CERTPUB_TYPE_CODES.items()}
#: What ``--flavour`` may name, and the namespace its answers are in.
FLAVOURS = {"oasis1": OASIS, "peppol": PEPPOL, "smp2": SMP2}
MAX_BODY = 2 * 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    process: str
    transport_profile: str
    url: str
    certificate: x509.Certificate
    activation: datetime | None
    expiration: datetime | None
    description: str | None
    technical_contact_url: str | None

    def active(self, moment: datetime) -> bool:
        return (self.activation is None or self.activation <= moment) and (
            self.expiration is None or moment <= self.expiration
        )


@dataclass(frozen=True)
class ServiceMetadata:
    url: str
    signer: x509.Certificate
    endpoints: list[Endpoint]
    #: CertPub certificates by usage ("signing", "encryption").
    certificates: dict[str, list[x509.Certificate]] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpOptions:
    timeout: float = 5.0
    trusted: tuple[x509.Certificate, ...] = ()
    #: ``auto`` (by the answer's namespace), ``oasis1``, ``peppol`` or ``smp2``.
    flavour: str = "auto"


def service_url(smp_url: str, participant: ParticipantId, document: DocumentTypeId, flavour: str = "auto") -> str:
    prefix = "/bdxr-smp-2" if flavour == "smp2" else ""
    return f"{smp_url}{prefix}/{url_segment(participant)}/services/{url_segment(document)}"


def fetch_service(
    smp_url: str, participant: ParticipantId, document: DocumentTypeId, options: HttpOptions, cache: Cache
) -> ServiceMetadata:
    url = service_url(smp_url, participant, document, options.flavour)
    metadata = _verified(url, participant, document, options, cache, pinned=None)
    if isinstance(metadata, _Redirect):
        href = metadata.href
        if metadata.certificate is not None and "/services/" not in href:  # SMP 2.0: the other SMP's base URL
            href = service_url(href.rstrip("/"), participant, document, "smp2")
        target = _verified(href, participant, document, options, cache, pinned=metadata)
        if isinstance(target, _Redirect):
            raise Untrusted(f"{href} redirects again; only one SMP redirect is followed")
        return target
    return metadata


@dataclass(frozen=True)
class _Redirect:
    href: str
    #: SMP 1.0: the subject or serial number of the certificate the target is signed with.
    certificate_uid: str | None = None
    #: SMP 2.0: that certificate itself.
    certificate: x509.Certificate | None = None

    def admits(self, signer: x509.Certificate) -> bool:
        if self.certificate is not None:
            return signer == self.certificate
        return self.certificate_uid is not None and _names_uid(signer, self.certificate_uid)

    def describe(self) -> str:
        if self.certificate is not None:
            return self.certificate.subject.rfc4514_string()
        return repr(self.certificate_uid)


def _verified(
    url: str,
    participant: ParticipantId,
    document: DocumentTypeId,
    options: HttpOptions,
    cache: Cache,
    *,
    pinned: _Redirect | None,
) -> ServiceMetadata | _Redirect:
    body, entry = _get(url, options, cache)
    if entry is not None and entry.derived is not None:
        derived: ServiceMetadata | _Redirect = entry.derived
        return derived
    try:
        verified = verify_enveloped(body, trusted=list(options.trusted))
    except SignatureError as error:
        if error.kind == "malformed":
            raise TechnicalFailure(f"{url} answered malformed XML: {error}") from None
        raise Untrusted(f"{url}: {error}") from None
    if pinned is not None and not pinned.admits(verified.certificate):
        raise Untrusted(f"{url} is signed by {verified.certificate.subject.rfc4514_string()}, not {pinned.describe()}")
    result = _read(url, verified.root, verified.certificate, participant, document, options.flavour)
    if entry is not None:
        entry.derived = result
    return result


def _names_uid(certificate: x509.Certificate, uid: str) -> bool:
    wanted = uid.strip().lower()
    return wanted in (certificate.subject.rfc4514_string().lower(), f"{certificate.serial_number:x}")


def _get(url: str, options: HttpOptions, cache: Cache) -> tuple[bytes, Entry | None]:
    """The body of ``url``, from the cache while fresh; revalidated with its validators when stale."""
    key = f"http:{url}"
    entry = cache.get(key)
    now = cache.clock()
    if entry is not None and entry.fresh(now):
        return entry.value, entry
    if not url.startswith(("http://", "https://")):
        raise TechnicalFailure(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "text/xml, application/xml"})  # noqa: S310 (checked)
    if entry is not None:
        if "etag" in entry.validators:
            request.add_header("If-None-Match", entry.validators["etag"])
        if "last-modified" in entry.validators:
            request.add_header("If-Modified-Since", entry.validators["last-modified"])
    try:
        with urllib.request.urlopen(request, timeout=options.timeout) as response:  # noqa: S310 (checked above)
            body = response.read(MAX_BODY + 1)
            headers = response.headers
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response's connection
        if error.code == 304 and entry is not None:
            entry.expires_at = now + _max_age(error.headers)
            return entry.value, entry
        if error.code == 404:
            raise NoSuchService(f"the SMP has no such participant or document type ({url} answered 404)") from None
        raise TechnicalFailure(f"{url} answered HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TechnicalFailure(f"{url} could not be fetched: {reason}") from None
    if len(body) > MAX_BODY:
        raise TechnicalFailure(f"{url} answered more than {MAX_BODY} bytes")
    ttl = _max_age(headers)
    validators = {name.lower(): headers[name] for name in ("ETag", "Last-Modified") if headers.get(name)}
    if ttl <= 0 and not validators:
        return body, None
    return body, cache.put(key, body, ttl, validators)


def _max_age(headers: Message) -> float:
    """Seconds the response may be used without asking again (Cache-Control, else Expires, else 0)."""
    control = (headers.get("Cache-Control") or "").lower()
    if "no-store" in control or "no-cache" in control:
        return 0.0
    match = re.search(r"max-age=(\d+)", control)
    if match:
        return float(match.group(1))
    expires = headers.get("Expires")
    if expires:
        try:
            moment = email.utils.parsedate_to_datetime(expires)
            return max((moment - datetime.now(UTC)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return 0.0
    return 0.0


# --- reading the document -------------------------------------------------------------------------------


def _read(
    url: str,
    root: etree._Element,
    signer: x509.Certificate,
    participant: ParticipantId,
    document: DocumentTypeId,
    flavour: str = "auto",
) -> ServiceMetadata | _Redirect:
    namespace = etree.QName(root).namespace
    expected = FLAVOURS.get(flavour)
    if expected is not None and namespace != expected:
        raise TechnicalFailure(f"{url} is not a {flavour} document (its namespace is {namespace})")
    if namespace == SMP2 and etree.QName(root).localname == "ServiceMetadata":
        return _read_smp2(url, root, signer, participant, document)
    if namespace not in (OASIS, PEPPOL) or etree.QName(root).localname != "SignedServiceMetadata":
        raise TechnicalFailure(
            f"{url} is not a SignedServiceMetadata of SMP 1.0 or Peppol SMP 1.x, nor an SMP 2.0 ServiceMetadata"
        )
    ids = PEPPOL_IDS if namespace == PEPPOL else OASIS

    def child(parent: Any, name: str, ns: str = namespace) -> Any:
        return parent.find(f"{{{ns}}}{name}")

    metadata = child(root, "ServiceMetadata")
    if metadata is None:
        raise TechnicalFailure(f"{url} has no ServiceMetadata")
    redirect = child(metadata, "Redirect")
    if redirect is not None:
        uid = child(redirect, "CertificateUID")
        if not redirect.get("href") or uid is None or not (uid.text or "").strip():
            raise TechnicalFailure(f"{url} has a Redirect without href or CertificateUID")
        return _Redirect(redirect.get("href"), certificate_uid=uid.text.strip())
    information = child(metadata, "ServiceInformation")
    if information is None:
        raise TechnicalFailure(f"{url} has neither ServiceInformation nor Redirect")
    _check_identifiers(url, information, ids, participant, document)
    endpoints = []
    for process in information.iter(f"{{{namespace}}}Process"):
        process_id = process.find(f"{{{ids}}}ProcessIdentifier")
        process_text = "" if process_id is None else f"{process_id.get('scheme', '')}::{process_id.text or ''}"
        for endpoint in process.iter(f"{{{namespace}}}Endpoint"):
            endpoints.append(_endpoint(url, endpoint, namespace, process_text))
    return ServiceMetadata(
        url,
        signer,
        endpoints,
        _certpub(url, information.findall(f"{{{namespace}}}Extension"), f"{{{namespace}}}ExtensionID"),
    )


def _check_identifiers(
    url: str,
    information: Any,
    ids: str,
    participant: ParticipantId,
    document: DocumentTypeId,
    names: tuple[str, str, str] = ("ParticipantIdentifier", "DocumentIdentifier", "scheme"),
) -> None:
    participant_name, document_name, scheme_attribute = names
    got_participant = information.find(f"{{{ids}}}{participant_name}")
    got_document = information.find(f"{{{ids}}}{document_name}")
    if got_participant is None or got_document is None:
        raise TechnicalFailure(f"{url} lacks {participant_name} or {document_name}")
    scheme, value = got_participant.get(scheme_attribute, ""), (got_participant.text or "").strip()
    if scheme.lower() != participant.scheme.lower() or value.lower() != participant.value.lower():
        raise Untrusted(f"{url} answers for participant {scheme}::{value}, not {participant}")
    scheme, value = got_document.get(scheme_attribute, ""), (got_document.text or "").strip()
    try:
        answered = DocumentTypeId.of(scheme, value)  # the scheme in any case, the value per scheme
    except IdentifierError:
        answered = None
    if answered != document:
        raise Untrusted(f"{url} answers for document type {scheme}::{value}, not {document}")


def _endpoint(url: str, element: Any, namespace: str, process: str) -> Endpoint:
    def text(name: str) -> str | None:
        found = element.find(f"{{{namespace}}}{name}")
        return None if found is None or found.text is None else found.text.strip()

    address = text("EndpointURI")
    if address is None:
        wsa = element.find(f"{{{WSA}}}EndpointReference/{{{WSA}}}Address")
        address = None if wsa is None or wsa.text is None else wsa.text.strip()
    if not address:
        raise TechnicalFailure(f"{url} has an Endpoint without an address")
    return Endpoint(
        process=process,
        transport_profile=element.get("transportProfile", ""),
        url=address,
        certificate=_certificate(url, text("Certificate"), "the endpoint certificate"),
        activation=_datetime(url, text("ServiceActivationDate")),
        expiration=_datetime(url, text("ServiceExpirationDate")),
        description=text("ServiceDescription"),
        technical_contact_url=text("TechnicalContactUrl"),
    )


def _read_smp2(
    url: str, root: etree._Element, signer: x509.Certificate, participant: ParticipantId, document: DocumentTypeId
) -> ServiceMetadata | _Redirect:
    """An OASIS SMP 2.0 ServiceMetadata: identifiers, then a Redirect or the endpoints of each process."""
    _check_identifiers(url, root, SMB, participant, document, ("ParticipantID", "ID", "schemeID"))
    endpoints, redirects = [], []
    for metadata in root.iterchildren(f"{{{SMC}}}ProcessMetadata"):
        processes = [
            f"{element.get('schemeID', '')}::{(element.text or '').strip()}"
            for element in metadata.iterfind(f"{{{SMC}}}Process/{{{SMB}}}ID")
        ]
        redirect = metadata.find(f"{{{SMC}}}Redirect")
        found = list(metadata.iterchildren(f"{{{SMC}}}Endpoint"))
        if redirect is not None and found:
            raise TechnicalFailure(f"{url} has a ProcessMetadata with both a Redirect and endpoints (§4.3.4)")
        if redirect is not None:
            redirects.append(_smp2_redirect(url, redirect))
        for endpoint in found:
            for process in processes or [""]:
                endpoints.append(_smp2_endpoint(url, endpoint, process))
    if redirects:
        if endpoints or len(redirects) > 1:
            raise TechnicalFailure(f"{url} mixes a Redirect with other process metadata")
        return redirects[0]
    extensions = root.iterfind(f"{{{EXT}}}SMPExtensions/{{{EXT}}}SMPExtension")
    certificates = _certpub(url, extensions, f"{{{SMB}}}ID")
    return ServiceMetadata(url, signer, endpoints, certificates)


def _smp2_redirect(url: str, redirect: Any) -> _Redirect:
    target = redirect.find(f"{{{SMB}}}PublisherURI")
    binary = redirect.find(f"{{{SMC}}}Certificate/{{{SMB}}}ContentBinaryObject")
    if target is None or not (target.text or "").strip() or binary is None:
        raise TechnicalFailure(f"{url} has a Redirect without PublisherURI or Certificate")
    return _Redirect(target.text.strip(), certificate=_certificate(url, binary.text, "the redirect certificate"))


def _smp2_endpoint(url: str, element: Any, process: str) -> Endpoint:
    def text(name: str, parent: Any = element) -> str | None:
        found = parent.find(f"{{{SMB}}}{name}")
        return None if found is None or found.text is None else found.text.strip()

    address = text("AddressURI")
    if not address:
        raise TechnicalFailure(f"{url} has an Endpoint without an AddressURI")
    holder = element.find(f"{{{SMC}}}Certificate")
    binary = None if holder is None else text("ContentBinaryObject", holder)
    expiration = _datetime(url, text("ExpirationDate"))
    return Endpoint(
        process=process,
        transport_profile=text("TransportProfileID") or "",
        url=address,
        certificate=_certificate(url, binary, "the endpoint certificate"),
        activation=_datetime(url, text("ActivationDate")),
        # an exclusive date: the endpoint serves until the last moment of the day before
        expiration=None if expiration is None else expiration - timedelta(microseconds=1),
        description=text("Description"),
        technical_contact_url=text("Contact"),
    )


def _certpub(url: str, extensions: Any, identifier_tag: str) -> dict[str, list[x509.Certificate]]:
    """The certificates of Digg's CertPub extension by usage, from SMP 1.0 Extension or SMP 2.0 SMPExtension
    elements (``identifier_tag`` names the child that holds the extension's identifier)."""
    found: dict[str, list[x509.Certificate]] = {}
    for extension in extensions:
        identifier = extension.find(identifier_tag)
        if identifier is None or (identifier.text or "").strip() != CERTPUB_EXTENSION_ID:
            continue
        for holder in extension.iter(f"{{{SMC}}}Certificate"):
            code = holder.find(f"{{{SMB}}}TypeCode")
            binary = holder.find(f"{{{SMB}}}ContentBinaryObject")
            usage = CERTPUB_USAGES.get((code.text or "").strip() if code is not None else "")
            if usage is None or binary is None:
                continue
            found.setdefault(usage, []).append(_certificate(url, binary.text, f"the CertPub {usage} certificate"))
    return found


def _certificate(url: str, text: str | None, what: str) -> x509.Certificate:
    if not text:
        raise TechnicalFailure(f"{url} has no {what}")
    cleaned = re.sub(r"-----[A-Z ]+-----|\s", "", text)
    try:
        return x509.load_der_x509_certificate(base64.b64decode(cleaned, validate=True))
    except (binascii.Error, ValueError) as error:
        raise TechnicalFailure(f"{url} has an unreadable {what}: {error}") from None


def _datetime(url: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TechnicalFailure(f"{url} has an unreadable date {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
