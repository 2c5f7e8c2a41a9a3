"""A standard zone file of the SML zone: the apex records and every participant record."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.dns.records import Record, apex_records
from app.registry.models import DnsRecord, DnsState
from app.settings import Settings


def stored_records(session: Session) -> Iterable[Record]:
    rows = session.execute(
        select(DnsRecord.name, DnsRecord.rtype, DnsRecord.ttl, DnsRecord.rdata)
        .order_by(DnsRecord.name, DnsRecord.rtype)
        .execution_options(yield_per=5000)
    )
    for name, rtype, ttl, rdata in rows:
        yield Record(name, rtype, ttl, rdata)


def zone_text(settings: Settings, serial: int, records: Iterable[Record]) -> Iterable[str]:
    yield f"; SML zone {settings.sml_zone}, written by sdk-addressbook (serial {serial})\n"
    yield f"$ORIGIN {settings.sml_zone}.\n$TTL {settings.dns_ttl}\n"
    for record in [*apex_records(settings, serial), *records]:
        yield f"{record.name}. {record.ttl} IN {record.rtype} {record.rdata}\n"


def export_zone(session: Session, settings: Settings) -> Iterable[str]:
    serial = session.scalar(select(DnsState.serial).where(DnsState.id == 1)) or 1
    return zone_text(settings, serial, stored_records(session))
