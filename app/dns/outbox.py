"""Keep the stored records of registrations in line with what should be published, in the caller's transaction.

Each difference updates ``dns_records``, appends a ``dns_changes`` row (replace or delete one RRset) and
moves the zone serial — all in the transaction that changed the registration, so DNS can never get ahead
of, or lose track of, the database. Records belong to an owner: a registered participant, or an external
SMP (its ``publisher`` name). Rows are read and written with plain statements (COPY on PostgreSQL for
many new ones), so registering ten thousand participants at once costs a few statements, not ten thousand
ORM objects.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from app.dns.records import Record
from app.registry.bulk import insert_rows, update_singleton
from app.registry.columns import utcnow
from app.registry.models import DnsChange, DnsRecord, DnsState

CHUNK = 1000
_TABLE = cast(Table, DnsRecord.__table__)


@dataclass(frozen=True, order=True)
class Owner:
    """Whose records: a registered participant's (``participant``) or an external SMP's own (``smp``)."""

    kind: Literal["participant", "smp"]
    id: uuid.UUID

    @property
    def column(self) -> str:
        return "participant_id" if self.kind == "participant" else "smp_id"


def advance_serial(session: Session) -> None:
    update_singleton(
        session,
        DnsState,
        {"serial": DnsState.serial + 1, "changed_at": utcnow()},
        lambda: DnsState(id=1, serial=2, changed_at=utcnow(), publish_errors=0),
    )


@dataclass(frozen=True)
class _Stored:
    id: int
    ttl: int
    rdata: str


def _stored(session: Session, owners: Iterable[Owner]) -> dict[Owner, dict[tuple[str, str], _Stored]]:
    by_kind: dict[str, list[uuid.UUID]] = defaultdict(list)
    for owner in owners:
        by_kind[owner.kind].append(owner.id)
    found: dict[Owner, dict[tuple[str, str], _Stored]] = defaultdict(dict)
    for kind, ids in by_kind.items():
        column = DnsRecord.participant_id if kind == "participant" else DnsRecord.smp_id
        for start in range(0, len(ids), CHUNK):
            rows = session.execute(
                select(column, DnsRecord.id, DnsRecord.name, DnsRecord.rtype, DnsRecord.ttl, DnsRecord.rdata).where(
                    column.in_(ids[start : start + CHUNK])
                )
            )
            for owner_id, record_id, name, rtype, ttl, rdata in rows:
                found[Owner(kind, owner_id)][(name, rtype)] = _Stored(record_id, ttl, rdata)  # type: ignore[arg-type]
    return found


def sync_records(session: Session, desired: Mapping[Owner, Sequence[Record]], *, new: bool = False) -> int:
    """Make the stored records of each owner in ``desired`` exactly its records; return the RRsets changed.

    ``new``: the owners were created in this transaction and have no records yet (nothing to read).
    """
    session.flush()  # owners added through the ORM must exist before their records point at them
    stored = {} if new else _stored(session, desired)
    removed: list[int] = []
    changed: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    now = utcnow()
    for owner, records in desired.items():
        wanted = {(r.name, r.rtype): r for r in records}
        current = stored.get(owner, {})
        for key, row in current.items():
            if key not in wanted:
                removed.append(row.id)
                outbox.append(_change("delete", key, row.ttl, None, now))
        for key, record in wanted.items():
            found = current.get(key)
            if found is not None and (found.ttl, found.rdata) == (record.ttl, record.rdata):
                continue
            if found is None:
                added.append(
                    {"participant_id": None, "smp_id": None, owner.column: owner.id}
                    | {"name": record.name, "rtype": record.rtype, "ttl": record.ttl, "rdata": record.rdata}
                )
            else:
                changed.append({"record_id": found.id, "ttl": record.ttl, "rdata": record.rdata})
            outbox.append(_change("upsert", key, record.ttl, [record.rdata], now))
    if not outbox:
        return 0
    # Take the serial's row lock before any outbox row gets its id: concurrent writers then allocate ids in
    # commit order, so readers of the outbox in id order never skip a change committed late.
    advance_serial(session)
    for start in range(0, len(removed), CHUNK):
        session.execute(delete(_TABLE).where(_TABLE.c.id.in_(removed[start : start + CHUNK])))
    if changed:
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("record_id"))
            .values(ttl=bindparam("ttl"), rdata=bindparam("rdata")),
            changed,
        )
    insert_rows(session, DnsRecord.__table__, added)
    insert_rows(session, DnsChange.__table__, outbox)
    return len(outbox)


def _change(operation: str, key: tuple[str, str], ttl: int, rdata: list[str] | None, now: Any) -> dict[str, Any]:
    name, rtype = key
    return {
        "operation": operation,
        "name": name,
        "rtype": rtype,
        "ttl": ttl,
        "rdata": rdata,
        "created_at": now,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
        "applied_at": None,
    }
