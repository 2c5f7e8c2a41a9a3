"""What the service publishes: SMP documents, the directory, the SML zone and its reconciliation."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.cli.base import (
    EXIT_BAD_SETTING,
    application,
    cli,
    fail,
    settings_from,
)


@cli.group(help="SMP publications.")
def smp() -> None:
    pass


@smp.command(
    "resign",
    help="Publish everything again: sign every SMP document, recompute DNS records (after a key or settings change).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True)
def smp_resign(batch_size: int) -> None:
    from sqlalchemy import select

    from app.extensions import current_database
    from app.operations.publication import refresh_participants
    from app.publishing.keys import SigningKeyError
    from app.registry.models import Organisation
    from app.smp_front import current_publisher

    with application() as app:
        try:
            signer = current_publisher(app).reload_key()
        except SigningKeyError as error:
            fail(f"SDK_SIGNING_KEY: {error}", EXIT_BAD_SETTING)
        database = current_database()
        with database.reader() as session:
            ids = list(
                session.scalars(select(Organisation.id).where(Organisation.type == "o").order_by(Organisation.id))
            )
        signed = withdrawn = 0
        with click.progressbar(length=len(ids), label="re-signing", file=sys.stderr) as bar:
            for start in range(0, len(ids), batch_size):
                with database.writer() as session:
                    chunk = ids[start : start + batch_size]
                    batch = list(session.scalars(select(Organisation).where(Organisation.id.in_(chunk))))
                    for result in refresh_participants(session, batch, force=True):
                        signed += result.signed
                        withdrawn += result.withdrawn
                bar.update(len(ids[start : start + batch_size]))
    subject = signer.credentials.certificate.subject.rfc4514_string()
    click.echo(f"{signed} documents signed with {subject}; {withdrawn} withdrawn; {len(ids)} participants")


@smp.command("export-static", help="Write the published tree as files plus an nginx snippet.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--upstream", default=None, help="Where nginx sends what the files cannot answer (default: SDK_HTTP_LISTEN)."
)
def smp_export_static(directory: Path, upstream: str | None) -> None:
    from app.extensions import current_database
    from app.publishing.export import ExportError, export_static

    with application() as app:
        settings = settings_from(app)
        try:
            with current_database().reader() as session:
                result = export_static(
                    session, settings, directory, upstream=upstream or f"http://{settings.http_listen}"
                )
        except ExportError as error:
            fail(str(error))
    click.echo(f"{result.files} documents written to {directory}; nginx snippet {result.nginx_snippet}")
    if result.skipped:
        click.echo(f"{result.skipped} documents have identifiers that cannot be file names; the service answers them")


@cli.group(help="The public directory.")
def directory() -> None:
    pass


@directory.command("rebuild", help="Recompute the directory's entries from the registry (search and change feed).")
def directory_rebuild() -> None:
    from app.directory import sync
    from app.extensions import current_database

    with application(), current_database().writer() as session:
        result = sync.rebuild(session)
    click.echo(f"directory: {result.changed} entries changed, {result.removed} removed")


@cli.group(help="The SML zone.")
def zone() -> None:
    pass


@zone.command("export", help="Write the zone as a standard zone file (to FILE, or standard output).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def zone_export(file: Path | None) -> None:
    from app.dns.zonefile import export_zone
    from app.extensions import current_database

    with application() as app, current_database().reader() as session:
        lines = export_zone(session, settings_from(app))
        if file is None:
            for line in lines:
                click.echo(line, nl=False)
        else:
            with file.open("w", encoding="utf-8") as handle:
                handle.writelines(lines)
            click.echo(f"zone written to {file}", err=True)


@cli.command(help="Compare the DNS primary's zone (AXFR) with the database and repair the difference.")
@click.option("--dry-run", is_flag=True, help="Only print the difference.")
def reconcile(dry_run: bool) -> None:
    from app.dns.reconcile import reconcile as run_reconcile
    from app.dns.rfc2136 import PublishError
    from app.extensions import current_database

    with application() as app:
        settings = settings_from(app)
        if settings.dns_mode != "rfc2136":
            fail(
                "reconcile compares a DNS primary with the database: set SDK_DNS_MODE=rfc2136 (the embedded "
                "server answers from the database itself)"
            )
        try:
            with current_database().reader() as session:
                drift, repaired = run_reconcile(session, settings, dry_run=dry_run)
        except PublishError as error:
            fail(str(error))
    for line in drift.lines():
        click.echo(line)
    if drift.clean:
        click.echo("zone and database agree")
    elif dry_run:
        click.echo(f"{len(drift.lines())} record sets differ (dry run: nothing changed)")
    else:
        click.echo(f"{repaired} record sets repaired")
