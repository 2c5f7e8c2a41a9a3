"""The service's one TSIG key (``SDK_DNS_TSIG_*``): it signs UPDATEs and transfers to and from a BIND
primary in RFC 2136 mode, and secondaries must sign their transfers from the embedded server with it."""

from __future__ import annotations

import dns.name
import dns.tsig

from app.settings import Settings


def tsig_key(settings: Settings) -> dns.tsig.Key | None:
    """The configured key with its algorithm, or ``None`` when no key is set."""
    if not settings.dns_tsig_key_name or not settings.dns_tsig_secret:
        return None
    return dns.tsig.Key(
        dns.name.from_text(settings.dns_tsig_key_name),
        settings.dns_tsig_secret,
        dns.name.from_text(settings.dns_tsig_algorithm),
    )
