"""What OASIS SMP 1.0 and Peppol SMP 1.x share: the endpoint elements after the address, in order."""

from __future__ import annotations

from lxml import etree

from app.publishing.content import Endpoint, xml_datetime


def append_endpoint_details(element: etree._Element, namespace: str, endpoint: Endpoint) -> None:
    def add(name: str, text: str) -> None:
        etree.SubElement(element, f"{{{namespace}}}{name}").text = text

    add("RequireBusinessLevelSignature", "false")
    if endpoint.activation is not None:
        add("ServiceActivationDate", xml_datetime(endpoint.activation))
    if endpoint.expiration is not None:
        add("ServiceExpirationDate", xml_datetime(endpoint.expiration))
    add("Certificate", endpoint.certificate)
    add("ServiceDescription", endpoint.description)
    add("TechnicalContactUrl", endpoint.technical_contact_url)
    if endpoint.technical_information_url:
        add("TechnicalInformationUrl", endpoint.technical_information_url)
