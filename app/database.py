"""The database: one engine per process, with sessions for reading and for writing.

:class:`Database` holds the engine and its session factories. Writers go
through :meth:`Database.writer`, one transaction per use case. On SQLite a writer starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of failing when a read
snapshot cannot be upgraded (WAL mode); readers start with a plain ``BEGIN`` and never block.

A wired database (:mod:`app.wiring`) gives each write session its :class:`Wiring`: the settings it acts
under and the publisher (:func:`settings_of`, :func:`publisher_of`, the only lookups of collaborators
in ``session.info``). Nothing here imports Flask or anything above the registry; the faces reach the
database through :mod:`app.extensions`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from app.publishing.cache import PublicationCache
    from app.publishing.publisher import Publisher
    from app.settings import Settings

_WRITE_OPTION = "sdk_write_transaction"
_WIRING = "sdk.wiring"


@dataclass(frozen=True)
class Wiring:
    """What a write session carries: the settings it acts under and the publisher that signs."""

    settings: Settings
    publisher: Publisher


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
        #: What every write session carries (:func:`wire`); ``None`` until wired.
        self.wiring: Wiring | None = None
        #: This process' cache of SMP answers, emptied after a write that changed a publication.
        self.publication_cache: PublicationCache | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def writer(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        info = {_WIRING: self.wiring} if self.wiring is not None else {}
        with self._write_sessions(info=info) as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading; closing it ends (rolls back) its transaction and keeps loaded objects usable."""
        with self._sessions() as session:
            yield session

    def dispose(self) -> None:
        if self.publication_cache is not None:
            self.publication_cache.close()
        self.engine.dispose()


def _wiring(session: Session) -> Wiring:
    wiring: Wiring | None = session.info.get(_WIRING)
    if wiring is None:
        raise RuntimeError("this session is not wired: open it with Database.writer() of open_database(settings)")
    return wiring


def settings_of(session: Session) -> Settings:
    """The settings a write session acts under."""
    return _wiring(session).settings


def publisher_of(session: Session) -> Publisher:
    """The publisher of a write session (signs SMP documents, fills the DNS outbox)."""
    return _wiring(session).publisher


def _install_sqlite_hooks(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
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
    def on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
