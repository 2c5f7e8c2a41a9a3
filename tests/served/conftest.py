"""The served stack under test: ``sdk-addressbook serve`` on free loopback ports, once on SQLite and once
on PostgreSQL, prepared the way ``make run`` prepares it (init, seed-demo), with a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import fresh_postgres_database
from tests.served.service import Served, running


@dataclass
class Federation:
    served: Served
    tokens: dict[str, str]
    ids: dict[str, str]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    if request.param == "sqlite":
        yield from running(Served(folder, f"sqlite:///{folder / 'sdk.sqlite3'}"))
    else:
        with fresh_postgres_database() as url:
            yield from running(Served(folder, url))


@pytest.fixture(scope="session")
def federation(served) -> Federation:
    """The demo federation's ids and one token per role, with the scopes the demo suggests."""
    operator = served.token("operator")
    ids = {
        "kommun": served.organisation_id("iso6523-actorid-upis::0203:exempelkommun.se", operator),
        "region": served.organisation_id("iso6523-actorid-upis::0203:regionexempel.se", operator),
        "ap": served.http("GET", "/api/v1/ap-operators", operator).json()[0]["id"],
    }
    ids["endpoint"] = served.http("GET", "/api/v1/endpoint-configurations", operator).json()["items"][0]["id"]
    tokens = {
        "operator": operator,
        "ap_operator": served.token("ap_operator", ids["ap"]),
        "org_admin": served.token("org_admin", ids["kommun"]),
    }
    return Federation(served, tokens, ids)
