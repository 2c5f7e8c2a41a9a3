"""Bulk import of function addresses: 100,000 CSV rows validated, audited and committed on PostgreSQL.

    PYTHONPATH=. .venv/bin/python -m scripts.bench.bulk_import --rows 100000 --rounds 3

Each round: a fresh database with the demo federation, then POST …/function-addresses/import with the
CSV body through the real endpoint (in-process WSGI: no network, everything else real), first as a
dry run, then applied; then the worker's step (the directory entries of a large import, `app/directory/backlog.py`)
is run and timed until the last address is searchable; the export is read back and counted.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app import create_app, demo, schema
from app.audit import Actor, verify
from app.database import Database
from app.directory import backlog
from app.operations.credentials import issue_token
from app.registry.models import Code, DirectoryEntry, FunctionAddress, Organisation
from app.settings import load_settings
from app.trust.devpki import ensure_development_pki

POSTGRES = os.environ.get("SDK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def body(rows: int, code: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["identifier", "name", "description", "categories", "keywords"])
    for n in range(rows):
        writer.writerow(
            [
                f"sdk:funktion{n}:0203:exempelkommun.se",
                f"Funktion {n}",
                f"Beskrivning av funktion {n}",
                code,
                "ärende;diarium",
            ]
        )
    return buffer.getvalue().encode()


def one_round(rows: int, work: Path, number: int) -> tuple[float, float, float, float]:
    name = f"sdk_import_bench_{os.getpid()}_{number}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    try:
        settings = load_settings({"SDK_DATABASE_URL": url, "SDK_INSTANCE_DIR": str(work), "SDK_ENV_FILE": "/x"})
        database = Database(url)
        schema.upgrade(database)
        app = create_app(settings, database=database)
        from app.trust.devpki import DevelopmentPki

        with database.writer() as session:
            demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
            organisation = session.scalar(
                select(Organisation).where(Organisation.participant_value == "0203:exempelkommun.se")
            )
            code = str(session.scalar(select(Code.id).where(Code.code == "ekonomi")))
            token = issue_token(
                session, Actor("bench", "system"), name="bench", role="org_admin", scope_id=organisation.id
            ).token
        client = app.test_client()
        url_base = f"/api/v1/organisations/{organisation.id}/function-addresses"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
        data = body(rows, code)
        started = time.monotonic()
        dry = client.post(f"{url_base}/import?dryRun=true", data=data, headers=headers)
        dry_seconds = time.monotonic() - started
        assert dry.status_code == 200, dry.get_data(as_text=True)[:500]
        assert not dry.get_json()["errors"], dry.get_data(as_text=True)[:500]
        started = time.monotonic()
        applied = client.post(f"{url_base}/import?dryRun=false", data=data, headers=headers)
        apply_seconds = time.monotonic() - started
        assert applied.get_json()["created"] == rows, applied.get_data(as_text=True)[:500]
        # What the worker then does (app/directory/backlog.py), timed from the moment the import returned.
        started = time.monotonic()
        with database.writer() as session:
            queued = backlog.lag(session).pending
        while True:
            with database.writer() as session:
                if not backlog.drain_once(session):
                    break
        backlog_seconds = time.monotonic() - started if queued else 0.0
        with database.reader() as session:
            entries = session.scalar(
                select(func.count()).select_from(DirectoryEntry).where(DirectoryEntry.kind == "addresses")
            )
            assert entries >= rows, f"{entries} directory entries for {rows} imported addresses"
        started = time.monotonic()
        exported = client.get(f"{url_base}/export?format=csv", headers={"Authorization": f"Bearer {token}"})
        lines = exported.get_data().count(b"\n")
        export_seconds = time.monotonic() - started
        assert lines >= rows + 1
        with database.reader() as session:
            assert session.scalar(select(func.count()).select_from(FunctionAddress)) >= rows
            assert verify(session).intact
        database.dispose()
        return dry_seconds, apply_seconds, backlog_seconds, export_seconds
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sdk-import-bench-"))
    ensure_development_pki(work / "pki", access_points=[demo.AP_ID], participants=demo.participants_of_demo())
    results = [one_round(options.rows, work, n) for n in range(options.rounds)]
    for label, index in (
        ("dry run (validate only)", 0),
        ("apply (validate, insert, audit, commit)", 1),
        ("directory entries written by the worker, after the apply returned", 2),
        ("export CSV", 3),
    ):
        values = [r[index] for r in results]
        print(
            f"{label}: median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}) "
            f"for {options.rows} rows = {options.rows / statistics.median(values):.0f} rows/s"
        )


if __name__ == "__main__":
    main()
