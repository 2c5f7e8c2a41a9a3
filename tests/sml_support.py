"""The SML interface under test: the app on a real socket, SMP client certificates, and zeep clients built
from the official WSDLs (``../shared/specs/peppol-sml``), never from the project's own code."""

from __future__ import annotations

import base64
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import zeep
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from werkzeug.serving import make_server
from zeep.transports import Transport

from app.audit import Actor
from app.operations import smps
from app.trust.devpki import DevelopmentPki, KeyPair, issue_ca, issue_leaf
from tests.conftest import SPECS

WSDLS = SPECS / "peppol-sml"
MANAGE_SMP = "{http://busdox.org/serviceMetadata/ManageServiceMetadataService/1.0/}ManageServiceMetadataServiceSoap"
MANAGE_PARTICIPANTS = (
    "{http://busdox.org/serviceMetadata/ManageBusinessIdentifierService/1.0/}ManageBusinessIdentifierServiceSoap"
)
BDMSL = "{ec:services:wsdl:BDMSL:1.0}BDMSLServiceSoap"
OPERATOR = Actor("operator", "operator")
SCHEME = "iso6523-actorid-upis"

#: BDMSL 4.2 added ExistsParticipantIdentifier, which the 1.0 WSDL of shared/specs does not have: this WSDL
#: declares it as the BDMSL ICD describes it, on top of the official schemas (included, not copied).
EXISTS_WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:s="http://www.w3.org/2001/XMLSchema" xmlns:tns="ec:services:wsdl:BDMSL:1.0"
    xmlns:lrs="ec:services:wsdl:BDMSL:data:1.0" xmlns:bd="http://busdox.org/serviceMetadata/locator/1.0/"
    targetNamespace="ec:services:wsdl:BDMSL:1.0">
  <wsdl:types>
    <s:schema targetNamespace="ec:services:wsdl:BDMSL:data:1.0" elementFormDefault="qualified"
        xmlns:id="http://busdox.org/transport/identifiers/1.0/">
      <s:include schemaLocation="{xsd}"/>
      <s:import namespace="http://busdox.org/serviceMetadata/locator/1.0/" schemaLocation="{locator}"/>
      <s:import namespace="http://busdox.org/transport/identifiers/1.0/" schemaLocation="{identifiers}"/>
      <s:element name="ExistsParticipantIdentifier" type="lrs:ParticipantsType"/>
      <s:element name="ExistsParticipantIdentifierResponse" type="lrs:ExistsParticipantResponseType"/>
      <s:complexType name="ExistsParticipantResponseType">
        <s:sequence>
          <s:element ref="id:ParticipantIdentifier"/>
          <s:element ref="bd:ServiceMetadataPublisherID"/>
          <s:element name="Exist" type="s:boolean"/>
        </s:sequence>
      </s:complexType>
    </s:schema>
  </wsdl:types>
  <wsdl:message name="existsIn"><wsdl:part name="messagePart" element="lrs:ExistsParticipantIdentifier"/></wsdl:message>
  <wsdl:message name="existsOut">
    <wsdl:part name="messagePart" element="lrs:ExistsParticipantIdentifierResponse"/>
  </wsdl:message>
  <wsdl:message name="badRequestFault"><wsdl:part name="fault" element="bd:BadRequestFault"/></wsdl:message>
  <wsdl:message name="notFoundFault"><wsdl:part name="fault" element="bd:NotFoundFault"/></wsdl:message>
  <wsdl:message name="unauthorizedFault"><wsdl:part name="fault" element="bd:UnauthorizedFault"/></wsdl:message>
  <wsdl:portType name="BDMSLExistsSoap">
    <wsdl:operation name="ExistsParticipantIdentifier">
      <wsdl:input message="tns:existsIn"/>
      <wsdl:output message="tns:existsOut"/>
      <wsdl:fault message="tns:badRequestFault" name="BadRequestFault"/>
      <wsdl:fault message="tns:notFoundFault" name="NotFoundFault"/>
      <wsdl:fault message="tns:unauthorizedFault" name="UnauthorizedFault"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="BDMSLExistsSoap" type="tns:BDMSLExistsSoap">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="ExistsParticipantIdentifier">
      <soap:operation soapAction="ec:services:wsdl:BDMSL:1.0:existsParticipantIdentifierIn" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
      <wsdl:fault name="BadRequestFault"><soap:fault name="BadRequestFault" use="literal"/></wsdl:fault>
      <wsdl:fault name="NotFoundFault"><soap:fault name="NotFoundFault" use="literal"/></wsdl:fault>
      <wsdl:fault name="UnauthorizedFault"><soap:fault name="UnauthorizedFault" use="literal"/></wsdl:fault>
    </wsdl:operation>
  </wsdl:binding>
