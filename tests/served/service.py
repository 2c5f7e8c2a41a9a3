"""One running ``sdk-addressbook serve`` (gunicorn, the DNS worker child) and the ways tests talk to it.

Only sockets and subprocesses: HTTP with ``requests``, DNS with dnspython, the CLI as a program with
the instance's environment. Nothing here imports the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import requests

from tests.named import free_port
from tests.processes import EXECUTABLE, service_environ, wait_until

ZONE = "sml.sdk-addressbook.test"


@dataclass
class Served:
    folder: Path
    database_url: str
    http_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def environ(self) -> dict[str, str]:
        environ = service_environ()
        environ.update(
            SDK_INSTANCE_DIR=str(self.folder / "instance"),
            SDK_DATABASE_URL=self.database_url,
            SDK_HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
            SDK_PUBLIC_URL=self.base,
            SDK_DNS_LISTEN=f"127.0.0.1:{self.dns_port}",
            SDK_ENV_FILE=str(self.folder / "none.env"),
            SDK_HTTP_WORKERS="2",
            SDK_AUDIT_CHECKPOINT_INTERVAL="1",  # the worker's checkpoints, every second instead of five minutes
        )
        environ.update(self.extra)  # a test's own settings win (several replicas share one instance folder)
        return environ

    # -- life ------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """What ``make run`` does before it serves: migrate, development keys, the demo federation."""
        for command in ("init", "seed-demo"):
            self.cli(command)

    def start(self) -> None:
        log = (self.folder / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [EXECUTABLE, "serve"], env=self.environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if not wait_until(self.ready, 60):
            self.stop()
            raise AssertionError(f"serve did not become ready:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        path = self.folder / "serve.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def ready(self) -> bool:
        try:
            return requests.get(self.base + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def dns_worker_pid(self) -> int | None:
        """The DNS worker child of gunicorn's master, if one runs now."""
        assert self.process is not None
        # Children are listed per thread: the supervisor thread starts the restarted ones.
        tasks = Path(f"/proc/{self.process.pid}/task").glob("*/children")
        for child in (pid for task in tasks for pid in task.read_text().split()):
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"main(['worker'])" in command:
                return int(child)
        return None

    # -- talking to it -----------------------------------------------------------------------------

    def http(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.base + path, headers=headers, timeout=60, **kwargs)

    def cli(self, *arguments: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [EXECUTABLE, *arguments],
            env=self.environ,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"sdk-addressbook {' '.join(arguments)}: exit {result.returncode}\n{result.stderr}")
        return result

    def token(self, role: str, scope: str | None = None) -> str:
        arguments = ["token", "create", "--role", role, "--name", f"served {role}"]
        if scope:
            arguments += ["--scope", scope]
        return self.cli(*arguments).stdout.strip()

    def ask(self, name: str, rdtype: str = "NAPTR", *, tcp: bool = False) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(query, "127.0.0.1", port=self.dns_port, timeout=3)

    def dns_answers(self) -> bool:
        try:
            return self.ask(ZONE, "SOA").rcode() == dns.rcode.NOERROR
        except Exception:
            return False

    def organisation_id(self, participant: str, token: str) -> str:
        found = self.http("GET", "/api/v1/organisations", token, params={"participantIdentifier": participant})
        [item] = found.json()["items"]
        return item["id"]


def running(service: Served) -> Iterator[Served]:
    """Prepared as ``make run`` prepares it, started, and stopped when the caller is done."""
    service.prepare()
    service.start()
    try:
        yield service
    finally:
        service.stop()


def parse_problem(response: requests.Response) -> dict:
    assert response.headers.get("Content-Type", "").startswith("application/problem+json"), response.text
    return response.json()
