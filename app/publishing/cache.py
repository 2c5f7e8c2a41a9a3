"""A short-lived in-process cache of publications for the read path.

Each entry lives ``ttl`` seconds, so a worker that did not make a change serves it at most that late;
the worker that commits a change clears its own cache at once. A negative entry (no such document)
is cached the same way, so floods of lookups for unknown participants do not reach the database.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedDocument:
    body: bytes
    etag: str
    last_modified: str  # HTTP date
    content_type: str


_MISSING = object()


class PublicationCache:
    def __init__(self, ttl: float, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[float, CachedDocument | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> CachedDocument | object | None:
        """The cached document, ``None`` for a cached absence, or ``MISSING``."""
        if self.ttl <= 0:
            return _MISSING
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return _MISSING
        return entry[1]

    def put(self, key: tuple[str, str], document: CachedDocument | None) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, document)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MISSING = _MISSING
