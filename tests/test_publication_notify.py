"""Cache coherence on PostgreSQL: a change committed by another process expires the SMP read cache at once
(LISTEN/NOTIFY), long before the generation poll would; the poll stays the fallback."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import schema
from app.database import Database
from app.publishing.cache import CachedDocument
from app.publishing.publisher import _advance_generation
from app.publishing.reader import publication_cache
from app.registry.models import PublicationState
from tests.conftest import fresh_postgres_database, make_settings

DOCUMENT = CachedDocument(b"<ServiceGroup/>", '"e"', "Sun, 06 Dec 2026 07:00:00 GMT", ())


def _change(engine) -> None:
    """What a writer in another process commits: the generation moves, the notification goes out."""
    with Session(engine) as session, session.begin():
        _advance_generation(session)


def _generation(engine) -> int | None:
    with engine.connect() as connection:
        return connection.execute(select(PublicationState.generation)).scalar()


def test_a_change_committed_elsewhere_expires_the_cache_at_once(tmp_path):
    with fresh_postgres_database() as url:
        reader, writer = Database(url), Database(url)
        try:
            schema.upgrade(reader)
            _change(writer.engine)
            settings = make_settings(tmp_path, url, SDK_SMP_MEMORY_CACHE_SECONDS="3600")  # polling: hourly
            cache = publication_cache(settings, reader.engine)
            reader.publication_cache = cache
            assert cache.get("k") is False  # the first read starts this process's listener
            assert cache._listener.listening.wait(10)
            cache.put("k", DOCUMENT, _generation(reader.engine))
            assert cache.get("k") == DOCUMENT
            _change(writer.engine)
            started = time.monotonic()
            while cache.get("k") is not False:
                assert time.monotonic() - started < 1.0, "the cache still serves the old document"
                time.sleep(0.01)
            # unchanged since: kept again, and served from memory
            cache.put("k", DOCUMENT, _generation(reader.engine))
            assert cache.get("k") == DOCUMENT
        finally:
            reader.dispose()
            writer.dispose()


def test_sqlite_has_no_listener_and_polls(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    schema.upgrade(database)
    cache = publication_cache(make_settings(tmp_path, database.url), database.engine)
    assert cache.get("k") is False
    assert cache._listener is None
    database.dispose()
