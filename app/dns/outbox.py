"""Keep a participant's stored records in line with what should be published, in the caller's transaction.

Each difference updates ``dns_records``, appends a ``dns_changes`` row (replace or delete one RRset) and
moves the zone serial — all in the transaction that changed the participant, so DNS can never get
ahead of, or lose track of, the database.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import settings_of
from app.dns.records import Record, participant_records
from app.registry.bulk import update_singleton
from app.registry.columns import utcnow
from app.registry.errors import present
from app.registry.models import DnsChange, DnsRecord, DnsState, Organisation


def advance_serial(session: Session) -> None:
    update_singleton(
        session,
        DnsState,
        {"serial": DnsState.serial + 1, "changed_at": utcnow()},
        lambda: DnsState(id=1, serial=2, changed_at=utcnow(), publish_errors=0),
    )


def sync_participant(session: Session, organisation: Organisation, *, published: bool) -> int:
    """Make the organisation's records match ``published``; return how many RRsets changed."""
    return sync_participants(session, [(organisation, published)])


def sync_participants(session: Session, participants: Sequence[tuple[Organisation, bool]]) -> int:
    """:func:`sync_participant` of many, reading their records a thousand at a time; RRsets changed."""
    settings = settings_of(session)
    current: dict[uuid.UUID, dict[tuple[str, str], DnsRecord]] = defaultdict(dict)
    ids = [organisation.id for organisation, _published in participants]
    for start in range(0, len(ids), 1000):
        for row in session.scalars(select(DnsRecord).where(DnsRecord.organisation_id.in_(ids[start : start + 1000]))):
            current[row.organisation_id][(row.name, row.rtype)] = row
    changes = 0
    serial_moved = False
    for organisation, published in participants:
        desired: dict[tuple[str, str], Record] = {}
        if published:
            participant = present(organisation.participant_id)
            desired = {(r.name, r.rtype): r for r in participant_records(participant, settings)}
        stored = current[organisation.id]
        removed = [row for key, row in stored.items() if key not in desired]
        written = [
            record
            for key, record in desired.items()
            if key not in stored or (stored[key].ttl, stored[key].rdata) != (record.ttl, record.rdata)
        ]
        if not removed and not written:
            continue
        if not serial_moved:
            # Take the serial's row lock before any outbox row gets its id: concurrent writers then allocate
            # ids in commit order, so readers of the outbox in id order never skip a change committed late.
            advance_serial(session)
            serial_moved = True
        for row in removed:
            session.delete(row)
            session.add(DnsChange(operation="delete", name=row.name, rtype=row.rtype, ttl=row.ttl, rdata=None))
        for record in written:
            existing = stored.get((record.name, record.rtype))
            if existing is None:
                session.add(
                    DnsRecord(
                        organisation_id=organisation.id,
                        name=record.name,
                        rtype=record.rtype,
                        ttl=record.ttl,
                        rdata=record.rdata,
                    )
                )
            else:
                existing.ttl, existing.rdata = record.ttl, record.rdata
            session.add(
                DnsChange(
                    operation="upsert", name=record.name, rtype=record.rtype, ttl=record.ttl, rdata=[record.rdata]
                )
            )
        changes += len(removed) + len(written)
    if changes:
        session.flush()
    return changes
