"""Discovery client latency on loopback: cold (nothing cached) and warm (answers cached) lookups.

    PYTHONPATH=. .venv/bin/python -m scripts.bench.lookup --lookups 300

``init`` + ``seed-demo`` + ``serve`` (SQLite, embedded DNS, gunicorn) in a temporary instance, as a
user runs them; then, in this process, the library lookup (``app.client.lookup.lookup``) of the three
demo participants by id: NAPTR query to the embedded DNS server, HTTP GET of the SignedServiceMetadata,
XMLDSig verification against the SMP CA with path validation, identifier checks, endpoint choice.
Cold: a new cache per lookup. Warm: one cache, refilled only when an entry's DNS TTL or HTTP max-age
runs out. Also: a function address resolved through the directory first (cold).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.client.cache import Cache
from app.client.errors import LookupFailure
from app.client.locate import DnsOptions
from app.client.lookup import LookupOptions, lookup
from app.client.smp import HttpOptions
from app.trust.certificates import load_certificate
from scripts.bench.harness import free_port, running

PARTICIPANTS = ("0203:exempelkommun.se", "0203:regionexempel.se", "0203:exempelmyndigheten.se")


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    return f"p50 {statistics.median(samples):.2f} ms, p95 {p95:.2f} ms, max {samples[-1]:.2f} ms (n={len(samples)})"


def timed(action, count: int) -> list[float]:
    samples = []
    for n in range(count):
        started = time.perf_counter()
        action(n)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lookups", type=int, default=300)
    options_in = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sdk-lookup-bench-"))
    http_port, dns_port = free_port(), free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SDK_")}
    environ.update(
        SDK_INSTANCE_DIR=str(work / "instance"),
        SDK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        SDK_PUBLIC_URL=f"http://127.0.0.1:{http_port}",
        SDK_DNS_LISTEN=f"127.0.0.1:{dns_port}",
        SDK_ENV_FILE=str(work / "none.env"),
        SDK_DIRECTORY_RATE_LIMIT="0",
    )
    executable = str(Path(sys.executable).with_name("sdk-addressbook"))
    for command in ("init", "seed-demo"):
        subprocess.run([executable, command], env=environ, check=True, capture_output=True)
    with running([executable, "serve"], http_port, env=environ):
        trusted = (load_certificate((work / "instance" / "pki" / "smp-ca.crt").read_bytes()),)
        options = LookupOptions(
            dns=DnsOptions(zone="sml.sdk-addressbook.test", server=("127.0.0.1", dns_port), timeout=2),
            http=HttpOptions(timeout=3, trusted=trusted),
            directory_url=f"http://127.0.0.1:{http_port}/addressbook/api/v1",
        )
        count = options_in.lookups
        deadline = time.monotonic() + 20
        while True:  # the port is open before every worker (and the DNS side) is
            try:
                lookup(PARTICIPANTS[0], options, Cache())
                break
            except LookupFailure:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        timed(lambda n: lookup(PARTICIPANTS[n % 3], options, Cache()), 30)  # warm-up of the server side
        cold = timed(lambda n: lookup(PARTICIPANTS[n % 3], options, Cache()), count)
        cache = Cache()
        for participant in PARTICIPANTS:
            lookup(participant, options, cache)
        warm = timed(lambda n: lookup(PARTICIPANTS[n % 3], options, cache), count * 10)
        address = "sdk:registrator:0203:exempelkommun.se"
        via_directory = timed(lambda n: lookup(address, options, Cache()), count)
        print(f"cold lookup by participant id: {percentiles(cold)}")
        print(f"warm lookup by participant id: {percentiles(warm)}")
        print(f"cold lookup of a function address (directory first): {percentiles(via_directory)}")


if __name__ == "__main__":
    main()
