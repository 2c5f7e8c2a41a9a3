"""Keep the directory's stored entries in step with the registry, inside the writing transaction.

Every write session is watched: a flush that touches an organisation, a function address, a code or a
code system notes what it touched, and just before the commit the affected entries are recomputed from
the registry: :func:`shown` is the visibility rule, :mod:`app.directory.resources` the attributes
(:mod:`app.directory.queries` reads only the entries). An entry whose
content changed gets the transaction's change number; one that left the directory becomes a tombstone.
Taking the change number locks the one ``directory_state`` row, so numbers follow commit order and a
reader of the change feed never sees number *n* before every number below it.

Writers that bypass the ORM (bulk COPY imports) hand their rows to :func:`add_new_addresses`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from app.directory import resources, search, text
from app.registry.bulk import insert_rows
from app.registry.columns import utcnow
from app.registry.lifecycle import FederationStatus
from app.registry.models import (
    Code,
    CodeSystem,
    DirectoryEntry,
    DirectoryState,
    FunctionAddress,
    Organisation,
    function_address_categories,
)

CHANGES_KEY = "sdk.directory_changes"
CHUNK = 5000


@dataclass(frozen=True)
class AddressRow:
    """A function address as plain values (ORM objects cost too much for 100,000 of them)."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    identifier: str
    name: str
    description: str | None
    keywords: list[str]
    status: str
    #: (code system identifier, code, display name), ordered by code.
    categories: list[tuple[str, str, str]]


@dataclass
class Changes:
    organisations: set[uuid.UUID] = field(default_factory=set)
    addresses: set[uuid.UUID] = field(default_factory=set)
    code_systems: set[uuid.UUID] = field(default_factory=set)
    deleted: set[uuid.UUID] = field(default_factory=set)
    #: New function addresses a bulk writer hands over as they are (no entry yet, nothing to read back).
    new_addresses: dict[uuid.UUID, AddressRow] = field(default_factory=dict)
    everything: bool = False


@dataclass
class SyncResult:
    changed: int = 0
    removed: int = 0
    seq: int | None = None


@dataclass(frozen=True)
class Wanted:
    """An entry as the registry says it should be now."""

    kind: str
    parent_id: uuid.UUID | None
    organisation_type: str | None
    attributes: dict[str, Any]
    names: str
    terms: str
    descriptions: str
    #: The pieces ``terms`` is made of: their words are cached one piece at a time for the vocabulary.
    pieces: tuple[str, ...] = ()

    def vocabulary(self) -> set[str]:
        return text.vocabulary(self.names, self.descriptions, *(self.pieces or (self.terms,)))

    def differs_from(self, entry: Any) -> bool:
        """``entry``: the stored row (its columns)."""
        return (
            entry.removed
            or entry.kind != self.kind
            or entry.parent_id != self.parent_id
            or entry.organisation_type != self.organisation_type
            or entry.attributes != self.attributes
            or (entry.names, entry.terms, entry.descriptions) != (self.names, self.terms, self.descriptions)
        )


def install(write_sessions: sessionmaker[Session]) -> None:
    event.listen(write_sessions, "after_flush", _note_flushed)
    event.listen(write_sessions, "before_commit", _sync_before_commit)


def add_new_addresses(session: Session, addresses: Iterable[AddressRow]) -> None:
    """Show these just-inserted function addresses at commit (for bulk writes that bypass the ORM)."""
    _changes(session).new_addresses.update((address.id, address) for address in addresses)


def _changes(session: Session) -> Changes:
    changes: Changes = session.info.setdefault(CHANGES_KEY, Changes())
    return changes


def _note_flushed(session: Session, _context: Any) -> None:
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Organisation):
            _changes(session).organisations.add(obj.id)
        elif isinstance(obj, FunctionAddress):
            _changes(session).addresses.add(obj.id)
        elif isinstance(obj, Code):
            _changes(session).code_systems.add(obj.code_system_id)
        elif isinstance(obj, CodeSystem):
            _changes(session).code_systems.add(obj.id)
        else:
            continue
        if obj in session.deleted:
            _changes(session).deleted.add(obj.id)


def _sync_before_commit(session: Session) -> None:
    if CHANGES_KEY not in session.info:
        return
    session.flush()
    apply(session, session.info.pop(CHANGES_KEY))


def rebuild(session: Session) -> SyncResult:
    """Recompute every entry (after a migration, or to repair); unchanged entries keep their number."""
    return apply(session, Changes(everything=True))


def rebuild_if_new(session: Session) -> SyncResult | None:
    """Build the entries once after the migration that created them (``init``); later, sync keeps them."""
    if session.get(DirectoryState, 1) is not None:
        return None
    result = rebuild(session)
    if result.seq is None:
        session.add(DirectoryState(id=1, seq=0))
    return result


# --- computing what should be there ------------------------------------------------------------------


