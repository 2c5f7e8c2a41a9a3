"""OASIS SMP 2.0 documents: ServiceGroup and ServiceMetadata, both signed (C14N 1.1).

SMP 2.0 has no ``href`` in a ServiceReference (clients build the URL). CertPub travels as one
``ext:SMPExtension`` per certificate on the ServiceMetadata, whose ``ExtensionContent`` is an
``sma:Certificate`` with the CertPub type code, as in the SMP 1.0 flavour.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from lxml import etree

from app.identifiers import CERTPUB_EXTENSION_ID
from app.publishing.content import Participant, Service

GROUP_NS = "http://docs.oasis-open.org/bdxr/ns/SMP/2/ServiceGroup"
METADATA_NS = "http://docs.oasis-open.org/bdxr/ns/SMP/2/ServiceMetadata"
SMA = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents"
SMB = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents"
EXT = "http://docs.oasis-open.org/bdxr/ns/SMP/2/ExtensionComponents"
VERSION = "2.0"


def _nsmap(default: str) -> dict[str | None, str]:
    return {None: default, "sma": SMA, "smb": SMB, "ext": EXT}


def _add(
    parent: etree._Element, namespace: str, name: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{namespace}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def activation_date(moment: datetime) -> str:
    """``smb:ActivationDate`` is an inclusive xsd:date: the day the moment falls on (UTC)."""
    return moment.astimezone(UTC).date().isoformat()


def expiration_date(moment: datetime) -> str:
    """``smb:ExpirationDate`` is an exclusive xsd:date: the first whole day no longer covered."""
    moment = moment.astimezone(UTC)
    day = moment.date()
    return (day if moment.time() == time(0) else day + timedelta(days=1)).isoformat()


def service_group(participant: Participant, base_url: str) -> etree._Element:
    del base_url  # SMP 2.0 references carry identifiers only
    root = etree.Element(f"{{{GROUP_NS}}}ServiceGroup", nsmap=_nsmap(GROUP_NS))
    _add(root, SMB, "SMPVersionID", VERSION)
    _add(root, SMB, "ParticipantID", participant.id.value, schemeID=participant.id.scheme)
    for service in participant.services:
        reference = _add(root, SMA, "ServiceReference")
        _add(reference, SMB, "ID", service.document.value, schemeID=service.document.scheme)
        for entry in service.processes:
            _add(_add(reference, SMA, "Process"), SMB, "ID", entry.process.value, schemeID=entry.process.scheme)
    return root


def service_metadata(participant: Participant, service: Service) -> etree._Element:
    root = etree.Element(f"{{{METADATA_NS}}}ServiceMetadata", nsmap=_nsmap(METADATA_NS))
    if participant.certificates:
        extensions = _add(root, EXT, "SMPExtensions")
        for certificate in participant.certificates:
            extension = _add(extensions, EXT, "SMPExtension")
            _add(extension, SMB, "ID", CERTPUB_EXTENSION_ID)
            holder = _add(_add(extension, EXT, "ExtensionContent"), SMA, "Certificate")
            _add(holder, SMB, "TypeCode", certificate.type_code)
            _add(holder, SMB, "ContentBinaryObject", certificate.certificate, mimeCode="application/base64")
    _add(root, SMB, "SMPVersionID", VERSION)
    _add(root, SMB, "ID", service.document.value, schemeID=service.document.scheme)
    _add(root, SMB, "ParticipantID", participant.id.value, schemeID=participant.id.scheme)
    for entry in service.processes:
        metadata = _add(root, SMA, "ProcessMetadata")
        _add(_add(metadata, SMA, "Process"), SMB, "ID", entry.process.value, schemeID=entry.process.scheme)
        for endpoint in entry.endpoints:
            element = _add(metadata, SMA, "Endpoint")
            _add(element, SMB, "TransportProfileID", endpoint.transport_profile)
            _add(element, SMB, "Description", endpoint.description)
            _add(element, SMB, "Contact", endpoint.technical_contact_url)
            _add(element, SMB, "AddressURI", endpoint.url)
            if endpoint.activation is not None:
                _add(element, SMB, "ActivationDate", activation_date(endpoint.activation))
            if endpoint.expiration is not None:
                _add(element, SMB, "ExpirationDate", expiration_date(endpoint.expiration))
            certificate = _add(element, SMA, "Certificate")
            _add(certificate, SMB, "Description", endpoint.certificate_subject)
            _add(certificate, SMB, "ActivationDate", activation_date(endpoint.certificate_not_before))
            _add(certificate, SMB, "ExpirationDate", expiration_date(endpoint.certificate_not_after))
            _add(certificate, SMB, "ContentBinaryObject", endpoint.certificate, mimeCode="application/base64")
    return root
