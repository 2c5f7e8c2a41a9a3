"""What the public directory shows: approved organisations (and their ``ou``s), active function addresses.

Keyset pagination on the immutable UUID keeps ``links.next`` correct while data changes: a page never
repeats or skips a row that existed throughout the walk.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from app.directory.jsonapi import BadParameter
from app.identifiers import IdentifierError, ParticipantId, fold
from app.registry.lifecycle import FederationStatus
from app.registry.models import Code, CodeSystem, DirectoryEntry, FunctionAddress, Organisation


def visible_organisation_ids() -> Select:
    """Ids of approved participants and, recursively, their sub-organisations."""
    roots = (
        select(Organisation.id)
        .where(Organisation.type == "o", Organisation.federation_status == FederationStatus.APPROVED.value)
        .cte("visible_organisations", recursive=True)
    )
    children = select(Organisation.id).join(roots, Organisation.parent_id == roots.c.id)
    visible = roots.union_all(children)
    return select(visible.c.id)


def _page(session: Session, query: Select, key, size: int, after: uuid.UUID | None) -> tuple[list, uuid.UUID | None]:
    if after is not None:
        query = query.where(key > after)
    rows = list(session.scalars(query.order_by(key).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more else None)


def organisations(session: Session, filters: dict[str, str], size: int, after: uuid.UUID | None):
    query = select(Organisation).where(Organisation.id.in_(visible_organisation_ids()))
    if "participantIdentifier" in filters:
        try:
            participant = ParticipantId.parse(filters["participantIdentifier"])
        except IdentifierError:
            return [], None
        query = query.where(
            Organisation.participant_scheme == participant.scheme, Organisation.participant_value == participant.value
        )
    if "organizationNumber" in filters:
        query = query.where(Organisation.organisation_number == filters["organizationNumber"])
    if "type" in filters:
        query = query.where(Organisation.type == filters["type"])
    if "parent" in filters:
        query = query.where(Organisation.parent_id == filter_uuid(filters, "parent"))
    return _page(session, query, Organisation.id, size, after)


def organisation(session: Session, ident: str) -> Organisation | None:
    key = _uuid_or_none(ident)
    if key is None:
        return None
    return session.scalar(
        select(Organisation).where(Organisation.id == key, Organisation.id.in_(visible_organisation_ids()))
    )


def _addresses() -> Select:
    return (
        select(FunctionAddress)
        .where(FunctionAddress.status == "active", FunctionAddress.organisation_id.in_(visible_organisation_ids()))
        .options(selectinload(FunctionAddress.categories).selectinload(Code.code_system))
    )


def addresses(session: Session, filters: dict[str, str], size: int, after: uuid.UUID | None):
    query = _addresses()
    if "organization" in filters:
        query = query.where(FunctionAddress.organisation_id == filter_uuid(filters, "organization"))
    if "identifier" in filters:
        query = query.where(FunctionAddress.identifier_folded == fold(filters["identifier"]))
    if "category" in filters:
        query = query.where(FunctionAddress.categories.any(Code.code == filters["category"]))
    return _page(session, query, FunctionAddress.id, size, after)


def address(session: Session, ident: str) -> FunctionAddress | None:
    key = _uuid_or_none(ident)
    return None if key is None else session.scalar(_addresses().where(FunctionAddress.id == key))


def _code_systems() -> Select:
    return select(CodeSystem).options(selectinload(CodeSystem.codes))


def code_systems(session: Session, filters: dict[str, str], size: int, after: uuid.UUID | None):
    query = _code_systems()
    if "identifier" in filters:
        query = query.where(CodeSystem.identifier == filters["identifier"])
    return _page(session, query, CodeSystem.id, size, after)


def code_system(session: Session, ident: str) -> CodeSystem | None:
    key = _uuid_or_none(ident)
    return None if key is None else session.scalar(_code_systems().where(CodeSystem.id == key))


def organisations_by_id(session: Session, ids: set[uuid.UUID]) -> list[Organisation]:
    if not ids:
        return []
    query = select(Organisation).where(Organisation.id.in_(ids), Organisation.id.in_(visible_organisation_ids()))
    return list(session.scalars(query.order_by(Organisation.id)))


def filter_uuid(filters: dict[str, str], name: str) -> uuid.UUID:
    key = _uuid_or_none(filters[name])
    if key is None:
        raise BadParameter(f"filter[{name}]", "must be the id of a resource (a UUID)")
    return key


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


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
