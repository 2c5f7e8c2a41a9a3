"""Every kind of management write, over real HTTP to serve, and what each read face then shows.

One journey per database, as the three roles would walk it: the AP operator brings an access point,
an endpoint configuration and a participant; the operator approves; the organisation's admin keeps
its directory data; gated changes wait for the operator; the published faces (SMP in every flavour,
DNS, the directory) follow each step.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import quote

from app.dns.naming import naptr_name
from app.trust.devpki import DevelopmentPki, KeyPair, issue_leaf
from tests.processes import wait_until
from tests.served.service import ZONE, parse_problem

MESSAGE = (
    "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload"
    "##3.0::tm-base-ext-sigenc"
)
RECEIPT = (
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse"
    "##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc"
)


def settled(condition, seconds: float = 5.0) -> bool:
    """``condition`` came true and stayed so for longer than a worker's SMP cache check (1 s): every
    gunicorn worker then answers the same."""
    deadline = time.monotonic() + seconds
    held_since = None
    while time.monotonic() < deadline:
        if condition():
            held_since = held_since or time.monotonic()
            if time.monotonic() - held_since > 1.2:
                return True
        else:
            held_since = None
        time.sleep(0.05)
    return False


def _pem(path: Path) -> str:
    return path.read_text()


def _issue(served, tmp_path: Path, issuer: str, name: str, usage: str) -> str:
    pki = DevelopmentPki(served.folder / "instance" / "pki")
    target = KeyPair(tmp_path / f"{name}.key", tmp_path / f"{name}.crt")
    issue_leaf(getattr(pki, issuer), target, name, usage=usage)
    return _pem(target.certificate)


def _ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text[:800]}"
    return response.json() if response.content and "json" in response.headers.get("Content-Type", "") else response


def test_every_write_kind_through_the_served_api(served, federation, tmp_path):
    http, tokens, ids = served.http, federation.tokens, federation.ids
    operator, ap, admin = tokens["operator"], tokens["ap_operator"], tokens["org_admin"]
    suffix = served.folder.name.replace("_", "-").lower()

    # The AP operator: an access point, an endpoint configuration, a participant with services.
    certificate = _issue(served, tmp_path, "ap_ca", f"AP0002-{suffix}".upper()[:40], "access-point")
    access_point = _ok(
        http("POST", "/api/v1/access-points", ap, json={"apOperator": ids["ap"], "certificate": certificate}), 201
    )
    renewed = _issue(served, tmp_path, "ap_ca", access_point["apId"], "access-point")
    _ok(
        http(
            "PATCH",
            f"/api/v1/access-points/{access_point['id']}",
            ap,
            json={"certificate": renewed},
            headers={"If-Match": '"1"'},
        )
    )
    endpoint = _ok(
        http(
            "POST",
            "/api/v1/endpoint-configurations",
            ap,
            json={
                "accessPoint": access_point["id"],
                "name": "Served AS4",
                "transportProfile": "digg-transport-as4-v1_0",
                "endpointUrl": "https://ap2.example.se/as4",
                "technicalContactUrl": "mailto:drift@ap2.example.se",
                "description": "served journey",
            },
        ),
        201,
    )
    value = f"0203:{suffix}.example.se"
    participant = _ok(
        http(
            "POST",
            "/api/v1/organisations",
            ap,
            json={"type": "o", "participantIdentifier": value, "organisationNumber": "2120000142", "name": "Resan"},
        ),
        201,
    )
    org = participant["id"]
    _ok(
        http(
            "POST",
            f"/api/v1/organisations/{org}/services",
            ap,
            json={"documentType": MESSAGE, "endpointConfiguration": endpoint["id"]},
        ),
        201,
    )
    for usage in ("signing", "encryption"):
        pem = _issue(served, tmp_path, "o2o_ca", f"{value} {usage}", usage)
        _ok(
            http("POST", f"/api/v1/organisations/{org}/certificates", ap, json={"usage": usage, "certificate": pem}),
            201,
        )

    # Pending until the operator approves: nothing published.
    smp = f"/smp/{quote('iso6523-actorid-upis::' + value, safe='')}"
    assert http("GET", smp).status_code == 404
    _ok(http("POST", f"/api/v1/organisations/{org}/approve", operator))
    # Each gunicorn worker checks its SMP cache against the database at most once a second.
    assert settled(lambda: http("GET", smp).status_code == 200, 3)
    group = http("GET", smp)
    assert group.status_code == 200 and group.headers["Content-Type"].startswith("text/xml")
    assert http("GET", smp, headers={"If-None-Match": group.headers["ETag"]}).status_code == 304
    metadata = f"{smp}/services/{quote(MESSAGE, safe='')}"
    for flavour, marker in (
        ("", "https://ap2.example.se/as4"),
        ("/bdxr-smp-2", "https://ap2.example.se/as4"),
        ("/peppol", "https://ap2.example.se/as4"),
    ):
        path = metadata.replace("/smp/", f"/smp{flavour}/", 1)
        document = http("GET", path)
        assert document.status_code == 200 and marker in document.text, (path, document.text[:300])
        assert "SignatureValue" in document.text
    assert wait_until(lambda: bool(served.ask(naptr_name("iso6523-actorid-upis", value, ZONE)).answer), 5)

    # Endpoint changes apply at once; moving services to another configuration too.
    patched = _ok(
        http(
            "PATCH",
            f"/api/v1/endpoint-configurations/{endpoint['id']}",
            ap,
            json={"endpointUrl": "https://ap2.example.se/as4/v2"},
            headers={"If-Match": '"1"'},
        )
    )
    assert settled(lambda: "https://ap2.example.se/as4/v2" in http("GET", metadata).text, 3)
    moved = _ok(
        http(
            "POST",
            f"/api/v1/endpoint-configurations/{patched['id']}/move-services",
            ap,
            json={"target": ids["endpoint"]},
        )
    )
    assert moved["moved"] == 1, moved
    assert settled(lambda: "https://ap2.example.se/as4/v2" not in http("GET", metadata).text, 3)

    # A gated change (a second document type) waits; the operator approves it; another is rejected.
    gated = http(
        "POST",
        f"/api/v1/organisations/{org}/services",
        ap,
        json={"documentType": RECEIPT, "endpointConfiguration": ids["endpoint"]},
    )
    assert gated.status_code == 202, gated.text
    change = gated.json()
    assert http("GET", f"{smp}/services/{quote(RECEIPT, safe='')}").status_code == 404
    _ok(http("POST", f"/api/v1/pending-changes/{change['id']}/approve", operator))
    assert settled(lambda: http("GET", f"{smp}/services/{quote(RECEIPT, safe='')}").status_code == 200, 3)
    pem = _issue(served, tmp_path, "o2o_ca", f"{value} signing 2", "signing")
    second = http(
        "POST", f"/api/v1/organisations/{org}/certificates", ap, json={"usage": "signing", "certificate": pem}
    )
    assert second.status_code == 202, second.text
    _ok(http("POST", f"/api/v1/pending-changes/{second.json()['id']}/reject", operator, json={"reason": "fel nyckel"}))
    services = _ok(http("GET", f"/api/v1/organisations/{org}/services", ap))
    receipt = next(s for s in services if s["documentType"] == RECEIPT)
    _ok(http("DELETE", f"/api/v1/organisations/{org}/services/{receipt['id']}", ap, headers={"If-Match": '"1"'}), 204)
    assert settled(lambda: http("GET", f"{smp}/services/{quote(RECEIPT, safe='')}").status_code == 404, 3)

    # The organisation's admin: its directory data, a sub-organisation, function addresses.
    kommun = ids["kommun"]
    current = http("GET", f"/api/v1/organisations/{kommun}", admin)
    _ok(
        http(
            "PATCH",
            f"/api/v1/organisations/{kommun}",
            admin,
            json={"description": "Kommunen i resan"},
            headers={"If-Match": current.headers["ETag"]},
        )
    )
    unit = _ok(
        http(
            "POST", "/api/v1/organisations", admin, json={"type": "ou", "name": "Resans förvaltning", "parent": kommun}
        ),
        201,
    )
    address = _ok(
        http(
            "POST",
            f"/api/v1/organisations/{unit['id']}/function-addresses",
            admin,
            json={"identifier": f"sdk:resa:{suffix}", "name": "Resans brevlåda", "keywords": ["resa"]},
        ),
        201,
    )
    path = f"/api/v1/organisations/{unit['id']}/function-addresses/{address['id']}"
    _ok(http("PATCH", path, admin, json={"name": "Resans inkorg"}, headers={"If-Match": '"1"'}))

    def found(word: str) -> list[str]:
        body = http("GET", "/addressbook/api/v1/addresses", params={"q": word}).json()
        return [item["attributes"]["identifier"] for item in body["data"]]

    assert wait_until(lambda: f"sdk:resa:{suffix}" in found("inkorg resans"), 3)
    _ok(http("DELETE", path, admin, headers={"If-Match": '"2"'}), 204)
    assert f"sdk:resa:{suffix}" not in found("inkorg resans")
    # An ou that held addresses keeps them (deactivated, for history); an empty one can be deleted.
    assert parse_problem(http("DELETE", f"/api/v1/organisations/{unit['id']}", admin, headers={"If-Match": '"1"'}))[
        "type"
    ].endswith(":in-use")
    empty = _ok(
        http("POST", "/api/v1/organisations", admin, json={"type": "ou", "name": "Tom enhet", "parent": kommun}), 201
    )
    _ok(http("DELETE", f"/api/v1/organisations/{empty['id']}", admin, headers={"If-Match": '"1"'}), 204)

    # Imports in both formats, then the export in both.
    imports = f"/api/v1/organisations/{kommun}/function-addresses/import"
    rows = [{"identifier": f"sdk:json:{suffix}", "name": "JSON-importen", "keywords": ["json"]}]
    _ok(http("POST", imports, admin, params={"dryRun": "false"}, json=rows))
    csv_text = f"identifier,name,description,categories,keywords\nsdk:csv:{suffix},CSV-importen,,,csv;import\n"
    imported = _ok(
        http(
            "POST",
            imports,
            admin,
            params={"dryRun": "false"},
            data=csv_text.encode(),
            headers={"Content-Type": "text/csv"},
        )
    )
    assert imported == {"rows": 1, "created": 1, "dryRun": False, "errors": []}
    export = f"/api/v1/organisations/{kommun}/function-addresses/export"
    exported_csv = http("GET", export, admin, params={"format": "csv"}).text
    exported = http("GET", export, admin, params={"format": "json"}).json()
    assert f"sdk:csv:{suffix}" in exported_csv and {f"sdk:json:{suffix}", f"sdk:csv:{suffix}"} <= {
        row["identifier"] for row in exported
    }

    # The operator's own resources: code systems, tokens, lifecycle moves.
    system = _ok(
        http(
            "POST",
            "/api/v1/code-systems",
            operator,
            json={"identifier": f"urn:sdk:kodverk:{suffix}", "name": "Resans kodverk"},
        ),
        201,
    )
    _ok(
        http(
            "POST",
            f"/api/v1/code-systems/{system['id']}/codes",
            operator,
            json={"code": "resa", "displayName": "Resa"},
        ),
        201,
    )
    issued = _ok(http("POST", "/api/v1/tokens", operator, json={"name": "kortlivad", "role": "operator"}), 201)
    assert http("GET", "/api/v1/status", issued["token"]).status_code == 200
    _ok(http("DELETE", f"/api/v1/tokens/{issued['id']}", operator, headers={"If-Match": '"1"'}), 204)
    assert parse_problem(http("GET", "/api/v1/status", issued["token"]))["status"] == 401
    for action, status in (("suspend", 200), ("reinstate", 200), ("deregister", 200)):
        _ok(http("POST", f"/api/v1/organisations/{org}/{action}", operator), status)
    assert settled(lambda: http("GET", smp).status_code == 404, 3)
    assert wait_until(lambda: served.ask(naptr_name("iso6523-actorid-upis", value, ZONE)).rcode() == 3, 5)

    # Every step left an audit event, and the chain verifies.
    events = _ok(http("GET", "/api/v1/audit-events", operator, params={"pageSize": 200}))
    assert len(events["items"]) >= 25
    assert "intact" in served.cli("audit", "verify").stdout


def test_the_console_login_and_one_form(served, federation):
    import requests

    served.cli(
        "account",
        "create",
        "--username",
        "resenar",
        "--role",
        "operator",
        "--password-stdin",
        stdin="ett långt lösenord!\n",
    )
    browser = requests.Session()

    def csrf(page: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    login = browser.get(served.base + "/login")
    signed_in = browser.post(
        served.base + "/login",
        data={"csrf": csrf(login.text), "username": "resenar", "password": "ett långt lösenord!", "code": ""},
        allow_redirects=False,
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    console = browser.get(served.base + "/console")
    assert console.status_code == 200 and "resenar" in console.text
    form = f"/console/organisations/{federation.ids['region']}"
    page = browser.get(served.base + form)
    saved = browser.post(
        served.base + form,
        data={"csrf": csrf(page.text), "name": "Region Exempel", "alternateName": "", "description": "Från konsolen"},
    )
    assert saved.status_code == 200, saved.text[:500]
    body = served.http("GET", f"/addressbook/api/v1/organizations/{federation.ids['region']}").json()
    assert body["data"]["attributes"]["description"] == "Från konsolen"
    stale = browser.post(served.base + form, data={"csrf": "forged", "name": "X"})
    assert stale.status_code == 400


def test_metrics_and_status_over_http(served, federation):
    metrics = served.http("GET", "/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert "sdk_dns_records" in metrics.text or "sdk_dns_outbox_pending" in metrics.text
    status = served.http("GET", "/api/v1/status", federation.tokens["operator"]).json()
    assert status["dns"]["mode"] == "embedded"
    assert json.dumps(status)
