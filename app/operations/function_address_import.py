"""Bulk import and export of function addresses (CSV or JSON), all or nothing.

Every row is checked with the same rules as a single create (``checked_fields``), plus uniqueness within
the file and against the database; a dry run reports the per-row errors and changes nothing. An apply
with any error changes nothing either. A clean apply inserts every address, its categories and one
audit event per address with bulk statements in one transaction.

CSV columns: ``identifier,name,description,categories,keywords`` (categories are code ids, keywords
words, both separated by ``;``). JSON: an array of objects with the same keys (lists for the last two).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.audit import Action, Actor
from app.database import settings_of
from app.directory import backlog, sync
from app.identifiers import fold
from app.operations.checks import Checker, get_or_not_found
from app.operations.function_addresses import ENTITY, FunctionAddressInput, checked_fields
from app.registry.bulk import insert_rows
from app.registry.columns import utcnow
from app.registry.errors import FieldError, ValidationFailed
from app.registry.models import Code, CodeSystem, FunctionAddress, Organisation, function_address_categories

COLUMNS = ("identifier", "name", "description", "categories", "keywords")
MAX_ROWS = 500_000


@dataclass
class RowError:
    row: int  # 1-based, as a spreadsheet shows it (the header is not counted)
    field: str
    reason: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    dry_run: bool = True
    errors: list[RowError] = field(default_factory=list)


def _split(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [part.strip() for part in str(value).split(";") if part.strip()]


class _ByteSource(io.RawIOBase):
    """Anything with ``read(n)`` as a readable binary stream: a WSGI server's input need not be an ``io`` object
    (gunicorn's has no ``readable()``), so the CSV reader never depends on which server runs it."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_csv_bytes(source: Any) -> Iterator[dict[str, Any]]:
    """Rows of UTF-8 CSV (a BOM is skipped) read from a binary stream as they arrive."""
    text = io.TextIOWrapper(io.BufferedReader(_ByteSource(source)), encoding="utf-8-sig", newline="")
    return read_csv(text)


def read_csv(stream: io.TextIOBase) -> Iterator[dict[str, Any]]:
    """Rows of CSV text; text that is not UTF-8 or not CSV (a field over the size limit, NUL) is a field error."""
    try:
        reader = csv.DictReader(stream)
        fieldnames = reader.fieldnames or []
        missing = [c for c in ("identifier", "name") if c not in fieldnames]
        if missing:
            raise ValidationFailed(
                FieldError("header", f"the CSV needs the columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
            )
        unknown = [c for c in fieldnames if c not in COLUMNS]
        if unknown:
            raise ValidationFailed(
                FieldError("header", f"unknown columns {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
            )
        for row in reader:
            if None in row:  # more cells than the header has columns
                raise ValidationFailed(
                    FieldError(f"line {reader.line_num}", f"has more cells than the header's {len(fieldnames)}")
                )
            yield {key: from_spreadsheet(value) for key, value in row.items()}
    except UnicodeDecodeError:
        raise ValidationFailed(FieldError("body", "is not UTF-8 text")) from None
    except csv.Error as error:
        raise ValidationFailed(FieldError("body", f"is not valid CSV: {error}")) from None


def read_json(data: bytes) -> list[dict[str, Any]]:
    try:
        rows = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # (nesting or numbers beyond what JSON parsing holds)
        raise ValidationFailed(FieldError("body", "is not valid JSON")) from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValidationFailed(FieldError("body", "must be a JSON array of objects"))
    return rows


def import_function_addresses(
    session: Session, actor: Actor, organisation_id: uuid.UUID | str, rows: Iterable[dict[str, Any]], *, dry_run: bool
) -> ImportResult:
    organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
    known_codes = {str(code_id): code_id for code_id in session.scalars(select(Code.id))}
    result = ImportResult(dry_run=dry_run)
    prepared: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=1):
        if number > MAX_ROWS:
            raise ValidationFailed(FieldError("body", f"at most {MAX_ROWS} rows per import"))
        result.rows = number
        unknown = sorted(set(raw) - set(COLUMNS))
        check = Checker()
        for column in unknown:
            check.fail(column, "is not a column of a function address")
        data = FunctionAddressInput(
            identifier=raw.get("identifier") or "",
            name=raw.get("name") or "",
            description=raw.get("description") or None,
            keywords=_split(raw.get("keywords")),
        )
        identifier, name, description, keywords = checked_fields(check, data)
        categories = _split(raw.get("categories"))
        for category in categories:
            if str(category) not in known_codes:
                check.fail("categories", f"no code has the id {category!r}")
        if identifier is not None:
            folded = fold(identifier)
            if folded in seen:
                check.fail("identifier", f"repeats row {seen[folded]}")
            seen.setdefault(folded, number)
        result.errors += [RowError(number, e.field, e.reason) for e in check.errors]
        if check.errors or result.errors:
            continue  # once anything failed nothing is applied: only keep collecting errors
        address_id = uuid.uuid4()
        prepared.append(
            {
                "id": address_id,
                "organisation_id": organisation.id,
                "identifier": identifier,
                "identifier_folded": folded,
                "name": name,
                "description": description,
                "keywords": keywords,
                "status": "active",
            }
        )
        links += [
            {"function_address_id": address_id, "code_id": known_codes[str(c)]} for c in dict.fromkeys(categories)
        ]
    _existing(session, seen, result)
    if result.errors or dry_run:
        return result
    now = utcnow()
    for row in prepared:
        row.update(created_at=now, updated_at=now, version=1)
    insert_rows(session, FunctionAddress.__table__, prepared)
    insert_rows(session, function_address_categories, links)
    if len(prepared) > settings_of(session).directory_inline_import_rows:
        backlog.queue(session, [row["id"] for row in prepared], now)  # the worker writes the entries
    else:
        sync.add_new_addresses(session, _directory_rows(session, prepared, links))
    owner = organisation.parent_id or organisation.id
    # What the audit records of each row, already as JSON holds it (a hundred thousand rows: no conversions).
    stamp, owner_text = now.isoformat(), str(organisation.id)
    entries = [
        (
            row["id"],
            {
                **row,
                "id": str(row["id"]),
                "organisation_id": owner_text,
                "created_at": stamp,
                "updated_at": stamp,
                "categories": [],
            },
        )
        for row in prepared
    ]
    audit.chain.record_many(session, actor, Action.FUNCTION_ADDRESS_CREATE, ENTITY, entries, organisation_id=owner)
    result.created = len(prepared)
    return result


def _existing(session: Session, seen: dict[str, int], result: ImportResult) -> None:
    """Identifiers that exist already (case-insensitively), looked up in chunks."""
    folded = list(seen)
    postgresql = session.get_bind().dialect.name == "postgresql"
    size = 50_000 if postgresql else 5000
    for start in range(0, len(folded), size):
        chunk = folded[start : start + size]
        column = FunctionAddress.identifier_folded
        # PostgreSQL: one array parameter (= ANY), not thousands of bound values to render and plan
        found = column == any_(bindparam("folded", chunk, type_=ARRAY(String))) if postgresql else column.in_(chunk)
        for existing in session.scalars(select(column).where(found)):
            result.errors.append(
                RowError(seen[existing], "identifier", "a function address with this identifier exists")
            )
    result.errors.sort(key=lambda error: error.row)


def _directory_rows(
    session: Session, prepared: list[dict[str, Any]], links: list[dict[str, Any]]
) -> list[sync.AddressRow]:
    """The imported rows as the directory reads them, so it need not read 100,000 rows back."""
    codes = {
        code_id: (system, code, display_name)
        for code_id, system, code, display_name in session.execute(
            select(Code.id, CodeSystem.identifier, Code.code, Code.display_name).join(CodeSystem)
        )
    }
    categories: dict[uuid.UUID, list[tuple[str, str, str]]] = {}
    for link in links:
        categories.setdefault(link["function_address_id"], []).append(codes[link["code_id"]])
    return [
        sync.AddressRow(
            id=row["id"],
            organisation_id=row["organisation_id"],
            identifier=row["identifier"],
            name=row["name"],
            description=row["description"],
            keywords=row["keywords"],
            status=row["status"],
            categories=sorted(categories.get(row["id"], []), key=lambda category: category[1]),
        )
        for row in prepared
    ]


def export_rows(session: Session, organisation_id: uuid.UUID) -> Iterator[dict[str, Any]]:
    query = (
        select(FunctionAddress)
        .where(FunctionAddress.organisation_id == organisation_id)
        .order_by(FunctionAddress.identifier_folded)
        .options(selectinload(FunctionAddress.categories))
        .execution_options(yield_per=2000)
    )
    for address in session.scalars(query):
        yield {
            "identifier": address.identifier,
            "name": address.name,
            "description": address.description or "",
            "categories": [str(code.id) for code in address.categories],
            "keywords": address.keywords or [],
            "status": address.status,
        }


#: A cell a spreadsheet would read as a formula starts with one of these (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str | None) -> str | None:
    """The cell as text a spreadsheet shows and does not evaluate: ``'`` before a formula's first character."""
    return "'" + cell if cell and cell.startswith(_FORMULA_STARTS) else cell


def from_spreadsheet(cell: str | None) -> str | None:
    """:func:`spreadsheet_safe` undone, so an exported file imports as it was."""
    return cell[1:] if cell and cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) else cell


def export_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*COLUMNS, "status"])
    for row in rows:
        cells = [
            row["identifier"],
            row["name"],
            row["description"],
            ";".join(row["categories"]),
            ";".join(row["keywords"]),
            row["status"],
        ]
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_json(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(row, ensure_ascii=False)
    yield "]\n"
