"""Input rules shared by the use cases: lengths, forbidden characters, references that must exist.

Field names are the public (camelCase) names clients send, so errors point at what they wrote.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from app.identifiers import IdentifierError
from app.registry.errors import FieldError, NotFound, ValidationFailed, VersionMismatch

T = TypeVar("T")

# The SDK address book API rejects '<' and '>' in text; control characters have no place in names either.
_FORBIDDEN_IN_TEXT = re.compile(r"[<>\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORBIDDEN_IN_LINE = re.compile(r"[<>\x00-\x1f\x7f]")
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")


class Checker:
    """Collects every field error of one input, so the client sees them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str, reason: str) -> None:
        self.errors.append(FieldError(field, reason))

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    def text(
        self, field: str, value: Any, *, maximum: int, required: bool = False, multiline: bool = False
    ) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str):
            self.fail(field, "must be text")
            return None
        value = value.strip()
        if len(value) > maximum:
            self.fail(field, f"must be at most {maximum} characters (got {len(value)})")
            return None
        pattern = _FORBIDDEN_IN_TEXT if multiline else _FORBIDDEN_IN_LINE
        if pattern.search(value):
            self.fail(field, "must not contain '<', '>' or control characters")
            return None
        return value

    def country_code(self, field: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _COUNTRY_CODE.fullmatch(value.strip().upper()):
            self.fail(field, "must be an ISO 3166 alpha-2 country code such as SE")
            return None
        return value.strip().upper()

    def identifier(self, field: str, value: Any, parse: Callable[[str], T], *, required: bool = True) -> T | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str):
            self.fail(field, "must be text")
            return None
        try:
            return parse(value)
        except IdentifierError as error:
            self.fail(field, str(error))
            return None

    def keywords(self, field: str, values: Any, *, maximum_count: int = 50, maximum: int = 64) -> list[str]:
        if values is None:
            return []
        if not isinstance(values, list | tuple):
            self.fail(field, "must be a list of words")
            return []
        if len(values) > maximum_count:
            self.fail(field, f"must hold at most {maximum_count} keywords")
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
                self.fail(field, "is required")
            return None
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value))
        except ValueError:
            self.fail(field, "must be a UUID")
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
