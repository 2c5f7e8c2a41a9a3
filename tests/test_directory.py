"""The public directory JSON:API: what is visible, paging while data changes, fieldsets, errors, caching."""

from __future__ import annotations

import pytest

BASE = "/addressbook/api/v1"
KOMMUN = "0203:exempelkommun.se"
MEDIA = "application/vnd.api+json"


def get(api, url, **headers):
    response = api.client.get(url, headers=headers)
    if response.status_code != 304:
        assert response.headers["Content-Type"] == MEDIA, response.get_data(as_text=True)
    return response


def walk(api, url):
    """Follow links.next to the end; the ids in order."""
    seen = []
    while url:
        body = get(api, url).get_json()
        seen += [item["id"] for item in body["data"]]
        url = body["links"].get("next")
    return seen


def _add_address(api, identifier, name="Funktion"):
    url = f"/api/v1/organisations/{api.ids[KOMMUN]}/function-addresses"
    response = api("POST", url, json={"identifier": identifier, "name": name})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def test_entry_point_and_collections(api):
    root = get(api, BASE + "/").get_json()
    assert set(root["links"]) == {"organizations", "addresses", "codesystems"}
    organisations = get(api, BASE + "/organizations").get_json()["data"]
    by_name = {o["attributes"]["name"]: o for o in organisations}
    kommun = next(
        o for o in organisations if o["attributes"]["participantIdentifier"] == f"iso6523-actorid-upis::{KOMMUN}"
    )
    assert kommun["relationships"]["parent"]["data"] is None
    ous = [o for o in by_name.values() if o["attributes"]["type"] == "ou"]
    assert ous and all(o["relationships"]["parent"]["data"]["type"] == "organizations" for o in ous)
    addresses = get(api, BASE + "/addresses").get_json()["data"]
    assert addresses and all(a["relationships"]["parent"]["data"]["id"] for a in addresses)
    assert {"identifier", "name"} <= set(addresses[0]["attributes"])
    systems = get(api, BASE + "/codesystems").get_json()["data"]
    assert systems[0]["attributes"]["codes"]


def test_only_approved_organisations_and_active_addresses_appear(api):
    before = walk(api, BASE + "/addresses")
    kommun_addresses = get(api, f"{BASE}/addresses?filter[organization]={api.ids[KOMMUN]}").get_json()["data"]
    assert kommun_addresses
    address = kommun_addresses[0]["id"]
    assert (
        api(
            "DELETE", f"/api/v1/organisations/{api.ids[KOMMUN]}/function-addresses/{address}", headers={"If-Match": "*"}
        ).status_code
        == 204
    )
    assert address not in walk(api, BASE + "/addresses")
    assert get(api, f"{BASE}/addresses/{address}").status_code == 404
    assert api("POST", f"/api/v1/organisations/{api.ids[KOMMUN]}/suspend", json={}).status_code == 200
    organisations = walk(api, BASE + "/organizations")
    assert str(api.ids[KOMMUN]) not in organisations
    assert get(api, f"{BASE}/organizations/{api.ids[KOMMUN]}").status_code == 404
    remaining = walk(api, BASE + "/addresses")
    assert len(remaining) < len(before) - 1  # the kommun's ou addresses went too
    for item in get(api, BASE + "/organizations").get_json()["data"]:
        parent = item["relationships"]["parent"]["data"]
        assert parent is None or parent["id"] in organisations


def test_keyset_paging_stays_correct_while_data_changes(api):
    for n in range(6):
        _add_address(api, f"sdk:paging{n}:0203:exempelkommun.se")
    everything = get(api, BASE + "/addresses?page[size]=1000").get_json()["data"]
    ids = [item["id"] for item in everything]
    assert len(ids) > 6 and len(ids) == len(set(ids))
    last = everything[-1]  # keyset order: the walk below reaches it last
    owner = last["relationships"]["parent"]["data"]["id"]
    url, seen = BASE + "/addresses?page[size]=3", []
    while url:
        body = get(api, url).get_json()
        assert len(body["data"]) <= 3
        seen += [item["id"] for item in body["data"]]
        url = body["links"].get("next")
        if len(seen) == 3:  # change the data in the middle of the walk
            _add_address(api, "sdk:mitt-i:0203:exempelkommun.se")
            removal = f"/api/v1/organisations/{owner}/function-addresses/{last['id']}"
            assert api("DELETE", removal, headers={"If-Match": "*"}).status_code == 204
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert last["id"] not in seen, "a row removed before the walk reached it was still served"
    assert set(ids) - {last["id"]} <= set(seen), "a row that existed throughout was skipped"


def test_include_and_sparse_fieldsets(api):
    url = f"{BASE}/addresses?include=parent&fields[addresses]=name,parent&fields[organizations]=name"
    body = get(api, url).get_json()
    assert all(set(a["attributes"]) == {"name"} for a in body["data"])
    parents = {a["relationships"]["parent"]["data"]["id"] for a in body["data"]}
    included = {o["id"]: o for o in body["included"]}
    assert set(included) == parents
    assert all(set(o["attributes"]) == {"name"} and "relationships" not in o for o in included.values())
    one = get(api, f"{BASE}/organizations/{api.ids[KOMMUN]}?fields[organizations]=participantIdentifier").get_json()
    assert one["data"]["attributes"] == {"participantIdentifier": f"iso6523-actorid-upis::{KOMMUN}"}


