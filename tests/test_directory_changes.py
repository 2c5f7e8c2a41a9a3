"""The change feed: a client keeps a local copy of the directory and it stays equal to the source."""

from __future__ import annotations

import pytest

from tests.test_directory import BASE, KOMMUN, get, walk

KINDS = ("organizations", "addresses", "codesystems")


class LocalCopy:
    """What a message client keeps: every resource by id, brought up to date from the change feed."""

    def __init__(self, api) -> None:
        self.api = api
        self.items: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
        self.resume = {kind: f"{BASE}/{kind}?filter[updatedSince]=1970-01-01T00:00:00Z&page[size]=3" for kind in KINDS}

    def catch_up(self) -> None:
        for kind in KINDS:
            url = self.resume[kind]
            while True:
                body = get(self.api, url).get_json()
                for item in body["data"]:
                    if item["meta"].get("removed"):
                        self.items[kind].pop(item["id"], None)
                    else:
                        self.items[kind][item["id"]] = _content(item)
                if "next" not in body["links"]:
                    self.resume[kind] = body["meta"]["resume"]
                    break
                url = body["links"]["next"]


def _content(item: dict) -> dict:
    return {"attributes": item.get("attributes"), "relationships": item.get("relationships")}


def source(api) -> dict[str, dict[str, dict]]:
    """The directory as the live collections show it now."""
    result = {}
    for kind in KINDS:
        ids = walk(api, f"{BASE}/{kind}?page[size]=4")
        result[kind] = {ident: _content(get(api, f"{BASE}/{kind}/{ident}").get_json()["data"]) for ident in ids}
    return result


def test_a_local_copy_follows_creates_updates_and_removals(api):
    copy = LocalCopy(api)
    copy.catch_up()
    assert copy.items == source(api)

    kommun = f"/api/v1/organisations/{api.ids[KOMMUN]}"
    created = api(
        "POST", f"{kommun}/function-addresses", json={"identifier": "sdk:ny:0203:exempelkommun.se", "name": "Ny"}
    )
    assert created.status_code == 201
    address = created.headers["Location"]
    ou = api(
        "POST", "/api/v1/organisations", json={"type": "ou", "name": "Tillfällig enhet", "parent": str(api.ids[KOMMUN])}
    )
    assert ou.status_code == 201, ou.get_data(as_text=True)
    copy.catch_up()
    assert copy.items == source(api)
    assert created.get_json()["id"] in copy.items["addresses"]

    assert api("PATCH", address, json={"name": "Nytt namn"}, headers={"If-Match": '"1"'}).status_code == 200
    assert api("PATCH", kommun, json={"alternateName": "Kommunen"}, headers={"If-Match": "*"}).status_code == 200
    assert api("DELETE", address, headers={"If-Match": '"2"'}).status_code == 204  # deactivated: gone
    assert api("DELETE", ou.headers["Location"], headers={"If-Match": "*"}).status_code == 204
    copy.catch_up()
    assert copy.items == source(api)
    assert created.get_json()["id"] not in copy.items["addresses"]

    assert api("POST", f"{kommun}/suspend", json={}).status_code == 200  # the whole organisation leaves
    copy.catch_up()
    assert copy.items == source(api)
    assert str(api.ids[KOMMUN]) not in copy.items["organizations"]

    assert api("POST", f"{kommun}/reinstate", json={}).status_code == 200
    copy.catch_up()
    assert copy.items == source(api)
    assert str(api.ids[KOMMUN]) in copy.items["organizations"]


def test_resume_returns_only_what_changed_since(api):
    first = get(api, f"{BASE}/addresses?filter[updatedSince]=1970-01-01T00:00:00Z&page[size]=1000").get_json()
    resume = first["meta"]["resume"]
    assert get(api, resume).get_json()["data"] == []
    kommun = f"/api/v1/organisations/{api.ids[KOMMUN]}"
    body = {"identifier": "sdk:senare:0203:exempelkommun.se", "name": "Senare"}
    new = api("POST", f"{kommun}/function-addresses", json=body).get_json()["id"]
    assert [item["id"] for item in get(api, resume).get_json()["data"]] == [new]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[updatedSince]=yesterday", "filter[updatedSince]"),
        ("filter[updatedSince]=2026-01-01T00:00:00", "filter[updatedSince]"),
        ("filter[updatedSince]=2026-01-01T00:00:00Z&filter[identifier]=x", "filter[identifier]"),
        ("filter[updatedSince]=2026-01-01T00:00:00Z&page[after]=AAAA", "page[after]"),
        ("q=registrator&filter[identifier]=x", "filter[identifier]"),
        ("q=och", "q"),
    ],
)
def test_bad_feed_and_search_parameters_are_named(api, query, parameter):
    response = api.client.get(f"{BASE}/addresses?{query}")
    assert response.status_code == 400
    assert response.get_json(force=True)["errors"][0]["source"]["parameter"] == parameter


def test_search_over_http_pages_and_reports_corrections(api):
    body = get(api, f"{BASE}/addresses?q=registartor&page[size]=2&include=parent").get_json()
    assert [item["attributes"]["name"] for item in body["data"]] == ["Registrator", "Registrator"]
    assert body["meta"]["search"]["corrections"] == {"registartor": ["registrator"]}
    assert {item["type"] for item in body["included"]} == {"organizations"}
    rest = get(api, body["links"]["next"]).get_json()
    assert [item["attributes"]["name"] for item in rest["data"]] == ["Registrator"]
    assert "next" not in rest["links"]
    assert get(api, f"{BASE}/addresses?filter[q]=registrator").get_json()["data"]
