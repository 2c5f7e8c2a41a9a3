"""Liveness, readiness, request ids and the JSON request log; serve as a real process."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import time
import urllib.request

from app import create_app
from app.database import Database
from app.requestlog import JsonFormatter
from tests.conftest import make_settings
from tests.processes import EXECUTABLE, service_environ, wait_until


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_when_everything_is_in_place(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "signing_key": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_fails_while_migrations_are_pending_and_recovers(tmp_path, pki_instance_dir):
    from app import schema

    url = f"sqlite:///{tmp_path / 'pending.sqlite3'}"
    database = Database(url)
    app = create_app(make_settings(pki_instance_dir, url), database=database)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["migrations"].startswith("pending: database at nothing")
    schema.upgrade(database)
    assert app.test_client().get("/readyz").status_code == 200
    database.dispose()


def test_readyz_fails_when_the_database_is_unreachable(instance_dir):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/unreachable"  # port 1 refuses at once
    database = Database(url)
    app = create_app(make_settings(instance_dir, url), database=database)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"].startswith("unreachable")
    database.dispose()


def test_readyz_fails_without_a_usable_signing_key(instance_dir, db):
    app = create_app(make_settings(instance_dir, db.url), database=db)  # an instance folder without keys
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["signing_key"].startswith("unusable: no signing key configured")


def test_readyz_recovers_when_the_database_and_the_signing_key_come_back(tmp_path):
    """Break each dependency, then repair it: readiness follows without a restart."""
    from app import schema
    from app.trust.devpki import ensure_development_pki

    instance = tmp_path / "instance"
    url = f"sqlite:///{tmp_path / 'not-yet' / 'db.sqlite'}"  # the folder does not exist: cannot be opened
    database = Database(url)
    try:
        app = create_app(make_settings(instance, url), database=database)
        checks = app.test_client().get("/readyz").json["checks"]
        assert checks["database"].startswith("unreachable")
        (tmp_path / "not-yet").mkdir()
        checks = app.test_client().get("/readyz").json["checks"]
        assert checks["database"] == "ok"
        assert checks["migrations"].startswith("pending")
        assert checks["signing_key"].startswith("unusable")
        schema.upgrade(database)
        ensure_development_pki(instance / "pki", access_points=[], participants=[])
        response = app.test_client().get("/readyz")
        assert response.status_code == 200, response.json
    finally:
        database.dispose()


def test_metrics(client, db, settings):
    from app import demo
    from app.trust.devpki import DevelopmentPki

    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE sdk_dns_outbox_pending gauge" in text
    assert "\nsdk_dns_outbox_pending 3\n" in text
    assert "\nsdk_dns_records 3\n" in text
    assert 'sdk_smp_publications{flavour="smp1"} 9' in text
    assert "\nsdk_dns_publish_errors_total 0\n" in text
    oldest = next(line for line in text.splitlines() if line.startswith("sdk_dns_outbox_oldest_pending_seconds "))
    assert 0 <= float(oldest.split()[1]) < 60


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert made != "bad id with spaces" and len(made) == 32


def test_each_request_is_logged_as_one_json_object(client, caplog):
    caplog.set_level(logging.INFO, logger="sdk_addressbook.request")
    client.get("/healthz", headers={"X-Request-ID": "log-1"})
    [record] = [r for r in caplog.records if r.name == "sdk_addressbook.request"]
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "log-1"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/healthz", 200)
    assert entry["duration_ms"] >= 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_under_gunicorn_and_logs_json(tmp_path, pki_instance_dir, database_url, db, settings):
    import dns.message
    import dns.query
    import dns.rcode

    from app import demo
    from app.dns.naming import naptr_name
    from app.trust.devpki import DevelopmentPki
    from tests.named import answers_soa

    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    port = _free_port()
    dns_port = _free_port()
    environ = service_environ()
    environ.update(
        SDK_INSTANCE_DIR=str(pki_instance_dir),
        SDK_DATABASE_URL=database_url,
        SDK_HTTP_LISTEN=f"127.0.0.1:{port}",
        SDK_DNS_LISTEN=f"127.0.0.1:{dns_port}",
        SDK_ENV_FILE=str(tmp_path / "none.env"),
    )
    process = subprocess.Popen([EXECUTABLE, "serve"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    body = json.load(response)
                break
            except OSError:
                time.sleep(0.1)
        assert body == {
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "signing_key": "ok", "dns": "ok"},
        }
        # The DNS worker is a program of its own: it answers a moment after HTTP.
        assert wait_until(lambda: answers_soa(dns_port, settings.sml_zone), 10)
        name = naptr_name("iso6523-actorid-upis", "0203:exempelkommun.se", settings.sml_zone)
        answer = dns.query.udp(dns.message.make_query(name, "NAPTR"), "127.0.0.1", port=dns_port, timeout=3)
        assert answer.rcode() == dns.rcode.NOERROR
        assert answer.answer[0][0].regexp == b"!^.*$!http://127.0.0.1:8080/smp!"
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    json_lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert any(entry.get("path") == "/readyz" and entry.get("status") == 200 for entry in json_lines)
    assert any(entry.get("logger") == "gunicorn.error" for entry in json_lines)
