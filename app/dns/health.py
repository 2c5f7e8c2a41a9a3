"""The worker's own health and metrics over HTTP (``SDK_WORKER_HEALTH_LISTEN``), for Kubernetes probes.

Alive means the work loop has finished a round recently: a loop stuck on a hung connection or a
dead database shows as 503 after ``STALE_SECONDS``, so the pod is restarted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.settings import HostPort

#: A round normally ends within a second; a slow primary (time-outs, back-off) may take a minute.
STALE_SECONDS = 120.0


class Heartbeat:
    def __init__(self) -> None:
        self.started = time.time()
        self.last = self.started
        self.rounds = 0

    def beat(self) -> None:
        self.last = time.time()
        self.rounds += 1

    def fresh(self) -> bool:
        return time.time() - self.last < STALE_SECONDS

    def metrics(self) -> str:
        return (
            "# HELP sdk_worker_last_round_timestamp_seconds When the worker last finished a round (Unix time).\n"
            "# TYPE sdk_worker_last_round_timestamp_seconds gauge\n"
            f"sdk_worker_last_round_timestamp_seconds {self.last:.3f}\n"
            "# HELP sdk_worker_rounds_total Rounds the worker has finished.\n"
            "# TYPE sdk_worker_rounds_total counter\n"
            f"sdk_worker_rounds_total {self.rounds}\n"
        )


def serve_health(
    listen: HostPort, heartbeat: Heartbeat, more_metrics: Callable[[], str] | None = None
) -> ThreadingHTTPServer:
    """Answer /healthz and /metrics on ``listen`` from a daemon thread; ``shutdown()`` the result to stop.

    ``more_metrics`` adds the series of the worker's other jobs (the audit checkpoints).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                fresh = heartbeat.fresh()
                self._send(200 if fresh else 503, "ok\n" if fresh else "the work loop is stuck\n")
            elif self.path == "/metrics":
                body = heartbeat.metrics() + (more_metrics() if more_metrics else "")
                self._send(200, body, "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._send(404, "not found\n")

        def _send(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:  # probes every few seconds would flood the log
            return

    server = ThreadingHTTPServer((listen.host, listen.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-health", daemon=True).start()
    return server
