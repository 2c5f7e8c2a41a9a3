"""``serve`` as a process tree: gunicorn's master, its workers and the DNS worker it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.named import answers_soa, free_port
from tests.processes import EXECUTABLE, service_environ, wait_until

ZONE = "sml.sdk-addressbook.test"


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_a_gunicorn_worker_leaving_does_not_take_the_dns_server_with_it(tmp_path):
    http_port, dns_port = free_port(), free_port()
    environ = service_environ()
    environ.update(
        SDK_INSTANCE_DIR=str(tmp_path / "instance"),
        SDK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        SDK_DNS_LISTEN=f"127.0.0.1:{dns_port}",
        SDK_ENV_FILE=str(tmp_path / "none.env"),
    )
    subprocess.run([EXECUTABLE, "init"], env=environ, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen([EXECUTABLE, "serve"], env=environ, stdout=log, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=1).close()
                return True
            except OSError:
                return False

        assert wait_until(healthy) and wait_until(lambda: answers_soa(dns_port, ZONE))
        children = _children(serve.pid)
        [dns_worker] = [pid for pid in children if "main(['worker'])" in _command(pid)]
        [http_worker] = [pid for pid in children if pid != dns_worker]
        os.kill(http_worker, signal.SIGTERM)  # leaves as a recycled or timed-out worker does: atexit and all
        assert wait_until(lambda: http_worker not in _children(serve.pid) and len(_children(serve.pid)) == 2)
        assert wait_until(healthy)  # gunicorn started another worker
        time.sleep(1)
        alive = Path(f"/proc/{dns_worker}").exists() and answers_soa(dns_port, ZONE)
        assert alive, (tmp_path / "serve.log").read_text()
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        log.close()
    assert wait_until(lambda: not answers_soa(dns_port, ZONE), 10)  # and stopping serve stops the DNS worker too
