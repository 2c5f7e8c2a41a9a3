"""Use cases for code systems (kodverk) and their codes."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.operations.checks import Checker, get_or_not_found
from app.registry.errors import Conflict
from app.registry.models import DESCRIPTION_MAX, NAME_MAX, Code, CodeSystem

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-/]{0,254}")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")


def create_code_system(
    session: Session,
    actor: Actor,
    *,
    identifier: str,
    name: str,
    description: str | None = None,
    version: str | None = None,
) -> CodeSystem:
    check = Checker()
    identifier = check.text("identifier", identifier, maximum=255, required=True)
    if identifier is not None and not _IDENTIFIER.fullmatch(identifier):
        check.fail("identifier", "must be a URN or OID-like identifier (letters, digits, . _ : - /)")
    name = check.text("name", name, maximum=NAME_MAX, required=True)
    description = check.text("description", description, maximum=DESCRIPTION_MAX, multiline=True)
    version = check.text("version", version, maximum=64)
    check.done()
    if session.scalar(select(CodeSystem).where(CodeSystem.identifier == identifier)):
        raise Conflict(f"code system {identifier} exists", field="identifier")
    system = CodeSystem(
        id=uuid.uuid4(), identifier=identifier, name=name, description=description, code_system_version=version
    )
    session.add(system)
    session.flush()
    audit.record(session, actor, Action.CODE_SYSTEM_CREATE, "code_system", system.id, after=audit.snapshot(system))
    return system


def add_code(
    session: Session,
    actor: Actor,
    code_system_id: uuid.UUID | str,
    *,
    code: str,
    display_name: str,
    description: str | None = None,
) -> Code:
    system = get_or_not_found(session, CodeSystem, code_system_id, "code system")
    check = Checker()
    code = check.text("code", code, maximum=128, required=True)
    if code is not None and not _CODE.fullmatch(code):
        check.fail("code", "may hold letters, digits, '.', '_' and '-'")
    display_name = check.text("displayName", display_name, maximum=NAME_MAX, required=True)
    description = check.text("description", description, maximum=DESCRIPTION_MAX, multiline=True)
    check.done()
    if session.scalar(select(Code).where(Code.code_system_id == system.id, Code.code == code)):
        raise Conflict(f"code {code} exists in {system.identifier}", field="code")
    entry = Code(
        id=uuid.uuid4(), code_system_id=system.id, code=code, display_name=display_name, description=description
    )
    session.add(entry)
    session.flush()
    audit.record(session, actor, Action.CODE_CREATE, "code", entry.id, after=audit.snapshot(entry))
    return entry
