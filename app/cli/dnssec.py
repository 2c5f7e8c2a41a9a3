"""The zone's DNSSEC key: the DS record for the parent zone, the DNSKEY a validating client trusts."""

from __future__ import annotations

import click

from app.cli.base import EXIT_BAD_SETTING, cli, fail, plain_settings
from app.dns.dnssec import DnssecKeyError, ZoneKey, dnskey_text, ds_text, load_key


@cli.group(help="The SML zone's DNSSEC key (SDK_DNSSEC).")
def dnssec() -> None:
    pass


@dnssec.command("ds", help="Print the DS record the parent zone publishes for the zone's key.")
def ds() -> None:
    settings = plain_settings()
    click.echo(ds_text(settings.sml_zone, _zone_key()))


@dnssec.command("dnskey", help="Print the zone's DNSKEY record: the trust anchor for 'lookup --dnssec-anchor'.")
def dnskey() -> None:
    settings = plain_settings()
    click.echo(dnskey_text(settings.sml_zone, _zone_key()))


def _zone_key() -> ZoneKey:
    settings = plain_settings()
    if not settings.dnssec:
        fail("SDK_DNSSEC is off: the zone is not signed, so it has no DS or DNSKEY to publish", EXIT_BAD_SETTING)
    path = settings.dnssec_key_path
    if not path.is_file():
        fail(f"{path}: no zone key (run 'sdk-addressbook init', or set SDK_DNSSEC_KEY)", EXIT_BAD_SETTING)
    try:
        return load_key(path)
    except DnssecKeyError as error:
        fail(str(error), EXIT_BAD_SETTING)
