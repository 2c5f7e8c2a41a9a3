"""The records of the SML zone: per participant (NAPTR, optionally CNAME) and at the apex (SOA, NS).

NAPTR: ``100 10 "U" "Meta:SMP" "!^.*$!{SDK_PUBLIC_URL}{SDK_SMP_PATH}!" .`` (BDXL U-NAPTR; the client
appends ``/{participant}``). CNAME (Peppol style, when ``SDK_DNS_RECORD_TYPES`` asks): to the SMP's
host name, or, when the public URL names an IP address, to ``smp.{zone}`` which then carries an A/AAAA
record, because a CNAME cannot point at an address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.dns.naming import cname_name, naptr_name
from app.identifiers import ParticipantId
from app.settings import Settings

SMP_SERVICE = "Meta:SMP"


@dataclass(frozen=True, order=True)
class Record:
    name: str  # absolute, lower-case, no trailing dot
    rtype: str
    ttl: int
    rdata: str  # presentation format, absolute names with trailing dots


def naptr_rdata(settings: Settings) -> str:
    return f'100 10 "U" "{SMP_SERVICE}" "!^.*$!{settings.smp_base_url}!" .'


def _smp_host(settings: Settings) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    host = urlsplit(settings.public_url).hostname or "localhost"
    try:
        return host, ipaddress.ip_address(host)
    except ValueError:
        return host.lower(), None


def cname_target(settings: Settings) -> str:
    host, address = _smp_host(settings)
    return f"smp.{settings.sml_zone}." if address is not None else f"{host}."


def participant_records(participant: ParticipantId, settings: Settings) -> list[Record]:
    records = []
    if "naptr" in settings.dns_record_types:
        name = naptr_name(participant.scheme, participant.value, settings.sml_zone)
        records.append(Record(name, "NAPTR", settings.dns_ttl, naptr_rdata(settings)))
    if "cname" in settings.dns_record_types:
        name = cname_name(participant.scheme, participant.value, settings.sml_zone).lower()
        records.append(Record(name, "CNAME", settings.dns_ttl, cname_target(settings)))
    return records


def nameserver(settings: Settings) -> str:
    return f"ns1.{settings.sml_zone}"


def apex_records(settings: Settings, serial: int) -> list[Record]:
    """What the zone holds besides participants (the embedded server and ``zone export`` use these)."""
    zone = settings.sml_zone
    ttl = settings.dns_ttl
    minimum = min(ttl, 3600)
    records = [
        Record(zone, "SOA", ttl, f"{nameserver(settings)}. hostmaster.{zone}. {serial} 3600 600 1209600 {minimum}"),
        Record(zone, "NS", ttl, f"{nameserver(settings)}."),
    ]
    listen = settings.dns_listen.host
    try:
        address = ipaddress.ip_address(listen)
        records.append(Record(nameserver(settings), "A" if address.version == 4 else "AAAA", ttl, str(address)))
    except ValueError:
        pass
    if "cname" in settings.dns_record_types:
        _host, smp_address = _smp_host(settings)
        if smp_address is not None:
            rtype = "A" if smp_address.version == 4 else "AAAA"
            records.append(Record(f"smp.{zone}", rtype, ttl, str(smp_address)))
    return records
