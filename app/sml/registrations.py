"""Registrations in the SML: which SMP each participant belongs to, and the DNS records that follow from it.

Every participant in the zone is a registration (``sml_participants``) of one SMP. This service's own
SMP is one of them (the ``local`` row): its registrations are the published organisations, kept in step
by :func:`sync_local` whenever a participant is re-published. External SMPs register theirs over SOAP.
A participant is registered by one SMP at a time; a published organisation whose participant another SMP
holds stays with that SMP until it is migrated (PrepareToMigrate/Migrate), as in BDMSL.

With ``SDK_SML_URL`` this service's SMP lives under an external SML: its registrations are still kept
here (what it wants registered), but instead of records in this zone each change goes to the SML client's
outbox (:mod:`app.sml.client`).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import cast
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.database import settings_of
from app.dns.outbox import Owner, sync_records
from app.dns.records import Record, Target, local_target, participant_records, publisher_records, smp_target
from app.identifiers import ParticipantId, fold
from app.registry.bulk import insert_rows
from app.registry.columns import utcnow
from app.registry.errors import Conflict
from app.registry.models import SMP_SERVICE, Organisation, SmlClientChange, SmlParticipant, Smp
from app.settings import Settings

CHUNK = 1000


def local_smp(session: Session, settings: Settings | None = None) -> Smp:
    """This service's own SMP, made (or brought in line with the settings) on first use."""
    settings = settings or settings_of(session)
    smp = session.scalar(select(Smp).where(Smp.local.is_(True)))
    address, physical = local_target(settings).address, physical_address(settings)
    if smp is None:
        smp = Smp(
            id=uuid.uuid4(),
            smp_id=settings.sml_smp_id,
            smp_id_folded=fold(settings.sml_smp_id),
            local=True,
            logical_address=address,
            physical_address=physical,
        )
        try:
            with session.begin_nested():
                session.add(smp)
        except IntegrityError:
            made = session.scalar(select(Smp).where(Smp.local.is_(True)))  # by a writer at the same moment
            if made is not None:
                return made
            raise Conflict(
                f"SDK_SML_SMP_ID {settings.sml_smp_id!r} is the id of an external SMP registered here: choose another"
            ) from None
        return smp
    if (smp.smp_id, smp.logical_address, smp.physical_address) != (settings.sml_smp_id, address, physical):
        if smp.smp_id_folded != fold(settings.sml_smp_id) and session.scalar(
            select(Smp.id).where(Smp.smp_id_folded == fold(settings.sml_smp_id))
        ):
            raise Conflict(
                f"SDK_SML_SMP_ID {settings.sml_smp_id!r} is the id of an external SMP registered here: choose another"
            )
        smp.smp_id, smp.smp_id_folded = settings.sml_smp_id, fold(settings.sml_smp_id)
        smp.logical_address, smp.physical_address = address, physical
        session.flush()
    return smp


def physical_address(settings: Settings) -> str:
    """The address this service publishes as its SMP's physical address (its public host when that is an IP)."""
    for host in (urlsplit(settings.public_url).hostname, settings.http_listen.host):
        try:
            return str(ipaddress.ip_address(host or ""))
        except ValueError:
            continue
    return "0.0.0.0"  # noqa: S104  (an address to show, not one to bind)


def target_of(smp: Smp, settings: Settings) -> Target | None:
    """Where the records of ``smp``'s participants point; ``None``: none in this zone (an external SML has them)."""
    if smp.local:
        return None if settings.sml_url else local_target(settings)
    return smp_target(smp.smp_id, smp.logical_address, settings)


def records_of(participant: ParticipantId, service: str, smp: Smp, settings: Settings) -> list[Record]:
    target = target_of(smp, settings)
    return [] if target is None else participant_records(participant, settings, target, service)


def find(session: Session, participant: ParticipantId, *, for_update: bool = False) -> SmlParticipant | None:
    query = select(SmlParticipant).where(
        SmlParticipant.scheme == participant.scheme, SmlParticipant.value == participant.value
    )
    return session.scalar(query.with_for_update() if for_update else query)


