"""schemathesis (its own CLI, every check on) against the served OpenAPI document, for each role's token.

A fresh instance per database: the fuzzer approves, suspends and deletes what it finds. The checks
include positive-data acceptance (a schema-valid request may be refused only for a domain rule, see
``schemathesis.toml`` and ``contract_hooks.py``), negative-data rejection, undeclared methods (405 with
``Allow``), missing required headers, response schemas, content types and headers, and the stateful
phase. ``DELETE /api/v1/tokens/{token_id}`` is left out: the fuzzer would revoke the token it runs
with (the served journey revokes one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_postgres_database
from tests.served.documented import ROOT
from tests.served.service import Served, running

EXAMPLES = 15
HERE = Path(__file__).parent


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(request, tmp_path_factory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"fuzzed-{request.param}")
    # The fuzzer sends thousands of directory requests from one address: no rate limit here.
    extra = {"SDK_DIRECTORY_RATE_LIMIT": "0"}
    if request.param == "sqlite":
        yield from running(Served(folder, f"sqlite:///{folder / 'sdk.sqlite3'}", extra=extra))
    else:
        with fresh_postgres_database() as url:
            yield from running(Served(folder, url, extra=extra))


def _token(service: Served, role: str) -> str:
    operator = service.token("operator")
    if role == "operator":
        return operator
    if role == "ap_operator":
        scope = service.http("GET", "/api/v1/ap-operators", operator).json()[0]["id"]
    else:
        scope = service.organisation_id("iso6523-actorid-upis::0203:exempelkommun.se", operator)
    return service.token(role, scope)


# The operator last: it may deregister or delete what the other roles' runs work on.
@pytest.mark.parametrize("role", ["org_admin", "ap_operator", "operator"])
def test_schemathesis_finds_nothing(fuzzed, role):
    token = _token(fuzzed, role)
    environ = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.served.contract_hooks",
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{fuzzed.base}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",
        "--exclude-path",
        "/api/v1/tokens/{token_id}",
        "--no-color",
    ]
    result = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=900, check=False)
    summary = result.stdout[-6000:]
    assert result.returncode == 0, f"{summary}\n{result.stderr[-2000:]}\n--- serve:\n{fuzzed.log_tail(20)}"
    assert " passed" in summary and "failure" not in summary.splitlines()[-1]
