"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: ``SDK_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` as
the maintenance database); each test session creates its own database and drops it at the end.
A component that is missing skips its tests with a reason, or fails them when ``SDK_TEST_REQUIRE=all``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, schema
from app.database import Database
from app.registry.models import Base
from app.settings import Settings, load_settings

pytest_plugins = ["tests.api_support"]

POSTGRES_MAINTENANCE_URL = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs"


def require(component: str, available: bool, reason: str) -> None:
    """Skip (or fail under SDK_TEST_REQUIRE=all or when the component is listed there) if missing."""
    if available:
        return
    required = {part.strip() for part in os.environ.get("SDK_TEST_REQUIRE", "").split(",")}
    if "all" in required or component in required:
        pytest.fail(f"{component} is required (SDK_TEST_REQUIRE) but unavailable: {reason}")
    pytest.skip(f"{component} unavailable: {reason}")


REDIS_URL = os.environ.get("SDK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    """The URL of the machine's Redis (shared state of replicas); skips or fails when it does not answer."""
    import redis

    try:
        reachable, reason = bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()), ""
    except redis.RedisError as error:
        reachable, reason = False, f"{REDIS_URL}: {error}"
    require("redis", reachable, reason)
    return REDIS_URL


def require_program(name: str) -> str:
    path = shutil.which(name)
    require(name, path is not None, f"'{name}' not on PATH")
    return path  # type: ignore[return-value]


def _postgres_reachable() -> tuple[bool, str]:
    try:
        engine = create_engine(POSTGRES_MAINTENANCE_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True, ""
    except Exception as error:
        return False, f"{POSTGRES_MAINTENANCE_URL}: {type(error).__name__}"


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped afterwards; skips or fails when there is no server."""
    reachable, reason = _postgres_reachable()
    require("postgresql", reachable, reason)
    name = f"sdk_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_MAINTENANCE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_MAINTENANCE_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"
    return request.getfixturevalue("postgres_database_url")


@pytest.fixture(scope="session")
def migrated_database(database_url) -> Iterator[Database]:
    database = Database(database_url)
    schema.upgrade(database)
    yield database
    database.dispose()


#: SQLite's full-text tables of the directory (migration 0006), outside the ORM metadata.
SQLITE_SEARCH_TABLES = ("directory_fts", "directory_term_trigrams")


def _empty_all_tables(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    if database.dialect == "postgresql":
        with database.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        return
    # SQLite checks ON DELETE RESTRICT row by row, which a self-referencing table cannot satisfy in one
    # DELETE; the pragma only takes effect outside a transaction, hence the raw (autocommit) connection.
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        for table in [*tables, *SQLITE_SEARCH_TABLES]:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608  (names come from our own metadata)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
    finally:
        raw.close()


@pytest.fixture(scope="session")
def pki_instance_dir(tmp_path_factory) -> Path:
    """An instance folder with a development PKI, made once per test session (RSA keys are slow)."""
    from app import demo
    from app.trust.devpki import ensure_development_pki

    path = tmp_path_factory.mktemp("instance-with-pki")
    ensure_development_pki(path / "pki", access_points=[demo.AP_ID], participants=demo.participants_of_demo())
    return path


@pytest.fixture
def db(migrated_database, pki_instance_dir) -> Iterator[Database]:
    """The migrated database of the current backend, emptied after each test.

    Wired as the service wires its database (:func:`app.database.wire`): a write publishes, signing with
    the session's development PKI, and the directory follows.
    """
    from app.wiring import wire

    yield wire(migrated_database, make_settings(pki_instance_dir, migrated_database.url))
    _empty_all_tables(migrated_database)


@pytest.fixture
def instance_dir(tmp_path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


def make_settings(instance_dir: Path, database_url: str, **environ: str) -> Settings:
    base = {"SDK_INSTANCE_DIR": str(instance_dir), "SDK_DATABASE_URL": database_url, "SDK_ENV_FILE": "/nonexistent"}
    return load_settings({**base, **environ}, cwd=instance_dir.parent)


@pytest.fixture
def settings(pki_instance_dir, db) -> Settings:
    return make_settings(pki_instance_dir, db.url)


@pytest.fixture
def app(settings, db):
    application = create_app(settings, database=db)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()
