"""smp resign after a key change; smp export-static served by nginx gives byte-identical bodies."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from cryptography import x509
from sqlalchemy import select

from app import demo
from app.cli import cli
from app.registry.models import Publication
from app.trust import xmldsig
from app.trust.devpki import DevelopmentPki, ensure_development_pki
from tests.conftest import require_program


@pytest.fixture
def cli_environment(pki_instance_dir, db, monkeypatch, settings):
    for key in list(os.environ):
        if key.startswith("SDK_") and not key.startswith("SDK_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SDK_INSTANCE_DIR", str(pki_instance_dir))
    monkeypatch.setenv("SDK_DATABASE_URL", db.url)
    monkeypatch.setenv("SDK_ENV_FILE", str(pki_instance_dir / "none.env"))
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    return db


def _documents(db) -> dict[tuple[str, str], bytes]:
    with db.reader() as session:
        return {(p.flavour, p.path_key): p.document for p in session.scalars(select(Publication))}


def test_resign_uses_the_new_key_everywhere(cli_environment, tmp_path, monkeypatch):
    new = ensure_development_pki(tmp_path / "rotated", access_points=[], participants=[], smp_name="SMP0002-DEV")
    monkeypatch.setenv("SDK_SIGNING_KEY", str(new.smp_signing.key))
    monkeypatch.setenv("SDK_SIGNING_CERT", str(new.smp_signing.certificate))
    result = CliRunner().invoke(cli, ["smp", "resign"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "signed with CN=SMP0002-DEV" in result.stdout
    ca = x509.load_pem_x509_certificate(new.smp_ca.certificate.read_bytes())
    signed = [d for d in _documents(cli_environment).values() if b"<ds:Signature" in d]
    assert len(signed) == 21
    for document in signed:
        assert (
            xmldsig.verify_enveloped(document, trusted=[ca])
            .certificate.subject.rfc4514_string()
            .startswith("CN=SMP0002-DEV")
        )


def test_export_static_refuses_a_folder_it_did_not_write(cli_environment, tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    result = CliRunner().invoke(cli, ["smp", "export-static", str(tmp_path)])
    assert result.exit_code == 1
    assert (tmp_path / "mine.txt").read_text() == "keep"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_nginx_serves_the_export_byte_identical(cli_environment, tmp_path):
    nginx = require_program("nginx")
    export = tmp_path / "export"
    upstream_port = _free_port()  # nothing listens: unanswerable requests must reach the fallback, not files
    result = CliRunner().invoke(
        cli,
        ["smp", "export-static", str(export), "--upstream", f"http://127.0.0.1:{upstream_port}"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "27 documents written" in result.stdout
    port = _free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  access_log off;\n  client_body_temp_path {prefix}/tmp;\n  proxy_temp_path {prefix}/tmp;\n"
        f"  fastcgi_temp_path {prefix}/tmp;\n  uwsgi_temp_path {prefix}/tmp;\n  scgi_temp_path {prefix}/tmp;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    include {export}/nginx-smp.conf;\n  }}\n"
        "}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        documents = _documents(cli_environment)
        for (flavour, key), body in documents.items():
            prefix_segment = {"smp1": "", "smp2": "bdxr-smp-2/", "peppol": "peppol/"}[flavour]
            parts = key.split("/services/")
            url = f"{base}/smp/{prefix_segment}{quote(parts[0], safe='')}"
            if len(parts) == 2:
                url += f"/services/{quote(parts[1], safe='')}"
            status, served, headers = _get(url)
            assert status == 200, (url, status, (prefix / "error.log").read_text()[-500:])
            assert served == body
            expected = "application/xml" if flavour == "smp2" else "text/xml"
            assert headers["Content-Type"].startswith(expected)
        # raw colons and lower-case hex reach the same file; what the files cannot answer goes upstream
        raw = f"{base}/smp/iso6523-actorid-upis::0203:exempelkommun.se"
        assert _get(raw)[1] == documents[("smp1", "iso6523-actorid-upis::0203:exempelkommun.se")]
        assert _get(raw.replace("::", "%3a%3a"))[0] == 200
        assert _get(f"{base}/smp/iso6523-actorid-upis::0203:EXEMPELKOMMUN.se")[0] == 502  # fallback, not found on disk
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert Path(export / ".sdk-addressbook-export").exists()
