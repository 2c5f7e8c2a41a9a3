"""OASIS SMP 1.0 documents (namespace ``http://docs.oasis-open.org/bdxr/ns/SMP/2016/05``), with CertPub.

The CertPub extension follows Digg's REST binding: one ``Extension`` per certificate (the SMP 1.0
``ExtensionType`` admits exactly one foreign element), each with the CertPub ``ExtensionID`` and one
``smc:Certificate`` carrying ``smb:TypeCode`` and ``smb:ContentBinaryObject``.
"""

from __future__ import annotations

from lxml import etree

from app.identifiers import CERTPUB_EXTENSION_ID, url_segment
from app.publishing.content import Participant, Service
from app.publishing.smp1x import append_endpoint_details

NS = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"
SMC = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents"
SMB = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents"


def _element(parent: etree._Element | None, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    tag = f"{{{NS}}}{name}"
    element = (
        etree.Element(tag, attributes, nsmap={None: NS})
        if parent is None
        else etree.SubElement(parent, tag, attributes)
    )
    if text is not None:
        element.text = text
    return element


def service_group(participant: Participant, base_url: str) -> etree._Element:
    root = _element(None, "ServiceGroup")
    _element(root, "ParticipantIdentifier", participant.id.value, scheme=participant.id.scheme)
    references = _element(root, "ServiceMetadataReferenceCollection")
    for service in participant.services:
        href = f"{base_url}/{url_segment(participant.id)}/services/{url_segment(service.document)}"
        _element(references, "ServiceMetadataReference", href=href)
    return root


def service_metadata(participant: Participant, service: Service) -> etree._Element:
    root = _element(None, "SignedServiceMetadata")
    information = _element(_element(root, "ServiceMetadata"), "ServiceInformation")
    _element(information, "ParticipantIdentifier", participant.id.value, scheme=participant.id.scheme)
    _element(information, "DocumentIdentifier", service.document.value, scheme=service.document.scheme)
    processes = _element(information, "ProcessList")
    for entry in service.processes:
        process = _element(processes, "Process")
        _element(process, "ProcessIdentifier", entry.process.value, scheme=entry.process.scheme)
        endpoints = _element(process, "ServiceEndpointList")
        for endpoint in entry.endpoints:
            element = _element(endpoints, "Endpoint", transportProfile=endpoint.transport_profile)
            _element(element, "EndpointURI", endpoint.url)
            append_endpoint_details(element, NS, endpoint)
    for certificate in participant.certificates:
        extension = _element(information, "Extension")
        _element(extension, "ExtensionID", CERTPUB_EXTENSION_ID)
        holder = etree.SubElement(extension, f"{{{SMC}}}Certificate", nsmap={"smc": SMC, "smb": SMB})
        etree.SubElement(holder, f"{{{SMB}}}TypeCode").text = certificate.type_code
        binary = etree.SubElement(holder, f"{{{SMB}}}ContentBinaryObject", mimeCode="application/base64")
        binary.text = certificate.certificate
    return root
