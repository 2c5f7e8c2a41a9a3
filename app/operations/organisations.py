"""Use cases for organisations: register, update, lifecycle transitions, remove a sub-organisation.

Each function runs inside the caller's write transaction (``database.writer()``): validate, change the
registry rows, write the audit event. A participant (``o``) starts ``pending``; only the federation
operator's approval publishes it (publishing and DNS join in with their own capabilities).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.identifiers import DEFAULT_POLICY, IdentifierPolicy, ParticipantId, normalise_organisation_number
from app.operations.checks import Checker, get_for_update, reject_unknown
from app.operations.publication import refresh_participant
from app.registry import lifecycle
from app.registry.columns import utcnow
from app.registry.errors import Conflict, FieldError, InUse, ValidationFailed, present
from app.registry.lifecycle import FederationStatus, Transition
from app.registry.models import (
    DESCRIPTION_MAX,
    NAME_MAX,
    AccessPointOperator,
    FunctionAddress,
    Organisation,
)

ENTITY = "organisation"
UPDATABLE = ("name", "alternateName", "description", "countryCode", "organisationNumber", "apOperator", "parent")

_TRANSITION_ACTIONS = {
    Transition.APPROVE: Action.ORGANISATION_APPROVE,
    Transition.REJECT: Action.ORGANISATION_REJECT,
    Transition.SUSPEND: Action.ORGANISATION_SUSPEND,
    Transition.REINSTATE: Action.ORGANISATION_REINSTATE,
    Transition.DEREGISTER: Action.ORGANISATION_DEREGISTER,
    Transition.RESUBMIT: Action.ORGANISATION_RESUBMIT,
}


@dataclass(frozen=True)
class OrganisationInput:
    type: str
    name: str
    participant_identifier: str | None = None
    organisation_number: str | None = None
    alternate_name: str | None = None
    description: str | None = None
    country_code: str | None = "SE"
    parent: uuid.UUID | str | None = None
    ap_operator: uuid.UUID | str | None = None


def find_by_participant(session: Session, participant: ParticipantId) -> Organisation | None:
    return session.scalar(
        select(Organisation).where(
            Organisation.participant_scheme == participant.scheme,
            Organisation.participant_value == participant.value,
        )
    )


def _organisation_number(check: Checker, value: Any, *, required: bool) -> str | None:
    return check.identifier(
        "organisationNumber",
        value,
        normalise_organisation_number,
        required=required,
        required_because="for an organisation of type o",
    )


def _parent(session: Session, check: Checker, value: Any) -> Organisation | None:
    parent_id = check.uuid("parent", value)
    if parent_id is None:
        return None
    parent = session.get(Organisation, parent_id)
    if parent is None:
        check.fail("parent", "no such organisation")
        return None
    if parent.type != "o":
        check.fail("parent", "must be an organisation of type o (a sub-organisation cannot have children)")
        return None
    return parent


def _ap_operator(session: Session, check: Checker, value: Any) -> AccessPointOperator | None:
    operator_id = check.uuid("apOperator", value)
    if operator_id is None:
        return None
    operator = session.get(AccessPointOperator, operator_id)
    if operator is None:
        check.fail("apOperator", "no such access point operator")
    return operator


def create_organisation(
    session: Session, actor: Actor, data: OrganisationInput, policy: IdentifierPolicy = DEFAULT_POLICY
) -> Organisation:
    """Register a participant organisation (``o``, starts ``pending``) or a sub-organisation (``ou``)."""
    check = Checker()
    if data.type not in ("o", "ou"):
        check.fail("type", "must be 'o' (participant organisation) or 'ou' (sub-organisation)")
    is_participant = data.type == "o"
    name = check.text("name", data.name, maximum=NAME_MAX, required=True)
    alternate_name = check.text("alternateName", data.alternate_name, maximum=NAME_MAX)
    description = check.text("description", data.description, maximum=DESCRIPTION_MAX, multiline=True)
    country_code = check.country_code("countryCode", data.country_code)
    organisation_number = _organisation_number(check, data.organisation_number, required=is_participant)
    participant = None
    if is_participant:
        participant = check.identifier(
            "participantIdentifier",
            data.participant_identifier,
            lambda v: ParticipantId.parse(v, policy),
            required_because="for an organisation of type o",
        )
        if data.parent is not None:
            check.fail("parent", "an organisation of type o has no parent")
    elif data.type == "ou":
        if data.participant_identifier:
            check.fail("participantIdentifier", "a sub-organisation (ou) has no participant identifier of its own")
        if data.parent is None:
            check.fail("parent", "a sub-organisation (ou) must belong to an organisation of type o")
    parent = _parent(session, check, data.parent) if data.type == "ou" else None
    ap_operator = _ap_operator(session, check, data.ap_operator)
    check.done()

    if participant is not None and find_by_participant(session, participant) is not None:
        raise Conflict(f"participant {participant} is already registered", field="participantIdentifier")
    organisation = Organisation(
        id=uuid.uuid4(),
        type=data.type,
        participant_scheme=participant.scheme if participant else None,
        participant_value=participant.value if participant else None,
        organisation_number=organisation_number,
        name=name,
        alternate_name=alternate_name,
        description=description,
        country_code=country_code,
        parent_id=parent.id if parent else None,
        ap_operator_id=ap_operator.id if ap_operator else None,
        federation_status=FederationStatus.PENDING.value if is_participant else None,
        status_changed_at=utcnow() if is_participant else None,
    )
    session.add(organisation)
    session.flush()
    audit.record(
        session,
        actor,
        Action.ORGANISATION_CREATE,
        ENTITY,
        organisation.id,
        organisation_id=organisation.parent_id or organisation.id,
        after=audit.snapshot(organisation),
    )
    return organisation


def update_organisation(
    session: Session,
    actor: Actor,
    organisation_id: uuid.UUID | str,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Organisation:
    """Change directory data; the participant identifier and type never change (delete and recreate)."""
    organisation = get_for_update(session, Organisation, organisation_id, "organisation", expected_version)
    if "participantIdentifier" in changes or "type" in changes:
        field = "participantIdentifier" if "participantIdentifier" in changes else "type"
        raise ValidationFailed(
            [FieldError(field, "cannot be changed; register a new organisation and deregister this one")]
        )
    reject_unknown(changes, UPDATABLE)
    before = audit.snapshot(organisation)
    # One use case, one version step: no intermediate flush while the changes are applied.
    with session.no_autoflush:
        check = Checker()
        if "name" in changes:
            organisation.name = (
                check.text("name", changes["name"], maximum=NAME_MAX, required=True) or organisation.name
            )
        if "alternateName" in changes:
            organisation.alternate_name = check.text("alternateName", changes["alternateName"], maximum=NAME_MAX)
        if "description" in changes:
            organisation.description = check.text(
                "description", changes["description"], maximum=DESCRIPTION_MAX, multiline=True
            )
        if "countryCode" in changes:
            organisation.country_code = check.country_code("countryCode", changes["countryCode"])
        if "organisationNumber" in changes:
            number = _organisation_number(check, changes["organisationNumber"], required=organisation.type == "o")
            organisation.organisation_number = number
        if "apOperator" in changes:
            operator = _ap_operator(session, check, changes["apOperator"])
            organisation.ap_operator_id = operator.id if operator else None
        if "parent" in changes:
            if organisation.type != "ou":
                check.fail("parent", "only a sub-organisation (ou) has a parent")
            else:
                parent = _parent(session, check, changes["parent"])
                if changes["parent"] is None:
                    check.fail("parent", "a sub-organisation (ou) must belong to an organisation of type o")
                elif parent is not None:
                    organisation.parent_id = parent.id
        check.done()
    after = audit.snapshot(organisation)
    if after == before:
        return organisation
    session.flush()
    audit.record(
        session,
        actor,
        Action.ORGANISATION_UPDATE,
        ENTITY,
        organisation.id,
        organisation_id=organisation.parent_id or organisation.id,
        before=before,
        after=audit.snapshot(organisation),
        # the side a move left: the former parent of a moved ou, the former AP operator of a participant
        also_visible_to=[
            _uuid_or_none(before[key]) for key in ("parent_id", "ap_operator_id") if before[key] != after[key]
        ],
    )
    return organisation


def change_status(
    session: Session,
    actor: Actor,
    organisation_id: uuid.UUID | str,
    transition: Transition | str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Organisation:
    """Move a participant through its lifecycle (approve, reject, suspend, reinstate, deregister)."""
    organisation = get_for_update(session, Organisation, organisation_id, "organisation", expected_version)
    try:
        transition = Transition(transition)
    except ValueError:
        raise ValidationFailed([FieldError("transition", f"unknown transition {transition!r}")]) from None
    if organisation.type != "o":
        raise ValidationFailed([FieldError("type", "only organisations of type o have a federation status")])
    check = Checker()
    reason = check.text(
        "reason", reason, maximum=DESCRIPTION_MAX, required=transition == Transition.REJECT, multiline=True
    )
    check.done()
    target = lifecycle.next_status(present(organisation.federation_status), transition)
    before = audit.snapshot(organisation)
    organisation.federation_status = target.value
    organisation.status_reason = reason
    organisation.status_changed_at = utcnow()
    session.flush()
    # Approval publishes; every other state withdraws whatever was published.
    refresh_participant(session, organisation)
    audit.record(
        session,
        actor,
        _TRANSITION_ACTIONS[transition],
        ENTITY,
        organisation.id,
        organisation_id=organisation.id,
        before=before,
        after=audit.snapshot(organisation),
    )
    return organisation


def delete_sub_organisation(
    session: Session, actor: Actor, organisation_id: uuid.UUID | str, *, expected_version: int | None = None
) -> None:
    """Remove a sub-organisation (``ou``) that no longer holds function addresses.

    Participant organisations (``o``) are never deleted: they are deregistered, which keeps their
    history and withdraws their publication.
    """
    organisation = get_for_update(session, Organisation, organisation_id, "organisation", expected_version)
    if organisation.type != "ou":
        raise InUse("an organisation of type o is deregistered, not deleted")
    if session.scalar(select(exists().where(FunctionAddress.organisation_id == organisation.id))):
        raise InUse("move or delete the sub-organisation's function addresses first")
    before = audit.snapshot(organisation)
    session.delete(organisation)
    session.flush()
    audit.record(
        session,
        actor,
        Action.ORGANISATION_DELETE,
        ENTITY,
        organisation.id,
        organisation_id=organisation.parent_id,
        before=before,
    )


def _uuid_or_none(text: str | None) -> uuid.UUID | None:
    return uuid.UUID(text) if text else None
