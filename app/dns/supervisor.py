"""``serve`` keeps its DNS side running: the child program is restarted when it exits, with back-off.

The supervisor runs as a thread of gunicorn's master. What it knows (running or not, how often it
restarted, since when it is down) lives in a few bytes of memory shared with the HTTP workers, which
are forks of the master: ``/healthz`` and ``/readyz`` read it there, and ``/readyz`` also asks the
DNS side itself (:func:`probe`), so readiness means that DNS answers, not only that a process exists.
"""

from __future__ import annotations

import logging
import mmap
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.query
import dns.rcode

from app.settings import HostPort

logger = logging.getLogger("sdk_addressbook.dns")

#: The first restart waits this long; every failed start doubles it, up to :data:`MAX_BACKOFF`.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: A child that ran this long was healthy: the next failure starts the back-off again.
HEALTHY_RUN = 60.0
#: Down for longer than this (restarts keep failing) and ``/healthz`` fails too: let the pod restart.
STUCK_AFTER = 120.0

_LAYOUT = struct.Struct("=?qqdd")  # running, pid, restarts, down_since (0: up), last exit status as float


@dataclass(frozen=True)
class SideState:
    running: bool
    pid: int
    restarts: int
    down_since: float | None
    last_exit: int | None

    def describe(self) -> str:
        if self.running:
            return "ok" if not self.restarts else f"ok (restarted {self.restarts} times)"
        # 0 also stands for "not known": gunicorn's master may collect the status before the supervisor does.
        status = f" (exit status {self.last_exit})" if self.last_exit else ""
        down = f" for {time.time() - self.down_since:.0f} s" if self.down_since else ""
        return f"down{down}{status}: restarting, {self.restarts} restarts so far"

    @property
    def stuck(self) -> bool:
        return not self.running and self.down_since is not None and time.time() - self.down_since > STUCK_AFTER


class SharedState:
    """The supervisor's view, readable from every process forked after it was made."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, _LAYOUT.size)
        self.write(SideState(running=False, pid=0, restarts=0, down_since=time.time(), last_exit=None))

    def write(self, state: SideState) -> None:
        last_exit = float("nan") if state.last_exit is None else float(state.last_exit)
        self._memory[: _LAYOUT.size] = _LAYOUT.pack(
            state.running, state.pid, state.restarts, state.down_since or 0.0, last_exit
        )

    def read(self) -> SideState:
        running, pid, restarts, down_since, last_exit = _LAYOUT.unpack(self._memory[: _LAYOUT.size])
        return SideState(
            running=running,
            pid=pid,
            restarts=restarts,
            down_since=down_since or None,
            last_exit=None if last_exit != last_exit else int(last_exit),  # NaN: not known
        )


class Supervisor:
    """Start the DNS side with ``start_process`` and start it again whenever it exits, until :meth:`stop`."""

    def __init__(self, start_process: Callable[[], subprocess.Popen[bytes]], state: SharedState) -> None:
        self._start_process = start_process
        self.state = state
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | _Exited = _Exited()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="dns-supervisor", daemon=True)

    def start(self) -> None:
        self._launch(restarts=0)
        self._thread.start()

    def _launch(self, restarts: int) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._process = self._start_process()
            self.state.write(
                SideState(running=True, pid=self._process.pid, restarts=restarts, down_since=None, last_exit=None)
            )

    def _watch(self) -> None:
        backoff, restarts = FIRST_BACKOFF, 0
        while not self._stopping.is_set():
            process = self._process
            started = time.monotonic()
            status = process.wait()  # 0 also when gunicorn's master reaped it first
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= HEALTHY_RUN:
                backoff = FIRST_BACKOFF
            self.state.write(
                SideState(running=False, pid=0, restarts=restarts, down_since=time.time(), last_exit=status)
            )
            logger.error(
                "the DNS worker (pid %d) exited%s; starting it again in %.0f s",
                process.pid,
                f" with status {status}" if status else "",
                backoff,
            )
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF)
            restarts += 1
            try:
                self._launch(restarts)
            except OSError as error:  # could not even start it: count it as a failed start, wait, try again
                logger.error("the DNS worker could not be started: %s", error)
                self._process = _Exited()
            else:
                logger.info("the DNS worker started again (pid %d)", self._process.pid)

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if isinstance(process, _Exited):
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class _Exited:
    """Stands for a child that never started (its start raised)."""

    pid = 0

    def wait(self, timeout: float | None = None) -> int:
        return 1


def probe(listen: HostPort, zone: str, timeout: float = 0.5) -> str:
    """Ask the embedded DNS server for the zone's SOA: ``ok`` or why not."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)  # noqa: S104 (a listen address)
    query = dns.message.make_query(zone, "SOA")
    try:
        response = dns.query.udp(query, host, port=listen.port, timeout=timeout)
    except (OSError, dns.exception.DNSException) as error:
        return f"not answering on {listen}: {type(error).__name__}"
    if response.rcode() != dns.rcode.NOERROR or not response.answer:
        return f"answers {dns.rcode.to_text(response.rcode())} for the SOA of {zone}"
    return "ok"
