"""Generated hostile requests at every route: the API, the directory, the console and SMP.

Hypothesis builds the requests: path segments, query parameters, headers and bodies made of deep
nesting, huge numbers, NaN, lone surrogates, NUL and other controls, bidi overrides and zero-width
characters, text from every Unicode category, dates at the ends of the calendar, raw bytes and binary
CSV. Real ids of the seeded federation and real tokens are mixed in, so requests get past routing and
authentication into the use cases. On SQLite and PostgreSQL:

- no answer is a 5xx;
- every refusal on the API and the directory is problem+json (JSON:API errors on the directory) naming
  its status;
- a refused request (4xx) leaves the stored data exactly as it was: the whole database is compared
  before and after (the columns a refusal may rightly touch, such as a token's last use or a failed
  login count, left out). An accepted write becomes the new baseline.

Each route is explored on its own (a dozen or so examples each), the same examples on every run;
``SDK_TEST_SWEEP_RANDOM=1 make test`` draws new ones (that is how the bugs fixed with it were found).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from app import create_app
from app.operations.accounts import create_account
from app.registry.models import (
    AccessPoint,
    AccessPointOperator,
    Base,
    Code,
    CodeSystem,
    Credential,
    EndpointConfiguration,
    FunctionAddress,
    Organisation,
    ParticipantCertificate,
    ParticipantService,
    PendingChange,
    TrustAnchor,
)
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE
from tests.conftest import make_settings

OPENAPI = json.loads((Path(__file__).resolve().parents[1] / "openapi" / "openapi.json").read_text())
PASSWORD = "hostile sweep password"

#: What a refusal may rightly change: when a token was last used, a login's failure count and lock.
MAY_CHANGE = {("credentials", "last_used_at"), ("accounts", "failed_logins"), ("accounts", "locked_until")}
MAY_CHANGE |= {("accounts", "last_login_at"), ("accounts", "sessions_valid_from"), ("accounts", "updated_at")}
MAY_CHANGE |= {("accounts", "version"), ("credentials", "updated_at"), ("credentials", "version")}

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[2J",
    "\x85",
    "\u202eevil\u202c",
    "\u200b",
    "\ufeffname",
    "\udcff",
    "\ud800x",
    "x" * 5000,
    "9" * 5000,
    "-1",
    "0",
    "1e309",
    "NaN",
    "-Infinity",
    "null",
    "true",
    "[]",
    "{}",
    '=HYPERLINK("http://x")',
    "+1",
    "@SUM(A1)",
    "../../../etc/passwd",
    "%00",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    "'; DROP TABLE organisations; --",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-02-30T00:00:00Z",
    "2026-12-04T25:61:61",
    "T",
    "iso6523-actorid-upis::0203:exempelkommun.se",
    "iso6523-actorid-upis::",
    "::",
    "0203:" + "9" * 300,
    "busdox-docid-qns::" + "ä" * 300,
    "\U0001f600" * 100,
    "Ǆǅǆ ǈ ϴ ﬀ",
    "\u0301\u0301\u0301",
    "\ud83d",
    "*",
    '"3"',
    'W/"1"',
    "Bearer ",
]

#: Text from every Unicode category, surrogates included, and the hand-picked troublemakers.
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(codec=None), max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Mn"]), min_size=1, max_size=8),
)
NUMBER = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)


def _json(keys: list[str]) -> st.SearchStrategy:
    key = st.one_of(st.sampled_from(keys), TEXT) if keys else TEXT
    return st.recursive(
        SCALAR,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=5)),
        max_leaves=12,
    )


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- the routes ---------------------------------------------------------------------------------------


def _operation(path: str, method: str) -> dict:
    template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
    return OPENAPI["paths"].get(template, {}).get(method.lower(), {})


def _body_fields(operation: dict) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = next(iter(content.values()), {}).get("schema", {}) if content else {}
    if "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {}))


def _query_names(operation: dict) -> list[str]:
    names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    return [*names, "filter[updatedSince]", "page[size]", "page[number]", "q", "sort", "include", "fields[x]"]


def _routes(app, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefixes):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return sorted(found)


#: Where real ids of each kind come from, by the name of the path parameter or body field that takes one.
POOLS = {
    "organisation_id": Organisation,
    "address_id": FunctionAddress,
    "service_id": ParticipantService,
    "certificate_id": ParticipantCertificate,
    "access_point_id": AccessPoint,
    "configuration_id": EndpointConfiguration,
    "system_id": CodeSystem,
    "change_id": PendingChange,
    "anchor_id": TrustAnchor,
    "token_id": Credential,
    "code_id": Code,
    "ap_operator_id": AccessPointOperator,
}
FIELD_POOLS = {
    "parent": "organisation_id",
    "organisation": "organisation_id",
    "apOperator": "ap_operator_id",
    "scope": "organisation_id",
    "accessPoint": "access_point_id",
    "endpointConfiguration": "configuration_id",
    "target": "configuration_id",
    "services": "service_id",
}


def _ids(session, model) -> list[str]:
    return [str(value) for value in session.scalars(select(model.id).limit(4))]


#: A value each field would accept, to build bodies that get past the first checks; one or more fields
#: are then replaced by something hostile.
PLAUSIBLE = {
    "name": "Svep AB",
    "alternateName": "Svepet",
    "description": "Beskrivning",
    "identifier": "sdk:svep:0203:exempelkommun.se",
    "participantIdentifier": "0203:svep.se",
    "organisationNumber": "2120000142",
    "type": "ou",
    "countryCode": "SE",
    "documentType": SDK_MESSAGE_DOCUMENT_TYPE,
    "process": "urn:sdk:process",
    "endpointUrl": "https://svep.example.se/as4",
    "technicalContactUrl": "https://svep.example.se",
    "technicalInformationUrl": "https://svep.example.se/info",
    "transportProfile": "digg-transport-as4-v1_0",
    "categories": ["registrator"],
    "keywords": ["svep"],
    "role": "org_admin",
    "reason": "Skäl",
    "purpose": "access-point",
    "usage": "signing",
    "status": "inactive",
    "expiresAt": "2030-01-01T00:00:00Z",
    "activationDate": "2026-01-01T00:00:00Z",
    "expirationDate": "2030-01-01T00:00:00Z",
}


def _schema(operation: dict) -> dict:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _plausible(name: str, spec: dict, pools: dict[str, list[str]]):
    if name in FIELD_POOLS:
        pool = pools[FIELD_POOLS[name]]
        return [pool[0]] if spec.get("type") == "array" else pool[0]
    if name in PLAUSIBLE:
        return PLAUSIBLE[name]
    if "enum" in spec:
        return next(value for value in spec["enum"] if value is not None)
    return {"integer": 1, "boolean": True, "array": [], "object": {}}.get(spec.get("type"), "svep")


def _hostile_value(draw, spec: dict, plausible):
    """Something in place of a field's value: wrong types, nasty text, boundary lengths, hidden characters."""
    longest = spec.get("maxLength")
    choices = [
        _json([]),
        TEXT,
        st.lists(TEXT, max_size=4),
        st.builds(lambda extra: f"{plausible}{extra}", TEXT) if isinstance(plausible, str) else NUMBER,
        st.builds(lambda extra: f"{extra}{plausible}", st.sampled_from(NASTY))
        if isinstance(plausible, str)
        else NUMBER,
    ]
    if longest:
        choices.append(st.sampled_from(["x" * longest, "x" * (longest + 1), "ä" * longest, "\U0001f600" * longest]))
    return draw(st.one_of(*choices))


