"""Apply and inspect the Alembic migrations of the registry schema."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.database import Database


def _migrations_dir() -> Path:
    """``migrations/`` beside the ``app`` package (source tree), else the installed ``migrations`` package."""
    beside = Path(__file__).resolve().parents[1] / "migrations"
    if (beside / "env.py").is_file():
        return beside
    spec = importlib.util.find_spec("migrations")  # found, not imported: the migrations import the registry
    if spec is None or spec.origin is None:
        raise RuntimeError("no migrations/ beside the app package and no installed migrations package")
    return Path(spec.origin).parent


MIGRATIONS_DIR = _migrations_dir()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_current(database: Database) -> bool:
    return current_revisions(database) == head_revisions()


def pending_migrations(database: Database) -> str | None:
    """``None`` when the database is at the code's revisions, otherwise what is at odds (one line)."""
    current, heads = current_revisions(database), head_revisions()
    if current == heads:
        return None
    return f"database at {', '.join(sorted(current)) or 'nothing'}, code needs {', '.join(sorted(heads))}"


#: The directory's search index differs by database and lives only in migration 0006, not in the models.
SEARCH_INDEX_TABLES = ("directory_fts", "directory_term_trigrams")
SEARCH_INDEX_OBJECTS = (
    "search_vector",
    "names_vector",
    "ix_directory_entries_search_vector",
    "ix_directory_entries_names_vector",
    "ix_directory_terms_trigram",
    # Migration 0008: the GIN indexes per kind.
    *(
        f"ix_directory_entries_{vector}_{kind}"
        for vector in ("search_vector", "names_vector")
        for kind in ("organizations", "addresses", "codesystems")
    ),
)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """What autogenerate compares: everything but the search index (FTS5 tables, tsvector, GIN indexes)."""
    if type_ == "table" and name and name.startswith(SEARCH_INDEX_TABLES):
        return False
    return name not in SEARCH_INDEX_OBJECTS


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run again (it does nothing when current)."""
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def autogenerate(database: Database, message: str) -> None:
    """Write a new migration with the difference between the models and the database (developer aid)."""
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
