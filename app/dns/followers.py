"""Where each embedded DNS server stands in the outbox, and what that means for the DNS lag.

Every embedded server (one per replica, or one under ``serve``) answers from memory and follows
``dns_changes`` on its own, so progress is per server: a row in ``dns_followers`` with the id of the
last change it serves. A server that loaded the zone from ``dns_records`` serves every change up to
the id it read before loading. Rows of servers not seen for :data:`LIVE_SECONDS` say nothing about
what is served now and are left out; when no server is live, every change since the last one stopped
is pending (nobody serves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.registry.models import DnsChange, DnsFollower

#: A server reports at least this often …
REPORT_SECONDS = 5.0
#: … and counts as live while its last report is younger than this.
LIVE_SECONDS = 30.0
#: Rows of servers gone this long are removed (a restarted pod comes back under another name).
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Lag:
    pending: int
    oldest_pending_at: datetime | None
    live_followers: int


def report(session: Session, name: str, *, position: int, serial: int, now: datetime, started: bool = False) -> None:
    """Record that server ``name`` serves every change up to ``position`` (at zone serial ``serial``)."""
    row = session.get(DnsFollower, name)
    if row is None:
        session.add(DnsFollower(name=name, position=position, serial=serial, started_at=now, seen_at=now))
        return
    row.position, row.serial, row.seen_at = position, serial, now
    if started:
        row.started_at = now


def lag(session: Session, now: datetime) -> Lag:
    """Changes the furthest-behind live server does not serve yet (all since the last one, if none is live)."""
    live_since = now - timedelta(seconds=LIVE_SECONDS)
    live_count, behind = session.execute(
        select(func.count(), func.min(DnsFollower.position)).where(DnsFollower.seen_at >= live_since)
    ).one()
    if not live_count:
        behind = session.scalar(select(func.max(DnsFollower.position))) or 0
    pending, oldest = session.execute(
        select(func.count(), func.min(DnsChange.created_at)).where(DnsChange.id > behind)
    ).one()
    return Lag(pending=pending, oldest_pending_at=oldest, live_followers=live_count)


def prune(session: Session, now: datetime, *, older_than: timedelta) -> None:
    """Outbox rows every live server has passed, once older than ``older_than``; rows of long-gone servers."""
    session.execute(delete(DnsFollower).where(DnsFollower.seen_at < now - FORGET_AFTER))
    served = session.scalar(
        select(func.min(DnsFollower.position)).where(DnsFollower.seen_at >= now - timedelta(seconds=LIVE_SECONDS))
    )
    if served:
        session.execute(delete(DnsChange).where(DnsChange.id <= served, DnsChange.created_at < now - older_than))
