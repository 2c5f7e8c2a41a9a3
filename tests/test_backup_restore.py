"""The PostgreSQL backup and restore of docs/OPERATIONS.md, run for real: pg_dump, pg_restore into a new
database, and a service on the restored copy that answers exactly as the original did."""

from __future__ import annotations

import subprocess
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, schema
from app.audit.chain import verify
from app.database import Database
from tests.conftest import make_settings, require_program

PARTICIPANT = quote("iso6523-actorid-upis::0203:exempelkommun.se", safe="")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_dump_restores_to_a_service_that_answers_the_same(api, db, pki_instance_dir, tmp_path):
    if db.dialect != "postgresql":
        pytest.skip("pg_dump and pg_restore back up PostgreSQL; a SQLite instance is one file to copy")
    pg_dump, pg_restore = require_program("pg_dump"), require_program("pg_restore")
    dump = tmp_path / "sdk-addressbook.dump"
    subprocess.run([pg_dump, "--format=custom", "--no-owner", f"--file={dump}", _libpq(db.url)], check=True)

    original = make_url(db.url)
    restored_url = original.set(database=f"{original.database}_restored").render_as_string(hide_password=False)
    admin = create_engine(db.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{make_url(restored_url).database}"'))
    restored = Database(restored_url)
    try:
        restore = [pg_restore, "--no-owner", "--exit-on-error", f"--dbname={_libpq(restored_url)}", str(dump)]
        subprocess.run(restore, check=True, capture_output=True)
        assert schema.is_current(restored)
        with restored.reader() as session:
            report = verify(session)
        assert report.intact and report.checked > 0
        copy = create_app(make_settings(pki_instance_dir, restored_url), database=restored).test_client()
        for path in (f"/smp/{PARTICIPANT}", "/addressbook/api/v1/addresses?q=registrator", "/readyz"):
            before, after = api.client.get(path), copy.get(path)
            assert after.status_code == before.status_code == 200, path
            if path != "/readyz":
                assert after.data == before.data, path
    finally:
        restored.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(restored_url).database}" WITH (FORCE)'))
        admin.dispose()
