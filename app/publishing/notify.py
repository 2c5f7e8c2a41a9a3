"""Cache coherence across processes and replicas on PostgreSQL: ``LISTEN``/``NOTIFY``.

A transaction that changes publications moves the generation counter and, on PostgreSQL, sends a
notification on :data:`CHANNEL` (``pg_notify``, delivered only when the transaction commits). Every
process that serves SMP reads listens on its own connection and expires its read cache the moment one
arrives, so a change committed through one replica is served by every other at once. The generation
poll of :class:`~app.publishing.cache.PublicationCache` (``SDK_SMP_MEMORY_CACHE_SECONDS``) stays as the
fallback: for SQLite (one machine, no notifications), and while a listener is reconnecting — after a
reconnect the cache is expired once, for whatever was missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

logger = logging.getLogger("sdk_addressbook.publishing")

CHANNEL = "sdk_publications"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")


def notify_changed(session: Session) -> None:
    """Tell every listening process that publications change when this transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY)


class ChangeListener:
    """A daemon thread on its own PostgreSQL connection that calls ``on_change`` for each notification."""

    #: Seconds between checks that the listener should stop, and the wait before a reconnect.
    WAKE_SECONDS = 5.0
    RETRY_SECONDS = 2.0

    def __init__(self, engine: Engine, on_change: Callable[[], None]) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_change = on_change
        self._stopped = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publication-listener", daemon=True)

    def start(self) -> ChangeListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        import psycopg

        while not self._stopped.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self._on_change()  # whatever committed while nobody listened
                    while not self._stopped.is_set():
                        for _notification in connection.notifies(timeout=self.WAKE_SECONDS):
                            self._on_change()
                            if self._stopped.is_set():
                                break
            except psycopg.Error as error:
                self.listening.clear()
                logger.warning("publication listener lost its connection (%s); polling until it is back", error)
                self._stopped.wait(self.RETRY_SECONDS)
        self.listening.clear()
