"""Shared benchmark plumbing: loopback ports, processes that are always stopped, wrk runs, medians."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = """
paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def running(command: list[str], port: int, *, env: dict | None = None, log: Path | None = None) -> Iterator[None]:
    """Start a server, wait for its port, and always stop it (the whole process group)."""
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115  (closed below)
    process = subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)
    try:
        wait_for_port(port)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if log:
            output.close()


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}[unit]


def wrk(url: str, paths_file: Path, *, connections: int, seconds: int, threads: int = 1) -> WrkResult:
    program = shutil.which("wrk")
    if program is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    script = paths_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    result = subprocess.run(
        [program, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_PATHS": str(paths_file)},
        timeout=seconds + 60,
        check=True,
    )
    out = result.stdout
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        # Anchored: "Latency … 85.50%" (the share within one stdev) also contains "50%".
        p50 = _milliseconds(re.search(r"^\s*50%\s+(\S+)", out, re.MULTILINE).group(1))
        p99 = _milliseconds(re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE).group(1))
    except (AttributeError, ValueError):
        raise RuntimeError(f"cannot read wrk's report:\n{out}\n{result.stderr}") from None
    non_2xx = int(match.group(1)) if (match := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return WrkResult(rps, p50, p99, non_2xx)


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``server_url``: its URL; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def median_and_range(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} ({min(values):.3g}–{max(values):.3g})"


def write_naptr_queries(path: Path, names: list[str], absent_suffix: str, count: int = 100_000) -> None:
    """A dnsperf query file: 90 % NAPTR questions for registered names, 10 % for names under
    ``absent_suffix`` that do not exist, shuffled with the caller's random state."""
    present = count * 9 // 10
    lines = [f"{random.choice(names)} NAPTR" for _ in range(present)]
    lines += [f"{uuid.uuid4().hex}{uuid.uuid4().hex[:20]}.{absent_suffix} NAPTR" for _ in range(count - present)]
    random.shuffle(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
