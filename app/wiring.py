"""The one place that wires what a write sets off: what the web app, the worker, the CLI and the tests call.

- publication: each write session carries the settings and the :class:`~app.publishing.publisher.Publisher`
  (:func:`app.database.settings_of`, :func:`app.database.publisher_of`), so a use case re-signs SMP
  documents and writes the DNS outbox in its own transaction;
- the directory: its entries and change feed follow every commit (:mod:`app.directory.sync`);
- the SMP read cache of this process is emptied after a commit that changed a publication.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.database import Database, Wiring
from app.directory import sync
from app.publishing.publisher import Publisher, publications_changed
from app.publishing.reader import publication_cache

if TYPE_CHECKING:
    from app.settings import Settings


def open_database(settings: Settings, *, pool_size: int = 5) -> Database:
    """The service's database with everything a write triggers installed (see the module's docstring)."""
    return wire(Database(settings.database_url, pool_size=pool_size), settings)


def wire(database: Database, settings: Settings, *, publisher: Publisher | None = None) -> Database:
    """Install (or, with other settings, replace) what a write on ``database`` triggers."""
    database.wiring = Wiring(settings, publisher or Publisher(settings))
    cache = database.publication_cache
    if cache is None:
        database.publication_cache = publication_cache(settings, database.engine)
        sync.install(database._write_sessions)
        event.listen(database._write_sessions, "after_commit", lambda session: _committed(database, session))
    else:  # one cache per database, so every app on it (tests run several) sees the same invalidation
        cache.check_interval = settings.smp_memory_cache_seconds
        cache.budget_bytes = settings.smp_memory_cache_mb * 1024 * 1024
    return database


def _committed(database: Database, session: Session) -> None:
    if database.publication_cache is not None and publications_changed(session):
        database.publication_cache.invalidate()
