"""The database connection: one engine per service, sessions for reading and for writing.

Writers go through :meth:`Database.writer`, one transaction per use case. On SQLite a writer starts
with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of failing when
a read snapshot cannot be upgraded (WAL mode); readers start with a plain ``BEGIN`` and never block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

_WRITE_OPTION = "sdk_write_transaction"
SETTINGS_KEY = "sdk.settings"


def settings_for(session: Session):
    """The settings a write session was opened with (``Database.session_info``)."""
    settings = session.info.get(SETTINGS_KEY)
    if settings is None:
        raise RuntimeError("this session carries no settings: open it with Database.writer() of a configured app")
    return settings


class Database:
    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            _install_sqlite_hooks(self.engine, in_memory=url in ("sqlite://", "sqlite:///:memory:"))
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        #: Collaborators every write session carries in ``session.info`` (the publisher, the DNS outbox).
        self.session_info: dict[str, Any] = {}
        self._after_commit: list[Callable[[Session], None]] = []
        event.listen(self._write_sessions, "after_commit", self._run_after_commit)
        from app.directory import sync

        sync.install(self._write_sessions)

    def on_commit(self, callback: Callable[[Session], None]) -> None:
        """Call ``callback(session)`` after each committed write transaction of this process."""
        self._after_commit.append(callback)

    def _run_after_commit(self, session: Session) -> None:
        for callback in self._after_commit:
            callback(session)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def writer(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._write_sessions(info=dict(self.session_info)) as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading; closing it ends (rolls back) its transaction and keeps loaded objects usable."""
        with self._sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def init_app(self, app: Flask) -> None:
        app.extensions["sdk.database"] = self


def current_database() -> Database:
    return current_app.extensions["sdk.database"]


def _install_sqlite_hooks(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN handling is deferred-only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