def owners_of(session: Session, participants: Iterable[ParticipantId]) -> dict[ParticipantId, uuid.UUID]:
    """The SMP (its row id) each of ``participants`` is registered by, for those registered at all."""
    by_scheme: dict[str, list[str]] = defaultdict(list)
    for participant in participants:
        by_scheme[participant.scheme].append(participant.value)
    found = {}
    for scheme, values in by_scheme.items():
        for start in range(0, len(values), CHUNK):
            rows = session.execute(
                select(SmlParticipant.value, SmlParticipant.smp_id).where(
                    SmlParticipant.scheme == scheme, SmlParticipant.value.in_(values[start : start + CHUNK])
                )
            )
            found.update({ParticipantId(scheme, value): smp_id for value, smp_id in rows})
    return found


def rows_of(session: Session, participants: Sequence[ParticipantId]) -> list[SmlParticipant]:
    """The registrations of those of ``participants`` that are registered."""
    by_scheme: dict[str, list[str]] = defaultdict(list)
    for participant in participants:
        by_scheme[participant.scheme].append(participant.value)
    rows: list[SmlParticipant] = []
    for scheme, values in by_scheme.items():
        for start in range(0, len(values), CHUNK):
            rows.extend(
                session.scalars(
                    select(SmlParticipant).where(
                        SmlParticipant.scheme == scheme, SmlParticipant.value.in_(values[start : start + CHUNK])
                    )
                )
            )
    return rows


def register(
    session: Session, smp: Smp, participants: Sequence[ParticipantId], service: str = SMP_SERVICE
) -> list[uuid.UUID]:
    """Register ``participants`` (none of them registered yet: the caller checked) for ``smp``; their ids."""
    if not participants:
        return []
    settings = settings_of(session)
    now = utcnow()
    ids = [uuid.uuid4() for _ in participants]
    session.flush()
    insert_rows(
        session,
        SmlParticipant.__table__,
        [
            {
                "id": row_id,
                "smp_id": smp.id,
                "scheme": participant.scheme,
                "value": participant.value,
                "service": service,
                "created_at": now,
                "updated_at": now,
            }
            for row_id, participant in zip(ids, participants, strict=True)
        ],
    )
    desired = {
        Owner("participant", row_id): records_of(participant, service, smp, settings)
        for row_id, participant in zip(ids, participants, strict=True)
    }
    sync_records(session, desired, new=True)
    _tell_external_sml(session, smp, settings, "create", participants)
    return ids


def unregister(session: Session, rows: Sequence[SmlParticipant]) -> int:
    """Remove these registrations and their records; how many."""
    if not rows:
        return 0
    settings = settings_of(session)
    sync_records(session, {Owner("participant", row.id): [] for row in rows})
    local = [row for row in rows if row.smp.local]
    ids = [row.id for row in rows]
    for row in rows:
        session.expunge(row)
    table = cast(Table, SmlParticipant.__table__)
    for start in range(0, len(ids), CHUNK):
        session.execute(delete(table).where(table.c.id.in_(ids[start : start + CHUNK])))
    if local:
        _tell_external_sml(session, local[0].smp, settings, "delete", [row.participant_id for row in local])
    return len(ids)


def move(session: Session, row: SmlParticipant, smp: Smp) -> None:
    """Hand a registration to another SMP: its records now lead there, in this transaction."""
    settings = settings_of(session)
    before = row.smp
    row.smp_id, row.smp = smp.id, smp
    row.updated_at = utcnow()
    session.flush()
    sync_records(session, {Owner("participant", row.id): records_of(row.participant_id, row.service, smp, settings)})
    if before.local:
        _tell_external_sml(session, before, settings, "delete", [row.participant_id])
    if smp.local:
        _tell_external_sml(session, smp, settings, "create", [row.participant_id])


