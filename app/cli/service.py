"""Setting up and running the service: init, seed-demo, serve, healthcheck, worker, doctor, openapi."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from app.cli.base import (
    EXIT_BAD_SETTING,
    EXIT_REFUSED,
    application,
    cli,
    display_url,
    fail,
    plain_settings,
    settings_from,
)
from app.extensions import database_of
from app.settings import Settings


@cli.command(help="Apply database migrations; create a development PKI when no signing key is configured.")
def init() -> None:
    from app import demo, schema
    from app.directory import sync
    from app.extensions import current_database
    from app.trust.devpki import ensure_development_pki

    with application() as app:
        settings = settings_from(app)
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
        database = current_database()
        schema.upgrade(database)
        revisions = ", ".join(sorted(schema.current_revisions(database)))
        click.echo(f"database: {display_url(database.url)} at revision {revisions}")
        with database.writer() as session:
            built = sync.rebuild_if_new(session)
        if built is not None:
            click.echo(f"directory: {built.changed} entries built")
        if settings.signing_key is None:
            pki = ensure_development_pki(
                settings.pki_dir, access_points=[demo.AP_ID], participants=demo.participants_of_demo()
            )
            click.echo(f"development PKI: {pki.root} (SMP signing certificate {pki.smp_signing.certificate.name})")
        else:
            click.echo(f"signing key: {settings.signing_key} (configured)")
        if settings.dnssec:
            _zone_key(settings)


def _zone_key(settings: Settings) -> None:
    """With SDK_DNSSEC: the zone's key (made here unless one is configured) and the DS for the parent."""
    from app.dns.dnssec import DnssecKeyError, create_key, ds_text, load_key

    path = settings.dnssec_key_path
    if settings.dnssec_key is None:
        create_key(path)
    try:
        key = load_key(path)
    except DnssecKeyError as error:
        fail(f"SDK_DNSSEC_KEY: {error}", EXIT_BAD_SETTING)
    click.echo(f"DNSSEC zone key: {path} (key tag {key.key_tag})")
    click.echo(f"  the parent zone publishes: {ds_text(settings.sml_zone, key)}")


@cli.command("seed-demo", help="Load the demo federation (idempotent: running it again changes nothing).")
def seed_demo() -> None:
    from app import demo, schema
    from app.extensions import current_database
    from app.trust.devpki import DevelopmentPki

    with application() as app:
        settings = settings_from(app)
        pki = DevelopmentPki(settings.pki_dir)
        if not pki.smp_ca.certificate.exists():
            fail(f"no development PKI in {pki.root}: run 'sdk-addressbook init' first")
        database = current_database()
        if not schema.is_current(database):
            fail("the database schema is not current: run 'sdk-addressbook init' first")
        with database.writer() as session:
            created = demo.seed(session, settings, pki)
    click.echo("demo federation loaded" if created else "demo federation already present; nothing changed")