def _subtree_ids(session: Session, roots: set[uuid.UUID]) -> set[uuid.UUID]:
    if not roots:
        return set()
    found: set[uuid.UUID] = set()
    level = set(roots)
    while level:
        rows = set()
        for part in _chunks(level):
            rows |= set(session.scalars(select(Organisation.id).where(Organisation.id.in_(part))))
            rows |= set(session.scalars(select(Organisation.id).where(Organisation.parent_id.in_(part))))
        level = rows - found
        found |= rows
    return found


def shown(organisation: Organisation) -> bool:
    """The visibility rule: an approved participant organisation and, recursively, its ``ou``s."""
    root = organisation.participant_organisation
    return root.type == "o" and root.federation_status == FederationStatus.APPROVED.value


def _organisation_wanted(organisation: Organisation) -> Wanted:
    ancestors = []
    parent = organisation.parent
    while parent is not None:
        ancestors.append(parent)
        parent = parent.parent
    return Wanted(
        kind="organizations",
        parent_id=organisation.parent_id,
        organisation_type=organisation.type,
        attributes=resources.organisation_attributes(organisation),
        names=organisation.name,
        terms=_join([organisation.alternate_name, *_names_of(ancestors)]),
        descriptions=organisation.description or "",
    )


def _address_wanted(address: AddressRow, owner: Organisation, owner_names: str) -> Wanted:
    categories = [f"{display_name} {code}" for _, code, display_name in address.categories]
    keywords = list(address.keywords or [])
    return Wanted(
        kind="addresses",
        parent_id=address.organisation_id,
        organisation_type=owner.type,
        attributes=resources.address_attributes(address),
        names=address.name,
        terms=_join([*keywords, *categories, owner_names]),
        descriptions=address.description or "",
        pieces=(*keywords, *categories, owner_names),
    )


def _chain_names(organisation: Organisation) -> str:
    """The names of an organisation and every organisation above it (searched with its addresses)."""
    chain_up = []
    current: Organisation | None = organisation
    while current is not None:
        chain_up.append(current)
        current = current.parent
    return _join(_names_of(chain_up))


def _code_system_wanted(system: CodeSystem) -> Wanted:
    return Wanted(
        kind="codesystems",
        parent_id=None,
        organisation_type=None,
        attributes=resources.code_system_attributes(system),
        names="",
        terms="",
        descriptions="",
    )


def _names_of(organisations: Iterable[Organisation]) -> Iterator[str | None]:
    for organisation in organisations:
        yield organisation.name
        yield organisation.alternate_name


def _join(parts: Iterable[str | None]) -> str:
    return " ".join(part for part in parts if part)


def _wanted(session: Session, changes: Changes) -> tuple[dict[uuid.UUID, Wanted], set[uuid.UUID]]:
    """What each considered resource should look like (absent: not shown), and every id considered."""
    wanted: dict[uuid.UUID, Wanted] = {}
    considered: set[uuid.UUID] = set(changes.deleted) | set(changes.code_systems) | set(changes.addresses)
    # Organisations held here stay in the identity map, so owners and ancestors are read without a query each.
    owners: dict[uuid.UUID, Organisation] = {}
    if changes.everything:
        owners = {organisation.id: organisation for organisation in session.scalars(select(Organisation))}
        organisation_ids = set(owners)
    else:
        organisation_ids = _subtree_ids(session, changes.organisations)
        for part in _chunks(organisation_ids):
            owners |= {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(part)))}
    considered |= organisation_ids
    for ident in organisation_ids:
        if shown(owners[ident]):
            wanted[ident] = _organisation_wanted(owners[ident])

    address_ids = set(changes.addresses)
    if changes.code_systems:
        for part in _chunks(changes.code_systems):
            address_ids |= set(
                session.scalars(
                    select(function_address_categories.c.function_address_id)
                    .join(Code, Code.id == function_address_categories.c.code_id)
                    .where(Code.code_system_id.in_(part))
                )
            )
    if changes.everything:
        addresses = _address_rows(session)
    else:
        addresses = []
        for part in _chunks(organisation_ids):
            addresses += _address_rows(session, owners=part)
        for part in _chunks(address_ids - set(changes.new_addresses)):
            addresses += _address_rows(session, ids=part)
        addresses += changes.new_addresses.values()
    owner_names: dict[uuid.UUID, str] = {}
    for address in addresses:
        considered.add(address.id)
        owner = owners.get(address.organisation_id)
        if owner is None:
            owner = owners[address.organisation_id] = session.get_one(Organisation, address.organisation_id)
        if address.status == "active" and shown(owner):
            if owner.id not in owner_names:
                owner_names[owner.id] = _chain_names(owner)
            wanted[address.id] = _address_wanted(address, owner, owner_names[owner.id])
    if changes.everything:
        considered |= set(session.scalars(select(DirectoryEntry.id)))

    systems = select(CodeSystem).options(selectinload(CodeSystem.codes))
    if not changes.everything:
        systems = systems.where(CodeSystem.id.in_(changes.code_systems))
    for system in session.scalars(systems):
        wanted[system.id] = _code_system_wanted(system)
    return wanted, considered


