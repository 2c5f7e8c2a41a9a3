"""serve's DNS side: supervised (restarted when it exits), part of readiness, and honest about the outbox."""

from __future__ import annotations

import os
import signal

from app.dns.naming import naptr_name
from tests.processes import wait_until
from tests.served.service import ZONE


def test_a_killed_dns_worker_is_started_again_and_readiness_follows(served):
    assert served.ready() and served.dns_answers()
    pid = served.dns_worker_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: served.http("GET", "/readyz").status_code == 503, 5)
    down = served.http("GET", "/readyz").json()
    assert down["checks"]["dns"] != "ok" and down["checks"]["database"] == "ok"
    assert served.http("GET", "/healthz").status_code == 200  # not stuck: liveness holds while it restarts
    assert wait_until(served.dns_answers, 20), served.log_tail()
    assert wait_until(served.ready, 10)
    assert served.dns_worker_pid() not in (None, pid)
    health = served.http("GET", "/healthz").json()
    assert health["status"] == "ok" and health["dns"].startswith("ok (restarted")
    assert "exited" in served.log_tail(200)


def test_a_fresh_instance_reports_no_false_dns_alarm(served, federation):
    """The seeded records are in the zone the worker loaded: nothing is pending, doctor is quiet about DNS."""
    assert wait_until(lambda: served.http("GET", "/api/v1/status", federation.tokens["operator"]).ok)
    status = served.http("GET", "/api/v1/status", federation.tokens["operator"]).json()
    assert status["dns"]["outboxPending"] == 0, status
    metrics = served.http("GET", "/metrics").text
    assert "\nsdk_dns_outbox_pending 0\n" in metrics
    doctor = served.cli("doctor", check=False)
    assert "DNS" not in doctor.stdout, doctor.stdout
    assert doctor.returncode == 0, doctor.stdout


def test_a_change_reaches_dns_and_leaves_nothing_pending(served, federation):
    operator, region = federation.tokens["operator"], federation.ids["region"]
    name = naptr_name("iso6523-actorid-upis", "0203:regionexempel.se", ZONE)
    assert served.http("POST", f"/api/v1/organisations/{region}/suspend", operator).status_code == 200
    try:
        assert wait_until(lambda: served.ask(name).rcode() == 3, 5)  # NXDOMAIN
    finally:
        assert served.http("POST", f"/api/v1/organisations/{region}/reinstate", operator).status_code == 200
    assert wait_until(lambda: served.ask(name).rcode() == 0 and served.ask(name).answer, 5)

    def nothing_pending() -> bool:
        return served.http("GET", "/api/v1/status", operator).json()["dns"]["outboxPending"] == 0

    assert wait_until(nothing_pending, 5)