# -- the stored state ---------------------------------------------------------------------------------


def _digest(db) -> dict[str, str]:
    """A hash of every table's rows (the columns a refusal may change left out)."""
    digests = {}
    with db.reader() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in MAY_CHANGE]
            rows = session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
            digests[table.name] = hashlib.sha256(repr(rows).encode("utf-8", "surrogatepass")).hexdigest()
    return digests


class Sweep:
    """The seeded federation, a rate-unlimited app on the test database, and real ids to aim at."""

    def __init__(self, api, db, pki_instance_dir) -> None:
        settings = make_settings(pki_instance_dir, db.url, SDK_DIRECTORY_RATE_LIMIT="0")
        self.app = create_app(settings, database=db)
        self.db, self.tokens = db, api.tokens
        with db.writer() as session:
            create_account(session, "svep", PASSWORD, "operator", None)
        with db.reader() as session:
            self.pools = {name: _ids(session, model) for name, model in POOLS.items()}
        self.baseline = _digest(db)

    def console(self):
        """A browser logged in as an operator, and its CSRF token (logged in again if a request logged it out)."""
        client = getattr(self, "_console", None)
        if client is None or client.get("/console").status_code != 200:
            client = self._console = self.app.test_client()
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
            login = {"csrf": csrf, "username": "svep", "password": PASSWORD}
            assert client.post("/login", data=login).status_code == 302
        page = client.get("/console").get_data(as_text=True)
        return client, re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def check(self, method: str, url: str, response) -> None:
        status = response.status_code
        assert status < 500, f"{method} {url}: {status}\n{response.get_data(as_text=True)[:2000]}"
        if 400 <= status < 500:
            if url.startswith("/api/"):
                assert response.headers["Content-Type"] == "application/problem+json", (method, url, status)
                assert response.get_json(force=True)["status"] == status
            if url.startswith("/addressbook/"):
                assert response.headers["Content-Type"].startswith("application/vnd.api+json"), (method, url)
                assert response.get_json(force=True)["errors"][0]["status"] == str(status)
            after = _digest(self.db)
            changed = sorted(name for name in after if after[name] != self.baseline[name])
            assert not changed, f"{method} {url} was refused ({status}) but changed {changed}"
        elif method not in ("GET", "HEAD"):
            self.baseline = _digest(self.db)