_ADDRESS_COLUMNS = (
    FunctionAddress.id,
    FunctionAddress.organisation_id,
    FunctionAddress.identifier,
    FunctionAddress.name,
    FunctionAddress.description,
    FunctionAddress.keywords,
    FunctionAddress.status,
)


def _address_rows(
    session: Session, *, ids: list[Any] | None = None, owners: list[Any] | None = None
) -> list[AddressRow]:
    """Function addresses with their categories: these ``ids``, or those of these ``owners``, or all."""
    link = function_address_categories.c.function_address_id
    links = (
        select(link, CodeSystem.identifier, Code.code, Code.display_name)
        .join(Code, Code.id == function_address_categories.c.code_id)
        .join(CodeSystem, CodeSystem.id == Code.code_system_id)
        .order_by(Code.code)
    )
    addresses = select(*_ADDRESS_COLUMNS)
    if ids is not None:
        links, addresses = links.where(link.in_(ids)), addresses.where(FunctionAddress.id.in_(ids))
    elif owners is not None:
        owned = FunctionAddress.organisation_id.in_(owners)
        links = links.join(FunctionAddress, FunctionAddress.id == link).where(owned)
        addresses = addresses.where(owned)
    categories: dict[uuid.UUID, list[tuple[str, str, str]]] = {}
    for address_id, system, code, display_name in session.execute(links):
        categories.setdefault(address_id, []).append((system, code, display_name))
    return [AddressRow(*row, categories=categories.get(row.id, [])) for row in session.execute(addresses)]


# --- writing it ---------------------------------------------------------------------------------------


def apply(session: Session, changes: Changes) -> SyncResult:
    wanted, considered = _wanted(session, changes)
    existing: dict[uuid.UUID, Any] = {}
    stored = select(DirectoryEntry.__table__)
    for part in _chunks(considered - set(changes.new_addresses)):
        existing |= {row.id: row for row in session.execute(stored.where(DirectoryEntry.id.in_(part)))}
    # Entries under an organisation whose rows are gone (ou deleted) are considered through parent_id too.
    for part in _chunks(changes.deleted):
        for row in session.execute(stored.where(DirectoryEntry.parent_id.in_(part))):
            existing.setdefault(row.id, row)

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    removals: list[Any] = []
    written: list[uuid.UUID] = []
    for ident, want in wanted.items():
        entry = existing.get(ident)
        if entry is None:
            inserts.append({"id": ident, **_columns(want)})
        elif want.differs_from(entry):
            updates.append({"number": entry.number, **_columns(want)})
        else:
            continue
        written.append(ident)
    for ident, entry in existing.items():
        if ident not in wanted and not entry.removed:
            removals.append(entry)
    result = SyncResult(changed=len(inserts) + len(updates), removed=len(removals))
    if not (inserts or updates or removals):
        return result

    seq = _next_seq(session)
    now = utcnow()
    result.seq = seq
    stamp = {"seq": seq, "changed_at": now, "removed": False}
    insert_rows(session, DirectoryEntry.__table__, [{**row, **stamp} for row in inserts])
    for part in _chunks(updates):
        session.execute(update(DirectoryEntry), [{**row, **stamp} for row in part])
    if removals:
        blank = {"removed": True, "seq": seq, "changed_at": now, "attributes": None}
        blank |= {"names": "", "terms": "", "descriptions": ""}
        for part in _chunks(removals):
            session.execute(update(DirectoryEntry), [{"number": e.number, **blank} for e in part])
    words: set[str] = set()
    for ident in written:
        want = wanted[ident]
        words |= want.vocabulary()
    search.engine_for(session).index(session, written + [e.id for e in removals], words)
    return result


def _columns(want: Wanted) -> dict[str, Any]:
    return {
        "kind": want.kind,
        "parent_id": want.parent_id,
        "organisation_type": want.organisation_type,
        "attributes": want.attributes,
        "names": want.names,
        "terms": want.terms,
        "descriptions": want.descriptions,
    }


def _next_seq(session: Session) -> int:
    seq = session.execute(
        update(DirectoryState)
        .where(DirectoryState.id == 1)
        .values(seq=DirectoryState.seq + 1)
        .returning(DirectoryState.seq)
        .execution_options(synchronize_session=False)  # no scan of every object in the session
    ).scalar()
    if seq is None:
        session.add(DirectoryState(id=1, seq=1))
        session.flush()
        seq = 1
    return seq


def _chunks(items: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    iterator = iter(items)
    while part := list(islice(iterator, size)):
        yield part
