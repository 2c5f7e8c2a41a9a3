"""JSON:API documents, query parameters and error objects (https://jsonapi.org/format/1.1/)."""

from __future__ import annotations

import base64
import binascii
import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.registry import text_rules

MEDIA_TYPE = "application/vnd.api+json"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_DIGITS = re.compile(r"[0-9]{1,9}")
#: What a cursor is made of (base64url without padding); whether it is one this service gave out is
#: a domain rule.
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,64}")


#: An RFC 3339 date-time, in groups: the form ``filter[updatedSince]`` takes (and the document declares).
DATE_TIME = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def list_pattern(names: frozenset[str] | set[str]) -> str:
    """A comma-separated list of ``names`` (empty items allowed), as the query parser reads it."""
    word = "(?:" + "|".join(sorted(names)) + ")"
    return f"^,*(?:{word}(?:,+{word})*)?,*$"


class BadParameter(Exception):
    """A query parameter the directory refuses (400). ``declared``: the OpenAPI document states the rule;
    otherwise it is one the document cannot state (combinations, cursors), marked ``code: domain-rule``."""

    def __init__(self, parameter: str, detail: str, *, declared: bool = True) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail
        self.declared = declared


@dataclass(frozen=True)
class Query:
    """The parameters one collection or resource request understands, parsed and checked."""

    filters: dict[str, str] = field(default_factory=dict)
    include: frozenset[str] = frozenset()
    fields: dict[str, frozenset[str]] = field(default_factory=dict)
    page_size: int = DEFAULT_PAGE_SIZE
    #: The raw ``page[after]`` cursor; each kind of listing reads its own shape from it.
    after: bytes | None = None
    #: Free text to search for (``q`` or ``filter[q]``), when allowed.
    text: str | None = None


def parse_query(
    args: Mapping[str, str],
    *,
    filters: frozenset[str] = frozenset(),
    includes: frozenset[str] = frozenset(),
    types: Mapping[str, frozenset[str]],
    collection: bool,
    searchable: bool = False,
) -> Query:
    parsed_filters: dict[str, str] = {}
    include: frozenset[str] = frozenset()
    fields: dict[str, frozenset[str]] = {}
    page_size, after, text = DEFAULT_PAGE_SIZE, None, None
    for name in args:
        value = args[name]
        if text_rules.has_markup(value):
            raise BadParameter(name, "must not contain < or >")
        if name in ("q", "filter[q]") and collection and searchable:
            if not value.strip():
                raise BadParameter(name, "must not be empty")
            text = value
        elif name.startswith("filter[") and name.endswith("]") and collection:
            key = name[7:-1]
            if key not in filters:
                raise BadParameter(name, f"unknown filter; known: {', '.join(sorted(filters)) or 'none'}")
            if not value.strip() or len(value) > 256:
                raise BadParameter(name, "must be 1 to 256 characters")
            parsed_filters[key] = value.strip()
        elif name == "include":
            include = frozenset(part for part in value.split(",") if part)
            unknown = include - includes
            if unknown:
                raise BadParameter(
                    name,
                    f"cannot include {', '.join(sorted(unknown))}; can: {', '.join(sorted(includes)) or 'nothing'}",
                )
        elif name.startswith("fields[") and name.endswith("]"):
            kind = name[7:-1]
            if kind not in types:
                raise BadParameter(name, f"unknown resource type {kind!r}")
            wanted = frozenset(part for part in value.split(",") if part)
            unknown = wanted - types[kind]
            if unknown:
                raise BadParameter(name, f"unknown fields {', '.join(sorted(unknown))}")
            fields[kind] = wanted
        elif name == "page[size]" and collection:
            if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_PAGE_SIZE:
                raise BadParameter(name, f"must be a whole number from 1 to {MAX_PAGE_SIZE}")
            page_size = int(value)
        elif name == "page[after]" and collection:
            after = decode_cursor(value)
        else:
            raise BadParameter(name, "unknown query parameter")
    return Query(parsed_filters, include, fields, page_size, after, text)


def encode_cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(value: str) -> bytes:
    if not CURSOR.fullmatch(value):
        raise BadParameter("page[after]", CURSOR_HELP)
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadParameter("page[after]", CURSOR_HELP, declared=False) from None


CURSOR_HELP = "not a cursor this service gave out for this request (use links.next as it is)"


def keyset_cursor(key: uuid.UUID) -> str:
    return encode_cursor(key.bytes)


def keyset_after(raw: bytes | None) -> uuid.UUID | None:
    if raw is None:
        return None
    if len(raw) != 16:
        raise BadParameter("page[after]", CURSOR_HELP, declared=False)
    return uuid.UUID(bytes=raw)


def change_cursor(seq: int, key: uuid.UUID) -> str:
    return encode_cursor(struct.pack(">q", seq) + key.bytes)


def change_after(raw: bytes | None) -> tuple[int, uuid.UUID] | None:
    if raw is None:
        return None
    if len(raw) != 24:
        raise BadParameter("page[after]", CURSOR_HELP, declared=False)
    return struct.unpack(">q", raw[:8])[0], uuid.UUID(bytes=raw[8:])


def offset_cursor(offset: int) -> str:
    return encode_cursor(struct.pack(">I", offset))


def offset_after(raw: bytes | None) -> int:
    if raw is None:
        return 0
    if len(raw) != 4:
        raise BadParameter("page[after]", CURSOR_HELP)
    return int(struct.unpack(">I", raw)[0])


def resource(
    kind: str, ident: uuid.UUID, attributes: dict[str, Any], relationships: dict[str, Any], query: Query
) -> dict[str, Any]:
    """One resource object, with the sparse fieldset applied."""
    wanted = query.fields.get(kind)
    body: dict[str, Any] = {"type": kind, "id": str(ident)}
    selected = {k: v for k, v in attributes.items() if wanted is None or k in wanted}
    if selected:
        body["attributes"] = selected
    related = {k: v for k, v in relationships.items() if wanted is None or k in wanted}
    if related:
        body["relationships"] = related
    return body


#: ``code`` of an error whose rule the OpenAPI document cannot state (a combination, a stale cursor).
DOMAIN_RULE = "domain-rule"
