"""Run the DNS side: the embedded server (embedded mode) or the outbox publisher (rfc2136 mode).

``sdk-addressbook worker`` runs it in the foreground; ``serve`` runs it in a child process started
before gunicorn forks its workers (so no thread of it is ever copied by a fork).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading

from app.dns.health import Heartbeat, serve_health
from app.extensions import Database
from app.settings import Settings

logger = logging.getLogger("sdk_addressbook.dns")


def run(settings: Settings, stop: threading.Event) -> None:
    database = Database(settings.database_url, pool_size=2)
    heartbeat = Heartbeat()
    health = serve_health(settings.worker_health_listen, heartbeat) if settings.worker_health_listen else None
    try:
        if settings.dns_mode == "embedded":
            from app.dns.server import EmbeddedDnsServer

            server = EmbeddedDnsServer(settings, database)
            server.start()
            logger.info("embedded DNS server for %s on %s", settings.sml_zone, settings.dns_listen)
            while not stop.wait(1.0):
                heartbeat.beat()
            server.stop()
        else:
            from app.dns.rfc2136 import OutboxPublisher

            publisher = OutboxPublisher(settings, database)
            logger.info("publishing DNS changes to %s (zone %s)", settings.dns_primary, settings.sml_zone)
            publisher.run(stop, on_round=heartbeat.beat)
    finally:
        if health is not None:
            health.shutdown()
            health.server_close()
        database.dispose()


def run_until_signalled(settings: Settings) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(settings, stop)


def _child(settings: Settings, log_level: str) -> None:
    from app.requestlog import configure_json_logging

    configure_json_logging(log_level)
    run_until_signalled(settings)


def start_child(settings: Settings) -> multiprocessing.Process:
    """The DNS side in its own process; terminate() it to stop."""
    process = multiprocessing.get_context("fork").Process(
        target=_child, args=(settings, settings.log_level), name="sdk-addressbook-dns", daemon=True
    )
    process.start()
    return process
