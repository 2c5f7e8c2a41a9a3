"""Reading the directory: every request reads the stored entries (``directory_entries``), never the registry.

What is visible is decided once, when the entries are written (:func:`app.directory.sync.shown`);
reading is then one indexed query on one table. Filters that need a
registry column (an identifier, an organisation number) select the matching ids from the registry's
own indexes.

Keyset pagination on the immutable UUID keeps ``links.next`` correct while data changes: a page never
repeats or skips a row that existed throughout the walk.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from app.directory.jsonapi import BadParameter
from app.identifiers import IdentifierError, ParticipantId, fold
from app.registry.models import Code, CodeSystem, DirectoryEntry, FunctionAddress, Organisation
from app.registry.models import function_address_categories as categorised

NOTHING = DirectoryEntry.id.is_(None)


def shown(kind: str) -> Select[Any]:
    """The entries of ``kind`` the directory shows now."""
    return select(DirectoryEntry).where(DirectoryEntry.kind == kind, DirectoryEntry.removed.is_(False))


def in_category(code: str) -> ColumnElement[bool]:
    """Entries of function addresses that carry the category ``code``."""
    return DirectoryEntry.id.in_(
        select(categorised.c.function_address_id).join(Code, Code.id == categorised.c.code_id).where(Code.code == code)
    )


def page(
    session: Session, kind: str, filters: dict[str, str], size: int, after: uuid.UUID | None
) -> tuple[list[DirectoryEntry], uuid.UUID | None]:
    query = shown(kind).where(*conditions(kind, filters))
    if after is not None:
        query = query.where(DirectoryEntry.id > after)
    rows = list(session.scalars(query.order_by(DirectoryEntry.id).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more else None)


def conditions(kind: str, filters: dict[str, str]) -> list[Any]:
    """The WHERE conditions of JSON:API ``filter[...]`` values (already checked against the allowed names)."""
    conditions = []
    for name, value in filters.items():
        if name in ("parent", "organization"):
            conditions.append(DirectoryEntry.parent_id == filter_uuid(filters, name))
        elif name in ("type", "organizationType"):
            conditions.append(DirectoryEntry.organisation_type == value)
        elif name == "category":
            conditions.append(in_category(value))
        elif name == "participantIdentifier":
            conditions.append(_participant(value))
        elif name == "organizationNumber":
            conditions.append(
                DirectoryEntry.id.in_(select(Organisation.id).where(Organisation.organisation_number == value))
            )
        elif name == "identifier" and kind == "addresses":
            folded = select(FunctionAddress.id).where(FunctionAddress.identifier_folded == fold(value))
            conditions.append(DirectoryEntry.id.in_(folded))
        elif name == "identifier" and kind == "codesystems":
            conditions.append(DirectoryEntry.id.in_(select(CodeSystem.id).where(CodeSystem.identifier == value)))
    return conditions


def _participant(value: str) -> ColumnElement[bool]:
    try:
        participant = ParticipantId.parse(value)
    except IdentifierError:
        return NOTHING
    return DirectoryEntry.id.in_(
        select(Organisation.id).where(
            Organisation.participant_scheme == participant.scheme, Organisation.participant_value == participant.value
        )
    )


def one(session: Session, kind: str, ident: str) -> DirectoryEntry | None:
    key = _uuid_or_none(ident)
    return None if key is None else session.scalar(shown(kind).where(DirectoryEntry.id == key))


def organisations_by_id(session: Session, ids: set[uuid.UUID]) -> list[DirectoryEntry]:
    if not ids:
        return []
    query = shown("organizations").where(DirectoryEntry.id.in_(ids))
    return list(session.scalars(query.order_by(DirectoryEntry.id)))


def changes(
    session: Session, kind: str, since: datetime, size: int, after: tuple[int, uuid.UUID] | None
) -> tuple[list[DirectoryEntry], bool]:
    """Entries of ``kind`` changed at or after ``since`` (tombstones too), in change order."""
    query = select(DirectoryEntry).where(DirectoryEntry.kind == kind, DirectoryEntry.changed_at >= since)
    if after is not None:
        seq, key = after
        query = query.where(or_(DirectoryEntry.seq > seq, and_(DirectoryEntry.seq == seq, DirectoryEntry.id > key)))
    rows = list(session.scalars(query.order_by(DirectoryEntry.seq, DirectoryEntry.id).limit(size + 1)))
    return rows[:size], len(rows) > size


_CANONICAL_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def filter_uuid(filters: dict[str, str], name: str) -> uuid.UUID:
    """A filter naming a resource: the canonical 8-4-4-4-12 form only (what ``format: uuid`` means)."""
    value = filters[name]
    key = _uuid_or_none(value) if _CANONICAL_UUID.fullmatch(value) else None
    if key is None:
        raise BadParameter(f"filter[{name}]", "must be the id of a resource (a UUID)")
    return key


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
