"""Use cases of the SML's participant registry: an SMP registers and removes its participants, lists them,
and asks whether one is registered (ManageParticipantIdentifier, BDMSL's extras).

Lists are all or nothing: one bad, duplicate, foreign or unknown participant refuses the whole list, and
the message names it. Messages of the refusals SMPs act on are BDMSL's own wording (DomiSMP, for one,
treats "already exist" on create and "doesn't exist" on delete as done).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.audit.chain import record_many
from app.auth import rules
from app.database import settings_of
from app.identifiers import IdentifierError, ParticipantId, WrittenParticipant, validate_naptr_service
from app.registry.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.registry.models import SMP_SERVICE, SmlParticipant, Smp
from app.sml import registrations

ENTITY = "sml_participant"


def already_exists(requested: WrittenParticipant) -> str:
    """BDMSL's words, on which DomiSMP counts a repeated create as done: only for the SMP's own participant."""
    return f"[ERR-106] The participant identifier '{requested.value}' with scheme: '{requested.scheme}' already exist"


def held_by_another(requested: WrittenParticipant) -> str:
    return (
        f"[ERR-106] The participant identifier '{requested.value}' with scheme: '{requested.scheme}' is registered "
        "by another SMP: it moves only by migration (PrepareToMigrate by that SMP, then Migrate)"
    )


NOT_IN_LIST = "[ERR-110] At least one of the participants doesn't exist in the list"


def parse_all(
    session: Session, requested: Sequence[WrittenParticipant], *, field: str = "ParticipantIdentifier"
) -> list[ParticipantId]:
    """Each identifier in canonical form; every bad one named (``field[i]``), duplicates refused."""
    policy = settings_of(session).identifier_policy
    errors: list[FieldError] = []
    parsed: list[ParticipantId] = []
    seen: dict[ParticipantId, int] = {}
    for index, item in enumerate(requested):
        name = f"{field}[{index}]" if len(requested) > 1 else field
        if not item.scheme or not item.scheme.strip():
            errors.append(FieldError(name, "the scheme attribute is required (iso6523-actorid-upis)"))
            continue
        try:
            participant = ParticipantId.of(item.scheme, item.value, policy)
        except IdentifierError as error:
            errors.append(FieldError(name, str(error)))
            continue
        if participant in seen:
            errors.append(FieldError(name, f"{participant} is in the list twice (also at {seen[participant]})"))
            continue
        seen[participant] = index
        parsed.append(participant)
    if errors:
        raise ValidationFailed(errors)
    return parsed


def create(
    session: Session, actor: Actor, smp: Smp, requested: Sequence[WrittenParticipant], *, service: str = SMP_SERVICE
) -> list[ParticipantId]:
    """Register ``requested`` for ``smp``: its NAPTR (and CNAME) records enter the zone with this transaction."""
    rules.require_sml_write(actor, smp.id, f"SMP '{smp.smp_id}'")
    try:
        service = validate_naptr_service(service)
    except IdentifierError as error:
        raise ValidationFailed(FieldError("serviceName", str(error))) from None
    participants = parse_all(session, requested)
    if not participants:
        raise ValidationFailed(FieldError("ParticipantIdentifier", "name at least one participant"))
    taken = registrations.owners_of(session, participants)
    if taken:
        clashes = [(item, taken[p]) for item, p in zip(requested, participants, strict=True) if p in taken]
        foreign = [item for item, owner in clashes if owner != smp.id]
        more = f" (and {len(clashes) - 1} more of the list)" if len(clashes) > 1 else ""
        message = held_by_another(foreign[0]) if foreign else already_exists(clashes[0][0])
        raise Conflict(message + more, field="ParticipantIdentifier")
    ids = registrations.register(session, smp, participants, service)
    entries = [
        (str(row_id), {"participant": str(participant), "smp": smp.smp_id, "service": service})
        for row_id, participant in zip(ids, participants, strict=True)
    ]
    if len(entries) == 1:
        audit.record(session, actor, Action.SML_PARTICIPANT_CREATE, ENTITY, entries[0][0], after=entries[0][1])
    else:
        record_many(session, actor, Action.SML_PARTICIPANT_CREATE, ENTITY, entries)
    return participants


def delete(session: Session, actor: Actor, smp: Smp, requested: Sequence[WrittenParticipant]) -> int:
    """Remove ``requested`` (each registered by ``smp``) and their records; how many."""
    rules.require_sml_write(actor, smp.id, f"SMP '{smp.smp_id}'")
    participants = parse_all(session, requested)
    if not participants:
        raise ValidationFailed(FieldError("ParticipantIdentifier", "name at least one participant"))
    rows = {row.participant_id: row for row in registrations.rows_of(session, participants)}
    missing = [str(participant) for participant in participants if participant not in rows]
    if missing:
        raise NotFound(f"{NOT_IN_LIST}: {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
    foreign = [str(p) for p in participants if rows[p].smp_id != smp.id]
    if foreign:
        raise rules.Forbidden(f"participant {foreign[0]} is registered by another SMP, not by '{smp.smp_id}'")
    removed = [rows[participant] for participant in participants]
    entries = [(str(row.id), {"participant": str(row.participant_id), "smp": smp.smp_id}) for row in removed]
    registrations.unregister(session, removed)
    if len(entries) == 1:
        audit.record(session, actor, Action.SML_PARTICIPANT_DELETE, ENTITY, entries[0][0], before=entries[0][1])
    else:
        record_many(session, actor, Action.SML_PARTICIPANT_DELETE, ENTITY, entries, removed=True)
    return len(removed)


def exists(session: Session, smp: Smp, requested: WrittenParticipant) -> bool:
    """Whether ``smp`` has registered this participant (BDMSL's ExistsParticipantIdentifier)."""
    [participant] = parse_all(session, [requested])
    row = registrations.find(session, participant)
    return row is not None and row.smp_id == smp.id


def page(session: Session, smp: Smp, *, after: ParticipantId | None = None, size: int = 100) -> list[ParticipantId]:
    """The participants of ``smp`` in identifier order, ``size`` at a time, from after ``after``."""
    query = select(SmlParticipant.scheme, SmlParticipant.value).where(SmlParticipant.smp_id == smp.id)
    if after is not None:
        query = query.where(tuple_(SmlParticipant.scheme, SmlParticipant.value) > tuple_(after.scheme, after.value))
    rows = session.execute(query.order_by(SmlParticipant.scheme, SmlParticipant.value).limit(size))
    return [ParticipantId(scheme, value) for scheme, value in rows]