@pytest.fixture
def sweep(api, db, pki_instance_dir) -> Sweep:
    return Sweep(api, db, pki_instance_dir)


def _path(draw, rule: str, pools: dict[str, list[str]]) -> str:
    everything = sorted({i for pool in pools.values() for i in pool})

    def segment(match: re.Match) -> str:
        converter, name = match.group(1) or "", match.group(2)
        if converter.startswith("uuid"):
            pool = pools.get(name) or everything
            return draw(st.one_of(st.sampled_from(pool), st.sampled_from(everything), st.uuids().map(str)))
        known = ["addresses", "organizations", "codesystems", *everything[:5]]
        text = draw(st.one_of(st.sampled_from(known), TEXT))
        return quote(text.encode("utf-8", "surrogatepass"), safe="" if converter != "path:" else "/")

    return re.sub(r"<(\w+:)?(\w+)>", segment, rule)


def _query(draw, names: list[str]) -> str:
    pairs = draw(st.dictionaries(st.sampled_from(names), TEXT, max_size=4))
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in pairs.items())


def _headers(draw, tokens: dict[str, str], method: str = "GET") -> dict[str, str]:
    header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
    headers = {}
    who = draw(st.sampled_from(["operator", "operator", *tokens, None, "garbage"]))
    if who == "garbage":
        headers["Authorization"] = draw(st.one_of(header_text, st.just("Bearer " + "x" * 5000)))
    elif who is not None:
        headers["Authorization"] = f"Bearer {tokens[who]}"
    if method in ("PATCH", "PUT", "DELETE") and draw(st.integers(0, 3)):
        headers["If-Match"] = "*"  # mostly: get past the precondition into the use case
    for name, values in (
        ("If-Match", ["*", '"1"', '"999999999999999999999"', 'W/"2"', "", '"-1"', '"a"', '"1", "2"']),
        ("Accept", ["application/json", "application/xml", "*/*", "text/csv", "application/vnd.api+json;x=1"]),
        ("X-Forwarded-For", ["1.2.3.4", "::1", "x" * 300, "1.2.3.4, 5.6.7.8"]),
        ("Accept-Language", ["sv", "en;q=0.1", "*", "xx-" * 50]),
    ):
        if draw(st.booleans()):
            headers[name] = draw(st.one_of(st.sampled_from(values), header_text))
    return headers


@st.composite
def api_requests(draw, routes, pools, tokens):
    method, rule = draw(st.sampled_from(routes))
    operation = _operation(rule, method)
    url = _path(draw, rule, pools)
    query = _query(draw, _query_names(operation))
    headers = _headers(draw, tokens, method)
    fields = _body_fields(operation)
    kinds = ["mutated"] * 6 + ["json-object", "json-any", "raw", "deep", "csv", "none"]
    kind = draw(st.sampled_from(kinds))
    data, content_type = None, None
    if kind == "mutated":  # a body the schema would take, with one to three fields made hostile
        properties = _schema(operation).get("properties", {})
        writable = {k: v for k, v in properties.items() if not v.get("readOnly") and k not in ("id", "version")}
        body = {name: _plausible(name, spec, pools) for name, spec in writable.items()}
        for name in draw(st.lists(st.sampled_from([*writable, "unknownField"]), min_size=1, max_size=3)):
            body[name] = _hostile_value(draw, writable.get(name, {}), body.get(name, ""))
        data, content_type = json.dumps(body, allow_nan=True), "application/json"
    elif kind == "json-object":
        body = draw(st.dictionaries(st.sampled_from(fields) if fields else TEXT, _json(fields), max_size=6))
        data, content_type = json.dumps(body, allow_nan=True), "application/json"
    elif kind == "json-any":
        data, content_type = json.dumps(draw(_json(fields)), allow_nan=True), "application/json"
    elif kind == "raw":
        data = draw(st.binary(max_size=300))
        content_type = draw(st.sampled_from(["application/json", "text/csv", "application/octet-stream", ""]))
    elif kind == "deep":
        data, content_type = _deep(draw(st.integers(min_value=500, max_value=5000))), "application/json"
    elif kind == "csv":
        rows = draw(st.lists(st.lists(TEXT, max_size=6), max_size=5))
        line_end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        text = line_end.join(["identifier,name,description,categories,keywords", *(",".join(r) for r in rows)])
        data, content_type = text.encode("utf-8", "surrogatepass"), "text/csv"
    if content_type is not None:
        headers["Content-Type"] = content_type
    return method, url + (f"?{query}" if query else ""), headers, data


