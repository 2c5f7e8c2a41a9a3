"""SOAP 1.1 for the SML interface: a request's body read safely, answers and faults written.

Requests are parsed with no DTD (a document that declares one is refused), no entity expansion, no
network access and libxml2's default depth and size limits; the body size is limited before it is read
(``SDK_SML_MAX_REQUEST_BYTES``). Faults are SOAP 1.1 faults (HTTP 500) whose ``detail`` holds the
fault element of the Peppol/BDMSL WSDLs (``BadRequestFault``, ``UnauthorizedFault``, ``NotFoundFault``,
``InternalErrorFault``, each with its ``FaultMessage``), as BDMSL answers them.
"""

from __future__ import annotations

from typing import Literal

from lxml import etree

SOAP_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENVELOPE = "http://www.w3.org/2003/05/soap-envelope"
LOCATOR = "http://busdox.org/serviceMetadata/locator/1.0/"
IDENTIFIERS = "http://busdox.org/transport/identifiers/1.0/"
BDMSL = "ec:services:wsdl:BDMSL:data:1.0"
NAMESPACES = {"soap": SOAP_ENVELOPE, "lrs": LOCATOR, "ids": IDENTIFIERS, "bdmsl": BDMSL}

FaultKind = Literal["BadRequestFault", "UnauthorizedFault", "NotFoundFault", "InternalErrorFault"]

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


class SoapFault(Exception):
    """A refusal as the WSDL names it; ``message`` is what the caller reads (FaultMessage and faultstring)."""

    def __init__(self, kind: FaultKind, message: str) -> None:
        super().__init__(message)
        self.kind: FaultKind = kind
        self.message = message


def bad_request(message: str) -> SoapFault:
    return SoapFault("BadRequestFault", message if message.startswith("[ERR-") else f"[ERR-106] {message}")


def parse(data: bytes) -> etree._Element:
    """``data`` as XML, read safely (see the module); :class:`SoapFault` (BadRequestFault) says what is wrong."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        raise bad_request(f"the message is not well-formed XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise bad_request("a DOCTYPE (DTD) is not accepted in a SOAP message")
    return root


def read_body(data: bytes) -> etree._Element:
    """The one element in the SOAP body of ``data``; :class:`SoapFault` (BadRequestFault) says what is wrong."""
    root = parse(data)
    if root.tag == f"{{{SOAP12_ENVELOPE}}}Envelope":
        raise bad_request(
            "this interface speaks SOAP 1.1 (envelope namespace http://schemas.xmlsoap.org/soap/envelope/)"
        )
    if root.tag != f"{{{SOAP_ENVELOPE}}}Envelope":
        raise bad_request("the request is not a SOAP 1.1 envelope")
    bodies = root.findall(f"{{{SOAP_ENVELOPE}}}Body")
    if len(bodies) != 1:
        raise bad_request("the envelope needs exactly one Body")
    payload = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(payload) != 1:
        raise bad_request("the Body needs exactly one element: the operation's request")
    return payload[0]


def envelope(payload: etree._Element | None = None) -> bytes:
    """A response envelope around ``payload`` (an empty Body for operations that answer nothing)."""
    root = etree.Element(f"{{{SOAP_ENVELOPE}}}Envelope", nsmap={"soap": SOAP_ENVELOPE})
    body = etree.SubElement(root, f"{{{SOAP_ENVELOPE}}}Body")
    if payload is not None:
        body.append(payload)
    return _bytes(root)


def _bytes(root: etree._Element) -> bytes:
    serialised: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return serialised


def fault_envelope(fault: SoapFault) -> bytes:
    root = etree.Element(f"{{{SOAP_ENVELOPE}}}Envelope", nsmap={"soap": SOAP_ENVELOPE})
    body = etree.SubElement(root, f"{{{SOAP_ENVELOPE}}}Body")
    element = etree.SubElement(body, f"{{{SOAP_ENVELOPE}}}Fault")
    code = "soap:Server" if fault.kind == "InternalErrorFault" else "soap:Client"
    etree.SubElement(element, "faultcode").text = code
    etree.SubElement(element, "faultstring").text = fault.message
    detail = etree.SubElement(element, "detail")
    kind = etree.SubElement(detail, f"{{{LOCATOR}}}{fault.kind}", nsmap={"lrs": LOCATOR})
    etree.SubElement(kind, f"{{{LOCATOR}}}FaultMessage").text = fault.message
    return _bytes(root)


def element(namespace: str, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    node = etree.Element(
        f"{{{namespace}}}{name}", nsmap={None: namespace} if namespace != IDENTIFIERS else {"ids": IDENTIFIERS}
    )
    if text is not None:
        node.text = text
    for key, value in attributes.items():
        node.set(key, value)
    return node


def child(parent: etree._Element, namespace: str, name: str) -> etree._Element:
    """The required child ``name``; BadRequestFault when it is missing."""
    found = parent.find(f"{{{namespace}}}{name}")
    if found is None:
        raise bad_request(f"{etree.QName(parent).localname}: {name} is missing")
    return found


def text_of(parent: etree._Element, namespace: str, name: str, *, required: bool = True) -> str | None:
    found = parent.find(f"{{{namespace}}}{name}")
    if found is None or not (found.text or "").strip():
        if required:
            raise bad_request(f"{etree.QName(parent).localname}: {name} is missing or empty")
        return None
    if len(found):
        raise bad_request(f"{etree.QName(parent).localname}: {name} must hold text, not elements")
    return (found.text or "").strip()
