"""The web UI in a real browser: Playwright driving Debian's Chromium against the live service.

Screenshots of every step go to ``test-output/ui/`` (one file per step, named after the test and step).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.operations.accounts import create_account
from tests.api_support import register_participant
from tests.conftest import make_settings, require_program
from tests.named import free_port

SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "ui"
PASSWORD = "correct horse battery"


@pytest.fixture
def browser():
    chromium = require_program("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield instance
        instance.close()


@pytest.fixture
def site(api, db, pki_instance_dir):
    """The demo service on a loopback port, with a console operator."""
    port = free_port()
    settings = make_settings(pki_instance_dir, db.url, SDK_PUBLIC_URL=f"http://127.0.0.1:{port}")
    with db.writer() as session:
        create_account(session, "operatör", PASSWORD, "operator", None)
    server = make_server("127.0.0.1", port, create_app(settings, database=db), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_search_as_you_type_and_open_an_organisation(browser, site, request):
    page = browser.new_page()
    page.goto(site + "/")
    page.get_by_label("Sök funktion eller organisation").fill("registrator exempelkommun")
    page.locator("#results li").first.wait_for()  # results appear without submitting the form
    assert page.locator("#results li").count() == 1
    shot(page, "1-search-results")
    page.locator("#results li a").first.click()
    page.get_by_role("heading", name="Exempelkommun").wait_for()
    assert page.locator("code", has_text="sdk:registrator:0203:exempelkommun.se").count() == 1
    assert page.get_by_text("iso6523-actorid-upis::0203:exempelkommun.se").count() == 1
    shot(page, "2-organisation-page")
    page.goto(site + "/")
    page.keyboard.press("Tab")  # the first stop is the skip link, and it shows when focused
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_log_in_edit_a_function_address_and_approve_a_participant(browser, site, db, api):
    page = browser.new_page()
    page.goto(site + "/login")
    page.get_by_label("Användarnamn").fill("operatör")
    page.get_by_label("Lösenord").fill(PASSWORD)
    shot(page, "3-login")
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("heading", name="Konsol").wait_for()
    shot(page, "4-console")

    page.get_by_role("link", name="Redigera: Registrator, Exempelkommun").click()
    page.get_by_label("Namn").fill("Registratur")
    page.get_by_role("button", name="Spara").click()
    page.get_by_role("status").wait_for()
    assert page.get_by_label("Namn").input_value() == "Registratur"
    shot(page, "5-function-address-saved")

    register_participant(api, "0203:nyakommunen.se", "Nya kommunen")
    smp = site + "/smp/iso6523-actorid-upis%3A%3A0203%3Anyakommunen.se"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(smp, timeout=5)
    page.goto(site + "/console/approvals")
    shot(page, "6-approvals-queue")
    page.get_by_role("button", name="Godkänn: Nya kommunen").click()
    page.get_by_role("status").wait_for()
    shot(page, "7-approved")
    with urllib.request.urlopen(smp, timeout=5) as response:
        assert response.status == 200 and b"0203:nyakommunen.se" in response.read()


def _log_in(page, site: str, username: str) -> None:
    page.goto(site + "/login")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("heading", name="Konsol").wait_for()


def test_import_preview_shows_every_rows_verdict_before_anything_is_saved(browser, site, tmp_path):
    page = browser.new_page()
    _log_in(page, site, "operatör")
    page.get_by_role("link", name="Importera funktionsadresser (CSV)").click()
    page.get_by_label("Organisation").select_option(label="Exempelkommun")
    wrong = tmp_path / "fel.csv"
    wrong.write_text("identifier,name\nsdk:lon:0203:exempelkommun.se,\nsdk:registrator:0203:exempelkommun.se,Dubbel\n")
    page.get_by_label("CSV-fil").set_input_files(str(wrong))
    page.get_by_role("button", name="Förhandsgranska").click()
    page.get_by_role("alert").filter(has_text="2 fel").wait_for()
    assert page.get_by_role("button", name="Spara alla").count() == 0  # nothing to save while a row is wrong
    shot(page, "8-import-preview-errors")
    good = tmp_path / "ratt.csv"
    good.write_text("identifier,name,description\nsdk:lon:0203:exempelkommun.se,Lönekontor,Löner\n")
    page.get_by_label("Organisation").select_option(label="Exempelkommun")
    page.get_by_label("CSV-fil").set_input_files(str(good))
    page.get_by_role("button", name="Förhandsgranska").click()
    page.get_by_role("status").filter(has_text="1 rader är giltiga").wait_for()
    assert page.locator("td", has_text="Lönekontor").count() == 1
    shot(page, "9-import-preview-ok")
    elsewhere = browser.new_page()
    elsewhere.goto(site + "/?q=lönekontor")
    assert elsewhere.locator("#results li").count() == 0  # the preview saved nothing
    page.get_by_role("button", name="Spara alla").click()
    page.get_by_role("status").filter(has_text="1 funktionsadresser skapade").wait_for()
    shot(page, "10-import-applied")
    elsewhere.goto(site + "/?q=lönekontor")
    assert elsewhere.locator("#results li").count() == 1


def test_ap_operator_moves_chosen_services_to_another_endpoint(browser, site, db, api):
    with db.writer() as session:
        create_account(session, "apdrift", PASSWORD, "ap_operator", api.ids["ap"])
    page = browser.new_page()
    _log_in(page, site, "apdrift")
    page.get_by_role("link", name="Ändpunktskonfigurationer").click()
    page.get_by_role("link", name="Ny ändpunktskonfiguration").click()
    page.get_by_label("Namn").fill("Reserv")
    page.get_by_label("Ändpunktens URL").fill("https://reserv.ap.example.se/as4")
    page.get_by_label("Teknisk kontakt (URL eller e-post)").fill("https://reserv.ap.example.se")
    page.get_by_label("Beskrivning").fill("Reservväg")
    page.get_by_role("button", name="Spara").click()
    page.get_by_role("status").filter(has_text="Skapad.").wait_for()
    shot(page, "11-endpoint-created")
    page.goto(site + "/console/endpoints")
    demo_endpoint = page.locator("tbody tr").filter(has_not_text="Reserv").locator("a").first
    demo_endpoint.click()
    boxes = page.get_by_role("checkbox", name="Exempelkommun", exact=False)
    chosen = boxes.count()
    assert chosen >= 1
    for index in range(chosen):
        boxes.nth(index).check()
    page.get_by_label("Flytta till").select_option(label="Reserv (https://reserv.ap.example.se/as4)")
    shot(page, "12-services-chosen")
    page.get_by_role("button", name="Flytta valda").click()
    page.get_by_role("status").filter(has_text=f"{chosen} tjänster flyttade; 1 deltagare").wait_for()
    shot(page, "13-services-moved")
    service_group = site + "/smp/iso6523-actorid-upis%3A%3A0203%3Aexempelkommun.se"
    with urllib.request.urlopen(service_group, timeout=5) as response:
        reference = response.read().split(b'href="', 2)[1].split(b'"', 1)[0].decode()
    with urllib.request.urlopen(reference, timeout=5) as response:
        assert b"https://reserv.ap.example.se/as4" in response.read()
