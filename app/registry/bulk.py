"""Insert many rows at once: COPY on PostgreSQL, executemany on SQLite (bulk imports, audit batches).

Values must already be what the column stores (aware UTC datetimes, UUIDs, JSON-ready data): COPY
bypasses SQLAlchemy's type processing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, FromClause, Table, insert
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
    from psycopg import sql
    from psycopg.types.json import Jsonb

    columns = list(rows[0])
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSON)}
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    raw = session.connection().connection.driver_connection
    if raw is None:
        raise RuntimeError("no database connection to COPY through")
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in json_columns and row[c] is not None else row[c] for c in columns])