</wsdl:definitions>
"""


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` on a free loopback port (real sockets, a thread per request); its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class SmpIdentity:
    """An SMP's client certificate (and key), and the header a TLS proxy would pass it on in (RFC 9440)."""

    name: str
    pair: KeyPair

    @property
    def pem(self) -> str:
        return self.pair.certificate.read_text()

    @property
    def header(self) -> str:
        certificate = x509.load_pem_x509_certificate(self.pair.certificate.read_bytes())
        return ":" + base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii") + ":"


def smp_identity(pki: DevelopmentPki, folder: Path, name: str, *, issuer: KeyPair | None = None) -> SmpIdentity:
    pair = KeyPair(folder / f"{name}.key", folder / f"{name}.crt")
    return SmpIdentity(name, issue_leaf(issuer or pki.smp_ca, pair, name, usage="smp-signing"))


def smp_identities(pki_dir: Path, folder: Path, *names: str) -> dict[str, SmpIdentity]:
    """Client certificates from the development PKI's SMP CA (a trusted one), one per name."""
    pki = DevelopmentPki(pki_dir)
    return {name: smp_identity(pki, folder, name) for name in names}


def foreign_ca(folder: Path) -> KeyPair:
    return issue_ca(KeyPair(folder / "foreign-ca.key", folder / "foreign-ca.crt"), "Some other CA")


def register(database, identity: SmpIdentity, *, address: str | None = None) -> None:
    """The federation operator registers the SMP (as ``sdk-addressbook sml smp add`` does)."""
    with database.writer() as session:
        smps.register_smp(
            session,
            OPERATOR,
            smp_id=identity.name,
            logical_address=address or f"https://{identity.name.lower()}.example.se/smp",
            physical_address="192.0.2.10",
            certificate=identity.pem,
        )


class SmlClients:
    """The three SOAP services as an SMP calls them: zeep, the official WSDLs, a client-certificate header."""

    def __init__(self, base: str, header: str | None, header_name: str = "Client-Cert") -> None:
        self.session = requests.Session()
        if header is not None:
            self.session.headers[header_name] = header
        transport = Transport(session=self.session, timeout=60, operation_timeout=120)
        self.smp = self._client("ManageServiceMetadataService-1.0.wsdl", transport).create_service(
            MANAGE_SMP, f"{base}/sml/manageservicemetadata"
        )
        self.participants = self._client("ManageBusinessIdentifierService-1.0.wsdl", transport).create_service(
            MANAGE_PARTICIPANTS, f"{base}/sml/manageparticipantidentifier"
        )
        self.bdmsl = self._client("BDMSLService-1.0.wsdl", transport).create_service(BDMSL, f"{base}/sml/bdmslservice")
        exists_wsdl = _exists_wsdl()
        self.exists = zeep.Client(str(exists_wsdl), transport=transport).create_service(
            "{ec:services:wsdl:BDMSL:1.0}BDMSLExistsSoap", f"{base}/sml/bdmslservice"
        )

    @staticmethod
    def _client(name: str, transport: Transport) -> zeep.Client:
        return zeep.Client(str(WSDLS / name), transport=transport)


def _exists_wsdl() -> Path:
    path = Path(tempfile.gettempdir()) / f"sdk-addressbook-sml-exists-{os.getpid()}.wsdl"
    text = EXISTS_WSDL.format(
        xsd=str(WSDLS / "BDMSLService-1.0.xsd"),
        locator=str(WSDLS / "ServiceMetadataLocatorTypes-1.0.xsd"),
        identifiers=str(SPECS / "peppol-smp" / "Identifiers-1.0.xsd"),
    )
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def identifier(value: str, scheme: str = SCHEME) -> dict[str, str]:
    return {"_value_1": value, "scheme": scheme}
