"""SMP GET throughput: the service on PostgreSQL and SQLite against two ceilings, in paired rounds.

Ceilings (reference/limits.md §1): a minimal Flask app returning the same bytes from memory under the
same gunicorn settings, and nginx serving the static export. wrk cycles through every published URL
(all three flavours, ServiceGroups and ServiceMetadata). Each round runs every server back to back;
ratios are medians of per-round ratios.

    .venv/bin/python -m scripts.bench.smp_read --participants 1000 --rounds 3 --seconds 10

SDK_SMP_MEMORY_CACHE_MB=0 in the environment measures the uncached read path (one query per request).
Needs wrk and nginx (Debian packages) and PostgreSQL on 127.0.0.1:5432 (SDK_BENCH_POSTGRES_URL).
Everything runs on loopback in a temporary folder and is stopped and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app import create_app, demo, schema
from app.audit import Actor
from app.database import Database
from app.operations import access_points, organisations, participants
from app.operations.organisations import OrganisationInput
from app.publishing.export import export_static
from app.publishing.flavours import BY_NAME
from app.registry.models import Publication
from app.settings import load_settings
from app.trust.devpki import DevelopmentPki, ensure_development_pki
from scripts.bench.harness import free_port, median_and_range, running, wrk

ROOT = Path(__file__).resolve().parents[2]
BENCH = Actor("benchmark", "system")
POSTGRES = os.environ.get("SDK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def organisation_number(n: int) -> str:
    from app.identifiers import luhn_valid

    nine = f"{212000000 + n:09d}"[-9:]
    return next(nine + str(d) for d in range(10) if luhn_valid(nine + str(d)))


def seed(database: Database, settings, pki: DevelopmentPki, count: int) -> None:
    app = create_app(settings, database=database)
    with app.app_context(), database.writer() as session:
        operator = access_points.create_ap_operator(session, BENCH, name="Bench AP")
        access_point = access_points.create_access_point(
            session,
            BENCH,
            ap_operator_id=operator.id,
            certificate=pki.access_point(demo.AP_ID).certificate.read_text(),
        )
        configuration = access_points.create_endpoint_configuration(
            session,
            BENCH,
            access_points.EndpointConfigurationInput(
                access_point=access_point.id,
                name="AS4",
                transport_profile=settings.transport_profiles[0],
                endpoint_url="https://ap.bench.example.se/as4",
                technical_contact_url="https://ap.bench.example.se",
                description="Benchmark access point",
            ),
            transport_profiles=settings.transport_profiles,
        )
        configuration_id = configuration.id
    signing = pki.participant(demo.ORGANISATIONS[0].participant, "signing").certificate.read_text()
    encryption = pki.participant(demo.ORGANISATIONS[0].participant, "encryption").certificate.read_text()
    for start in range(0, count, 100):
        with database.writer() as session:
            for n in range(start, min(start + 100, count)):
                organisation = organisations.create_organisation(
                    session,
                    BENCH,
                    OrganisationInput(
                        type="o",
                        name=f"Kommun {n}",
                        participant_identifier=f"0203:kommun{n}.bench.se",
                        organisation_number=organisation_number(n),
                    ),
                )
                for document_type in settings.document_types:
                    participants.add_service(
                        session,
                        BENCH,
                        organisation.id,
                        document_type=document_type,
                        process="urn:fdc:digg.se:edelivery:process::bdx:noprocess",
                        endpoint_configuration_id=configuration_id,
                    )
                participants.add_certificate(session, BENCH, organisation.id, usage="signing", certificate=signing)
                participants.add_certificate(
                    session, BENCH, organisation.id, usage="encryption", certificate=encryption
                )
                organisations.change_status(session, BENCH, organisation.id, "approve")


def url_path(smp_path: str, flavour: str, key: str) -> str:
    prefix = BY_NAME[flavour].url_prefix
    parts = key.split("/services/")
    path = f"{smp_path}/{prefix + '/' if prefix else ''}{quote(parts[0], safe='')}"
    return path + (f"/services/{quote(parts[1], safe='')}" if len(parts) == 2 else "")


def nginx_config(prefix: Path, port: int, export: Path) -> Path:
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = prefix / "nginx.conf"
    config.write_text(
        f"{user}daemon off;\nworker_processes 2;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n  sendfile on;\n"
        f"  client_body_temp_path {prefix}/t;\n  proxy_temp_path {prefix}/t;\n  fastcgi_temp_path {prefix}/t;\n"
        f"  uwsgi_temp_path {prefix}/t;\n  scgi_temp_path {prefix}/t;\n"
        f"  server {{\n    listen 127.0.0.1:{port} reuseport;\n    include {export}/nginx-smp.conf;\n  }}\n}}\n",
        encoding="utf-8",
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5, help="seconds per server before the rounds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sdk-bench-"))
    instance = work / "instance"
    pki = ensure_development_pki(
        instance / "pki", access_points=[demo.AP_ID], participants=[demo.ORGANISATIONS[0].participant]
    )
    pg_name = f"sdk_bench_{os.getpid()}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{pg_name}"'))
    pg_url = make_url(POSTGRES).set(database=pg_name).render_as_string(hide_password=False)
    urls = {"sqlite": f"sqlite:///{work / 'bench.sqlite3'}", "postgresql": pg_url}
    try:
        base_env = {"SDK_INSTANCE_DIR": str(instance), "SDK_ENV_FILE": str(work / "none.env")}
        for name, url in urls.items():
            started = time.monotonic()
            database = Database(url)
            schema.upgrade(database)
            seed(database, load_settings({**base_env, "SDK_DATABASE_URL": url}), pki, options.participants)
            print(
                f"seeded {name}: {options.participants} participants in {time.monotonic() - started:.1f} s", flush=True
            )
            database.dispose()
        settings = load_settings({**base_env, "SDK_DATABASE_URL": urls["sqlite"]})
        database = Database(urls["sqlite"])
        with database.reader() as session:
            rows = session.execute(select(Publication.flavour, Publication.path_key, Publication.document)).all()
            export_static(session, settings, work / "export", upstream="http://127.0.0.1:9")
        database.dispose()
        documents = {
            url_path(settings.smp_path, flavour, key): (bytes(body), BY_NAME[flavour].content_type)
            for flavour, key, body in rows
        }
        paths = work / "paths.txt"
        paths.write_text("\n".join(documents) + "\n", encoding="utf-8")
        (work / "documents.pickle").write_bytes(pickle.dumps(documents))
        mean_size = statistics.mean(len(body) for body, _ in documents.values())
        print(f"{len(documents)} documents, mean {mean_size:.0f} bytes", flush=True)

        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        common = ["-w", str(options.workers), "-k", "sync", "--no-control-socket"]
        ports = {name: free_port() for name in ("nginx", "minimal", "service-postgresql", "service-sqlite")}
        env = {**os.environ, **base_env, "PYTHONPATH": str(ROOT), "BENCH_DOCUMENTS": str(work / "documents.pickle")}
        (work / "nginx").mkdir()
        servers = [
            (
                "nginx",
                [
                    "nginx",
                    "-p",
                    str(work / "nginx"),
                    "-c",
                    str(nginx_config(work / "nginx", ports["nginx"], work / "export")),
                    "-e",
                    str(work / "nginx" / "error.log"),
                ],
                env,
            ),
            (
                "minimal",
                [gunicorn, *common, "-b", f"127.0.0.1:{ports['minimal']}", "scripts.bench.minimal_app:app"],
                env,
            ),
            (
                "service-postgresql",
                [gunicorn, *common, "-b", f"127.0.0.1:{ports['service-postgresql']}", "scripts.bench.service_app:app"],
                {**env, "SDK_DATABASE_URL": urls["postgresql"]},
            ),
            (
                "service-sqlite",
                [gunicorn, *common, "-b", f"127.0.0.1:{ports['service-sqlite']}", "scripts.bench.service_app:app"],
                {**env, "SDK_DATABASE_URL": urls["sqlite"]},
            ),
        ]
        results: dict[str, list] = {name: [] for name, _, _ in servers}
        from contextlib import ExitStack

        with ExitStack() as stack:
            for name, command, server_env in servers:
                stack.enter_context(running(command, ports[name], env=server_env, log=work / f"{name}.log"))
            for name, _, _ in servers:  # warm-up: fill caches and connection pools
                wrk(f"http://127.0.0.1:{ports[name]}", paths, connections=options.connections, seconds=options.warmup)
            for round_number in range(1, options.rounds + 1):
                for name, _, _ in servers:
                    result = wrk(
                        f"http://127.0.0.1:{ports[name]}",
                        paths,
                        connections=options.connections,
                        seconds=options.seconds,
                    )
                    if result.non_2xx:
                        raise SystemExit(f"{name} answered {result.non_2xx} requests with an error")
                    results[name].append(result)
                    print(
                        f"round {round_number} {name}: {result.requests_per_second:.0f} req/s "
                        f"p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms",
                        flush=True,
                    )
        report(results, options, len(documents), mean_size, work)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()
        if options.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(results: dict, options, documents: int, mean_size: float, work: Path) -> None:
    def ratios(name: str, reference: str) -> list[float]:
        return [
            a.requests_per_second / b.requests_per_second
            for a, b in zip(results[name], results[reference], strict=True)
        ]

    print()
    print(
        f"{documents} documents (mean {mean_size:.0f} bytes), {options.connections} connections, "
        f"gunicorn sync x{options.workers}, {options.rounds} rounds of {options.seconds} s"
    )
    print("| server | req/s median (min–max) | p50 ms | p99 ms | × minimal Flask | × nginx static |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in results:
        rps = [r.requests_per_second for r in results[name]]
        p50 = statistics.median(r.p50_ms for r in results[name])
        p99 = statistics.median(r.p99_ms for r in results[name])
        minimal = median_and_range(ratios(name, "minimal"))
        nginx = median_and_range(ratios(name, "nginx"))
        print(f"| {name} | {median_and_range(rps)} | {p50:.2f} | {p99:.2f} | {minimal} | {nginx} |")
    (work / "results.json").write_text(
        json.dumps({k: [r.__dict__ for r in v] for k, v in results.items()}, indent=2), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
