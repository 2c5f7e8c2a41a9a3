"""The ``sdk-addressbook`` command (also available as ``flask --app app …``).

Errors are one line on standard error and a non-zero exit: 2 for a bad setting, 1 for anything the
command refuses to do.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from flask import Flask, current_app, has_app_context

from app import create_app
from app.registry.errors import RegistryError
from app.settings import Settings, SettingsError

EXIT_REFUSED = 1
EXIT_BAD_SETTING = 2


@contextmanager
def _application() -> Iterator[Flask]:
    """The running app under ``flask --app app``; otherwise a new one, disposed of when the command ends."""
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    app = create_app()
    try:
        with app.app_context():
            yield app
    finally:
        app.extensions["sdk.database"].dispose()


def _settings(app: Flask) -> Settings:
    return app.config["SDK_SETTINGS"]


def _fail(message: str, code: int = EXIT_REFUSED) -> None:
    click.echo(f"sdk-addressbook: {message}", err=True)
    sys.exit(code)


@click.group(help="SDK Address Book: the address book of an SDK eDelivery federation.")
def cli() -> None:
    pass


@cli.command(help="Apply database migrations; create a development PKI when no signing key is configured.")
def init() -> None:
    from app import demo
    from app.extensions import current_database
    from app.registry import schema
    from app.trust.devpki import ensure_development_pki

    with _application() as app:
        settings = _settings(app)
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
        database = current_database()
        schema.upgrade(database)
        revisions = ", ".join(sorted(schema.current_revisions(database)))
        click.echo(f"database: {_display_url(database.url)} at revision {revisions}")
        if settings.signing_key is None:
            pki = ensure_development_pki(
                settings.pki_dir, access_points=[demo.AP_ID], participants=demo.participants_of_demo()
            )
            click.echo(f"development PKI: {pki.root} (SMP signing certificate {pki.smp_signing.certificate.name})")
        else:
            click.echo(f"signing key: {settings.signing_key} (configured)")


@cli.command("seed-demo", help="Load the demo federation (idempotent: running it again changes nothing).")
def seed_demo() -> None:
    from app import demo
    from app.extensions import current_database
    from app.registry import schema
    from app.trust.devpki import DevelopmentPki

    with _application() as app:
        settings = _settings(app)
        pki = DevelopmentPki(settings.pki_dir)
        if not pki.smp_ca.certificate.exists():
            _fail(f"no development PKI in {pki.root}: run 'sdk-addressbook init' first")
        database = current_database()
        if not schema.is_current(database):
            _fail("the database schema is not current: run 'sdk-addressbook init' first")
        with database.writer() as session:
            created = demo.seed(session, settings, pki)
    click.echo("demo federation loaded" if created else "demo federation already present; nothing changed")


@cli.command(help="Run the service: HTTP (gunicorn) on SDK_HTTP_LISTEN.")
def serve() -> None:
    from app.extensions import current_database
    from app.registry import schema
    from app.requestlog import configure_json_logging
    from app.server import run

    with _application() as app:
        settings = _settings(app)
        if not schema.is_current(current_database()):
            _fail("the database schema is not current: run 'sdk-addressbook init' first")
        configure_json_logging(settings.log_level)
        base = f"http://{settings.http_listen}"
        click.echo(
            f"SDK Address Book on {base} (public URL {settings.public_url})\n"
            f"  liveness:   curl {base}/healthz\n"
            f"  readiness:  curl {base}/readyz\n"
            "  stop with Ctrl-C",
            err=True,
        )
        run(app, settings)


@cli.group(help="API tokens.")
def token() -> None:
    pass


@token.command("create", help="Create an API token and print it (it is shown only this once).")
@click.option("--role", required=True, type=click.Choice(["operator", "ap_operator", "org_admin"]))
@click.option("--scope", "scope", default=None, help="Id of the AP operator or organisation the token may manage.")
@click.option("--name", required=True, help="Who or what uses the token.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
def token_create(role: str, scope: str | None, name: str, expires_in_days: int | None) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations.credentials import issue_token
    from app.registry.columns import utcnow

    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with _application(), current_database().writer() as session:
        issued = issue_token(session, SYSTEM_ACTOR, name=name, role=role, scope_id=scope, expires_at=expires_at)
    click.echo(issued.token)
    click.echo(f"token {issued.credential.id} ({role}) created; store it now, it is not shown again", err=True)


@cli.group(help="The audit trail.")
def audit() -> None:
    pass


@audit.command("verify", help="Check the audit hash chain and name the first broken link.")
def audit_verify() -> None:
    from app.audit import verify
    from app.extensions import current_database

    with _application(), current_database().reader() as session:
        report = verify(session)
    if report.intact:
        click.echo(f"audit chain intact: {report.checked} events")
        return
    _fail(f"audit chain broken at event {report.first_broken_id}: {report.reason}")


def _display_url(url: str) -> str:
    if url.startswith("sqlite"):
        return url
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user + '@' if at else ''}{host}"


def register(app: Flask) -> None:
    """Make the same commands available under ``flask --app app``."""
    for command in cli.commands.values():
        app.cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="sdk-addressbook", standalone_mode=False)
    except SettingsError as error:
        _fail(str(error), EXIT_BAD_SETTING)
    except RegistryError as error:
        _fail(str(error))
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        _fail("aborted")
    except FileExistsError as error:
        _fail(str(error))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
