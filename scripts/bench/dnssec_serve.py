"""A signed zone (SDK_DNSSEC): the embedded server against BIND signing the same zone, and a change to a
signed answer.

    PYTHONPATH=. .venv/bin/python -m scripts.bench.dnssec_serve --participants 100000 --rounds 3 --seconds 10

1. N participants are registered through the real registration code (`sync_local`) on PostgreSQL.
2. The same zone, as `zone export` writes it, is signed by BIND's `dnssec-signzone` (ECDSA P-256 CSK
   from `dnssec-keygen`, NSEC) and served by `named` (2 threads) from the signed file. (BIND's own
   `dnssec-policy` signs a zone of this size incrementally, over many minutes; the served answers are
   the same.)
3. `sdk-addressbook worker` with `SDK_DNSSEC=on` (ECDSA P-256 key made by `init`'s code) loads and signs
   the same zone; the time from start to the first signed answer is the signing cost at start.
4. dnsperf with the DO bit (`-D`) against both: 90% existing names (answer + RRSIG), 10% unknown
   (NXDOMAIN + SOA + two NSEC records, each signed); paired rounds, response codes printed.
5. Change → signed answer: participants are withdrawn one after another (`sync_local`, the real outbox);
   a probe asks the embedded server with DO until the answer is an NXDOMAIN carrying its NSEC proof.

Needs named, dnsperf (Debian bind9, dnsperf) and PostgreSQL on 127.0.0.1:5432 (SDK_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from sqlalchemy import select

from app import create_app, schema
from app.database import Database
from app.dns.dnssec import create_key
from app.dns.naming import naptr_name
from app.dns.zonefile import export_zone
from app.registry.models import DnsRecord, Organisation
from app.settings import load_settings
from app.sml.registrations import sync_local
from scripts.bench.dns_publish import POSTGRES, SCHEME, ZONE, dnsperf, embedded_worker_environ, register
from scripts.bench.harness import free_port, median_and_range, postgres_database, running, write_naptr_queries
from tests.named import start_named


def signed_answer(port: int, name: str, rdtype: str = "NAPTR") -> dns.message.Message | None:
    """The answer to a DO query when it is signed: the RRset and its RRSIG, or a denial with its proof."""
    try:
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        response = dns.query.udp(query, "127.0.0.1", port=port, timeout=1)
    except Exception:
        return None
    section = response.answer if response.rcode() == dns.rcode.NOERROR else response.authority
    return response if any(r.rdtype == dns.rdatatype.RRSIG for r in section) else None


def positive(port: int, name: str) -> bool:
    answer = signed_answer(port, name)
    return answer is not None and answer.rcode() == dns.rcode.NOERROR


def wait_signed(port: int, names: list[str], timeout: float) -> float:
    started = time.monotonic()
    pending = list(names)
    while pending and time.monotonic() - started < timeout:
        pending = [name for name in pending if not positive(port, name)]
        if pending:
            time.sleep(0.5)
    if pending:
        raise SystemExit(f"{len(pending)} names not signed after {timeout} s on port {port}")
    return time.monotonic() - started


def bind_sign(folder: Path) -> float:
    """Sign ``unsigned.db`` into ``zone.db`` with a new ECDSA P-256 CSK; seconds dnssec-signzone took."""
    keys = folder / "keys"
    keys.mkdir()
    subprocess.run(
        ["dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K", str(keys), ZONE],
        check=True,
        capture_output=True,
    )
    started = time.monotonic()
    subprocess.run(
        [
            "dnssec-signzone",
            "-S",
            "-z",
            "-K",
            str(keys),
            "-o",
            ZONE,
            "-f",
            str(folder / "zone.db"),
            str(folder / "unsigned.db"),
        ],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def change_latency(database: Database, port: int, values: list[str]) -> list[float]:
    latencies = []
    for value in values:
        name = naptr_name(SCHEME, value, ZONE)
        with database.writer() as session:
            organisation = session.scalar(select(Organisation).where(Organisation.participant_value == value))
            started = time.monotonic()
            sync_local(session, [(organisation, False)])
        while True:
            answer = signed_answer(port, name)
            denied = answer is not None and answer.rcode() == dns.rcode.NXDOMAIN
            if denied and any(r.rdtype == dns.rdatatype.NSEC for r in answer.authority):
                break
            if time.monotonic() - started > 10:
                raise SystemExit(f"{name}: no signed NXDOMAIN after 10 s")
            time.sleep(0.005)
        latencies.append(time.monotonic() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--changes", type=int, default=100)
    options = parser.parse_args()
    if not shutil.which("dnsperf"):
        raise SystemExit("dnsperf is needed: apt-get install dnsperf")

    work = Path(tempfile.mkdtemp(prefix="sdk-dnssec-bench-"))
    with postgres_database(POSTGRES, "sdk_dnssec_bench") as url:
        named = None
        try:
            settings = load_settings(
                {
                    "SDK_DATABASE_URL": url,
                    "SDK_INSTANCE_DIR": str(work / "instance"),
                    "SDK_ENV_FILE": "/nonexistent",
                    "SDK_SML_ZONE": ZONE,
                }
            )
            database = Database(url)
            schema.upgrade(database)
            create_app(settings, database=database)
            seconds = register(database, options.participants)
            print(f"registered {options.participants} participants through the outbox in {seconds:.1f} s", flush=True)
            with database.reader() as session:
                names = list(session.scalars(select(DnsRecord.name)))
                folder = work / "named"
                folder.mkdir()
                with (folder / "unsigned.db").open("w", encoding="utf-8") as handle:
                    handle.writelines(export_zone(session, settings))
            signing_seconds = bind_sign(folder)
            named = start_named(folder, ZONE)
            random.seed(1)
            sample = random.sample(names, 200)
            wait_signed(named.port, sample, 60)
            print(f"named: zone of {len(names)} names signed by dnssec-signzone in {signing_seconds:.1f} s", flush=True)

            queries = work / "queries.txt"
            write_naptr_queries(queries, names, f"{SCHEME}.{ZONE}")

            embedded_port = free_port()
            environ = embedded_worker_environ(url, work / "instance", embedded_port, SDK_DNSSEC="on")
            create_key(work / "instance" / "dnssec" / f"{ZONE}.key")
            command = [str(Path(sys.executable).with_name("sdk-addressbook")), "worker"]
            rates: dict[str, list[float]] = {"named": [], "embedded": []}
            started = time.monotonic()
            with running(command, embedded_port, env=environ, log=work / "embedded.log"):
                wait_signed(embedded_port, sample[:1], 600)
                load = time.monotonic() - started
                print(f"embedded: zone of {len(names)} names loaded and signed, first signed answer after {load:.1f} s")
                wait_signed(embedded_port, sample, 60)
                for _ in range(options.rounds):
                    rates["named"].append(dnsperf(named.port, queries, options.seconds, dnssec=True))
                    rates["embedded"].append(dnsperf(embedded_port, queries, options.seconds, dnssec=True))
                ratios = [e / n for e, n in zip(rates["embedded"], rates["named"], strict=True)]
                print(
                    f"dnsperf -D named: {median_and_range(rates['named'])} q/s; "
                    f"embedded: {median_and_range(rates['embedded'])} q/s; embedded/named {median_and_range(ratios)}",
                    flush=True,
                )
                values = [f"0203:deltagare{n}.bench.se" for n in range(options.changes)]
                latencies = sorted(change_latency(database, embedded_port, values))
                p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
                print(
                    f"change → signed NXDOMAIN over {len(latencies)} withdrawals: p50 "
                    f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                    f"max {latencies[-1] * 1000:.0f} ms",
                    flush=True,
                )
            database.dispose()
        finally:
            if named is not None:
                named.stop()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
