"""Bulk import (dry run, all or nothing) and streamed export of function addresses."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from app import audit
from app.registry.models import AuditEvent, Code, FunctionAddress
from tests.api_support import problem


def _url(api, what: str) -> str:
    return f"/api/v1/organisations/{api.ids['0203:exempelkommun.se']}/function-addresses/{what}"


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["identifier", "name", "description", "categories", "keywords"])
    writer.writerows(rows)
    return buffer.getvalue()


def _count(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(FunctionAddress))


def test_dry_run_reports_every_row_problem_and_changes_nothing(api, db):
    body = _csv(
        [
            ["sdk:ok:0203:exempelkommun.se", "Bra", "", "", "a;b"],
            ["has space", "Fel id", "", "", ""],
            ["sdk:ok:0203:EXEMPELKOMMUN.se", "Dubbel i filen", "", "", ""],
            ["sdk:registrator:0203:exempelkommun.se", "Finns redan", "", "", ""],
            ["sdk:x:0203:exempelkommun.se", "<script>", "", "00000000-0000-0000-0000-000000000000", ""],
        ]
    )
    before = _count(db)
    response = api("POST", _url(api, "import?dryRun=true"), "kommun", data=body, content_type="text/csv")
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert (result["rows"], result["created"], result["dryRun"]) == (5, 0, True)
    found = {(e["row"], e["field"]) for e in result["errors"]}
    assert found == {(2, "identifier"), (3, "identifier"), (4, "identifier"), (5, "name"), (5, "categories")}
    assert _count(db) == before


def test_an_apply_with_any_error_imports_nothing(api, db):
    body = _csv([["sdk:a:0203:exempelkommun.se", "A", "", "", ""], ["", "utan id", "", "", ""]])
    before = _count(db)
    rejected = problem(api("POST", _url(api, "import?dryRun=false"), "kommun", data=body, content_type="text/csv"), 422)
    assert rejected["errors"] == [{"field": "rows[2].identifier", "reason": "is required"}]
    assert _count(db) == before


def test_a_clean_apply_imports_audits_and_keeps_the_chain(api, db):
    with db.reader() as session:
        code = session.scalar(select(Code.id).where(Code.code == "ekonomi"))
    rows = [
        [f"sdk:enhet{n}:0203:exempelkommun.se", f"Enhet {n}", "Beskrivning", str(code), "ord;annat"] for n in range(300)
    ]
    before = _count(db)
    response = api("POST", _url(api, "import?dryRun=false"), "kommun", data=_csv(rows), content_type="text/csv")
    assert response.get_json() == {"rows": 300, "created": 300, "dryRun": False, "errors": []}
    assert _count(db) == before + 300
    with db.reader() as session:
        events = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "function_address:create", AuditEvent.actor == "kommun")
        )
        assert events == 300
        assert audit.verify(session).intact
        imported = session.scalar(
            select(FunctionAddress).where(FunctionAddress.identifier == "sdk:enhet7:0203:exempelkommun.se")
        )
        assert [c.code for c in imported.categories] == ["ekonomi"]
        assert imported.keywords == ["ord", "annat"]
        # the event records the row as the audit writes any row (ids as text, times in ISO 8601)
        event = session.scalar(select(AuditEvent).where(AuditEvent.entity_id == str(imported.id)))
        assert event.after == audit.chain._jsonable({**audit.chain.snapshot(imported), "categories": []})
    found = api.client.get("/addressbook/api/v1/addresses?q=enhet&filter[category]=ekonomi&page[size]=1000")
    assert len(found.get_json()["data"]) == 300  # in the directory's search at once


def test_json_import_and_export_round_trip(api):
    body = [{"identifier": "sdk:json:0203:exempelkommun.se", "name": "Från JSON", "keywords": ["ett", "två"]}]
    assert api("POST", _url(api, "import?dryRun=false"), "kommun", json=body).get_json()["created"] == 1
    exported = api("GET", _url(api, "export?format=json"), "kommun")
    assert exported.headers["Content-Disposition"].startswith("attachment")
    rows = exported.get_json()
    assert {
        "identifier": "sdk:json:0203:exempelkommun.se",
        "name": "Från JSON",
        "description": "",
        "categories": [],
        "keywords": ["ett", "två"],
        "status": "active",
    } in rows
    as_csv = api("GET", _url(api, "export?format=csv"), "kommun").get_data(as_text=True)
    parsed = list(csv.DictReader(io.StringIO(as_csv)))
    assert {row["identifier"] for row in parsed} == {row["identifier"] for row in rows}
    # what is exported imports again (into a fresh organisation the identifiers would be new)
    again = api(
        "POST",
        _url(api, "import?dryRun=true"),
        "kommun",
        json=[{k: v for k, v in r.items() if k != "status"} for r in rows],
    )
    assert all(e["reason"] == "a function address with this identifier exists" for e in again.get_json()["errors"])


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("identifier;name\nx;y\n", "text/csv", 422),  # wrong separator: no identifier/name columns
        ("identifier,name,colour\nx,y,red\n", "text/csv", 422),
        ("not json", "application/json", 422),
        ('{"identifier": "x"}', "application/json", 422),
        ("identifier,name\n", "text/plain", 415),
    ],
)
def test_malformed_imports(api, data, content_type, status):
    problem(api("POST", _url(api, "import"), "kommun", data=data, content_type=content_type), status)


def test_only_directory_writers_import_and_readers_export(api):
    problem(api("POST", _url(api, "import"), "region", json=[]), 403)
    problem(api("POST", _url(api, "import"), "ap", json=[]), 403)
    assert api("GET", _url(api, "export"), "ap").status_code == 200
    problem(api("GET", _url(api, "export"), "region"), 403)


def test_csv_exports_cannot_run_formulas_in_a_spreadsheet_and_import_back_unchanged(api):
    import csv
    import io

    kommun, region = api.ids["0203:exempelkommun.se"], api.ids["0203:regionexempel.se"]
    names = ['=HYPERLINK("http://x")', "+46 växel", "-Registrator", "@SUM(A1)"]
    rows = [{"identifier": f"sdk:formel{n}:0203:exempelkommun.se", "name": name} for n, name in enumerate(names)]
    imports = "/api/v1/organisations/{}/function-addresses/import?dryRun=false"
    assert api("POST", imports.format(kommun), json=rows, who="kommun").status_code == 200
    exported = api("GET", f"/api/v1/organisations/{kommun}/function-addresses/export?format=csv").get_data(as_text=True)
    table = [row for row in csv.DictReader(io.StringIO(exported)) if "formel" in row["identifier"]]
    assert sorted(row["name"] for row in table) == sorted("'" + name for name in names)
    # Imported again (as a copy into another organisation), the names are what they were.
    copy = io.StringIO()
    writer = csv.writer(copy)
    writer.writerow(["identifier", "name", "description", "categories", "keywords"])
    for row in table:
        writer.writerow([row["identifier"].replace("exempelkommun", "regionexempel"), row["name"], "", "", ""])
    back = api("POST", imports.format(region), data=copy.getvalue().encode(), content_type="text/csv", who="region")
    assert back.status_code == 200, back.get_data(as_text=True)
    copied = api("GET", f"/api/v1/organisations/{region}/function-addresses/export?format=json").get_json()
    assert sorted(row["name"] for row in copied if "formel" in row["identifier"]) == sorted(names)


def test_a_large_import_leaves_its_directory_entries_to_the_worker(api, db, settings):
    """Over SDK_DIRECTORY_INLINE_IMPORT_ROWS the import commits a backlog row per address instead of the
    entries; the status shows the lag; the worker writes the entries (batch by batch), also of addresses
    changed or removed in between."""

    from app.directory import backlog
    from app.wiring import wire

    wire(db, replace(settings, directory_inline_import_rows=2))
    rows = [[f"sdk:sen{n}:0203:exempelkommun.se", f"Eftersläpande {n}", "", "", "kö"] for n in range(5)]
    response = api("POST", _url(api, "import?dryRun=false"), "kommun", data=_csv(rows), content_type="text/csv")
    assert response.get_json()["created"] == 5

    def found() -> list[str]:
        body = api("GET", "/addressbook/api/v1/addresses?q=eftersläpande").get_json()
        return sorted(item["attributes"]["identifier"] for item in body["data"])

    assert found() == []
    directory = api("GET", "/api/v1/status", "operator").get_json()["directory"]
    assert directory["backlog"] == 5 and directory["oldestBacklogSeconds"] >= 0
    with db.reader() as session:
        ids = {
            a.identifier: a.id
            for a in session.scalars(select(FunctionAddress).where(FunctionAddress.identifier.like("sdk:sen%")))
        }
    # before the worker's turn: one address renamed, one removed
    base = f"/api/v1/organisations/{api.ids['0203:exempelkommun.se']}/function-addresses"
    renamed = f"{base}/{ids['sdk:sen1:0203:exempelkommun.se']}"
    assert (
        api("PATCH", renamed, "kommun", json={"name": "Omdöpt eftersläpande"}, headers={"If-Match": '"1"'}).status_code
        == 200
    )
    removed = f"{base}/{ids['sdk:sen2:0203:exempelkommun.se']}"
    assert api("DELETE", removed, "kommun", headers={"If-Match": '"1"'}).status_code == 204
    with db.writer() as session:
        assert backlog.drain_once(session, batch=3) == 3
    with db.writer() as session:
        assert backlog.drain_once(session, batch=3) == 2
    with db.writer() as session:
        assert backlog.drain_once(session) == 0
    assert found() == [f"sdk:sen{n}:0203:exempelkommun.se" for n in (0, 1, 3, 4)]
    assert api("GET", "/api/v1/status", "operator").get_json()["directory"] == {
        "backlog": 0,
        "oldestBacklogSeconds": 0.0,
    }
    assert "sdk_directory_backlog 0" in api("GET", "/metrics", "operator").get_data(as_text=True)


def test_the_worker_thread_drains_the_backlog_on_its_own(api, db, settings):
    import threading

    from app.directory.backlog import BacklogWorker
    from app.wiring import wire
    from tests.processes import wait_until

    wire(db, replace(settings, directory_inline_import_rows=0))
    rows = [[f"sdk:trad{n}:0203:exempelkommun.se", f"Trådad {n}", "", "", ""] for n in range(3)]
    assert (
        api("POST", _url(api, "import?dryRun=false"), "kommun", data=_csv(rows), content_type="text/csv").status_code
        == 200
    )
    stop = threading.Event()
    thread = BacklogWorker(db).start(stop)
    try:

        def searchable() -> int:
            return len(api("GET", "/addressbook/api/v1/addresses?q=trådad").get_json()["data"])

        assert wait_until(lambda: searchable() == 3, 10)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert api("GET", "/api/v1/status", "operator").get_json()["directory"]["backlog"] == 0
