"""The discovery client as a command: participant or function address to a verified endpoint."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.base import (
    EXIT_BAD_SETTING,
    cli,
    fail,
    plain_settings,
)


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
    subject: str,
    document_type: str | None,
    dns_server: str | None,
    zone: str | None,
    cname: bool,
    smp_url: str | None,
    directory_url: str | None,
    trust: Path | None,
    profiles: tuple[str, ...],
    timeout: float,
    cache_dir: Path | None,
    as_json: bool,
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

    settings = plain_settings()
    bundle = trust or settings.trust_smp_ca or (settings.pki_dir / "smp-ca.crt")
    if not bundle.is_file():
        fail("no trusted SMP CA: give --trust FILE (or set SDK_TRUST_SMP_CA)", EXIT_BAD_SETTING)
    try:
        trusted = tuple(load_certificate_bundle(bundle.read_bytes()))
    except CertificateError as error:
        fail(f"--trust {bundle}: {error}", EXIT_BAD_SETTING)
    server = None
    if dns_server:
        host, _, port = dns_server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            fail(f"--dns-server {dns_server!r}: give HOST:PORT", EXIT_BAD_SETTING)
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
        fail(str(error), EXIT_BAD_SETTING)
    except LookupFailure as error:
        fail(f"{error.kind}: {error.message}", error.exit_code)
    click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False) if as_json else table(result))
