"""Use cases for function addresses: create, update, deactivate and reactivate.

A function address is visible in the directory as soon as it is created (and its organisation is
approved); it is never published in SMP or DNS, because routing goes to its organisation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.identifiers import fold, validate_function_address_identifier
from app.operations.checks import Checker, get_for_update, get_or_not_found, reject_unknown
from app.registry.columns import utcnow
from app.registry.errors import Conflict, present
from app.registry.models import DESCRIPTION_MAX, NAME_MAX, Code, FunctionAddress, Organisation

ENTITY = "function_address"
UPDATABLE = ("name", "description", "categories", "keywords", "identifier", "organisation")


@dataclass(frozen=True)
class FunctionAddressInput:
    identifier: str
    name: str
    description: str | None = None
    categories: Sequence[uuid.UUID | str] = field(default_factory=tuple)
    keywords: Sequence[str] = field(default_factory=tuple)


def checked_fields(check: Checker, data: FunctionAddressInput) -> tuple[str | None, str | None, str | None, list[str]]:
    """The rules of a function address's own fields (identifier, name, description, keywords)."""
    identifier = check.identifier("identifier", data.identifier, validate_function_address_identifier)
    name = check.text("name", data.name, maximum=NAME_MAX, required=True)
    description = check.text("description", data.description, maximum=DESCRIPTION_MAX, multiline=True)
    keywords = check.keywords("keywords", data.keywords)
    return identifier, name, description, keywords


def find_by_identifier(session: Session, identifier: str) -> FunctionAddress | None:
    return session.scalar(select(FunctionAddress).where(FunctionAddress.identifier_folded == fold(identifier)))


def _categories(session: Session, check: Checker, values: Any) -> list[Code]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        check.fail("categories", "must be a list of code ids")
        return []
    codes: list[Code] = []
    for index, value in enumerate(values):
        code_id = check.uuid(f"categories[{index}]", value, required=True)
        if code_id is None:
            continue
        code = session.get(Code, code_id)
        if code is None:
            check.fail(f"categories[{index}]", "no such code")
        elif code not in codes:
            codes.append(code)
    return codes


def _unique_identifier(session: Session, identifier: str, *, current: FunctionAddress | None = None) -> None:
    existing = find_by_identifier(session, identifier)
    if existing is not None and existing is not current:
        raise Conflict(f"function address {existing.identifier} already exists", field="identifier")


def create_function_address(
    session: Session, actor: Actor, organisation_id: uuid.UUID | str, data: FunctionAddressInput
) -> FunctionAddress:
    organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
    check = Checker()
    identifier, name, description, keywords = checked_fields(check, data)
    categories = _categories(session, check, data.categories)
    check.done()
    identifier = present(identifier)
    _unique_identifier(session, identifier)
    address = FunctionAddress(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        identifier=identifier,
        identifier_folded=fold(identifier),
        name=name,
        description=description,
        keywords=keywords,
        status="active",
        categories=categories,
    )
    session.add(address)
    session.flush()
    audit.record(
        session,
        actor,
        Action.FUNCTION_ADDRESS_CREATE,
        ENTITY,
        address.id,
        organisation_id=_owner(organisation),
        after=_snapshot(address),
    )
    return address


def _owner(organisation: Organisation) -> uuid.UUID:
    """Audit events of a sub-organisation's addresses belong to its participant organisation."""
    return organisation.parent_id or organisation.id


def _snapshot(address: FunctionAddress) -> dict[str, Any]:
    values = audit.snapshot(address)
    values["categories"] = sorted(str(code.id) for code in address.categories)
    return values


def update_function_address(
    session: Session,
    actor: Actor,
    address_id: uuid.UUID | str,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> FunctionAddress:
    address = get_for_update(session, FunctionAddress, address_id, "function address", expected_version)
    reject_unknown(changes, UPDATABLE)
    before = _snapshot(address)
    # One use case, one version step: no intermediate flush while the changes are applied.
    with session.no_autoflush:
        check = Checker()
        if "identifier" in changes:
            identifier = check.identifier("identifier", changes["identifier"], validate_function_address_identifier)
            if identifier is not None:
                _unique_identifier(session, identifier, current=address)
                address.identifier = identifier
                address.identifier_folded = fold(identifier)
        if "name" in changes:
            address.name = check.text("name", changes["name"], maximum=NAME_MAX, required=True) or address.name
        if "description" in changes:
            address.description = check.text(
                "description", changes["description"], maximum=DESCRIPTION_MAX, multiline=True
            )
        if "keywords" in changes:
            address.keywords = check.keywords("keywords", changes["keywords"])
        if "categories" in changes:
            address.categories = _categories(session, check, changes["categories"])
        if "organisation" in changes:
            target_id = check.uuid("organisation", changes["organisation"], required=True)
            target = session.get(Organisation, target_id) if target_id else None
            if target_id and target is None:
                check.fail("organisation", "no such organisation")
            elif target is not None and _owner(target) != _owner(address.organisation):
                check.fail("organisation", "a function address can move only within its own participant organisation")
            elif target is not None:
                address.organisation_id = target.id
        check.done()
    if _snapshot(address) == before:
        return address
    # A change of categories alone touches only the association table; stamping the row makes the
    # version (and so the ETag) move too.
    address.updated_at = utcnow()
    session.flush()
    after = _snapshot(address)
    if after != before:
        audit.record(
            session,
            actor,
            Action.FUNCTION_ADDRESS_UPDATE,
            ENTITY,
            address.id,
            organisation_id=_owner(address.organisation),
            before=before,
            after=after,
        )
    return address


def set_active(
    session: Session,
    actor: Actor,
    address_id: uuid.UUID | str,
    active: bool,
    *,
    expected_version: int | None = None,
) -> FunctionAddress:
    """Deactivate (hidden from the directory, kept for history) or reactivate a function address."""
    address = get_for_update(session, FunctionAddress, address_id, "function address", expected_version)
    wanted = "active" if active else "inactive"
    if address.status == wanted:
        return address
    before = _snapshot(address)
    address.status = wanted
    session.flush()
    action = Action.FUNCTION_ADDRESS_REACTIVATE if active else Action.FUNCTION_ADDRESS_DEACTIVATE
    audit.record(
        session,
        actor,
        action,
        ENTITY,
        address.id,
        organisation_id=_owner(address.organisation),
        before=before,
        after=_snapshot(address),
    )
    return address