@cli.command(help="Run the service: HTTP (gunicorn) on SDK_HTTP_LISTEN.")
def serve() -> None:
    from app import schema
    from app.dns.supervisor import SharedState, Supervisor
    from app.extensions import current_database
    from app.health import DNS_SIDE_KEY
    from app.publishing.keys import SigningKeyError
    from app.requestlog import configure_json_logging
    from app.server import run
    from app.smp_front import current_publisher
    from app.worker import start_child

    with application() as app:
        settings = settings_from(app)
        if not schema.is_current(current_database()):
            fail("the database schema is not current: run 'sdk-addressbook init' first")
        try:
            signer = current_publisher(app).signer
        except SigningKeyError as error:
            fail(f"SDK_SIGNING_KEY: {error}", EXIT_BAD_SETTING)
        if settings.serve_dns:
            _check_zone_key(settings)
        configure_json_logging(settings.log_level)
        # The parent's pooled connections must not be shared with the children forked below.
        current_database().engine.dispose()
        supervisor = None
        if settings.serve_dns:  # restarted whenever it exits; the HTTP workers read its state for the probes
            app.config[DNS_SIDE_KEY] = SharedState()
            supervisor = Supervisor(start_child, app.config[DNS_SIDE_KEY])
            supervisor.start()
        owner = os.getpid()  # gunicorn's workers are forks of this process and run the `finally` below too
        base = f"http://{settings.http_listen}"
        dns_side = dns_hint(settings) if settings.serve_dns else "run by a separate worker (SDK_SERVE_DNS=false)"
        smp = f"{base}{settings.smp_path}/iso6523-actorid-upis%3A%3A0203%3Aexempelkommun.se"
        click.echo(
            f"SDK Address Book on {base} (public URL {settings.public_url})\n"
            f"  SMP signing key: {signer.credentials.certificate.subject.rfc4514_string()}"
            f"{' (development PKI)' if signer.credentials.development else ''}\n"
            f"  liveness:   curl {base}/healthz\n"
            f"  readiness:  curl {base}/readyz\n"
            f"  SMP 1.0:    curl '{smp}'   (demo participant; also /bdxr-smp-2/ and /peppol/)\n"
            f"  DNS:        {dns_side}\n"
            "  stop with Ctrl-C",
            err=True,
        )
        try:
            run(app, settings)
        finally:
            if supervisor is not None and os.getpid() == owner:
                supervisor.stop()


@cli.command(help="Ask the running service's /healthz on SDK_HTTP_LISTEN; exit 0 when it answers 200.")
@click.option("--timeout", default=4.0, show_default=True, help="seconds to wait for the answer")
def healthcheck(timeout: float) -> None:
    import urllib.error
    import urllib.request

    settings = plain_settings()
    listen = settings.http_listen
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)  # noqa: S104 (a listen address)
    url = f"http://{f'[{host}]' if ':' in host else host}:{listen.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        fail(f"{url}: {error}")
    if status != 200:
        fail(f"{url}: HTTP {status}")


@cli.command(help="Run the DNS side alone: the embedded server, or the RFC 2136 outbox publisher.")
def worker() -> None:
    from app.requestlog import configure_json_logging
    from app.worker import run_until_signalled

    with application() as app:
        settings = settings_from(app)
    _check_zone_key(settings)
    configure_json_logging(settings.log_level)
    click.echo(f"DNS worker ({settings.dns_mode}): {dns_hint(settings)}", err=True)
    run_until_signalled(settings)


@cli.command(help="Check this installation: print each problem with its fix; exit 1 when any is serious.")
def doctor() -> None:
    from app.doctor import SERIOUS, diagnose

    with application() as app:
        findings = diagnose(settings_from(app), database_of(app))
    for finding in findings:
        click.echo(finding.line())
    serious = sum(finding.severity == SERIOUS for finding in findings)
    if not findings:
        click.echo("no problems found")
    else:
        click.echo(f"{len(findings)} problem{'' if len(findings) == 1 else 's'}, {serious} serious")
    if serious:
        sys.exit(EXIT_REFUSED)


@cli.command(help="Write the OpenAPI document of the management API (to FILE, or standard output).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def openapi(file: Path | None) -> None:
    from app.api.spec import openapi_text

    with application() as app:
        text = openapi_text(app)
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(f"OpenAPI document written to {file}", err=True)


def _check_zone_key(settings: Settings) -> None:
    """Refuse to start, with one line, when the embedded server is to sign with a key it cannot use."""
    from app.dns.dnssec import DnssecKeyError, zone_signer

    if settings.dnssec:  # (only ever with the embedded server: the settings refuse it with rfc2136)
        try:
            zone_signer(settings)
        except DnssecKeyError as error:
            fail(f"SDK_DNSSEC_KEY: {error}", EXIT_BAD_SETTING)


def dns_hint(settings: Settings) -> str:
    if settings.dns_mode == "embedded":
        listen = settings.dns_listen
        signed = "; signed, DS: sdk-addressbook dnssec ds" if settings.dnssec else ""
        return f"dig @{listen.host} -p {listen.port} {settings.sml_zone} SOA   (embedded server{signed})"
    return f"RFC 2136 updates to {settings.dns_primary} (zone {settings.sml_zone})"
