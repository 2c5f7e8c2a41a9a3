"""The records of the SML zone: per registered participant (NAPTR, optionally CNAME), per external SMP (its
``publisher`` name, for the CNAMEs) and at the apex (SOA, NS).

NAPTR: ``100 10 "U" "{service}" "!^.*$!{SMP address}!" .`` (BDXL U-NAPTR; the client appends
``/{participant}``); for this service's own SMP the address is the base URL of the flavour
``SDK_DNS_SMP_FLAVOUR`` names (``{SDK_PUBLIC_URL}{SDK_SMP_PATH}`` for OASIS SMP 1.0, ``…/peppol``
for Peppol, the same root with the service ``oasis-bdxr-smp-2`` for SMP 2.0, whose clients add
``/bdxr-smp-2``), for an external SMP its logical address.
CNAME (Peppol style, when ``SDK_DNS_RECORD_TYPES`` asks): for this
service's participants to its host name (or, when the public URL names an IP address, to ``smp.{zone}``,
which carries an A/AAAA record, because a CNAME cannot point at an address); for an external SMP's
participants to ``{smp id}.publisher.{zone}``, which points at that SMP's host (as BDMSL publishes it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.dns.naming import cname_name, naptr_name
from app.identifiers import ParticipantId
from app.publishing.flavours import dns_flavour
from app.registry.models import SMP_SERVICE
from app.settings import Settings

#: A NAPTR regexp field is one DNS character-string (at most 255 bytes): ``!^.*$!`` + address + ``!``.
MAX_NAPTR_ADDRESS = 255 - len("!^.*$!!")


@dataclass(frozen=True, order=True)
class Record:
    name: str  # absolute, lower-case, no trailing dot
    rtype: str
    ttl: int
    rdata: str  # presentation format, absolute names with trailing dots


@dataclass(frozen=True)
class Target:
    """Where a participant's records lead: the SMP's address (NAPTR) and the name its CNAME points at."""

    address: str
    cname: str  # absolute, with the trailing dot
    service: str | None = None  # the NAPTR service, when the target decides it (this service's own SMP)


def naptr_rdata_to(address: str, service: str = SMP_SERVICE) -> str:
    return f'100 10 "U" "{service}" "!^.*$!{address}!" .'


def naptr_rdata(settings: Settings) -> str:
    """The NAPTR rdata of this service's own participants."""
    flavour = dns_flavour(settings)
    return naptr_rdata_to(flavour.discovery_url(settings), flavour.naptr_service)


def _host(url: str) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    host = urlsplit(url).hostname or "localhost"
    try:
        return host, ipaddress.ip_address(host)
    except ValueError:
        return host.lower(), None


def cname_target(settings: Settings) -> str:
    host, address = _host(settings.public_url)
    return f"smp.{settings.sml_zone}." if address is not None else f"{host}."


def local_target(settings: Settings) -> Target:
    """This service's own SMP, in the flavour ``SDK_DNS_SMP_FLAVOUR`` names."""
    flavour = dns_flavour(settings)
    return Target(flavour.discovery_url(settings), cname_target(settings), flavour.naptr_service)


def publisher_name(smp_id: str, zone: str) -> str:
    """``{smp id}.publisher.{zone}``: the name an external SMP's participant CNAMEs point at."""
    return f"{smp_id.lower()}.publisher.{zone}"


def smp_target(smp_id: str, logical_address: str, settings: Settings) -> Target:
    """An external SMP."""
    return Target(logical_address, publisher_name(smp_id, settings.sml_zone) + ".")


def participant_records(
    participant: ParticipantId, settings: Settings, target: Target | None = None, service: str = SMP_SERVICE
) -> list[Record]:
    """The records of one registered participant (of this service's own SMP unless ``target`` says otherwise)."""
    target = target or local_target(settings)
    records = []
    if "naptr" in settings.dns_record_types:
        name = naptr_name(participant.scheme, participant.value, settings.sml_zone)
        rdata = naptr_rdata_to(target.address, target.service or service)
        records.append(Record(name, "NAPTR", settings.dns_ttl, rdata))
    if "cname" in settings.dns_record_types:
        name = cname_name(participant.scheme, participant.value, settings.sml_zone).lower()
        records.append(Record(name, "CNAME", settings.dns_ttl, target.cname))
    return records


def publisher_records(smp_id: str, logical_address: str, settings: Settings) -> list[Record]:
    """An external SMP's own name, when participants get CNAMEs: to its host, or A/AAAA for an address."""
    if "cname" not in settings.dns_record_types:
        return []
    name = publisher_name(smp_id, settings.sml_zone)
    host, address = _host(logical_address)
    if address is None:
        return [Record(name, "CNAME", settings.dns_ttl, f"{host}.")]
    return [Record(name, "A" if address.version == 4 else "AAAA", settings.dns_ttl, str(address))]


def nameserver(settings: Settings) -> str:
    return f"ns1.{settings.sml_zone}"


def apex_records(settings: Settings, serial: int) -> list[Record]:
    """What the zone holds besides registrations (the embedded server and ``zone export`` use these)."""
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
        _host_name, smp_address = _host(settings.public_url)
        if smp_address is not None:
            rtype = "A" if smp_address.version == 4 else "AAAA"
            records.append(Record(f"smp.{zone}", rtype, ttl, str(smp_address)))
    return records
