"""The shipped shape, on one machine: two ``serve`` replicas on one PostgreSQL database, Redis for the
shared rate limit, the worker publishing to ``named`` over RFC 2136, nginx in front in round-robin.

A burst of writes goes through the front (so through both replicas, in turn); afterwards every read
face — SMP on each replica, the directory on each replica, DNS through ``named`` — agrees with the
database. A change committed through one replica is served by the other within a second although its
generation poll is set to a minute (the PostgreSQL notification does it), and the directory's rate
limit holds for both replicas together.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.dns.naming import naptr_name
from tests.conftest import fresh_postgres_database, require_redis
from tests.named import Named, free_port, start_named
from tests.nginx_front import RoundRobinFront
from tests.processes import EXECUTABLE, wait_until
from tests.served.service import Served

ZONE = "sml.replicas.test"
RATE_LIMIT = 40
PARTICIPANTS = ("0203:exempelkommun.se", "0203:regionexempel.se", "0203:exempelmyndigheten.se")


@dataclass
class Cluster:
    replicas: tuple[Served, Served]
    front: RoundRobinFront
    named: Named
    worker: subprocess.Popen
    operator: str

    def http(self, method: str, path: str, **kwargs):
        import requests

        headers = {"Authorization": f"Bearer {self.operator}", **kwargs.pop("headers", {})}
        return requests.request(method, self.front.base + path, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    redis_url = require_redis()
    folder = tmp_path_factory.mktemp("replicas")
    named = start_named(folder / "named", ZONE)
    with fresh_postgres_database() as url:
        shared = {
            **named.environ,
            "SDK_INSTANCE_DIR": str(folder / "instance"),  # one set of keys, as a Secret gives every pod
            "SDK_SERVE_DNS": "false",
            "SDK_REDIS_URL": redis_url,
            "SDK_REDIS_KEY_PREFIX": f"sdk-test-{secrets.token_hex(4)}",
            "SDK_DIRECTORY_RATE_LIMIT": str(RATE_LIMIT),
            "SDK_PROXY_HOPS": "1",  # nginx in front
            "SDK_SMP_MEMORY_CACHE_SECONDS": "60",  # only the notification can make a replica see a change at once
            "SDK_DIRECTORY_INLINE_IMPORT_ROWS": "20",  # larger imports: entries by the worker
        }
        first = Served(folder / "a", url, extra=dict(shared))
        second = Served(folder / "b", url, extra=dict(shared))
        front = RoundRobinFront(folder / "nginx", (first.http_port, second.http_port), port=free_port())
        for replica in (first, second):
            replica.folder.mkdir()
            replica.extra["SDK_PUBLIC_URL"] = front.base  # what DNS and the documents name: the front
        worker = None
        try:
            first.prepare()  # migrate, keys, the demo federation: once, on the shared database
            with (folder / "worker.log").open("ab") as log:
                worker = subprocess.Popen([EXECUTABLE, "worker"], env=first.environ, stdout=log, stderr=log)
            first.start()
            second.start()
            front.start()
            yield Cluster((first, second), front, named, worker, first.token("operator"))
        finally:
            front.stop()
            for replica in (first, second):
                replica.stop()
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            named.stop()


def _organisation_ids(cluster: Cluster) -> dict[str, str]:
    items = cluster.http("GET", "/api/v1/organisations", params={"type": "o", "pageSize": 100}).json()["items"]
    return {item["participantIdentifier"].split("::", 1)[1]: item["id"] for item in items}


def _smp_status(replica: Served, participant: str) -> int:
    return replica.http("GET", f"/smp/iso6523-actorid-upis::{participant}").status_code


def _in_dns(named: Named, participant: str) -> bool:
    return named.query(naptr_name("iso6523-actorid-upis", participant, ZONE)).rcode() == 0


def test_a_burst_through_both_replicas_leaves_every_read_face_agreeing_with_the_database(cluster):
    ids = _organisation_ids(cluster)
    kommun = ids[PARTICIPANTS[0]]
    # The burst: alternate replicas (the front's round robin), writes of every face's kind.
    created = []
    for number in range(12):
        identifier = f"sdk:replikor:{number}"
        response = cluster.http(
            "POST",
            f"/api/v1/organisations/{kommun}/function-addresses",
            json={"identifier": identifier, "name": f"Replikornas brevlåda {number}", "keywords": ["replikor"]},
        )
        assert response.status_code == 201, response.text
        created.append(identifier)
    for action, participant in [("suspend", p) for p in PARTICIPANTS] + [("reinstate", PARTICIPANTS[0])]:
        response = cluster.http("POST", f"/api/v1/organisations/{ids[participant]}/{action}")
        assert response.status_code == 200, response.text

    # The database, through the management API.
    statuses = {
        p: cluster.http("GET", f"/api/v1/organisations/{ids[p]}").json()["federationStatus"] for p in PARTICIPANTS
    }
    assert statuses == {PARTICIPANTS[0]: "approved", PARTICIPANTS[1]: "suspended", PARTICIPANTS[2]: "suspended"}
    published = {p for p, status in statuses.items() if status == "approved"}

    for replica in cluster.replicas:  # SMP and directory on each replica, read directly
        for participant in PARTICIPANTS:
            want = 200 if participant in published else 404
            assert wait_until(lambda r=replica, p=participant, w=want: _smp_status(r, p) == w, 2), (
                replica,
                participant,
            )
        found = replica.http("GET", "/addressbook/api/v1/addresses", params={"q": "replikor", "page[size]": 50})
        assert sorted(item["attributes"]["identifier"] for item in found.json()["data"]) == sorted(created)
    for participant in PARTICIPANTS:  # DNS through named, fed by the worker
        want = participant in published
        assert wait_until(lambda p=participant, w=want: _in_dns(cluster.named, p) == w, 15), participant


def test_a_change_through_one_replica_is_served_by_the_other_within_a_second(cluster):
    first, second = cluster.replicas
    participant = PARTICIPANTS[0]
    organisation = _organisation_ids(cluster)[participant]
    assert _smp_status(second, participant) == 200
    assert _smp_status(second, participant) == 200  # now from the second replica's memory
    for action, want in (("suspend", 404), ("reinstate", 200)):
        response = first.http("POST", f"/api/v1/organisations/{organisation}/{action}", cluster.operator)
        assert response.status_code == 200, response.text
        committed = time.monotonic()
        assert wait_until(lambda w=want: _smp_status(second, participant) == w, 1.0), f"{action}: still cached"
        assert time.monotonic() - committed < 1.0


def test_the_directory_rate_limit_holds_across_both_replicas(cluster):
    """One client (its address as the front passes it), requests alternating between the replicas: the
    allowed ones add up to the limit, not to twice it."""
    client = f"192.0.2.{secrets.randbelow(200) + 1}"
    answers = []
    for number in range(2 * RATE_LIMIT):
        replica = cluster.replicas[number % 2]
        response = replica.http("GET", "/addressbook/api/v1/codesystems", headers={"X-Forwarded-For": client})
        answers.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
    assert answers.count(200) == RATE_LIMIT and answers.count(429) == RATE_LIMIT
    assert answers[:RATE_LIMIT] == [200] * RATE_LIMIT
    other = cluster.replicas[0].http(
        "GET", "/addressbook/api/v1/codesystems", headers={"X-Forwarded-For": "192.0.2.250"}
    )
    assert other.status_code == 200


def test_a_large_import_is_searchable_on_every_replica_once_the_worker_wrote_its_entries(cluster):
    kommun = _organisation_ids(cluster)[PARTICIPANTS[0]]
    rows = "identifier,name,description,categories,keywords\n" + "".join(
        f"sdk:massimport{n}:0203:exempelkommun.se,Massimport {n},,,import\n" for n in range(60)
    )
    response = cluster.http(
        "POST",
        f"/api/v1/organisations/{kommun}/function-addresses/import?dryRun=false",
        data=rows.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200 and response.json()["created"] == 60, response.text

    def searchable(replica: Served) -> int:
        found = replica.http("GET", "/addressbook/api/v1/addresses", params={"q": "massimport", "page[size]": 100})
        return len(found.json()["data"])

    assert wait_until(lambda: all(searchable(r) == 60 for r in cluster.replicas), 10)
    directory = cluster.http("GET", "/api/v1/status").json()["directory"]
    assert directory == {"backlog": 0, "oldestBacklogSeconds": 0.0}
