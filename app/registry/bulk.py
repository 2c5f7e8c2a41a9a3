"""Writes that bypass per-object ORM work: many rows inserted at once (COPY on PostgreSQL, executemany
on SQLite: bulk imports, audit batches), and the one-row state tables moved in place.

Values must already be what the column stores (aware UTC datetimes, UUIDs, JSON-ready data): COPY
bypasses SQLAlchemy's type processing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, FromClause, Table, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: FromClause, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` (a model's ``__table__``)."""
    if not isinstance(table, Table):
        raise TypeError(f"{table!r} is not a table")
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        for start in range(0, len(rows), 5000):
            session.execute(insert(table), rows[start : start + 5000])
        return
    import psycopg
    from psycopg import sql

    columns = list(rows[0])
    types = copy_types(table, columns, session.get_bind().dialect)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    raw = session.connection().connection.driver_connection
    if raw is None:
        raise RuntimeError("no database connection to COPY through")
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)  # binary COPY: about twice the speed of text COPY in psycopg
            for row in rows:
                copy.write_row([row[c] for c in columns])
    except psycopg.errors.IntegrityError as error:  # as the ORM and SQLite report it: one kind of error to catch
        raise IntegrityError(f"COPY {table.name}", None, error) from error


#: PostgreSQL's names of the column types binary COPY writes (what ``set_types`` needs), by SQL type name.
_BINARY_TYPES = {
    "UUID": "uuid",
    "TEXT": "text",
    "VARCHAR": "varchar",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "JSON": "json",
    "BYTEA": "bytea",
}


def copy_types(table: Table, columns: list[str], dialect: Dialect) -> list[str]:
    """The PostgreSQL type of each column, as binary COPY needs them; a type not in :data:`_BINARY_TYPES` is
    a programming error (a test checks every column of every model)."""
    found = []
    for name in columns:
        compiled = table.columns[name].type.compile(dialect=dialect).split("(")[0]
        if compiled not in _BINARY_TYPES:
            raise TypeError(f"{table.name}.{name}: no binary COPY type for {compiled}; add it to _BINARY_TYPES")
        found.append(_BINARY_TYPES[compiled])
    return found


def update_singleton(session: Session, model: Any, values: dict[str, Any], first: Callable[[], object]) -> None:
    """Update the one row (``id`` 1) of a state table such as the zone serial or the publication generation,
    or add ``first()`` when there is none yet. ``synchronize_session=False``: the ORM would otherwise scan
    every object of the session once per call, which makes writing thousands of participants quadratic."""
    result = session.execute(
        update(model).where(model.id == 1).values(**values).execution_options(synchronize_session=False)
    )
    if not cast(CursorResult[Any], result).rowcount:  # an UPDATE answers with a CursorResult[Any]
        session.add(first())
