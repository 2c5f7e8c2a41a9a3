"""The supervisor of serve's DNS worker, with stand-in programs: restarts, back-off, what the probes read."""

from __future__ import annotations

import subprocess
import sys
import time

from app.dns import supervisor
from app.dns.supervisor import SharedState, SideState, Supervisor
from tests.processes import wait_until


def test_an_exiting_program_is_started_again_and_its_state_is_shared(monkeypatch):
    monkeypatch.setattr(supervisor, "FIRST_BACKOFF", 0.05)
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        # The first two exit at once (status 3); the third keeps running.
        code = "import sys; sys.exit(3)" if len(started) < 2 else "import time; time.sleep(60)"
        started.append(subprocess.Popen([sys.executable, "-c", code]))
        return started[-1]

    state = SharedState()
    watched = Supervisor(start, state)
    watched.start()
    try:
        assert wait_until(lambda: len(started) == 3 and state.read().running, 10)
        current = state.read()
        assert current.pid == started[-1].pid and current.restarts == 2
        assert current.describe() == "ok (restarted 2 times)"
    finally:
        watched.stop()
    assert started[-1].poll() is not None  # stop() ends the running program
    assert [process.returncode for process in started[:2]] == [3, 3]


def test_liveness_fails_only_when_the_worker_stays_down():
    restarting = SideState(running=False, pid=0, restarts=4, down_since=time.time() - 5, last_exit=1)
    assert not restarting.stuck and restarting.describe().startswith("down for 5 s (exit status 1)")
    stuck = SideState(
        running=False, pid=0, restarts=9, down_since=time.time() - supervisor.STUCK_AFTER - 1, last_exit=1
    )
    assert stuck.stuck
    shared = SharedState()
    shared.write(stuck)
    assert shared.read().stuck and shared.read().last_exit == 1
