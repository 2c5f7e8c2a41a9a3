"""DNS publication: outbox → named convergence, approval-to-resolvable latency, embedded server vs named.

    .venv/bin/python -m scripts.bench.dns_publish --participants 100000 --approvals 1000

1. N participants are registered through the real registration code (`sync_local`) on PostgreSQL.
2. Ceiling: the same N NAPTR records sent straight to a fresh `named` in TSIG-signed UPDATE messages of
   200 records (pre-parsed rdata: the fastest a Python client can feed BIND here).
3. The service's publisher drains the outbox into another fresh `named`; records/s and the ratio.
4. Latency: with `sdk-addressbook worker` running, participants are approved one after another (full
   use case: SMP signing, audit, outbox); a probe measures commit → NAPTR answered by `named`.
5. dnsperf against `named` and against the embedded server (`worker` in embedded mode) holding the
   same zone: 90% existing names, 10% NXDOMAIN; paired rounds.

Needs named, dnsperf (Debian bind9, dnsperf) and PostgreSQL on 127.0.0.1:5432 (SDK_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring
import dns.update
from sqlalchemy import insert, select

from app import create_app, demo, schema
from app.audit import Actor
from app.database import Database
from app.dns.naming import naptr_name
from app.dns.records import naptr_rdata
from app.dns.rfc2136 import OutboxPublisher
from app.operations import organisations
from app.registry.columns import utcnow
from app.registry.models import DnsRecord, Organisation
from app.settings import load_settings
from app.sml.registrations import sync_local
from app.trust.devpki import DevelopmentPki, ensure_development_pki
from scripts.bench.harness import free_port, median_and_range, postgres_database, running, write_naptr_queries
from scripts.bench.smp_read import seed as seed_smp_participants
from tests.named import KEY_NAME, start_named

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("SDK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ZONE = "sml.bench.test"
SCHEME = "iso6523-actorid-upis"


def register(database: Database, count: int) -> float:
    started = time.monotonic()
    now = utcnow()
    for start in range(0, count, 2000):
        values = [f"0203:deltagare{n}.bench.se" for n in range(start, min(start + 2000, count))]
        with database.writer() as session:
            rows = [
                {
                    "id": uuid.uuid4(),
                    "type": "o",
                    "participant_scheme": SCHEME,
                    "participant_value": value,
                    "organisation_number": "2021006883",
                    "name": value,
                    "federation_status": "approved",
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for value in values
            ]
            session.execute(insert(Organisation), rows)
            added = session.scalars(select(Organisation).where(Organisation.participant_value.in_(values)))
            sync_local(session, [(organisation, True) for organisation in added])
    return time.monotonic() - started


def raw_ceiling(named, names: list[str], rdata_text: str, *, parsed: bool) -> float:
    """Records/s of a bare client. ``parsed=False`` is limits.md §2.4's "raw batched TSIG update rate" (text
    names and rdata, ``add``, 100 per message); ``parsed=True`` is a stricter reference (pre-built names and
    rdata, ``replace`` like the service, 200 per message)."""
    keyring = dns.tsigkeyring.from_text({KEY_NAME: named.secret})
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NAPTR, rdata_text, relativize=False)
    owners = [dns.name.from_text(name + ".") for name in names] if parsed else names
    per_message = 200 if parsed else 100
    started = time.monotonic()
    for start in range(0, len(owners), per_message):
        message = dns.update.UpdateMessage(ZONE, keyring=keyring, keyname=KEY_NAME, keyalgorithm="hmac-sha256")
        for owner in owners[start : start + per_message]:
            if parsed:
                message.replace(owner, 60, rdata)
            else:
                message.add(owner + ".", 60, "NAPTR", rdata_text)
        assert dns.query.tcp(message, "127.0.0.1", port=named.port, timeout=30).rcode() == dns.rcode.NOERROR
    return len(owners) / (time.monotonic() - started)


def latency(database: Database, settings, named, pki: DevelopmentPki, approvals: int, work: Path) -> list[float]:
    """Full approvals while `sdk-addressbook worker` drains to named; seconds from commit to answer."""
    seed_smp_participants(database, settings, pki, approvals)  # approved; withdraw them, then approve again
    actor = Actor("benchmark", "operator")
    with database.reader() as session:
        ids = list(
            session.scalars(
                select(Organisation.id).where(
                    Organisation.participant_value.like("%.bench.se"), Organisation.name.like("Kommun %")
                )
            )
        )
    with database.writer() as session:
        for organisation_id in ids:
            organisations.change_status(session, actor, organisation_id, "suspend")
    environ = {
        **os.environ,
        **named.environ,
        "SDK_DATABASE_URL": settings.database_url,
        "SDK_INSTANCE_DIR": str(settings.instance_dir),
        "SDK_ENV_FILE": "/nonexistent",
        "SDK_LOG_LEVEL": "WARNING",
    }
    log = (work / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("sdk-addressbook")), "worker"], env=environ, stdout=log, stderr=log
    )
    log.close()
    try:
        time.sleep(3)  # let the worker withdraw the suspended records
        outstanding: dict[str, float] = {}
        results: list[float] = []
        lock = threading.Lock()
        done = threading.Event()

        def probe() -> None:
            while not done.is_set() or outstanding:
                with lock:
                    names = list(outstanding.items())
                for name, committed in names:
                    answer = dns.query.udp(
                        dns.message.make_query(name, "NAPTR"), "127.0.0.1", port=named.port, timeout=2
                    )
                    if answer.rcode() == dns.rcode.NOERROR:
                        with lock:
                            results.append(time.monotonic() - committed)
                            del outstanding[name]
                time.sleep(0.001)

        prober = threading.Thread(target=probe)
        prober.start()
        for organisation_id in ids:
            with database.writer() as session:
                organisation = organisations.change_status(session, actor, organisation_id, "reinstate")
                name = naptr_name(SCHEME, organisation.participant_value, ZONE)
            with lock:
                outstanding[name] = time.monotonic()
            time.sleep(0.02)
        done.set()
        prober.join(timeout=120)
        return results
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def dnsperf(port: int, queries: Path, seconds: int, *, dnssec: bool = False) -> float:
    """Completed queries per second; prints dnsperf's response-code mix so every figure can be checked.

    With ``dnssec`` the queries carry the DO bit (signed answers wanted)."""
    command = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds)]
    result = subprocess.run(
        [*command, "-c", "4", "-q", "200", *(["-D"] if dnssec else [])],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    codes = re.search(r"Response codes:\s+(.+)", result.stdout).group(1)
    lost = re.search(r"Queries lost:\s+(.+)", result.stdout).group(1)
    rate = float(re.search(r"Queries per second:\s+([\d.]+)", result.stdout).group(1))
    print(f"  port {port}: {rate:.0f} q/s, {codes}; lost {lost}", flush=True)
    return rate


def embedded_worker_environ(url: str, instance: Path, port: int, **extra: str) -> dict[str, str]:
    """The settings of ``sdk-addressbook worker`` as the embedded DNS server of ``ZONE`` on ``port``."""
    return {
        **os.environ,
        "SDK_DATABASE_URL": url,
        "SDK_INSTANCE_DIR": str(instance),
        "SDK_ENV_FILE": "/nonexistent",
        "SDK_SML_ZONE": ZONE,
        "SDK_DNS_MODE": "embedded",
        "SDK_DNS_LISTEN": f"127.0.0.1:{port}",
        "SDK_LOG_LEVEL": "WARNING",
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--approvals", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    options = parser.parse_args()
    if not shutil.which("dnsperf"):
        raise SystemExit("dnsperf is needed: apt-get install dnsperf")

    work = Path(tempfile.mkdtemp(prefix="sdk-dns-bench-"))
    pki = ensure_development_pki(
        work / "instance" / "pki", access_points=[demo.AP_ID], participants=[demo.ORGANISATIONS[0].participant]
    )
    with postgres_database(POSTGRES, "sdk_dns_bench") as url:
        ceiling_named = start_named(work / "named-ceiling", ZONE)
        named = start_named(work / "named", ZONE)
        try:
            settings = load_settings(
                {
                    "SDK_DATABASE_URL": url,
                    "SDK_INSTANCE_DIR": str(work / "instance"),
                    "SDK_ENV_FILE": "/nonexistent",
                    **named.environ,
                }
            )
            database = Database(url)
            schema.upgrade(database)
            create_app(settings, database=database)  # binds the publisher and settings to write sessions
            seconds = register(database, options.participants)
            print(f"registered {options.participants} participants through the outbox in {seconds:.1f} s", flush=True)
            with database.reader() as session:
                names = list(session.scalars(select(DnsRecord.name)))

            rate_ceiling = raw_ceiling(ceiling_named, names, naptr_rdata(settings), parsed=False)
            ceiling_named.stop()
            ceiling_named = start_named(work / "named-reference", ZONE)
            rate_reference = raw_ceiling(ceiling_named, names, naptr_rdata(settings), parsed=True)
            ceiling_named.stop()
            print(
                f"ceiling (limits.md §2.4 method): {rate_ceiling:.0f} records/s; "
                f"pre-parsed replace reference: {rate_reference:.0f} records/s",
                flush=True,
            )

            publisher = OutboxPublisher(settings, database)
            started = time.monotonic()
            applied = publisher.drain()
            drain_seconds = time.monotonic() - started
            rate = applied / drain_seconds
            print(
                f"outbox → named: {applied} records in {drain_seconds:.1f} s = {rate:.0f} records/s "
                f"({rate / rate_ceiling:.2f} × ceiling)",
                flush=True,
            )

            latencies = sorted(latency(database, settings, named, DevelopmentPki(pki.root), options.approvals, work))
            p50 = statistics.median(latencies)
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            print(
                f"approval → resolvable over {len(latencies)} approvals: p50 {p50 * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms",
                flush=True,
            )

            with database.reader() as session:
                names = list(session.scalars(select(DnsRecord.name)))
            queries = work / "queries.txt"
            random.seed(1)
            write_naptr_queries(queries, names, f"{SCHEME}.{ZONE}")
            embedded_port = free_port()
            environ = embedded_worker_environ(url, work / "instance", embedded_port)
            command = [str(Path(sys.executable).with_name("sdk-addressbook")), "worker"]
            rates: dict[str, list[float]] = {"named": [], "embedded": []}
            with running(command, embedded_port, env=environ, log=work / "embedded.log"):
                time.sleep(2)
                for _ in range(options.rounds):
                    rates["named"].append(dnsperf(named.port, queries, options.seconds))
                    rates["embedded"].append(dnsperf(embedded_port, queries, options.seconds))
            ratios = [e / n for e, n in zip(rates["embedded"], rates["named"], strict=True)]
            named_rate, embedded_rate = median_and_range(rates["named"]), median_and_range(rates["embedded"])
            print(
                f"dnsperf named: {named_rate} q/s; embedded: {embedded_rate} q/s; "
                f"embedded/named {median_and_range(ratios)}",
                flush=True,
            )
            database.dispose()
        finally:
            named.stop()
            ceiling_named.stop()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
