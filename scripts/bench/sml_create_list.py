"""The SML: one CreateList of N participants from one SMP, until every NAPTR record answers in BIND.

    PYTHONPATH=. .venv/bin/python -m scripts.bench.sml_create_list --participants 10000 --rounds 3

Each round runs the shipped shape on fresh state: a new PostgreSQL database, a new `named` (RFC 2136,
TSIG hmac-sha256), `sdk-addressbook serve` in RFC 2136 mode (gunicorn, two workers, and its DNS worker
publishing the outbox to `named`), with the SMP `SMP-BENCH` registered by the operator (`sml smp add`).
The SMP sends one CreateList of N participants over HTTP, its certificate in the `Client-Cert` header as
a TLS front passes it on. Measured from the request until `named` answers the NAPTR record of the last
participant of the list (the outbox is applied in order, so the last one answering means all do, which
an AXFR then confirms, untimed): the SOAP call alone (validate, register, records, outbox, one audit
event per participant, commit) and the whole way to DNS.

Needs named (Debian bind9) and PostgreSQL on 127.0.0.1:5432 (SDK_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
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
import dns.tsigkeyring
import dns.zone
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.dns.naming import naptr_name
from app.trust.devpki import DevelopmentPki, KeyPair, issue_leaf
from scripts.bench.harness import free_port, median_and_range, running
from tests.named import KEY_NAME, start_named

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("SDK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ZONE = "sml.bench.test"
SCHEME = "iso6523-actorid-upis"
LOCATOR = "http://busdox.org/serviceMetadata/locator/1.0/"
IDENTIFIERS = "http://busdox.org/transport/identifiers/1.0/"
EXECUTABLE = str(Path(sys.executable).with_name("sdk-addressbook"))


def create_list(values: list[str]) -> bytes:
    identifiers = "".join(
        f'<ids:ParticipantIdentifier scheme="{SCHEME}">{value}</ids:ParticipantIdentifier>' for value in values
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<lrs:CreateList xmlns:lrs="{LOCATOR}" xmlns:ids="{IDENTIFIERS}">{identifiers}'
        "<lrs:ServiceMetadataPublisherID>SMP-BENCH</lrs:ServiceMetadataPublisherID></lrs:CreateList>"
        "</s:Body></s:Envelope>"
    ).encode()


def answers(port: int, name: str) -> bool:
    try:
        response = dns.query.udp(dns.message.make_query(name, "NAPTR"), "127.0.0.1", port=port, timeout=1)
    except dns.exception.Timeout:
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def one_round(count: int, work: Path, admin) -> tuple[float, float, int]:
    name = f"sdk_bench_sml_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    named = start_named(work / f"named-{name}", ZONE)
    http_port = free_port()
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SDK_")},
        "SDK_DATABASE_URL": url,
        "SDK_INSTANCE_DIR": str(work / "instance"),
        "SDK_ENV_FILE": "/nonexistent",
        "SDK_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "SDK_HTTP_WORKERS": "2",
        "SDK_LOG_LEVEL": "WARNING",
        **named.environ,
    }
    try:
        subprocess.run([EXECUTABLE, "init"], env=environ, check=True, capture_output=True)
        pki = DevelopmentPki(work / "instance" / "pki")
        pair = KeyPair(work / f"smp-{name}.key", work / f"smp-{name}.crt")  # a new CA each round: a new certificate
        client = issue_leaf(pki.smp_ca, pair, "SMP-BENCH", usage="smp-signing")
        add = ["sml", "smp", "add", "--smp-id", "SMP-BENCH", "--logical-address", "https://smp.bench.example.se/smp"]
        add += ["--physical-address", "192.0.2.1", "--certificate", str(client.certificate)]
        added = subprocess.run([EXECUTABLE, *add], env=environ, capture_output=True, text=True)
        if added.returncode:
            raise SystemExit(f"sml smp add: {added.stderr}")
        certificate = x509.load_pem_x509_certificate(client.certificate.read_bytes())
        header = ":" + base64.b64encode(certificate.public_bytes(Encoding.DER)).decode() + ":"
        values = [f"0203:deltagare{n:05}.sml-bench.se" for n in range(count)]
        body = create_list(values)
        last = naptr_name(SCHEME, values[-1], ZONE)
        with running([EXECUTABLE, "serve"], http_port, env=environ, log=work / f"serve-{name}.log"):
            time.sleep(2)  # the DNS worker starts a moment after HTTP
            started = time.monotonic()
            response = requests.post(
                f"http://127.0.0.1:{http_port}/sml/manageparticipantidentifier",
                data=body,
                headers={"Content-Type": "text/xml; charset=utf-8", "Client-Cert": header},
                timeout=300,
            )
            called = time.monotonic() - started
            if response.status_code != 200:
                raise SystemExit(f"CreateList answered {response.status_code}: {response.text[:500]}")
            while not answers(named.port, last):
                time.sleep(0.02)
            converged = time.monotonic() - started
        keyring = dns.tsigkeyring.from_text({KEY_NAME: named.secret})
        zone = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=named.port, keyring=keyring, keyname=KEY_NAME))
        naptrs = sum(1 for _name, _ttl, rdata in zone.iterate_rdatas("NAPTR"))
        return called, converged, naptrs
    finally:
        named.stop()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(work / "instance", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sdk-bench-sml-"))
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    calls, totals = [], []
    try:
        for number in range(1, options.rounds + 1):
            called, converged, naptrs = one_round(options.participants, work, admin)
            if naptrs != options.participants:
                raise SystemExit(f"named holds {naptrs} NAPTR records, not {options.participants}")
            calls.append(called)
            totals.append(converged)
            print(
                f"round {number}: CreateList of {options.participants} answered in {called:.2f} s; "
                f"all {naptrs} NAPTR records in named after {converged:.2f} s",
                flush=True,
            )
        print(
            f"CreateList call: {median_and_range(calls)} s; converged in named: {median_and_range(totals)} s "
            f"(median {statistics.median(totals):.2f} s, target 10 s)",
            flush=True,
        )
    finally:
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
