"""The in-process cache of the SMP read path.

Entries live until the publications change, not for a fixed time: each committed change moves a
generation counter in the database (one row, written in the same transaction), and every worker
compares its counter with the database's at most once per ``check_interval`` seconds, clearing its
cache when it moved. A change made by this process clears the cache at once. So another worker serves
a changed document at most ``check_interval`` late, and an unchanged one never costs a query twice.

On PostgreSQL a listener (:mod:`app.publishing.notify`) expires the cache the moment another process
commits a change, so the interval is only the fallback there.

Documents are kept in least-recently-used order within a memory budget; absences (unknown paths) in
a separate, smaller table, so a flood of made-up paths cannot push real documents out.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol


class Stoppable(Protocol):
    def stop(self) -> None: ...


#: This process's id, kept current across forks without a system call on the read path.
_process = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _process.__setitem__(0, os.getpid()))


_ENTRY_OVERHEAD = 400  # bytes of bookkeeping per entry, roughly (key, tuple, dict slot)


@dataclass(frozen=True)
class CachedDocument:
    body: bytes
    etag: str
    last_modified: str  # HTTP date
    headers: tuple[tuple[str, str], ...]  # everything a 200 answer carries except the request id


class PublicationCache:
    def __init__(
        self,
        generation: Callable[[], int | None],
        *,
        check_interval: float,
        budget_bytes: int,
        max_absences: int = 20_000,
    ) -> None:
        self._generation = generation
        self.check_interval = check_interval
        self.budget_bytes = budget_bytes
        self.max_absences = max_absences
        self._documents: OrderedDict[str, CachedDocument] = OrderedDict()
        self._absent: OrderedDict[str, None] = OrderedDict()
        self._size = 0
        self._seen_generation: int | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._listener_start: Callable[[], Stoppable] | None = None
        self._listener_pid: int | None = None
        self._listener: Stoppable | None = None

    def expire(self) -> None:
        """Compare the generation on the next read (a change was announced)."""
        self._next_check = 0.0

    def listen_with(self, start: Callable[[], Stoppable]) -> None:
        """Start a change listener (``start``) in each process that reads through this cache, on its first
        read: gunicorn forks its workers after the app is built, and threads do not survive a fork."""
        self._listener_start = start

    def _ensure_listener(self) -> None:
        if self._listener_start is not None and self._listener_pid != _process[0]:
            with self._lock:
                if self._listener_pid != _process[0]:
                    self._listener_pid = _process[0]
                    self._listener = self._listener_start()

    def close(self) -> None:
        """Stop this process's listener (the database is being disposed of)."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def _revalidate(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._lock:
            if now < self._next_check:
                return
            self._next_check = now + self.check_interval
        current = self._generation()
        if current is None or current != self._seen_generation:
            self.clear()
            self._seen_generation = current

    def get(self, key: str) -> CachedDocument | Literal[False] | None:
        """The document, ``None`` for a known absence, ``False`` when the cache does not know."""
        if self.budget_bytes <= 0:
            return False
        self._ensure_listener()
        self._revalidate()
        document = self._documents.get(key)
        if document is not None:
            with self._lock:
                if key in self._documents:
                    self._documents.move_to_end(key)
            return document
        if key in self._absent:
            return None
        return False

    def put(self, key: str, document: CachedDocument | None, generation: int | None) -> None:
        """Keep what was read at ``generation``; a read from another generation is served but not kept."""
        if self.budget_bytes <= 0:
            return
        self._revalidate()
        if generation is None or generation != self._seen_generation:
            return
        with self._lock:
            if document is None:
                self._absent[key] = None
                if len(self._absent) > self.max_absences:
                    self._absent.popitem(last=False)
                return
            size = len(document.body) + len(key) + _ENTRY_OVERHEAD
            if size > self.budget_bytes:
                return
            previous = self._documents.pop(key, None)
            if previous is not None:
                self._size -= len(previous.body) + len(key) + _ENTRY_OVERHEAD
            self._documents[key] = document
            self._size += size
            while self._size > self.budget_bytes:
                old_key, old = self._documents.popitem(last=False)
                self._size -= len(old.body) + len(old_key) + _ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._documents.clear()
            self._absent.clear()
            self._size = 0

    def invalidate(self) -> None:
        """This process changed publications: forget everything and re-read the generation next time."""
        self.clear()
        self._next_check = 0.0

    @property
    def size_bytes(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._documents)
