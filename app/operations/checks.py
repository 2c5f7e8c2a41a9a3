"""Input rules shared by the use cases: lengths, forbidden characters, references that must exist.

Field names are the public (camelCase) names clients send, so errors point at what they wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar, overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.identifiers import IdentifierError
from app.registry import text_rules
from app.registry.errors import FieldError, NotFound, ValidationFailed, VersionMismatch

T = TypeVar("T")

#: A function address holds at most this many keywords, each at most this long.
KEYWORDS_MAX = 50
KEYWORD_MAX = 64


class Checker:
    """Collects every field error of one input, so the client sees them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str, reason: str) -> None:
        """A domain rule is broken (the OpenAPI document cannot state it)."""
        self.errors.append(FieldError(field, reason))

    def fail_declared(self, field: str, reason: str) -> None:
        """A rule the OpenAPI document declares is broken."""
        self.errors.append(FieldError(field, reason, declared=True))

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    @overload
    def text(
        self, field: str, value: Any, *, maximum: int, required: Literal[True], multiline: bool = False
    ) -> str: ...
    @overload
    def text(
        self, field: str, value: Any, *, maximum: int, required: bool = False, multiline: bool = False
    ) -> str | None: ...
    def text(
        self, field: str, value: Any, *, maximum: int, required: bool = False, multiline: bool = False
    ) -> str | None:
        """The text rule of :mod:`app.registry.text_rules`: the stripped value, or ``None`` when absent.

        A required field that breaks a rule gives ``""``: :meth:`done` raises before anyone uses it.
        """
        refused = "" if required else None
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail_declared(field, "is required")
            return refused
        if not isinstance(value, str):
            self.fail_declared(field, "must be text")
            return refused
        if len(value) > maximum:
            self.fail_declared(field, f"must be at most {maximum} characters (got {len(value)})")
            return refused
        text: str = value.strip()
        bad = text_rules.first_forbidden_character(text, multiline=multiline)
        if bad is not None:
            allowed = "" if not multiline else " (tab and line breaks are fine)"
            reason = (
                f"must not contain {text_rules.describe(bad)}: no '<', '>', control, format or invisible characters"
            )
            fail = self.fail_declared if text_rules.declared(bad) else self.fail
            fail(field, reason + allowed)
            return refused
        return text

    def country_code(self, field: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not text_rules.is_country_code(value):
            self.fail_declared(field, "must be an ISO 3166-1 alpha-2 country code in capitals, such as SE")
            return None
        return value

    def identifier(
        self, field: str, value: Any, parse: Callable[[str], T], *, required: bool = True, required_because: str = ""
    ) -> T | None:
        """``parse(value)``; a parse error is a domain rule. ``required_because``: the field is required only
        in some cases (the document cannot state which), e.g. "for an organisation of type o"."""
        if value is None or (isinstance(value, str) and not value.strip()):
            if required and required_because:
                self.fail(field, f"is required {required_because}")
            elif required:
                self.fail_declared(field, "is required")
            return None
        if not isinstance(value, str):
            self.fail_declared(field, "must be text")
            return None
        try:
            return parse(value)
        except IdentifierError as error:
            self.fail(field, str(error))
            return None

    def keywords(
        self, field: str, values: Any, *, maximum_count: int = KEYWORDS_MAX, maximum: int = KEYWORD_MAX
    ) -> list[str]:
        if values is None:
            return []
        if not isinstance(values, list | tuple):
            self.fail_declared(field, "must be a list of words")
            return []
        if len(values) > maximum_count:
            self.fail_declared(field, f"must hold at most {maximum_count} keywords")
            return []
        cleaned: list[str] = []
        for index, value in enumerate(values):
            word = self.text(f"{field}[{index}]", value, maximum=maximum, required=True)
            if word is not None and word.lower() not in (w.lower() for w in cleaned):
                cleaned.append(word)
        return cleaned

    def uuid(self, field: str, value: Any, *, required: bool = False) -> uuid.UUID | None:
        if value is None:
            if required:
                self.fail_declared(field, "is required")
            return None
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value))
        except ValueError:
            self.fail_declared(field, "must be a UUID")
            return None


def get_or_not_found(session: Session, model: type[T], entity_id: Any, label: str) -> T:
    if entity_id is None:
        raise NotFound(f"{label} not found")
    if not isinstance(entity_id, uuid.UUID):
        try:
            entity_id = uuid.UUID(str(entity_id))
        except ValueError:
            raise NotFound(f"{label} {entity_id!r} not found") from None
    entity = session.get(model, entity_id)
    if entity is None:
        raise NotFound(f"{label} {entity_id} not found")
    return entity


def get_for_update(session: Session, model: type[T], entity_id: Any, label: str, expected_version: int | None) -> T:
    """The entity a write changes, locked for the rest of the transaction, at the version ``If-Match`` named.

    The row is read ``FOR UPDATE`` (and afresh, even if the session holds it already), so a concurrent
    writer of it waits until this one commits and then sees what it wrote. Writes to one resource are
    thus serial on PostgreSQL as on SQLite (whose write transactions are serial anyway): ``If-Match: *``
    always applies to the latest version, and a named version that someone has just replaced is a 412
    on both, never a lost update.
    """
    entity = get_or_not_found(session, model, entity_id, label)
    if session.get_bind().dialect.name != "sqlite":
        # Lock first, then read again: a get() "for update" of an object the session already holds
        # would compare versions itself and raise instead of reading the newer one.
        session.execute(select(model.id).where(model.id == entity.id).with_for_update())  # type: ignore[attr-defined]
        session.refresh(entity)
    check_version(entity, expected_version)
    return entity


def check_version(entity: Any, expected_version: int | None) -> None:
    """Optimistic locking at the use-case level: the client's If-Match must name the current version."""
    if expected_version is not None and entity.version != expected_version:
        raise VersionMismatch(
            f"the resource is at version {entity.version}, not {expected_version}; read it again and retry"
        )


def reject_unknown(changes: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValidationFailed([FieldError(name, "cannot be changed here") for name in unknown])