def _sweep_each(routes, examples: int, send) -> None:
    """``send(data, method, rule)`` ``examples`` times for every route, each route explored on its own."""
    for method, rule in routes:
        _explore(method, rule, examples, send)


#: The same examples on every run (a red CI is a finding, not luck); SDK_TEST_SWEEP_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("SDK_TEST_SWEEP_RANDOM") != "1"


def _explore(method: str, rule: str, examples: int, send) -> None:
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=DERANDOMIZE,
    )
    @given(data=st.data())
    def one(data) -> None:
        send(data, method, rule)

    one()


def test_hostile_requests_to_the_management_api(sweep):
    def send(data, method: str, rule: str) -> None:
        method, url, headers, body = data.draw(api_requests([(method, rule)], sweep.pools, sweep.tokens))
        response = sweep.app.test_client().open(url, method=method, headers=headers, data=body)
        sweep.check(method, url, response)

    _sweep_each(_routes(sweep.app, ("/api/",)), 15, send)


SMP_ROUTES = [(method, "/smp/<segment>") for method in ("GET", "PUT", "DELETE", "POST")]
SMP_ROUTES += [(method, "/smp/<segment>/services/<document>") for method in ("GET", "PUT", "DELETE")]


def test_hostile_requests_to_the_directory_smp_and_public_pages(sweep):
    routes = _routes(sweep.app, ("/addressbook/", "/organisations/", "/healthz", "/readyz", "/metrics", "/login"))
    routes += [("GET", "/"), *SMP_ROUTES]

    def send(data, method: str, rule: str) -> None:
        method, url, headers, body = data.draw(api_requests([(method, rule)], sweep.pools, sweep.tokens))
        if "/services/" in rule and data.draw(st.booleans()):  # a participant that exists, a hostile document
            url = "/smp/iso6523-actorid-upis%3A%3A0203%3Aexempelkommun.se/services/" + url.rsplit("/", 1)[1]
        if rule == "/" and data.draw(st.booleans()):
            url = "/?" + _query(data.draw, ["q", "category", "type", "partial", "lang"])
        response = sweep.app.test_client().open(url, method=method, headers=headers, data=body)
        sweep.check(method, url, response)

    _sweep_each(routes, 15, send)


def _form_of(page: bytes) -> dict[str, str]:
    """The fields of a page's first POST form, with the values it shows (what a browser would send)."""
    from lxml import html

    forms = html.fromstring(page).xpath("//form[@method='post']")
    fields = {}
    for form in forms[:2]:
        for field in form.xpath(".//input[@name] | .//textarea[@name] | .//select[@name]"):
            if field.tag == "select":
                options = field.xpath(".//option/@value")
                fields[field.get("name")] = options[-1] if options else ""
            else:
                fields[field.get("name")] = field.get("value") or (field.text or "")
    return fields


def test_hostile_forms_to_the_console(sweep):
    """A logged-in operator's browser posting the console's own forms with fields made hostile, and files."""
    import io

    routes = [route for route in _routes(sweep.app, ("/console",)) if route[1] != "/console/password"]

    def send(data, method: str, rule: str) -> None:
        client, csrf = sweep.console()
        url = _path(data.draw, rule, sweep.pools)
        query = _query(data.draw, ["q", "lang", "actor", "action", "entity_type", "since", "until", "page", "days"])
        url += f"?{query}" if query else ""
        shown = client.get(url.split("?")[0])
        form = _form_of(shown.data) if shown.status_code == 200 else {}
        fields = sorted(form) or ["name"]
        for name in data.draw(st.lists(st.sampled_from([*fields, "unknown"]), min_size=1, max_size=3)):
            shown_value = form.get(name, "")
            form[name] = data.draw(st.one_of(TEXT, TEXT.map(lambda extra, v=shown_value: v + extra)))
        form = {key: value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for key, value in form.items()}
        if data.draw(st.integers(0, 4)):
            form["csrf"] = csrf  # mostly: get past the CSRF check into the use case
        if method == "POST" and ("file" in form or data.draw(st.integers(0, 5)) == 0):
            upload = data.draw(st.one_of(st.binary(max_size=400), st.just(b"a," * 70_000), st.just(b"x\rs\ry\r")))
            form["file"] = (io.BytesIO(upload), "import.csv")
        response = client.open(url, method=method, data=form, headers={"Accept-Language": "sv"})
        sweep.check(method, url, response)

    _sweep_each(routes, 12, send)
