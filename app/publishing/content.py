"""What a participant publishes, gathered from the registry into plain immutable values.

The builders (``smp1``, ``smp2``, ``peppol``) turn a :class:`Participant` into XML; they never touch
the database, so they are easy to test and the same facts yield the same bytes in every flavour.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.identifiers import CERTPUB_TYPE_CODES, DocumentTypeId, ParticipantId, ProcessId
from app.registry.lifecycle import is_published
from app.registry.models import (
    AccessPoint,
    EndpointConfiguration,
    Organisation,
    ParticipantCertificate,
    ParticipantService,
)


@dataclass(frozen=True)
class Endpoint:
    transport_profile: str
    url: str
    certificate: str  # base64 DER of the access point certificate
    certificate_subject: str
    certificate_not_before: datetime
    certificate_not_after: datetime
    description: str
    technical_contact_url: str
    technical_information_url: str | None
    activation: datetime | None
    expiration: datetime | None


@dataclass(frozen=True)
class ProcessEndpoints:
    process: ProcessId
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True)
class Service:
    document: DocumentTypeId
    processes: tuple[ProcessEndpoints, ...]


@dataclass(frozen=True)
class CertPubCertificate:
    usage: str
    certificate: str  # base64 DER

    @property
    def type_code(self) -> str:
        return CERTPUB_TYPE_CODES[self.usage]


@dataclass(frozen=True)
class Participant:
    id: ParticipantId
    services: tuple[Service, ...]
    certificates: tuple[CertPubCertificate, ...]


def _base64_der(pem: str) -> str:
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _endpoint(configuration: EndpointConfiguration) -> Endpoint:
    access_point: AccessPoint = configuration.access_point
    return Endpoint(
        transport_profile=configuration.transport_profile,
        url=configuration.endpoint_url,
        certificate=_base64_der(access_point.certificate_pem),
        certificate_subject=access_point.subject,
        certificate_not_before=access_point.not_before,
        certificate_not_after=access_point.not_after,
        description=configuration.description,
        technical_contact_url=configuration.technical_contact_url,
        technical_information_url=configuration.technical_information_url,
        activation=configuration.activation_date,
        expiration=configuration.expiration_date,
    )


def is_publishable(organisation: Organisation) -> bool:
    return organisation.type == "o" and is_published(organisation.federation_status)


def load_participant(
    session: Session, organisation: Organisation, *, now: datetime | None = None
) -> Participant | None:
    """The participant's publishable content, or ``None`` when nothing of it may be published."""
    if not is_publishable(organisation):
        return None
    services = session.scalars(
        select(ParticipantService)
        .where(ParticipantService.organisation_id == organisation.id)
        .options(  # one query: re-publishing thousands of participants pays it per participant
            joinedload(ParticipantService.endpoint_configuration).joinedload(EndpointConfiguration.access_point)
        )
    ).all()
    if not services:
        return None
    by_document: dict[DocumentTypeId, dict[ProcessId, list[Endpoint]]] = defaultdict(lambda: defaultdict(list))
    for service in services:
        document = DocumentTypeId(service.document_scheme, service.document_value)
        process = ProcessId(service.process_scheme, service.process_value)
        by_document[document][process].append(_endpoint(service.endpoint_configuration))
    moment = now or datetime.now(UTC)
    certificates = session.scalars(
        select(ParticipantCertificate)
        .where(ParticipantCertificate.organisation_id == organisation.id, ParticipantCertificate.not_after > moment)
        .order_by(ParticipantCertificate.usage, ParticipantCertificate.not_before, ParticipantCertificate.id)
    ).all()
    return Participant(
        id=ParticipantId(organisation.participant_scheme, organisation.participant_value),
        services=tuple(
            Service(
                document,
                tuple(
                    ProcessEndpoints(process, tuple(sorted(endpoints, key=lambda e: (e.transport_profile, e.url))))
                    for process, endpoints in sorted(processes.items())
                ),
            )
            for document, processes in sorted(by_document.items())
        ),
        certificates=tuple(CertPubCertificate(c.usage, _base64_der(c.certificate_pem)) for c in certificates),
    )


def xml_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
