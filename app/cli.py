"""The ``sdk-addressbook`` command (also available as ``flask --app app …``).

Errors are one line on standard error and a non-zero exit: 2 for a bad setting, 1 for anything the
command refuses to do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

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


def _plain_settings() -> Settings:
    """The settings alone, without an app or a database (commands that talk to a service over the network)."""
    from app.settings import load_settings

    try:
        return load_settings()
    except SettingsError as error:
        _fail(str(error), EXIT_BAD_SETTING)
        raise  # not reached: _fail exits


def _fail(message: str, code: int = EXIT_REFUSED) -> None:
    click.echo(f"sdk-addressbook: {message}", err=True)
    sys.exit(code)


@click.group(help="SDK Address Book: the address book of an SDK eDelivery federation.")
def cli() -> None:
    pass


@cli.command(help="Apply database migrations; create a development PKI when no signing key is configured.")
def init() -> None:
    from app import demo
    from app.directory import sync
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
    from app.dns.service import start_child
    from app.dns.supervisor import SharedState, Supervisor
    from app.extensions import current_database
    from app.health import DNS_SIDE_KEY
    from app.publishing.keys import SigningKeyError
    from app.publishing.views import current_publisher
    from app.registry import schema
    from app.requestlog import configure_json_logging
    from app.server import run

    with _application() as app:
        settings = _settings(app)
        if not schema.is_current(current_database()):
            _fail("the database schema is not current: run 'sdk-addressbook init' first")
        try:
            signer = current_publisher(app).signer
        except SigningKeyError as error:
            _fail(f"SDK_SIGNING_KEY: {error}", EXIT_BAD_SETTING)
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
        dns_hint = _dns_hint(settings) if settings.serve_dns else "run by a separate worker (SDK_SERVE_DNS=false)"
        smp = f"{base}{settings.smp_path}/iso6523-actorid-upis%3A%3A0203%3Aexempelkommun.se"
        click.echo(
            f"SDK Address Book on {base} (public URL {settings.public_url})\n"
            f"  SMP signing key: {signer.credentials.certificate.subject.rfc4514_string()}"
            f"{' (development PKI)' if signer.credentials.development else ''}\n"
            f"  liveness:   curl {base}/healthz\n"
            f"  readiness:  curl {base}/readyz\n"
            f"  SMP 1.0:    curl '{smp}'   (demo participant; also /bdxr-smp-2/ and /peppol/)\n"
            f"  DNS:        {dns_hint}\n"
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

    settings = _plain_settings()
    listen = settings.http_listen
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)  # noqa: S104 (a listen address)
    url = f"http://{f'[{host}]' if ':' in host else host}:{listen.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        _fail(f"{url}: {error}")
    if status != 200:
        _fail(f"{url}: HTTP {status}")


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
    from app.publishing.views import current_publisher
    from app.registry.models import Organisation

    with _application() as app:
        try:
            signer = current_publisher(app).reload_key()
        except SigningKeyError as error:
            _fail(f"SDK_SIGNING_KEY: {error}", EXIT_BAD_SETTING)
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

    with _application() as app:
        settings = _settings(app)
        try:
            with current_database().reader() as session:
                result = export_static(
                    session, settings, directory, upstream=upstream or f"http://{settings.http_listen}"
                )
        except ExportError as error:
            _fail(str(error))
    click.echo(f"{result.files} documents written to {directory}; nginx snippet {result.nginx_snippet}")
    if result.skipped:
        click.echo(f"{result.skipped} documents have identifiers that cannot be file names; the service answers them")


def _dns_hint(settings: Settings) -> str:
    if settings.dns_mode == "embedded":
        listen = settings.dns_listen
        return f"dig @{listen.host} -p {listen.port} {settings.sml_zone} SOA   (embedded server)"
    return f"RFC 2136 updates to {settings.dns_primary} (zone {settings.sml_zone})"


@cli.group(help="The public directory.")
def directory() -> None:
    pass


@directory.command("rebuild", help="Recompute the directory's entries from the registry (search and change feed).")
def directory_rebuild() -> None:
    from app.directory import sync
    from app.extensions import current_database

    with _application(), current_database().writer() as session:
        result = sync.rebuild(session)
    click.echo(f"directory: {result.changed} entries changed, {result.removed} removed")


@cli.command(help="Run the DNS side alone: the embedded server, or the RFC 2136 outbox publisher.")
def worker() -> None:
    from app.dns.service import run_until_signalled
    from app.requestlog import configure_json_logging

    with _application() as app:
        settings = _settings(app)
    configure_json_logging(settings.log_level)
    click.echo(f"DNS worker ({settings.dns_mode}): {_dns_hint(settings)}", err=True)
    run_until_signalled(settings)


@cli.group(help="The SML zone.")
def zone() -> None:
    pass


@zone.command("export", help="Write the zone as a standard zone file (to FILE, or standard output).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def zone_export(file: Path | None) -> None:
    from app.dns.zonefile import export_zone
    from app.extensions import current_database

    with _application() as app, current_database().reader() as session:
        lines = export_zone(session, _settings(app))
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

    with _application() as app:
        settings = _settings(app)
        if settings.dns_mode != "rfc2136":
            _fail(
                "reconcile compares a DNS primary with the database: set SDK_DNS_MODE=rfc2136 (the embedded "
                "server answers from the database itself)"
            )
        try:
            with current_database().reader() as session:
                drift, repaired = run_reconcile(session, settings, dry_run=dry_run)
        except PublishError as error:
            _fail(str(error))
    for line in drift.lines():
        click.echo(line)
    if drift.clean:
        click.echo("zone and database agree")
    elif dry_run:
        click.echo(f"{len(drift.lines())} record sets differ (dry run: nothing changed)")
    else:
        click.echo(f"{repaired} record sets repaired")


@cli.command(help="Check this installation: print each problem with its fix; exit 1 when any is serious.")
def doctor() -> None:
    from app.doctor import SERIOUS, diagnose

    with _application() as app:
        findings = diagnose(app)
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

    with _application() as app:
        text = openapi_text(app)
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(f"OpenAPI document written to {file}", err=True)


@cli.command(help="Find where to send: participant id or function address → DNS → SMP → verified endpoint.")
@click.argument("subject")
@click.option("--document-type", default=None, help="document type id (default: the SDK message type)")
@click.option("--dns-server", default=None, metavar="HOST:PORT", help="DNS server to ask (default: see docs)")
@click.option("--zone", default=None, help="SML zone (default: SDK_SML_ZONE)")
@click.option("--cname", is_flag=True, help="fall back to the Peppol CNAME record when there is no NAPTR")
@click.option("--smp-url", default=None, help="ask this SMP directly (skip DNS)")
@click.option(
    "--directory-url",
    default=None,
    help="public directory base URL, to look up a function address (default: this instance's, under SDK_PUBLIC_URL)",
)
@click.option(
    "--trust",
    "trust",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM bundle of trusted SMP CAs (default: SDK_TRUST_SMP_CA, else the development SMP CA)",
)
@click.option("--transport-profile", "profiles", multiple=True, help="acceptable transport profile, best first")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0, show_default=True, help="seconds per request")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="also keep DNS and SMP answers in this folder between runs",
)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def lookup(
    subject,
    document_type,
    dns_server,
    zone,
    cname,
    smp_url,
    directory_url,
    trust,
    profiles,
    timeout,
    cache_dir,
    as_json,
) -> None:
    import json

    from app.client.cache import Cache
    from app.client.errors import LookupFailure
    from app.client.locate import DnsOptions
    from app.client.lookup import LookupOptions, table
    from app.client.lookup import lookup as run_lookup
    from app.client.smp import HttpOptions
    from app.settings import DEFAULT_TRANSPORT_PROFILES, SDK_MESSAGE_DOCUMENT_TYPE
    from app.trust.certificates import CertificateError, load_certificate_bundle

    settings = _plain_settings()
    bundle = trust or settings.trust_smp_ca or (settings.pki_dir / "smp-ca.crt")
    if not bundle.is_file():
        _fail("no trusted SMP CA: give --trust FILE (or set SDK_TRUST_SMP_CA)", EXIT_BAD_SETTING)
    try:
        trusted = tuple(load_certificate_bundle(bundle.read_bytes()))
    except CertificateError as error:
        _fail(f"--trust {bundle}: {error}", EXIT_BAD_SETTING)
    server = None
    if dns_server:
        host, _, port = dns_server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            _fail(f"--dns-server {dns_server!r}: give HOST:PORT", EXIT_BAD_SETTING)
        server = (host.strip("[]"), int(port))
    elif settings.dns_mode == "embedded":
        server = (settings.dns_listen.host, settings.dns_listen.port)
    options = LookupOptions(
        dns=DnsOptions(zone=zone or settings.sml_zone, server=server, timeout=timeout, cname_fallback=cname),
        http=HttpOptions(timeout=timeout, trusted=trusted),
        smp_url=smp_url,
        directory_url=directory_url or settings.directory_url,
        document_type=document_type or SDK_MESSAGE_DOCUMENT_TYPE,
        transport_profiles=tuple(profiles) or DEFAULT_TRANSPORT_PROFILES,
    )
    try:
        result = run_lookup(subject, options, Cache(cache_dir))
    except ValueError as error:
        _fail(str(error), EXIT_BAD_SETTING)
    except LookupFailure as error:
        _fail(f"{error.kind}: {error.message}", error.exit_code)
    click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False) if as_json else table(result))


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


@cli.group(help="Console accounts (people who log in to the web console).")
def account() -> None:
    pass


@account.command("create", help="Create a console account; the password is read from standard input or asked for.")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["operator", "ap_operator", "org_admin"]))
@click.option("--scope", "scope", default=None, help="Id of the AP operator or organisation the account may manage.")
@click.option("--totp", is_flag=True, help="require a one-time code too (prints the secret for an authenticator app)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--no-password", is_flag=True, help="no password: the account logs in only through OpenID Connect")
def account_create(
    username: str, role: str, scope: str | None, totp: bool, password_stdin: bool, no_password: bool
) -> None:
    from app.extensions import current_database
    from app.operations.accounts import create_account

    if no_password and (password_stdin or totp):
        _fail("--no-password cannot be combined with --password-stdin or --totp")
    password = None if no_password else _read_password(password_stdin)
    scope_id = _scope_id(scope)
    from app.registry.errors import RegistryError

    try:
        with _application(), current_database().writer() as session:
            created = create_account(session, username, password, role, scope_id, totp=totp)
            secret = created.totp_secret
    except RegistryError as error:
        _fail(str(error))
    click.echo(f"account {username} ({role}) created", err=True)
    if secret:
        click.echo(f"TOTP secret (add it to an authenticator app): {secret}")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


def _change_account(username: str, change) -> None:
    """Run ``change(session, account)`` on the named account in one audited write; one line if refused."""
    from app.extensions import current_database
    from app.operations.accounts import find_account
    from app.registry.errors import RegistryError

    try:
        with _application(), current_database().writer() as session:
            change(session, find_account(session, username))
    except RegistryError as error:
        _fail(str(error))


@account.command("password", help="Give an account a new password; every session of the account ends.")
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--no-password", is_flag=True, help="remove the password: log in only through OpenID Connect")
def account_password(username: str, password_stdin: bool, no_password: bool) -> None:
    from app.operations.accounts import change_password

    if no_password and password_stdin:
        _fail("--no-password cannot be combined with --password-stdin")
    password = None if no_password else _read_password(password_stdin)
    _change_account(username, lambda session, account: change_password(session, account, password))
    click.echo(f"account {username}: password changed, its sessions ended", err=True)


@account.command("role", help="Give an account another role or scope; its sessions end.")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["operator", "ap_operator", "org_admin"]))
@click.option("--scope", "scope", default=None, help="Id of the AP operator or organisation the account may manage.")
def account_role(username: str, role: str, scope: str | None) -> None:
    from app.operations.accounts import change_role

    scope_id = _scope_id(scope)
    _change_account(username, lambda session, account: change_role(session, account, role, scope_id))
    click.echo(f"account {username} is now {role}", err=True)


@account.command("disable", help="Refuse every login of an account and end its sessions at once.")
@click.option("--username", required=True)
def account_disable(username: str) -> None:
    from app.operations.accounts import set_disabled

    _change_account(username, lambda session, account: set_disabled(session, account, True))
    click.echo(f"account {username} disabled, its sessions ended", err=True)


@account.command("enable", help="Let a disabled account log in again.")
@click.option("--username", required=True)
def account_enable(username: str) -> None:
    from app.operations.accounts import set_disabled

    _change_account(username, lambda session, account: set_disabled(session, account, False))
    click.echo(f"account {username} enabled", err=True)


def _scope_id(scope: str | None):
    import uuid

    try:
        return uuid.UUID(scope) if scope else None
    except ValueError:
        _fail(f"--scope {scope!r} is not an id")


@cli.group(help="The audit trail.")
def audit() -> None:
    pass


@audit.command("verify", help="Check the audit hash chain and name the first broken link.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also check the chain still reaches the signed checkpoint in FILE, then write the current one there",
)
def audit_verify(checkpoint_file: Path | None) -> None:
    from app.audit import verify
    from app.audit.anchor import read_checkpoint, write_checkpoint
    from app.audit.checkpoint import CheckpointError, compare, head, sign
    from app.extensions import current_database
    from app.publishing.keys import SigningKeyError
    from app.publishing.views import current_publisher

    with _application() as app, current_database().reader() as session:
        report = verify(session)
        if not report.intact:
            _fail(f"audit chain broken at event {report.first_broken_id}: {report.reason}")
        if checkpoint_file is None:
            click.echo(f"audit chain intact: {report.checked} events")
            return
        try:
            credentials = current_publisher(app).signer.credentials
        except SigningKeyError as error:
            _fail(f"SDK_SIGNING_KEY: {error} (checkpoints are signed with it)", EXIT_BAD_SETTING)
        try:
            saved = read_checkpoint(checkpoint_file, credentials)
        except CheckpointError as error:
            _fail(str(error))
        problem = compare(session, saved) if saved is not None else None
        if problem is not None:
            _fail(f"audit chain does not reach its checkpoint: {problem}")
        current = sign(head(session), credentials.key)
    write_checkpoint(checkpoint_file, current)
    click.echo(
        f"audit chain intact: {report.checked} events; checkpoint at event {current.sequence} in {checkpoint_file}"
    )


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
