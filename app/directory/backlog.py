"""The directory's backlog: the entries of large imports, written by the worker after the import committed.

An import of more than ``SDK_DIRECTORY_INLINE_IMPORT_ROWS`` function addresses commits them (validated,
audited) with one ``directory_backlog`` row each instead of their directory entries, which would cost
the import about as much again; the worker (:class:`BacklogWorker`) writes the entries in batches, each
batch with its rows forgotten in the same transaction, so a crash repeats a batch and loses none. An
address changed or deleted before its turn is simply read as it is then (the sync compares with what
is stored). The age of the oldest row is the directory's lag: ``/api/v1/status`` and ``/metrics``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Uuid, bindparam, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app.database import Database
from app.directory import sync
from app.registry.bulk import insert_rows
from app.registry.columns import UtcDateTime
from app.registry.models import DirectoryBacklog

logger = logging.getLogger("sdk_addressbook.directory")

#: Addresses per transaction of the worker.
BATCH = 20_000
#: Seconds the worker waits when the backlog is empty.
POLL_SECONDS = 0.5


def queue(session: Session, address_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Leave the directory entries of these just-inserted addresses to the worker (same transaction)."""
    if session.get_bind().dialect.name == "postgresql":  # one statement, the rows made by the server
        ids = bindparam("ids", list(address_ids), type_=ARRAY(Uuid()))
        rows = select(func.unnest(ids), literal(now, UtcDateTime()))
        session.execute(insert(DirectoryBacklog).from_select(["function_address_id", "queued_at"], rows))
        return
    insert_rows(
        session, DirectoryBacklog.__table__, [{"function_address_id": i, "queued_at": now} for i in address_ids]
    )


def drain_once(session: Session, batch: int = BATCH) -> int:
    """Write the entries of up to ``batch`` queued addresses, oldest first, and forget them; how many."""
    query = select(DirectoryBacklog.function_address_id).order_by(DirectoryBacklog.queued_at).limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two workers (an upgrade's overlap) take different rows
    ids = list(session.scalars(query))
    if not ids:
        return 0
    sync.apply(session, sync.Changes(addresses=set(ids)))
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        session.execute(delete(DirectoryBacklog).where(DirectoryBacklog.function_address_id.in_(part)))
    return len(ids)


@dataclass(frozen=True)
class Lag:
    pending: int
    oldest_queued_at: datetime | None


def lag(session: Session) -> Lag:
    pending, oldest = session.execute(select(func.count(), func.min(DirectoryBacklog.queued_at))).one()
    return Lag(pending=pending or 0, oldest_queued_at=oldest)


class BacklogWorker:
    """A thread of the worker that drains the backlog until ``stop`` is set."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(stop,), name="directory-backlog", daemon=True)
        thread.start()
        return thread

    def _run(self, stop: threading.Event) -> None:
        waiting = select(DirectoryBacklog.function_address_id).limit(1)
        while not stop.is_set():
            try:
                with self.database.reader() as session:  # a write transaction only when there is work
                    queued = session.scalar(waiting) is not None
                written = 0
                if queued:
                    with self.database.writer() as session:
                        written = drain_once(session)
            except Exception:  # a database that is away: try again later, the rows wait
                logger.exception("directory backlog: could not write entries")
                written = 0
                stop.wait(5.0)
            if written:
                logger.info("directory backlog: %d entries written", written)
            else:
                stop.wait(POLL_SECONDS)
