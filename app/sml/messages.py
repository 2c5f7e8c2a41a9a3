"""The messages of the SML interface, as the Peppol/BDMSL WSDLs define them: read into plain values, written back.

ManageServiceMetadata (``lrs:`` = ``http://busdox.org/serviceMetadata/locator/1.0/``): Create, Read, Update
and Delete of the caller's SMP. ManageParticipantIdentifier: Create, Delete, CreateList, DeleteList, List,
PrepareToMigrate, Migrate. BDMSLService (``ec:services:wsdl:BDMSL:data:1.0``): PrepareChangeCertificate,
CreateParticipantIdentifier (with a NAPTR service), IsAlive and ExistsParticipantIdentifier (BDMSL 4.2+,
not in the 1.0 WSDL: ``ExistsParticipantIdentifier`` of ``ParticipantsType`` in, and
``ExistsParticipantIdentifierResponse`` with the participant, the SMP id and ``Exist`` out).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lxml import etree

from app.identifiers import ParticipantId, WrittenParticipant
from app.sml.soap import BDMSL, IDENTIFIERS, LOCATOR, bad_request, child, element, text_of

PAGE_SIZE = 100


@dataclass(frozen=True)
class SmpFields:
    smp_id: str
    logical_address: str | None
    physical_address: str | None


def smp_fields(payload: etree._Element, *, endpoint: bool) -> SmpFields:
    """``ServiceMetadataPublisherServiceType``: the SMP id and (``endpoint``) its PublisherEndpoint."""
    smp_id = text_of(payload, LOCATOR, "ServiceMetadataPublisherID")
    if not endpoint:
        return SmpFields(smp_id or "", None, None)
    publisher = child(payload, LOCATOR, "PublisherEndpoint")
    return SmpFields(
        smp_id or "",
        text_of(publisher, LOCATOR, "LogicalAddress"),
        text_of(publisher, LOCATOR, "PhysicalAddress"),
    )


def smp_id_only(payload: etree._Element) -> str:
    """ManageServiceMetadata Delete: the body is the ``ServiceMetadataPublisherID`` element itself."""
    if len(payload) or not (payload.text or "").strip():
        raise bad_request("ServiceMetadataPublisherID must hold the SMP id")
    return (payload.text or "").strip()


def participant(node: etree._Element) -> WrittenParticipant:
    if len(node):
        raise bad_request("ParticipantIdentifier must hold text, not elements")
    return WrittenParticipant(node.get("scheme"), (node.text or "").strip())


def one_participant(payload: etree._Element) -> tuple[str, WrittenParticipant]:
    """``ServiceMetadataPublisherServiceForParticipantType`` (and BDMSL's ``ParticipantsType``)."""
    smp_id = text_of(payload, LOCATOR, "ServiceMetadataPublisherID") or ""
    return smp_id, participant(child(payload, IDENTIFIERS, "ParticipantIdentifier"))


def participant_list(payload: etree._Element, limit: int) -> tuple[str | None, list[WrittenParticipant]]:
    """``ParticipantIdentifierPageType`` of CreateList/DeleteList; more than ``limit`` participants is refused."""
    nodes = payload.findall(f"{{{IDENTIFIERS}}}ParticipantIdentifier")
    if len(nodes) > limit:
        raise bad_request(f"a list holds at most {limit} participants (SDK_SML_LIST_MAX), this one {len(nodes)}")
    return text_of(payload, LOCATOR, "ServiceMetadataPublisherID", required=False), [participant(n) for n in nodes]


def page_request(payload: etree._Element) -> tuple[str, ParticipantId | None]:
    smp_id = text_of(payload, LOCATOR, "ServiceMetadataPublisherID") or ""
    token = text_of(payload, LOCATOR, "NextPageIdentifier", required=False)
    return smp_id, None if token is None else _after(token)


def next_page_token(last: ParticipantId) -> str:
    """An opaque NextPageIdentifier: where the next page starts (after ``last``)."""
    return base64.urlsafe_b64encode(str(last).encode("utf-8")).decode("ascii").rstrip("=")


def _after(token: str) -> ParticipantId:
    try:
        scheme, _, value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8").partition("::")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request("NextPageIdentifier is not one this SML gave out") from None
    if not scheme or not value:
        raise bad_request("NextPageIdentifier is not one this SML gave out")
    return ParticipantId(scheme, value)


def migration_record(payload: etree._Element) -> tuple[str, WrittenParticipant, str]:
    """``MigrationRecordType``: the SMP id, the participant and the migration key."""
    smp_id, requested = one_participant(payload)
    found = payload.find(f"{{{LOCATOR}}}MigrationKey")
    if found is None or not found.text:
        raise bad_request(f"{etree.QName(payload).localname}: MigrationKey is missing")
    return smp_id, requested, found.text


def advanced_create(payload: etree._Element) -> tuple[str, WrittenParticipant, str]:
    """BDMSL's CreateParticipantIdentifier: the participant and the NAPTR service name."""
    inner = child(payload, BDMSL, "CreateParticipantIdentifier")
    smp_id, requested = one_participant(inner)
    service = text_of(payload, BDMSL, "serviceName") or ""
    return smp_id, requested, service


def exists_request(payload: etree._Element) -> tuple[str, WrittenParticipant]:
    return one_participant(payload)


def certificate_change(payload: etree._Element) -> tuple[str, datetime | None]:
    """PrepareChangeCertificate: the new certificate (base64 DER or PEM) and, maybe, the date it takes over."""
    certificate = text_of(payload, BDMSL, "newCertificatePublicKey") or ""
    day = text_of(payload, BDMSL, "migrationDate", required=False)
    if day is None:
        return certificate, None
    try:
        parsed = date.fromisoformat(day[:10])
    except ValueError:
        raise bad_request(f"migrationDate {day!r} is not a date (YYYY-MM-DD)") from None
    return certificate, datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


# -- answers -------------------------------------------------------------------------------------


def _identifier(participant_id: ParticipantId) -> etree._Element:
    return element(IDENTIFIERS, "ParticipantIdentifier", participant_id.value, scheme=participant_id.scheme)


def smp_answer(smp_id: str, logical_address: str, physical_address: str) -> etree._Element:
    root = element(LOCATOR, "ServiceMetadataPublisherService")
    endpoint = etree.SubElement(root, f"{{{LOCATOR}}}PublisherEndpoint")
    etree.SubElement(endpoint, f"{{{LOCATOR}}}LogicalAddress").text = logical_address
    etree.SubElement(endpoint, f"{{{LOCATOR}}}PhysicalAddress").text = physical_address
    etree.SubElement(root, f"{{{LOCATOR}}}ServiceMetadataPublisherID").text = smp_id
    return root


def page_answer(smp_id: str, participants: list[ParticipantId], more: bool) -> etree._Element:
    root = element(LOCATOR, "ParticipantIdentifierPage")
    for participant_id in participants:
        root.append(_identifier(participant_id))
    etree.SubElement(root, f"{{{LOCATOR}}}ServiceMetadataPublisherID").text = smp_id
    if more and participants:
        etree.SubElement(root, f"{{{LOCATOR}}}NextPageIdentifier").text = next_page_token(participants[-1])
    return root


def exists_answer(smp_id: str, requested: WrittenParticipant, exists: bool) -> etree._Element:
    root = element(BDMSL, "ExistsParticipantIdentifierResponse")
    identifier = etree.SubElement(root, f"{{{IDENTIFIERS}}}ParticipantIdentifier")
    identifier.text = requested.value
    if requested.scheme:
        identifier.set("scheme", requested.scheme)
    etree.SubElement(root, f"{{{LOCATOR}}}ServiceMetadataPublisherID").text = smp_id
    etree.SubElement(root, f"{{{BDMSL}}}Exist").text = "true" if exists else "false"
    return root


# -- requests (what this service sends as a client of an external SML) -----------------------------


def participant_page_request(name: str, smp_id: str, participants: list[ParticipantId]) -> etree._Element:
    """CreateList or DeleteList (``name``): the participants, then the SMP id."""
    root = element(LOCATOR, name)
    for participant_id in participants:
        root.append(_identifier(participant_id))
    etree.SubElement(root, f"{{{LOCATOR}}}ServiceMetadataPublisherID").text = smp_id
    return root


def participant_request(name: str, smp_id: str, participant_id: ParticipantId) -> etree._Element:
    """CreateParticipantIdentifier or DeleteParticipantIdentifier (``name``) of one participant."""
    root = element(LOCATOR, name)
    etree.SubElement(root, f"{{{LOCATOR}}}ServiceMetadataPublisherID").text = smp_id
    root.append(_identifier(participant_id))
    return root


def smp_request(name: str, smp_id: str, logical_address: str | None, physical_address: str | None) -> etree._Element:
    """Create/Update/ReadServiceMetadataPublisherService (``name``); Read carries only the id."""
    root = element(LOCATOR, name)
    if logical_address is not None and physical_address is not None:
        endpoint = etree.SubElement(root, f"{{{LOCATOR}}}PublisherEndpoint")
        etree.SubElement(endpoint, f"{{{LOCATOR}}}LogicalAddress").text = logical_address
        etree.SubElement(endpoint, f"{{{LOCATOR}}}PhysicalAddress").text = physical_address
    etree.SubElement(root, f"{{{LOCATOR}}}ServiceMetadataPublisherID").text = smp_id
    return root
