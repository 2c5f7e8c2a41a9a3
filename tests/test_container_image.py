"""The container image's recipe (Dockerfile) and the health check it runs.

Building the image needs a Docker daemon and the base image from a registry; neither is at hand in CI,
so the recipe is checked for what a production image must be (multi-stage, non-root, a health check,
only the project's files), and the health check command is run for real against a live service.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from click.testing import CliRunner
from werkzeug.serving import make_server

from app import create_app
from app.cli import cli
from tests.named import free_port

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    joined = text.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            split.append([])
        if split:
            split[-1].append(instruction)
    return split


def test_the_image_is_built_in_stages_and_runs_unprivileged_with_a_health_check():
    build, runtime = stages()
    assert build[0][1].endswith("AS build") and runtime[0][1].endswith("AS runtime")
    final = dict(runtime)
    user = final["USER"].split(":")[0]
    assert user.isdigit() and int(user) >= 1000  # numeric, so Kubernetes' runAsNonRoot can check it
    assert final["HEALTHCHECK"].endswith('CMD ["sdk-addressbook", "healthcheck"]')
    assert final["ENTRYPOINT"] == '["sdk-addressbook"]' and final["CMD"] == '["serve"]'
    assert "COPY --from=build /opt/sdk-addressbook /opt/sdk-addressbook" in [
        f"COPY {a}" for w, a in runtime if w == "COPY"
    ]
    assert not any(word == "RUN" and "pip" in arguments for word, arguments in runtime)  # no build tools at run time
    for word, arguments in build:
        if word == "COPY":
            for source in arguments.split()[:-1]:
                assert (ROOT / source).exists(), source


def test_only_the_projects_files_go_into_the_build_context():
    kept = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert sorted(kept) == sorted(["pyproject.toml", "README.md", "app/", "migrations/"])
    copied = {source for word, arguments in stages()[0] if word == "COPY" for source in arguments.split()[:-1]}
    assert copied <= {"pyproject.toml", "README.md", "app", "migrations"}


def test_healthcheck_asks_the_running_service(settings, db, monkeypatch):
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(settings, database=db), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for key in [k for k in os.environ if k.startswith("SDK_") and not k.startswith("SDK_TEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SDK_ENV_FILE", "/nonexistent")
    try:
        monkeypatch.setenv("SDK_HTTP_LISTEN", f"0.0.0.0:{port}")  # as in the image: asked on loopback
        assert CliRunner().invoke(cli, ["healthcheck"]).exit_code == 0
    finally:
        server.shutdown()
        thread.join(5)
    refused = CliRunner().invoke(cli, ["healthcheck", "--timeout", "1"])
    assert refused.exit_code == 1 and f"127.0.0.1:{port}/healthz" in refused.output
    monkeypatch.setenv("SDK_HTTP_LISTEN", "nonsense")
    assert CliRunner().invoke(cli, ["healthcheck"]).exit_code == 2
