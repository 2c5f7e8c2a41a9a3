"""Peppol (BusDox) SMP 1.x documents, for Peppol-minded clients.

Same facts as OASIS SMP 1.0 in the busdox namespaces. No CertPub: Peppol's ``Extension`` is a single
strict ``xs:any`` that would reject an element of the SMP 2 namespaces, and Peppol clients do not read it.
"""

from __future__ import annotations

from lxml import etree

from app.identifiers import url_segment
from app.publishing.content import Participant, Service
from app.publishing.smp1x import append_endpoint_details

NS = "http://busdox.org/serviceMetadata/publishing/1.0/"
IDS = "http://busdox.org/transport/identifiers/1.0/"
WSA = "http://www.w3.org/2005/08/addressing"
NSMAP = {None: NS, "ids": IDS, "wsa": WSA}


def _element(
    parent: etree._Element, name: str, text: str | None = None, namespace: str = NS, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{namespace}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def service_group(participant: Participant, base_url: str) -> etree._Element:
    root = etree.Element(f"{{{NS}}}ServiceGroup", nsmap=NSMAP)
    _element(root, "ParticipantIdentifier", participant.id.value, IDS, scheme=participant.id.scheme)
    references = _element(root, "ServiceMetadataReferenceCollection")
    for service in participant.services:
        href = f"{base_url}/{url_segment(participant.id)}/services/{url_segment(service.document)}"
        _element(references, "ServiceMetadataReference", href=href)
    return root


def service_metadata(participant: Participant, service: Service) -> etree._Element:
    root = etree.Element(f"{{{NS}}}SignedServiceMetadata", nsmap=NSMAP)
    information = _element(_element(root, "ServiceMetadata"), "ServiceInformation")
    _element(information, "ParticipantIdentifier", participant.id.value, IDS, scheme=participant.id.scheme)
    _element(information, "DocumentIdentifier", service.document.value, IDS, scheme=service.document.scheme)
    processes = _element(information, "ProcessList")
    for entry in service.processes:
        process = _element(processes, "Process")
        _element(process, "ProcessIdentifier", entry.process.value, IDS, scheme=entry.process.scheme)
        endpoints = _element(process, "ServiceEndpointList")
        for endpoint in entry.endpoints:
            element = _element(endpoints, "Endpoint", transportProfile=endpoint.transport_profile)
            _element(_element(element, "EndpointReference", namespace=WSA), "Address", endpoint.url, WSA)
            append_endpoint_details(element, NS, endpoint)
    return root
