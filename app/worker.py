"""Run the worker: the DNS side — the embedded server (embedded mode) or the outbox publisher (rfc2136
mode) — the audit checkpoints (:mod:`app.audit.anchor`), the directory entries of large imports
(:mod:`app.directory.backlog`) and, with ``SDK_SML_URL``, the SML client (:mod:`app.sml.client`): the
jobs that run once per installation.

``sdk-addressbook worker`` runs it in the foreground; ``serve`` starts that same command as a child
program before gunicorn forks its workers.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

from app.database import Database

if TYPE_CHECKING:
    from app.audit.anchor import CheckpointKeeper
from app.directory.backlog import BacklogWorker
from app.dns.health import Heartbeat, serve_health
from app.settings import Settings
from app.wiring import open_database

logger = logging.getLogger("sdk_addressbook.dns")


def run(settings: Settings, stop: threading.Event) -> None:
    database = open_database(settings, pool_size=2)
    heartbeat = Heartbeat()
    keeper = _checkpoint_keeper(settings, database)
    more_metrics = keeper.status.metrics if keeper else None
    health = (
        serve_health(settings.worker_health_listen, heartbeat, more_metrics) if settings.worker_health_listen else None
    )
    if keeper is not None:
        keeper.start(stop)
    _start_sml_client(settings, database, stop)
    BacklogWorker(database).start(stop)
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


def _start_sml_client(settings: Settings, database: Database, stop: threading.Event) -> None:
    """With ``SDK_SML_URL``: send this SMP's registrations to the external SML from a thread of the worker."""
    if settings.sml_url is None:
        return
    from app.sml.client import ClientOutbox

    outbox = ClientOutbox(settings, database)
    threading.Thread(target=outbox.run, args=(stop,), name="sml-client", daemon=True).start()
    logger.info("registering this SMP's participants in the SML at %s as %s", settings.sml_url, settings.sml_smp_id)


def _checkpoint_keeper(settings: Settings, database: Database) -> CheckpointKeeper | None:
    from app.audit.anchor import CheckpointKeeper
    from app.publishing.keys import SigningKeyError, load_signing_credentials

    if settings.audit_checkpoint_file is None:
        return None
    try:
        credentials = load_signing_credentials(settings)
    except SigningKeyError as error:
        logger.error("no audit checkpoints: %s (they are signed with the SMP signing key)", error)
        return None
    return CheckpointKeeper(database, settings.audit_checkpoint_file, credentials, settings.audit_checkpoint_interval)


def run_until_signalled(settings: Settings) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(settings, stop)


def start_child() -> subprocess.Popen[bytes]:
    """The DNS side as its own process (``sdk-addressbook worker``, same environment); terminate() it to stop.

    A separate program, not a fork: gunicorn forks its workers from the process that started this one,
    and a multiprocessing child would be inherited by them: a worker leaving (recycled, timed out) would
    terminate it at exit, and the DNS server with it.
    """
    return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['worker'])"])
