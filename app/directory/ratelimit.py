"""Requests per client address per minute for the public directory.

Two limiters answer the same question (:meth:`acquire`: 0, or the seconds to wait):

- :class:`RateLimiter`, a token bucket per address in the process: the single-machine default. With
  ``SDK_HTTP_WORKERS`` workers (and replicas) a client may get up to that many times the limit.
- :class:`SharedRateLimiter`, with ``SDK_REDIS_URL``: a moving window per address in Redis (the
  ``limits`` library), so the limit holds across every worker and replica together. When Redis cannot
  be reached a request is counted by the process's own bucket instead (logged), so an outage of the
  limiter's store never takes the directory down.

Behind a reverse proxy, the proxy must pass the client address (see docs/directory.md).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger("sdk_addressbook.ratelimit")

#: Bound on remembered addresses; the least recently seen are forgotten first (a full bucket again).
MAX_CLIENTS = 100_000


class Limiter(Protocol):
    def acquire(self, client: str) -> float:
        """0 when the request may go ahead, otherwise the seconds to wait before the next one will."""
        ...


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


class SharedRateLimiter:
    """``per_minute`` requests per client in any 60 seconds, counted in Redis for every process at once."""

    #: Seconds a request waits for Redis at most before the process's own bucket decides.
    TIMEOUT = 0.25
    #: A Redis failure is logged at most this often.
    LOG_EVERY = 60.0

    def __init__(self, per_minute: int, redis_url: str, *, scope: str, key_prefix: str) -> None:
        from limits import RateLimitItemPerMinute
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter

        storage = RedisStorage(
            redis_url,
            key_prefix=key_prefix,
            wrap_exceptions=True,
            socket_timeout=self.TIMEOUT,
            socket_connect_timeout=self.TIMEOUT,
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerMinute(per_minute)
        self._scope = scope
        self._fallback = RateLimiter(per_minute)
        self._logged_at = -math.inf

    def acquire(self, client: str) -> float:
        from limits.errors import StorageError

        try:
            if self._limiter.hit(self._item, self._scope, client):
                return 0.0
            reset_at = self._limiter.get_window_stats(self._item, self._scope, client).reset_time
            return max(reset_at - time.time(), 0.001)
        except StorageError as error:
            if time.monotonic() - self._logged_at >= self.LOG_EVERY:
                self._logged_at = time.monotonic()
                logger.warning("rate limit store unreachable, counting in this process: %s", error)
            return self._fallback.acquire(client)


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
