"""Append audit events to a hash chain and check the chain.

Each event stores ``hash = sha256(canonical JSON of its content + previous event's hash)``. Changing,
inserting or deleting any stored event breaks the chain at that point, which :func:`verify` reports.
Appends are serialised so two writers never link to the same predecessor: SQLite write transactions
already run one at a time (``BEGIN IMMEDIATE``); on PostgreSQL a transaction-scoped advisory lock does it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit.actions import Action
from app.audit.actor import Actor
from app.registry.bulk import insert_rows
from app.registry.columns import utcnow
from app.registry.models import AuditEvent, AuditEventScope

GENESIS = "0" * 64
_ADVISORY_LOCK_KEY = 0x5D_4B_A0_D1  # any constant; names the audit chain among advisory locks
_NEVER_SNAPSHOT = frozenset({"token_hash", "document", "password_hash", "totp_secret"})


def snapshot(entity: Any) -> dict[str, Any]:
    """The entity's column values as JSON-ready data (secrets and blobs left out)."""
    values = {}
    for column in entity.__table__.columns:
        if column.key in _NEVER_SNAPSHOT:
            continue
        values[column.key] = _jsonable(getattr(entity, column.key))
    return values


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values: one set lookup (bulk imports audit 100,000 rows at once)
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


_HASHED = (
    "occurred_at",
    "actor",
    "role",
    "action",
    "entity_type",
    "entity_id",
    "organisation_id",
    "before",
    "after",
    "request_id",
)


def _content_of(values: dict[str, Any]) -> dict[str, Any]:
    """What an event's hash covers (the same for ORM objects and bulk rows). The extra scopes are
    covered only when there are some, so events written before they existed keep their hashes."""
    content = {
        "occurredAt": values["occurred_at"].isoformat(),
        "actor": values["actor"],
        "role": values["role"],
        "action": values["action"],
        "entityType": values["entity_type"],
        "entityId": values["entity_id"],
        "organisationId": str(values["organisation_id"]) if values["organisation_id"] else None,
        "before": values["before"],
        "after": values["after"],
        "requestId": values["request_id"],
    }
    if values.get("also_visible_to"):
        content["alsoVisibleTo"] = sorted(str(scope) for scope in values["also_visible_to"])
    return content


def _content(event: AuditEvent) -> dict[str, Any]:
    return _content_of({key: getattr(event, key) for key in (*_HASHED, "also_visible_to")})


def _extra_scopes(organisation_id: uuid.UUID | None, scopes: Iterable[uuid.UUID | None]) -> list[uuid.UUID]:
    return sorted({scope for scope in scopes if scope is not None and scope != organisation_id}, key=str)


#: The canonical JSON of an event's content (built once: ``json.dumps`` with options makes an encoder per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(previous_hash: str, content: dict[str, Any]) -> str:
    canonical = _CANONICAL.encode(content)
    return hashlib.sha256(f"{previous_hash}\n{canonical}".encode()).hexdigest()


def record(
    session: Session,
    actor: Actor,
    action: Action,
    entity_type: str,
    entity_id: uuid.UUID | str,
    *,
    organisation_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    also_visible_to: Iterable[uuid.UUID | None] = (),
) -> AuditEvent:
    """Append one event in the caller's transaction. ``organisation_id`` is the organisation whose history
    it belongs to; ``also_visible_to`` names the other scopes it concerns (organisations or AP operators:
    the side a move left, the AP operator of an access point), which read it too."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    previous = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
    event = AuditEvent(
        # Microseconds are what both databases keep; hashing the stored precision keeps verify() exact.
        occurred_at=utcnow(),
        actor=actor.name,
        role=actor.role,
        action=str(action),
        entity_type=entity_type,
        entity_id=str(entity_id),
        organisation_id=organisation_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=actor.request_id,
        previous_hash=previous,
        extra_scopes=[AuditEventScope(scope_id=scope) for scope in _extra_scopes(organisation_id, also_visible_to)],
    )
    event.hash = event_hash(previous, _content(event))
    session.add(event)
    session.flush()
    return event


def record_many(
    session: Session,
    actor: Actor,
    action: Action,
    entity_type: str,
    entries: list[tuple[str, dict[str, Any]]],
    *,
    organisation_id: uuid.UUID | None = None,
    removed: bool = False,
) -> int:
    """Append one event per ``(entity id, after)`` in one statement (bulk imports); same chain, same hashes.
    ``removed``: the entries are what was removed (each event's ``before``; ``after`` stays empty)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    session.flush()
    previous = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
    rows = []
    now = utcnow()  # one moment for the whole batch
    for entity_id, after in entries:
        row = {
            "occurred_at": now,
            "actor": actor.name,
            "role": actor.role,
            "action": str(action),
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "organisation_id": organisation_id,
            "before": _jsonable(after) if removed else None,
            "after": None if removed else _jsonable(after),
            "request_id": actor.request_id,
            "previous_hash": previous,
        }
        row["hash"] = previous = event_hash(previous, _content_of(row))
        rows.append(row)
    insert_rows(session, AuditEvent.__table__, rows)
    return len(rows)


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


def verify(session: Session, batch_size: int = 2000, *, after: tuple[int, str] = (0, GENESIS)) -> ChainReport:
    """Walk the chain in order; name the first event whose link or content does not match.

    ``after`` (an event's id and hash, from a checkpoint) walks only the events that follow it.
    """
    last_id, previous = after
    checked = 0
    while True:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch_size)
        ).all()
        if not events:
            return ChainReport(checked)
        for event in events:
            if event.previous_hash != previous:
                return ChainReport(
                    checked, event.id, "it does not link to the event before it (one was removed or inserted)"
                )
            if event_hash(previous, _content(event)) != event.hash:
                return ChainReport(checked, event.id, "its content does not match its hash (it was changed)")
            previous = event.hash
            checked += 1
            last_id = event.id
        session.expunge_all()
