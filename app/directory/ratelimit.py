"""Requests per client address per minute for the public directory: a token bucket per address.

The buckets live in the process, so with ``SDK_HTTP_WORKERS`` workers a client may get up to that many
times the limit; that is the price of not putting a shared store in the read path (documented).
Behind a reverse proxy, the proxy must pass the client address (see docs/directory.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: Bound on remembered addresses; the least recently seen are forgotten first (a full bucket again).
MAX_CLIENTS = 100_000


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0 when the request may go ahead, otherwise the seconds to wait before the next one will."""
        now = self.clock()
        with self._lock:
            tokens, stamp = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                wait, tokens = 0.0, tokens - 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
