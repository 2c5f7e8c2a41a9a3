"""Gated changes: what the SDK rules make wait for the federation operator.

For a participant that is already approved (or suspended), adding a document type and adding or
removing an O2O certificate become a :class:`PendingChange` when anyone but the federation operator
asks; the live publication stays exactly as it was until the operator approves, and a rejection leaves
it unchanged. The input is checked when the change is requested (bad input is refused at once) and
applied with the ordinary use case on approval. Endpoint and access-point changes are not gated.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.identifiers import DEFAULT_POLICY, IdentifierPolicy
from app.operations import participants
from app.operations.checks import Checker, get_or_not_found
from app.registry.columns import utcnow
from app.registry.errors import Conflict, InvalidTransition
from app.registry.lifecycle import FederationStatus
from app.registry.models import (
    DESCRIPTION_MAX,
    Organisation,
    ParticipantCertificate,
    ParticipantService,
    PendingChange,
)

ENTITY = "pending_change"
GATED_STATES = (FederationStatus.APPROVED.value, FederationStatus.SUSPENDED.value)


def is_gated(actor: Actor, organisation: Organisation) -> bool:
    return actor.role != "operator" and organisation.federation_status in GATED_STATES


def _pending(session: Session, organisation: Organisation, kind: str) -> list[PendingChange]:
    return list(
        session.scalars(
            select(PendingChange).where(
                PendingChange.organisation_id == organisation.id,
                PendingChange.kind == kind,
                PendingChange.status == "pending",
            )
        )
    )


def _request(
    session: Session, actor: Actor, organisation: Organisation, kind: str, payload: dict[str, Any]
) -> PendingChange:
    change = PendingChange(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        kind=kind,
        payload=payload,
        status="pending",
        requested_by=actor.name,
    )
    session.add(change)
    session.flush()
    audit.record(
        session,
        actor,
        Action.PENDING_CHANGE_REQUEST,
        ENTITY,
        change.id,
        organisation_id=organisation.id,
        after=audit.snapshot(change),
    )
    return change


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
) -> ParticipantService | PendingChange:
    """Add a service now, or — when gated — request it; the same checks either way."""
    organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
    if not is_gated(actor, organisation):
        return participants.add_service(
            session,
            actor,
            organisation.id,
            document_type=document_type,
            process=process,
            endpoint_configuration_id=endpoint_configuration_id,
            allowed_document_types=allowed_document_types,
            policy=policy,
        )
    document, process_id, configuration = participants.checked_service(
        session, document_type, process, endpoint_configuration_id, allowed_document_types, policy
    )
    payload = {
        "documentType": str(document),
        "process": str(process_id),
        "endpointConfiguration": str(configuration.id),
    }
    existing = participants.existing_service(session, organisation, document, process_id)
    if existing is not None or any(
        c.payload.get("documentType") == payload["documentType"] for c in _pending(session, organisation, "add_service")
    ):
        raise Conflict(
            f"{organisation.participant_identifier} already receives or awaits {document}", field="documentType"
        )
    return _request(session, actor, organisation, "add_service", payload)


def add_certificate(
    session: Session, actor: Actor, organisation_id: uuid.UUID | str, *, usage: str, certificate: str
) -> ParticipantCertificate | PendingChange:
    organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
    if not is_gated(actor, organisation):
        return participants.add_certificate(session, actor, organisation.id, usage=usage, certificate=certificate)
    facts = participants.checked_certificate(session, usage, certificate)
    return _request(
        session,
        actor,
        organisation,
        "add_certificate",
        {"usage": usage, "certificate": facts.pem, "sha256": facts.sha256, "subject": facts.subject},
    )


def remove_certificate(
    session: Session, actor: Actor, certificate_id: uuid.UUID | str, *, expected_version: int | None = None
) -> PendingChange | None:
    record = get_or_not_found(session, ParticipantCertificate, certificate_id, "certificate")
    organisation = record.organisation
    if not is_gated(actor, organisation):
        participants.remove_certificate(session, actor, record.id, expected_version=expected_version)
        return None
    return _request(
        session,
        actor,
        organisation,
        "remove_certificate",
        {"certificate": str(record.id), "sha256": record.certificate_sha256},
    )


def _decide(change: PendingChange, actor: Actor) -> None:
    if change.status != "pending":
        raise InvalidTransition(f"this change was already {change.status}")
    change.decided_by = actor.name
    change.decided_at = utcnow()


def approve(session: Session, actor: Actor, change_id: uuid.UUID | str) -> PendingChange:
    """Apply the requested change with the ordinary use case (published at once) and mark it approved."""
    change = get_or_not_found(session, PendingChange, change_id, "pending change")
    _decide(change, actor)
    before = audit.snapshot(change)
    payload: dict[str, Any] = change.payload
    if change.kind == "add_service":
        participants.add_service(
            session,
            actor,
            change.organisation_id,
            document_type=payload["documentType"],
            process=payload["process"],
            endpoint_configuration_id=payload["endpointConfiguration"],
        )
    elif change.kind == "add_certificate":
        participants.add_certificate(
            session, actor, change.organisation_id, usage=payload["usage"], certificate=payload["certificate"]
        )
    elif change.kind == "remove_certificate":
        participants.remove_certificate(session, actor, payload["certificate"])
    change.status = "approved"
    session.flush()
    audit.record(
        session,
        actor,
        Action.PENDING_CHANGE_APPROVE,
        ENTITY,
        change.id,
        organisation_id=change.organisation_id,
        before=before,
        after=audit.snapshot(change),
    )
    return change


def reject(session: Session, actor: Actor, change_id: uuid.UUID | str, *, reason: str | None) -> PendingChange:
    change = get_or_not_found(session, PendingChange, change_id, "pending change")
    check = Checker()
    reason = check.text("reason", reason, maximum=DESCRIPTION_MAX, required=True, multiline=True)
    check.done()
    _decide(change, actor)
    before = audit.snapshot(change)
    change.status = "rejected"
    change.reason = reason
    session.flush()
    audit.record(
        session,
        actor,
        Action.PENDING_CHANGE_REJECT,
        ENTITY,
        change.id,
        organisation_id=change.organisation_id,
        before=before,
        after=audit.snapshot(change),
    )
    return change
