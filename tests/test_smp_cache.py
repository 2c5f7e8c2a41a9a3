"""The read cache: another worker's change shows within the check interval; memory stays in budget."""

from __future__ import annotations

import time
from urllib.parse import quote

from sqlalchemy import select

from app import create_app, demo
from app.audit import Actor
from app.operations import organisations
from app.publishing.cache import CachedDocument, PublicationCache
from app.registry.models import Organisation
from app.trust.devpki import DevelopmentPki
from tests.conftest import make_settings

GROUP = "/smp/" + quote("iso6523-actorid-upis::0203:exempelkommun.se", safe="")


def _document(size: int) -> CachedDocument:
    return CachedDocument(b"x" * size, '"e"', "Mon, 30 Nov 2026 00:00:00 GMT", ())


def test_lru_stays_within_its_budget_and_keeps_recent_documents():
    cache = PublicationCache(lambda: 1, check_interval=60, budget_bytes=10_000)
    for n in range(20):
        cache.put(f"/d{n}", _document(1000), 1)
        cache.get("/d0")  # keep one hot
    assert cache.size_bytes <= 10_000
    assert cache.get("/d0") is not False
    assert cache.get("/d1") is False  # evicted, least recently used
    assert cache.get("/d19") is not False


def test_absences_live_in_their_own_table():
    cache = PublicationCache(lambda: 1, check_interval=60, budget_bytes=10_000, max_absences=5)
    cache.put("/real", _document(100), 1)
    for n in range(100):
        cache.put(f"/junk{n}", None, 1)
    assert cache.get("/real") is not False
    assert cache.get("/junk99") is None
    assert cache.get("/junk0") is False


def test_a_generation_change_clears_the_cache_at_the_next_check():
    generation = [1]
    cache = PublicationCache(lambda: generation[0], check_interval=0.05, budget_bytes=10_000)
    cache.put("/a", _document(10), 1)
    assert cache.get("/a") is not False
    generation[0] = 2
    time.sleep(0.06)
    assert cache.get("/a") is False


def test_a_document_read_in_another_generation_is_not_kept():
    cache = PublicationCache(lambda: 5, check_interval=60, budget_bytes=10_000)
    cache.get("/warm")  # the cache has now seen generation 5
    cache.put("/stale", _document(10), 4)
    cache.put("/ahead", _document(10), 6)
    cache.put("/fresh", _document(10), 5)
    assert (cache.get("/stale"), cache.get("/ahead")) == (False, False)
    assert cache.get("/fresh") is not False


def test_another_workers_change_is_served_within_the_check_interval(db, pki_instance_dir):
    settings = make_settings(pki_instance_dir, db.url, SDK_SMP_MEMORY_CACHE_SECONDS="0.3")
    reader_worker = create_app(settings, database=db).test_client()
    writer_worker_database = type(db)(db.url)  # a separate process would have its own pool
    try:
        from app.wiring import wire

        wire(writer_worker_database, settings)
        with writer_worker_database.writer() as session:
            demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
        time.sleep(0.35)
        assert reader_worker.get(GROUP).status_code == 200
        with writer_worker_database.writer() as session:
            organisation = session.scalar(
                select(Organisation).where(Organisation.participant_value == "0203:exempelkommun.se")
            )
            organisations.change_status(session, Actor("op", "operator"), organisation.id, "suspend")
        deadline = time.monotonic() + 2.0
        while reader_worker.get(GROUP).status_code == 200:
            assert time.monotonic() < deadline, "the suspension never reached the other worker"
            time.sleep(0.05)
        assert time.monotonic() - (deadline - 2.0) <= 0.3 + 0.3  # within one check interval (plus slack)
    finally:
        writer_worker_database.dispose()


def test_the_smp_interface_is_read_only(client):
    response = client.post(GROUP)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_database_outage_is_a_503_not_a_crash(instance_dir, pki_instance_dir):
    from app.database import Database

    database = Database("postgresql+psycopg://postgres@127.0.0.1:1/unreachable")
    app = create_app(make_settings(pki_instance_dir, database.url), database=database)
    response = app.test_client().get(GROUP)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    database.dispose()
