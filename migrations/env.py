"""Alembic environment: runs on the connection handed over by app.registry.schema (or SDK_DATABASE_URL)."""

from alembic import context
from sqlalchemy import create_engine

from app.registry.columns import UtcDateTime
from app.registry.models import Base
from app.schema import include_object

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    """Write our UtcDateTime as the plain column type, so migrations never import application code."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        include_object=include_object,
    )


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from app.settings import load_settings

    url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
    engine = create_engine(url)
    with engine.connect() as connection:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run sdk-addressbook init")
run_online()
