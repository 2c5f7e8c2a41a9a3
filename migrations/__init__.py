"""Alembic migrations of the registry schema (applied by ``sdk-addressbook init``)."""
