"""RFC 2136 mode: apply the ``dns_changes`` outbox to the DNS primary with TSIG-signed UPDATE messages.

Changes are sent in id order, many RRsets per UPDATE message (``replace`` for an upsert, ``delete`` of
the RRset for a removal: both idempotent, so re-sending after a crash is harmless). A row is marked
applied only after the primary answered NOERROR; on failure the head of the queue waits with
exponential back-off and nothing behind it overtakes it. One drainer at a time (a PostgreSQL advisory
lock; SQLite runs a single process anyway).

A primary that signs the zone itself (BIND's ``dnssec-policy`` with inline signing) takes updates into
the unsigned zone and copies them to the signed one it serves. After a burst of updates BIND 9.18 has
been seen to leave the last ones uncopied until some later update arrives. So once the outbox is quiet
for :data:`CONFIRM_AFTER`, the publisher asks the primary for the last change it sent; when that is not
served yet, it writes the marker ``_sdk-addressbook.{zone}`` TXT (the time of the nudge, outside the
service's namespace), which makes the primary copy everything, and asks again a second later.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.update
import dns.zone
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app.database import Database
from app.dns.tsig import tsig_key
from app.registry.columns import utcnow
from app.registry.models import DnsChange, DnsState
from app.settings import Settings

logger = logging.getLogger("sdk_addressbook.dns")

BATCH_SIZE = 200  # RRsets per UPDATE: ~15 KB of NAPTR, far below the 64 KiB TCP message limit
MAX_BACKOFF = timedelta(seconds=60)
_LOCK_KEY = 0x5D_4B_A0_D2
#: Seconds of quiet after the last update before the primary is asked whether it serves it.
CONFIRM_AFTER = 1.0
MARKER_LABEL = "_sdk-addressbook"


class PublishError(Exception):
    """The primary did not accept an update (unreachable, refused, bad TSIG)."""


@dataclass(frozen=True)
class Primary:
    zone: dns.name.Name
    host: str
    port: int
    keyring: dict[dns.name.Name, dns.tsig.Key]
    key_name: dns.name.Name
    algorithm: dns.name.Name
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Primary:
        key = tsig_key(settings)
        if settings.dns_primary is None or key is None:
            raise PublishError("SDK_DNS_PRIMARY and SDK_DNS_TSIG_* are needed in rfc2136 mode")
        return cls(
            zone=dns.name.from_text(settings.sml_zone),
            host=settings.dns_primary.host,
            port=settings.dns_primary.port,
            keyring={key.name: key},
            key_name=key.name,
            algorithm=key.algorithm,
        )

    def new_update(self) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(
            self.zone, keyring=self.keyring, keyname=self.key_name, keyalgorithm=self.algorithm
        )

    def send(self, message: dns.update.UpdateMessage) -> None:
        try:
            response = dns.query.tcp(message, self.host, port=self.port, timeout=self.timeout)
        except (OSError, dns.exception.DNSException) as error:
            raise PublishError(f"{self.host}:{self.port}: {type(error).__name__}: {error}") from None
        if response.rcode() != dns.rcode.NOERROR:
            raise PublishError(f"{self.host}:{self.port} answered {dns.rcode.to_text(response.rcode())}")

    def serves(self, change: SentChange) -> bool:
        """Whether the primary answers for ``change`` as it was sent (the RRset, or no RRset after a delete)."""
        query = dns.message.make_query(_owner(change.name), change.rtype)
        try:
            response = dns.query.udp(query, self.host, port=self.port, timeout=2)
        except (OSError, dns.exception.DNSException):
            return True  # unreachable: the next round's failure says so; nothing to nudge now
        rdtype = dns.rdatatype.from_text(change.rtype)
        served = {rdata for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset}
        if change.operation == "delete":
            return not served
        return served == {_parsed(change.rtype, text) for text in change.rdata}

    def transfer(self) -> dns.zone.Zone:
        """AXFR of the zone (TSIG-signed), for the reconciler."""
        try:
            return dns.zone.from_xfr(
                dns.query.xfr(
                    self.host,
                    self.zone,
                    port=self.port,
                    keyring=self.keyring,
                    keyname=self.key_name,
                    keyalgorithm=self.algorithm,
                    timeout=self.timeout,
                    lifetime=120,
                    relativize=False,
                ),
                relativize=False,
            )
        except (OSError, dns.exception.DNSException) as error:
            raise PublishError(
                f"zone transfer from {self.host}:{self.port} failed: {type(error).__name__}: {error}"
            ) from None


@functools.lru_cache(maxsize=4096)
def _parsed(rtype: str, text: str) -> dns.rdata.Rdata:
    # Every participant NAPTR carries the same rdata: parse each distinct text once.
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text, relativize=False)


def _owner(name: str) -> dns.name.Name:
    # Stored names are plain lower-case letter-digit-hyphen labels: no escapes to parse.
    return dns.name.Name([label.encode("ascii") for label in name.split(".")] + [b""])


def _add_change(message: dns.update.UpdateMessage, change: DnsChange) -> None:
    name = _owner(change.name)
    if change.operation == "delete":
        message.delete(name, change.rtype)
    else:
        message.replace(name, change.ttl, *(_parsed(change.rtype, text) for text in change.rdata or []))


@dataclass(frozen=True)
class SentChange:
    """The last change of a round the primary accepted: what it should serve once it has applied it."""

    name: str
    rtype: str
    operation: str
    rdata: tuple[str, ...]


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 10)), MAX_BACKOFF)


class OutboxPublisher:
    def __init__(
        self, settings: Settings, database: Database, *, batch_size: int = BATCH_SIZE, messages_per_round: int = 5
    ) -> None:
        self.settings = settings
        self.database = database
        self.primary = Primary.from_settings(settings)
        self.batch_size = batch_size
        self.messages_per_round = messages_per_round
        #: The last change sent and when, until the primary is seen serving it; nudges sent so far.
        self.unconfirmed: SentChange | None = None
        self._sent_at = 0.0
        self.nudges = 0

    def _pending(self, session: Session, now: datetime) -> list[DnsChange]:
        rows = list(
            session.scalars(
                select(DnsChange)
                .where(DnsChange.applied_at.is_(None))
                .order_by(DnsChange.id)
                .limit(self.batch_size * self.messages_per_round)
            )
        )
        head = rows[0] if rows else None
        if head is None or (head.next_attempt_at is not None and head.next_attempt_at > now):
            return []
        return rows

    def publish_once(self) -> int:
        """Send one round (a few UPDATE messages); return how many changes the primary accepted."""
        with self.database.writer() as session:
            postgresql = session.get_bind().dialect.name == "postgresql"
            if postgresql and not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}):
                return 0  # another drainer is at work
            now = utcnow()
            changes = self._pending(session, now)
            accepted: list[int] = []
            failure: tuple[DnsChange, PublishError] | None = None
            for start in range(0, len(changes), self.batch_size):
                batch = changes[start : start + self.batch_size]
                message = self.primary.new_update()
                for change in batch:
                    _add_change(message, change)
                try:
                    self.primary.send(message)
                except PublishError as error:
                    failure = (batch[0], error)
                    break
                accepted.extend(change.id for change in batch)
                last = batch[-1]
                self.unconfirmed = SentChange(last.name, last.rtype, last.operation, tuple(last.rdata or ()))
                self._sent_at = time.monotonic()
            if accepted:
                # One statement and one commit for the whole round: the database cost is shared by
                # several messages, and only what the primary acknowledged is marked.
                session.execute(
                    update(DnsChange)
                    .where(DnsChange.id.in_(accepted))
                    .values(applied_at=now, attempts=DnsChange.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                session.execute(update(DnsState).where(DnsState.id == 1).values(last_published_at=now, last_error=None))
            if failure is not None:
                head, refusal = failure
                head.attempts += 1
                head.last_error = str(refusal)
                head.next_attempt_at = now + backoff(head.attempts)
                session.execute(
                    update(DnsState)
                    .where(DnsState.id == 1)
                    .values(publish_errors=DnsState.publish_errors + 1, last_error=str(refusal))
                )
                logger.warning(
                    "DNS update failed (attempt %d, next in %s): %s", head.attempts, backoff(head.attempts), refusal
                )
            return len(accepted)

    def drain(self) -> int:
        """Publish until nothing is due; return how many changes were applied."""
        total = 0
        while True:
            applied = self.publish_once()
            total += applied
            if applied < self.batch_size * self.messages_per_round:  # a short round: nothing more is due
                return total

    def confirm(self, *, now: float | None = None) -> bool:
        """After :data:`CONFIRM_AFTER` of quiet: whether the primary serves the last change; nudge it when not."""
        change = self.unconfirmed
        moment = time.monotonic() if now is None else now
        if change is None or moment - self._sent_at < CONFIRM_AFTER:
            return change is None
        if self.primary.serves(change):
            self.unconfirmed = None
            return True
        marker = self.primary.new_update()
        marker.replace(
            dns.name.Name([MARKER_LABEL.encode(), *self.primary.zone.labels]),
            60,
            "TXT",
            f'"nudged {utcnow().isoformat(timespec="seconds")}"',
        )
        try:
            self.primary.send(marker)
        except PublishError as error:
            logger.warning("could not nudge the DNS primary: %s", error)
        self.nudges += 1
        self._sent_at = moment
        logger.info("the DNS primary did not serve %s %s yet: nudged it", change.name, change.rtype)
        return False

    def prune(self, older_than: timedelta = timedelta(days=7)) -> None:
        from sqlalchemy import delete

        with self.database.writer() as session:
            session.execute(
                delete(DnsChange).where(DnsChange.applied_at.is_not(None), DnsChange.applied_at < utcnow() - older_than)
            )

    def run(
        self, stop: threading.Event, *, poll_interval: float = 0.2, on_round: Callable[[], None] | None = None
    ) -> None:
        """The worker loop: drain, then wait for more (or for the back-off to pass).

        ``on_round`` is called after every round that finished, failed or not (the liveness heartbeat: a
        round that fails against a down primary still shows the loop is alive and backing off).
        """
        rounds = 0
        while not stop.is_set():
            try:
                applied = self.drain()
                if applied:
                    logger.info("applied %d DNS changes to %s:%d", applied, self.primary.host, self.primary.port)
                else:
                    self.confirm()
                rounds += 1
                if rounds % 3000 == 0:
                    self.prune()
            except Exception:
                logger.exception("DNS publisher round failed")
            if on_round is not None:
                on_round()
            stop.wait(poll_interval)
