"""The discovery client as a command: participant or function address to a verified endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli.base import (
    EXIT_BAD_SETTING,
    cli,
    fail,
    plain_settings,
)

if TYPE_CHECKING:
    from app.client.revocation import RevocationOptions
    from app.settings import Settings


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
@click.option(
    "--dnssec-anchor",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="DS or DNSKEY records of the SML zone: every DNS answer must validate (default: SDK_CLIENT_DNSSEC_ANCHOR)",
)
@click.option(
    "--flavour",
    type=click.Choice(["auto", "oasis1", "peppol", "smp2", "oasis2"]),
    default="auto",
    show_default=True,
    help="SMP flavour to ask for (smp2, or oasis2 as SDK_DNS_SMP_FLAVOUR names it: {smp}/bdxr-smp-2/…); "
    "auto reads what the answer is",
)
@click.option(
    "--revocation",
    type=click.Choice(["off", "soft", "hard"]),
    default=None,
    help="check AP and CertPub certificates against CRLs: soft refuses revoked ones, hard also unknown ones "
    "(default: SDK_CLIENT_REVOCATION, else soft)",
)
@click.option(
    "--crl",
    "crl_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a CRL file to check against instead of fetching distribution points (repeatable)",
)
@click.option(
    "--ca",
    "ca_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM bundle of the CAs that issue AP and CertPub certificates (default: SDK_TRUST_AP_CA and "
    "SDK_TRUST_O2O_CA, else the development PKI's)",
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
    dnssec_anchor: Path | None,
    flavour: str,
    revocation: str | None,
    crl_files: tuple[Path, ...],
    ca_file: Path | None,
    as_json: bool,
) -> None:
    import json

    from app.client.cache import Cache
    from app.client.dnssec import AnchorError, TrustAnchor
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
    anchor = None
    anchor_file = dnssec_anchor or settings.client_dnssec_anchor
    if anchor_file is not None:
        try:
            anchor = TrustAnchor.load(anchor_file, zone or settings.sml_zone)
        except AnchorError as error:
            fail(f"--dnssec-anchor {error}", EXIT_BAD_SETTING)
    options = LookupOptions(
        dns=DnsOptions(
            zone=zone or settings.sml_zone, server=server, timeout=timeout, cname_fallback=cname, anchor=anchor
        ),
        http=HttpOptions(timeout=timeout, trusted=trusted, flavour="smp2" if flavour == "oasis2" else flavour),
        revocation=_revocation_options(settings, revocation, crl_files, ca_file, timeout),
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


def _revocation_options(
    settings: Settings, mode: str | None, crl_files: tuple[Path, ...], ca_file: Path | None, timeout: float
) -> RevocationOptions:
    """The CAs and CRLs to check AP and CertPub certificates with; defaults from the settings, else the dev PKI."""
    from app.client.revocation import RevocationOptions
    from app.trust.certificates import CertificateError, load_certificate_bundle, load_crl_bundle
    from app.trust.devpki import DevelopmentPki, crl_path

    development = DevelopmentPki(settings.pki_dir)
    if ca_file is not None:
        ca_files = [ca_file]
    elif settings.trust_ap_ca or settings.trust_o2o_ca:
        ca_files = [path for path in (settings.trust_ap_ca, settings.trust_o2o_ca) if path is not None]
    else:
        ca_files = [pair.certificate for pair in (development.ap_ca, development.o2o_ca)]
    if crl_files:
        crl_sources = list(crl_files)
    elif settings.trust_crls is not None:
        crl_sources = [settings.trust_crls]
    else:
        crl_sources = [crl_path(pair) for pair in (development.ap_ca, development.o2o_ca)]
    try:
        issuers = [c for path in ca_files if path.is_file() for c in load_certificate_bundle(path.read_bytes())]
        crls = [crl for path in crl_sources if path.is_file() for crl in load_crl_bundle(path.read_bytes())]
    except CertificateError as error:
        fail(f"revocation: {error}", EXIT_BAD_SETTING)
    return RevocationOptions(
        mode=mode or settings.client_revocation, issuers=tuple(issuers), crls=tuple(crls), timeout=timeout
    )
