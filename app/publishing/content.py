"""What a participant publishes, gathered from the registry into plain immutable values.

The builders (``smp1``, ``smp2``, ``peppol``) turn a :class:`Participant` into XML; they never touch
the database, so they are easy to test and the same facts yield the same bytes in every flavour.
"""

from __future__ import annotations

import base64
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.identifiers import (
    CERTPUB_TYPE_CODES,
    DEFAULT_POLICY,
    DocumentTypeId,
    IdentifierPolicy,
    ParticipantId,
    ProcessId,
)
from app.registry.errors import present
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


#: Organisations per query when many are loaded at once (bounded IN lists).
LOAD_CHUNK = 1000


def load_participants(
    session: Session,
    organisations: Sequence[Organisation],
    policy: IdentifierPolicy = DEFAULT_POLICY,
    *,
    now: datetime | None = None,
) -> dict[uuid.UUID, Participant | None]:
    """Each participant's publishable content (``None`` when nothing of it may be published), in two queries
    per thousand (a bulk change re-publishes thousands). Identifiers are published in the canonical form
    of ``policy``, so a changed case policy takes effect at the next re-publication."""
    moment = now or datetime.now(UTC)
    publishable = [o.id for o in organisations if is_publishable(o)]
    services: dict[uuid.UUID, list[ParticipantService]] = defaultdict(list)
    certificates: dict[uuid.UUID, list[ParticipantCertificate]] = defaultdict(list)
    for start in range(0, len(publishable), LOAD_CHUNK):
        chunk = publishable[start : start + LOAD_CHUNK]
        for service in session.scalars(
            select(ParticipantService)
            .where(ParticipantService.organisation_id.in_(chunk))
            .options(
                joinedload(ParticipantService.endpoint_configuration).joinedload(EndpointConfiguration.access_point)
            )
        ).unique():
            services[service.organisation_id].append(service)
        for certificate in session.scalars(
            select(ParticipantCertificate)
            .where(ParticipantCertificate.organisation_id.in_(chunk), ParticipantCertificate.not_after > moment)
            .order_by(ParticipantCertificate.usage, ParticipantCertificate.not_before, ParticipantCertificate.id)
        ):
            certificates[certificate.organisation_id].append(certificate)
    endpoints: dict[uuid.UUID, Endpoint] = {}  # shared by the many participants of one configuration

    def endpoint(configuration: EndpointConfiguration) -> Endpoint:
        if configuration.id not in endpoints:
            endpoints[configuration.id] = _endpoint(configuration)
        return endpoints[configuration.id]

    return {
        o.id: _participant(o, services[o.id], certificates[o.id], endpoint, policy) if services.get(o.id) else None
        for o in organisations
    }


def _participant(
    organisation: Organisation,
    services: list[ParticipantService],
    certificates: list[ParticipantCertificate],
    endpoint: Callable[[EndpointConfiguration], Endpoint],
    policy: IdentifierPolicy,
) -> Participant:
    by_document: dict[DocumentTypeId, dict[ProcessId, list[Endpoint]]] = defaultdict(lambda: defaultdict(list))
    for service in services:
        document = DocumentTypeId.canonical(service.document_scheme, service.document_value, policy)
        process = ProcessId.canonical(service.process_scheme, service.process_value, policy)
        by_document[document][process].append(endpoint(service.endpoint_configuration))
    return Participant(
        id=present(organisation.participant_id),
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
