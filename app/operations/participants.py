"""Use cases for a participant's SMP data: the services it receives and its O2O certificates.

Here they apply at once; the approval gates of the federation (new document types and certificate
changes wait for the operator) wrap these functions in the approval workflow.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.identifiers import DEFAULT_POLICY, DocumentTypeId, IdentifierPolicy, ProcessId
from app.operations.checks import Checker, get_for_update, get_or_not_found
from app.operations.publication import refresh_participant
from app.operations.trust_anchors import acceptable
from app.registry.errors import Conflict, FieldError, ValidationFailed, present
from app.registry.models import (
    CERTIFICATE_USAGES,
    EndpointConfiguration,
    Organisation,
    ParticipantCertificate,
    ParticipantService,
)
from app.trust.certificates import CertificateError, CertificateFacts, describe


def _participant(session: Session, organisation_id: uuid.UUID | str) -> Organisation:
    organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
    if organisation.type != "o":
        raise ValidationFailed(FieldError("organisation", "only an organisation of type o is an SMP participant"))
    return organisation


def checked_service(
    session: Session,
    document_type: str,
    process: str,
    endpoint_configuration_id: uuid.UUID | str,
    allowed_document_types: tuple[str, ...] | None,
    policy: IdentifierPolicy,
) -> tuple[DocumentTypeId, ProcessId, EndpointConfiguration]:
    """The input of a new service, checked (ValidationFailed names each bad field)."""
    check = Checker()
    document = check.identifier("documentType", document_type, lambda v: DocumentTypeId.parse(v, policy))
    process_id = check.identifier("process", process, lambda v: ProcessId.parse(v, policy))
    if document is not None and allowed_document_types is not None and str(document) not in allowed_document_types:
        check.fail("documentType", "is not one of the federation's document types (SDK_DOCUMENT_TYPES)")
    configuration_id = check.uuid("endpointConfiguration", endpoint_configuration_id, required=True)
    configuration = session.get(EndpointConfiguration, configuration_id) if configuration_id else None
    if configuration_id and configuration is None:
        check.fail("endpointConfiguration", "no such endpoint configuration")
    check.done()
    return present(document), present(process_id), present(configuration)


def existing_service(
    session: Session, organisation: Organisation, document: DocumentTypeId, process_id: ProcessId
) -> ParticipantService | None:
    return session.scalar(
        select(ParticipantService).where(
            ParticipantService.organisation_id == organisation.id,
            ParticipantService.document_scheme == document.scheme,
            ParticipantService.document_value == document.value,
            ParticipantService.process_scheme == process_id.scheme,
            ParticipantService.process_value == process_id.value,
        )
    )


def checked_certificate(session: Session, usage: str, certificate: str) -> CertificateFacts:
    """An O2O certificate for ``usage``, loaded and validated against the trust anchors."""
    check = Checker()
    facts = None
    if usage not in CERTIFICATE_USAGES:
        check.fail("usage", "must be signing or encryption")
    else:
        try:
            facts = describe(acceptable(session, certificate, usage))
        except CertificateError as error:
            check.fail("certificate", str(error))
    check.done()
    return present(facts)


def add_service(
    session: Session,
    actor: Actor,
    organisation_id: uuid.UUID | str,
    *,
    document_type: str,
    process: str,
    endpoint_configuration_id: uuid.UUID | str,
    allowed_document_types: tuple[str, ...] | None = None,
    policy: IdentifierPolicy = DEFAULT_POLICY,
) -> ParticipantService:
    organisation = _participant(session, organisation_id)
    document, process_id, configuration = checked_service(
        session, document_type, process, endpoint_configuration_id, allowed_document_types, policy
    )
    duplicate = existing_service(session, organisation, document, process_id)
    if duplicate is not None:
        raise Conflict(f"{organisation.participant_identifier} already receives {document}", field="documentType")
    service = ParticipantService(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        document_scheme=document.scheme,
        document_value=document.value,
        process_scheme=process_id.scheme,
        process_value=process_id.value,
        endpoint_configuration_id=configuration.id,
    )
    session.add(service)
    session.flush()
    refresh_participant(session, organisation)
    audit.record(
        session,
        actor,
        Action.PARTICIPANT_SERVICE_CREATE,
        "participant_service",
        service.id,
        organisation_id=organisation.id,
        after=audit.snapshot(service),
    )
    return service


def add_certificate(
    session: Session, actor: Actor, organisation_id: uuid.UUID | str, *, usage: str, certificate: str
) -> ParticipantCertificate:
    organisation = _participant(session, organisation_id)
    facts = checked_certificate(session, usage, certificate)
    duplicate = session.scalar(
        select(ParticipantCertificate).where(
            ParticipantCertificate.organisation_id == organisation.id,
            ParticipantCertificate.usage == usage,
            ParticipantCertificate.certificate_sha256 == facts.sha256,
        )
    )
    if duplicate is not None:
        raise Conflict(f"this {usage} certificate is already registered", field="certificate")
    record = ParticipantCertificate(id=uuid.uuid4(), organisation_id=organisation.id, usage=usage)
    record.take_certificate(facts)
    session.add(record)
    session.flush()
    refresh_participant(session, organisation)
    audit.record(
        session,
        actor,
        Action.PARTICIPANT_CERTIFICATE_CREATE,
        "participant_certificate",
        record.id,
        organisation_id=organisation.id,
        after=audit.snapshot(record),
    )
    return record


def _remove(
    session: Session,
    actor: Actor,
    model: type[ParticipantService] | type[ParticipantCertificate],
    entity_id: uuid.UUID | str,
    label: str,
    action: Action,
    entity_type: str,
    expected_version: int | None,
) -> None:
    """Remove a service or certificate; publication follows at once (the last service withdraws the participant)."""
    record = get_for_update(session, model, entity_id, label, expected_version)
    organisation = record.organisation
    before = audit.snapshot(record)
    session.delete(record)
    session.flush()
    refresh_participant(session, organisation)
    audit.record(session, actor, action, entity_type, record.id, organisation_id=organisation.id, before=before)


def remove_service(
    session: Session, actor: Actor, service_id: uuid.UUID | str, *, expected_version: int | None = None
) -> None:
    _remove(
        session,
        actor,
        ParticipantService,
        service_id,
        "service",
        Action.PARTICIPANT_SERVICE_DELETE,
        "participant_service",
        expected_version,
    )


def remove_certificate(
    session: Session, actor: Actor, certificate_id: uuid.UUID | str, *, expected_version: int | None = None
) -> None:
    _remove(
        session,
        actor,
        ParticipantCertificate,
        certificate_id,
        "certificate",
        Action.PARTICIPANT_CERTIFICATE_DELETE,
        "participant_certificate",
        expected_version,
    )