def test_filters(api):
    addresses = get(api, BASE + "/addresses").get_json()["data"]
    identifier = addresses[0]["attributes"]["identifier"]
    found = get(api, f"{BASE}/addresses?filter[identifier]={identifier.upper()}").get_json()["data"]
    assert [a["id"] for a in found] == [addresses[0]["id"]]
    kommun = get(api, f"{BASE}/organizations?filter[participantIdentifier]={KOMMUN.upper()}").get_json()["data"]
    assert [o["id"] for o in kommun] == [str(api.ids[KOMMUN])]
    children = get(api, f"{BASE}/organizations?filter[parent]={api.ids[KOMMUN]}").get_json()["data"]
    assert children and all(o["attributes"]["type"] == "ou" for o in children)
    registrators = get(api, f"{BASE}/addresses?filter[category]=registrator").get_json()["data"]
    assert registrators and all(
        any(c["code"] == "registrator" for c in a["attributes"]["categories"]) for a in registrators
    )


def test_etag_and_304(api):
    first = get(api, BASE + "/organizations")
    tag = first.headers["ETag"]
    again = get(api, BASE + "/organizations", **{"If-None-Match": tag})
    assert again.status_code == 304
    assert again.get_data() == b""
    _add_address(api, "sdk:ny:0203:exempelkommun.se")
    assert get(api, BASE + "/addresses", **{"If-None-Match": tag}).status_code == 200


def test_no_cors_headers_ever(api):
    for method in ("GET", "OPTIONS"):
        response = api.client.open(BASE + "/organizations", method=method, headers={"Origin": "https://evil.example"})
        assert not [name for name, _ in response.headers.items() if name.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("/addresses?page[size]=0", "page[size]"),
        ("/addresses?page[size]=1001", "page[size]"),
        ("/addresses?page[after]=%%%", "page[after]"),
        ("/addresses?filter[nope]=x", "filter[nope]"),
        ("/addresses?filter[identifier]=%3Cscript%3E", "filter[identifier]"),
        ("/addresses?filter[organization]=not-a-uuid", "filter[organization]"),
        ("/addresses?include=children", "include"),
        ("/addresses?fields[addresses]=secret", "fields[addresses]"),
        ("/addresses?sort=name", "sort"),
    ],
)
def test_bad_parameters_are_json_api_errors(api, query, parameter):
    response = get(api, BASE + query)
    assert response.status_code == 400
    (error,) = response.get_json()["errors"]
    assert error["status"] == "400"
    assert error["source"] == {"parameter": parameter}


def test_unknown_resources_and_writes(api):
    assert get(api, BASE + "/things").status_code == 404
    assert get(api, BASE + "/organizations/not-a-uuid").status_code == 404
    assert get(api, BASE + "/organizations/00000000-0000-0000-0000-000000000000").status_code == 404
    assert get(api, BASE + "/a/b/c").status_code == 404
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = api.client.open(BASE + "/organizations", method=method)
        assert response.status_code == 405
        assert response.headers["Content-Type"] == MEDIA


def test_rate_limit_per_client_address(api, db, pki_instance_dir):
    from app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(pki_instance_dir, db.url, SDK_DIRECTORY_RATE_LIMIT="3"), database=db)
    client = app.test_client()
    statuses = [client.get(BASE + "/codesystems").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get(BASE + "/codesystems")
    assert limited.headers["Content-Type"] == MEDIA
    assert limited.headers["Retry-After"] == "20"  # 3 a minute: one token every 20 s
    assert limited.get_json()["errors"][0]["status"] == "429"
    other = client.get(BASE + "/codesystems", environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 200
    assert client.get("/healthz").status_code == 200  # only the directory is limited


@pytest.mark.parametrize("hops", [0, 1])
def test_forwarded_client_addresses_count_only_behind_trusted_proxies(api, db, pki_instance_dir, hops):
    from app import create_app
    from tests.conftest import make_settings

    settings = make_settings(pki_instance_dir, db.url, SDK_DIRECTORY_RATE_LIMIT="1", SDK_PROXY_HOPS=str(hops))
    client = create_app(settings, database=db).test_client()

    def via_proxy(client_address: str) -> int:
        headers = {"X-Forwarded-For": client_address}
        return client.get(BASE + "/codesystems", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code

    assert via_proxy("192.0.2.1") == 200
    # Behind one trusted proxy a second client has its own bucket; without, the header is ignored
    # (anyone could send it) and both share the proxy's address.
    assert via_proxy("192.0.2.2") == (200 if hops else 429)
    assert via_proxy("192.0.2.1") == 429


def test_token_bucket_refills_at_the_configured_rate():
    from app.directory.ratelimit import RateLimiter

    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(limiter.acquire("a") == 0.0 for _ in range(60))
    assert limiter.acquire("a") == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.acquire("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0


def test_a_shared_limit_counts_every_process_together_and_survives_a_lost_store():
    import secrets

    from app.directory.ratelimit import SharedRateLimiter
    from tests.conftest import require_redis

    url = require_redis()
    prefix = f"sdk-test-{secrets.token_hex(4)}"
    # two workers (or replicas) of one deployment: one window per client between them
    workers = [SharedRateLimiter(10, url, scope="directory", key_prefix=prefix) for _ in range(2)]
    waits = [workers[n % 2].acquire("192.0.2.1") for n in range(20)]
    assert waits[:10] == [0.0] * 10
    assert all(0 < wait <= 60 for wait in waits[10:])
    assert workers[1].acquire("192.0.2.2") == 0.0  # another client, its own window
    # the store gone: the process's own bucket decides, the directory stays up
    lost = SharedRateLimiter(2, "redis://127.0.0.1:1/0", scope="directory", key_prefix=prefix)
    assert [lost.acquire("192.0.2.3") == 0.0 for _ in range(3)] == [True, True, False]