def refresh_smp(session: Session, smp: Smp) -> int:
    """Records of every participant of ``smp`` (and its own) again, after its address or the settings changed."""
    settings = settings_of(session)
    changed = 0
    if not smp.local:
        changed += sync_records(
            session, {Owner("smp", smp.id): publisher_records(smp.smp_id, smp.logical_address, settings)}
        )
    last: tuple[str, str] = ("", "")
    while True:
        rows = session.execute(
            select(SmlParticipant.id, SmlParticipant.scheme, SmlParticipant.value, SmlParticipant.service)
            .where(SmlParticipant.smp_id == smp.id, tuple_(SmlParticipant.scheme, SmlParticipant.value) > tuple_(*last))
            .order_by(SmlParticipant.scheme, SmlParticipant.value)
            .limit(CHUNK)
        ).all()
        if not rows:
            return changed
        changed += sync_records(
            session,
            {
                Owner("participant", row_id): records_of(ParticipantId(scheme, value), service, smp, settings)
                for row_id, scheme, value, service in rows
            },
        )
        last = (rows[-1][1], rows[-1][2])


def remove_smp(session: Session, smp: Smp) -> int:
    """Every registration of an external SMP, its records and the SMP itself; how many participants went."""
    removed = 0
    while True:
        rows = list(session.scalars(select(SmlParticipant).where(SmlParticipant.smp_id == smp.id).limit(CHUNK)))
        if not rows:
            break
        removed += unregister(session, rows)
    sync_records(session, {Owner("smp", smp.id): []})
    session.delete(smp)
    session.flush()
    return removed


def sync_local(session: Session, participants: Sequence[tuple[Organisation, bool]]) -> int:
    """Keep the local SMP's registrations in line with which organisations are published; RRsets changed.

    A published organisation is registered (or its records refreshed, for settings that changed); one no
    longer published is unregistered. A participant another SMP holds is left with it.
    """
    wanted = [(o.participant_id, published) for o, published in participants if o.participant_id is not None]
    if not wanted:
        return 0
    settings = settings_of(session)
    smp = local_smp(session, settings)
    existing = {row.participant_id: row for row in rows_of(session, [participant for participant, _ in wanted])}
    create: list[ParticipantId] = []
    remove: list[SmlParticipant] = []
    keep: list[SmlParticipant] = []
    for participant, published in wanted:
        row = existing.get(participant)
        if published and row is None:
            create.append(participant)
        elif published and row is not None and row.smp_id == smp.id:
            keep.append(row)
        elif not published and row is not None and row.smp_id == smp.id:
            remove.append(row)
    changed = sync_records(
        session,
        {Owner("participant", row.id): records_of(row.participant_id, row.service, smp, settings) for row in keep},
    )
    register(session, smp, create)
    unregister(session, remove)
    return changed + len(create) + len(remove)


def _tell_external_sml(
    session: Session, smp: Smp, settings: Settings, operation: str, participants: Sequence[ParticipantId]
) -> None:
    """With ``SDK_SML_URL``: queue the local SMP's registration changes for the external SML."""
    if not (smp.local and settings.sml_url and participants):
        return
    now = utcnow()
    insert_rows(
        session,
        SmlClientChange.__table__,
        [
            {
                "operation": operation,
                "scheme": participant.scheme,
                "value": participant.value,
                "created_at": now,
                "attempts": 0,
                "last_error": None,
                "next_attempt_at": None,
                "applied_at": None,
            }
            for participant in participants
        ],
    )


def queue_all_local(session: Session) -> int:
    """Queue every registration of the local SMP for the external SML again (creating is idempotent there)."""
    settings = settings_of(session)
    smp = local_smp(session, settings)
    rows = session.execute(
        select(SmlParticipant.scheme, SmlParticipant.value).where(SmlParticipant.smp_id == smp.id)
    ).all()
    _tell_external_sml(session, smp, settings, "create", [ParticipantId(scheme, value) for scheme, value in rows])
    return len(rows) if settings.sml_url else 0
