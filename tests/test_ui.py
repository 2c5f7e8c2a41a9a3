"""The web pages without a browser: search, organisation page, login rules, CSRF, headers, console rules."""

from __future__ import annotations

import re
import uuid

import pyotp
import pytest
from lxml import html
from sqlalchemy import select

from app.operations.accounts import REFUSED, create_account
from app.registry.models import Account, AuditEvent, FunctionAddress, Organisation
from app.trust.devpki import DevelopmentPki
from tests.api_support import register_participant

KOMMUN = "0203:exempelkommun.se"
PASSWORD = "correct horse battery"


@pytest.fixture
def people(api, db):
    """Console accounts: the operator, Exempelkommun's admin, and an operator with TOTP."""
    with db.writer() as session:
        create_account(session, "operatör", PASSWORD, "operator", None)
        create_account(session, "kommunadmin", PASSWORD, "org_admin", api.ids[KOMMUN])
        secret = create_account(session, "totp", PASSWORD, "operator", None, totp=True).totp_secret
    return {"totp": secret}


def _csrf(page: bytes) -> str:
    return re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()


def login(client, username: str, password: str = PASSWORD, code: str = ""):
    token = _csrf(client.get("/login").data)
    return client.post("/login", data={"csrf": token, "username": username, "password": password, "code": code})


def test_search_page_finds_and_links_organisations(api):
    page = api.client.get("/?q=registrator")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    text = page.get_data(as_text=True)
    assert '<html lang="sv">' in text and "Sök mottagare" in text
    assert text.count("sdk:registrator:") == 3
    english = api.client.get("/?q=registartor&lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Also searched for" in english and "registrator" in english
    fragment = api.client.get("/?q=registrator&partial=1&category=registrator").get_data(as_text=True)
    assert "<html" not in fragment and fragment.count("<li>") == 3
    assert 'role="alert"' in api.client.get("/?q=och").get_data(as_text=True)  # only stop words


def test_organisation_page_shows_addresses_and_the_facts_an_ap_operator_needs(api, settings):
    page = api.client.get(f"/organisations/{api.ids[KOMMUN]}").get_data(as_text=True)
    assert "sdk:registrator:0203:exempelkommun.se" in page
    assert "iso6523-actorid-upis::0203:exempelkommun.se" in page
    assert f".iso6523-actorid-upis.{settings.sml_zone}" in page
    assert "/smp/iso6523-actorid-upis%3A%3A0203%3Aexempelkommun.se" in page
    assert page.count(">Kopiera</button>") == 3 and "built-in method" not in page
    assert api.client.get("/organisations/not-an-id").status_code == 404


def test_every_form_field_has_a_label(api, people):
    client = api.client
    login(client, "operatör")
    with_address = client.get("/console").get_data(as_text=True)
    address_link = re.search(r'href="(/console/addresses/[^"]+)"', with_address).group(1)
    pages = ("/", "/?q=registrator", "/login", "/console", address_link, "/console/approvals", "/console/audit")
    pages += ("/console/import", f"/console/organisations/{api.ids[KOMMUN]}", "/console/endpoints")
    pages += ("/console/endpoints/new", f"/console/endpoints/{api.ids['endpoint']}")
    pages += (f"/console/participants/{api.ids[KOMMUN]}", "/console/password")
    for url in (*pages, "/console/certificates", "/console/smps"):
        document = html.fromstring(client.get(url).data)
        assert document.get("lang") in ("sv", "en")
        labelled = {label.get("for") for label in document.iter("label")}
        for field in document.xpath("//input[not(@type='hidden')] | //select | //textarea"):
            assert field.get("id") in labelled, f"{url}: {html.tostring(field)[:80]}"


def test_login_locks_after_repeated_failures(api, people, db, settings):
    client = api.client
    for _ in range(settings.login_lockout_attempts):
        assert login(client, "kommunadmin", "wrong password!").status_code == 401
    refused = login(client, "kommunadmin")  # the right password, but locked now
    unknown = login(client, "nobody")
    wrong = login(client, "operatör", "wrong password!")
    assert refused.status_code == unknown.status_code == wrong.status_code == 401
    # The same words for all three (and the same work: each checks one argon2 hash).
    assert _refusal(refused) == _refusal(unknown) == _refusal(wrong) == REFUSED
    with db.writer() as session:
        session.scalar(select(Account).where(Account.username == "kommunadmin")).locked_until = None
    assert login(client, "kommunadmin").status_code == 302


def _refusal(page) -> str:
    document = html.fromstring(page.data)
    [message] = document.xpath("//*[@role='alert']//text()") or document.xpath("//*[contains(@class,'error')]//text()")
    return message.strip()


def test_a_logged_out_session_cookie_no_longer_opens_the_console(api, people):
    client = api.client
    assert login(client, "operatör").status_code == 302
    saved = client.get_cookie("sdk_console").value
    assert client.get("/console").status_code == 200
    token = _csrf(client.get("/console").data)
    assert client.post("/logout", data={"csrf": token}).status_code == 302
    thief = api.client.application.test_client()
    thief.set_cookie("sdk_console", saved)
    replay = thief.get("/console")
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]
    assert login(client, "operatör").status_code == 302  # a new login works
    assert client.get("/console").status_code == 200


def _saved_session(api, username: str, password: str = PASSWORD):
    """A second browser logged in as ``username``, and the cookie it holds (what a thief would copy)."""
    browser = api.client.application.test_client()
    assert login(browser, username, password).status_code == 302
    return browser, browser.get_cookie("sdk_console").value


def _opens_console(api, cookie: str) -> bool:
    replay = api.client.application.test_client()
    replay.set_cookie("sdk_console", cookie)
    answer = replay.get("/console")
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


def test_a_password_change_ends_every_other_session_of_the_account(api, people, db):
    client = api.client
    other, saved = _saved_session(api, "kommunadmin")
    assert login(client, "kommunadmin").status_code == 302

    def change(current: str, new: str, confirm: str | None = None):
        token = _csrf(client.get("/console/password").data)
        form = {"csrf": token, "current": current, "new": new, "confirm": new if confirm is None else confirm}
        return client.post("/console/password", data=form)

    new = "a new horse battery"
    assert change(PASSWORD, new, "something else").status_code == 422
    assert change(PASSWORD, "kort").status_code == 422
    assert change(PASSWORD, PASSWORD).status_code == 422
    wrong = change("not the password", new)
    assert wrong.status_code == 422 and "current:" in wrong.get_data(as_text=True)
    with db.reader() as session:  # a wrong current password counts as a failed login
        assert session.scalar(select(Account.failed_logins).where(Account.username == "kommunadmin")) == 1
    assert _opens_console(api, saved)  # nothing changed yet
    assert change(PASSWORD, new).status_code == 200
    assert not _opens_console(api, saved)  # the other browser's session is over
    assert client.get("/console").status_code == 200  # this browser got a fresh one
    assert login(other, "kommunadmin").status_code == 401
    assert login(other, "kommunadmin", new).status_code == 302
    with db.reader() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "account:password"))
        assert event.actor == "console:kommunadmin" and event.organisation_id == api.ids[KOMMUN]


def test_disabling_an_account_or_changing_its_role_ends_its_sessions(api, people, db):
    from app.operations.accounts import change_role, find_account, set_disabled

    _, saved = _saved_session(api, "kommunadmin")
    with db.writer() as session:
        set_disabled(session, find_account(session, "kommunadmin"), True)
    assert not _opens_console(api, saved)
    refused = login(api.client.application.test_client(), "kommunadmin")
    assert refused.status_code == 401 and _refusal(refused) == REFUSED  # told apart from nothing else
    with db.writer() as session:
        set_disabled(session, find_account(session, "kommunadmin"), False)
    _, saved = _saved_session(api, "kommunadmin")
    assert _opens_console(api, saved)
    with db.writer() as session:
        change_role(session, find_account(session, "kommunadmin"), "org_admin", api.ids["0203:regionexempel.se"])
    assert not _opens_console(api, saved)  # a session never carries a role the account no longer has
    browser, _ = _saved_session(api, "kommunadmin")
    assert "exempelkommun" not in browser.get("/console").get_data(as_text=True).lower()


def test_totp_is_required_when_the_account_has_it(api, people):
    client = api.client
    assert login(client, "totp").status_code == 401
    assert login(client, "totp", code="000000").status_code == 401
    assert login(client, "totp", code=pyotp.TOTP(people["totp"]).now()).status_code == 302


def test_posts_without_the_csrf_token_are_refused(api, people):
    client = api.client
    assert client.post("/login", data={"username": "operatör", "password": PASSWORD}).status_code == 400
    login(client, "operatör")
    assert client.post("/console/approvals", data={"decision": "approve", "organisation": "x"}).status_code == 400
    assert client.post("/logout").status_code == 400


def test_org_admin_edits_only_its_own_function_addresses(api, people, db):
    client = api.client
    assert client.get("/console").status_code == 302  # not logged in: to the login page
    login(client, "kommunadmin")
    with db.reader() as session:
        own = session.scalar(select(FunctionAddress.id).join(Organisation).where(Organisation.id == api.ids[KOMMUN]))
        foreign = session.scalar(
            select(FunctionAddress.id).join(Organisation).where(Organisation.id == api.ids["0203:regionexempel.se"])
        )
    page = client.get(f"/console/addresses/{own}")
    token = _csrf(page.data)
    saved = client.post(f"/console/addresses/{own}", data={"csrf": token, "name": "Registratur", "keywords": "a, b"})
    assert saved.status_code == 200 and "Sparat" in saved.get_data(as_text=True)
    bad = client.post(f"/console/addresses/{own}", data={"csrf": token, "name": ""})
    assert bad.status_code == 422
    with db.reader() as session:
        address = session.get(FunctionAddress, own)
        assert (address.name, address.keywords) == ("Registratur", ["a", "b"])
    assert client.get(f"/console/addresses/{foreign}").status_code == 403
    assert client.post(f"/console/addresses/{foreign}", data={"csrf": token, "name": "x"}).status_code == 403
    assert client.get("/console/approvals").status_code == 403
    assert "Registratur" in client.get("/?q=registratur").get_data(as_text=True)  # searchable at once


def test_operator_approves_and_rejects_with_a_reason(api, people, db):
    created = {"id": register_participant(api, "0203:nykommun.se", "Ny kommun")}
    client = api.client
    login(client, "operatör")
    page = client.get("/console/approvals")
    assert "Ny kommun" in page.get_data(as_text=True)
    token = _csrf(page.data)
    refused = client.post(
        "/console/approvals", data={"csrf": token, "organisation": created["id"], "decision": "reject"}
    )
    assert "reason" in refused.get_data(as_text=True).lower()
    approved = client.post(
        "/console/approvals", data={"csrf": token, "organisation": created["id"], "decision": "approve"}
    )
    assert approved.status_code == 200 and "Ny kommun" not in approved.get_data(as_text=True)
    with db.reader() as session:
        assert session.get(Organisation, uuid.UUID(created["id"])).federation_status == "approved"
    assert api.client.get("/smp/iso6523-actorid-upis%3A%3A0203%3Anykommun.se").status_code == 200


def test_both_languages_have_every_text_and_no_key_hides_behind_a_dict_method():
    from app.ui.texts import TEXTS

    assert TEXTS["sv"].keys() == TEXTS["en"].keys()
    assert not [key for key in TEXTS["sv"] if hasattr(dict, key)]


def test_audit_log_is_filtered_and_scoped(api, people):
    client = api.client
    login(client, "kommunadmin")
    own = client.get("/console/audit").get_data(as_text=True)
    assert str(api.ids[KOMMUN]) in own
    region = str(api.ids["0203:regionexempel.se"])
    assert region not in own  # the region's events are not the kommun admin's to read
    filtered = client.get("/console/audit?action=organisation:create").get_data(as_text=True)
    assert "organisation:create" in filtered and "function_address:create" not in filtered
    login(client, "operatör")
    assert region in client.get("/console/audit").get_data(as_text=True)


def test_certificate_dashboard_lists_what_expires_soon(api, people, db):
    from datetime import timedelta

    from app.registry.columns import utcnow
    from app.registry.models import AccessPoint

    client = api.client
    login(client, "operatör")
    assert "Inga certifikat löper ut snart." in client.get("/console/certificates").get_data(as_text=True)
    with db.writer() as session:
        session.scalar(select(AccessPoint)).not_after = utcnow() - timedelta(days=1)
    page = client.get("/console/certificates").get_data(as_text=True)
    assert "access-point" in page and "utgånget" in page and 'class="expired"' in page
    login(client, "kommunadmin")
    assert client.get("/console/certificates").status_code == 403


def test_csv_import_previews_every_row_then_applies(api, people, db):
    import io

    client = api.client
    login(client, "kommunadmin")
    page = client.get("/console/import")
    token = _csrf(page.data)
    kommun = str(api.ids[KOMMUN])
    region = str(api.ids["0203:regionexempel.se"])
    assert kommun in page.get_data(as_text=True) and region not in page.get_data(as_text=True)

    def upload(text: str, organisation: str = kommun):
        data = {
            "csrf": token,
            "step": "preview",
            "organisation": organisation,
            "file": (io.BytesIO(text.encode()), "a.csv"),
        }
        return client.post("/console/import", data=data, content_type="multipart/form-data")

    good = (
        "identifier,name,description\n"
        "sdk:lon:0203:exempelkommun.se,Lönekontor,Löner\nsdk:hr:0203:exempelkommun.se,HR,\n"
    )
    preview = upload(good)
    assert preview.status_code == 200 and "2 rader är giltiga" in preview.get_data(as_text=True)
    with db.reader() as session:  # a preview saves nothing
        assert session.scalar(select(FunctionAddress.id).where(FunctionAddress.name == "Lönekontor")) is None
    bad = upload("identifier,name\nsdk:x:0203:exempelkommun.se,\nsdk:registrator:0203:exempelkommun.se,Dubbel\n")
    assert bad.status_code == 422 and "2 fel" in bad.get_data(as_text=True)
    assert upload(good, region).status_code == 403
    assert upload("name\nx\n").status_code == 422  # no identifier column
    applied = client.post("/console/import", data={"csrf": token, "step": "apply", "organisation": kommun, "csv": good})
    assert applied.status_code == 200 and "2 funktionsadresser skapade" in applied.get_data(as_text=True)
    assert "Lönekontor" in client.get("/?q=lönekontor").get_data(as_text=True)


def test_org_admin_edits_its_organisations_directory_data(api, people, db):
    client = api.client
    login(client, "kommunadmin")
    console = client.get("/console").get_data(as_text=True)
    assert "Socialförvaltningen" in console and "Region Exempel" not in console
    url = f"/console/organisations/{api.ids[KOMMUN]}"
    token = _csrf(client.get(url).data)
    data = {"csrf": token, "name": "Exempelkommun", "alternateName": "Kommunen", "description": "Ny text"}
    assert client.post(url, data=data).status_code == 200
    assert client.post(url, data={**data, "name": ""}).status_code == 422
    with db.reader() as session:
        assert session.get(Organisation, api.ids[KOMMUN]).description == "Ny text"
    assert client.get(f"/console/organisations/{api.ids['0203:regionexempel.se']}").status_code == 403
    assert "Ny text" in client.get(f"/organisations/{api.ids[KOMMUN]}").get_data(as_text=True)


def test_the_pages_session_and_headers_stay_out_of_the_api_smp_and_directory(api):
    for url in (
        "/addressbook/api/v1/addresses?lang=en",
        "/api/v1/status?lang=en",
        "/smp/iso6523-actorid-upis%3A%3A0203%3Aexempelkommun.se?lang=en",
        "/healthz",
    ):
        response = api.client.get(url)
        assert "Set-Cookie" not in response.headers, url
        assert "Cookie" not in response.headers.get("Vary", ""), url
        assert "Content-Security-Policy" not in response.headers, url
    page = api.client.get("/?lang=en")
    assert "sdk_console=" in page.headers["Set-Cookie"] and "Content-Security-Policy" in page.headers


# -- access-point operators ----------------------------------------------------------------------------


@pytest.fixture
def ap_people(api, db, people):
    with db.writer() as session:
        create_account(session, "apdrift", PASSWORD, "ap_operator", api.ids["ap"])
        create_account(session, "annanap", PASSWORD, "ap_operator", api.ids["other_ap"])


def _endpoint_form(**values) -> dict:
    form = {
        "name": "Reserv",
        "transportProfile": "digg-transport-as4-v1_0",
        "endpointUrl": "https://reserv.ap.example.se/as4",
        "technicalContactUrl": "https://reserv.ap.example.se",
        "technicalInformationUrl": "",
        "description": "Reservväg",
        "activationDate": "",
        "expirationDate": "",
    }
    return form | values


def _services_of(db, endpoint_id) -> set:
    from app.registry.models import ParticipantService

    with db.reader() as session:
        query = select(ParticipantService.id).where(ParticipantService.endpoint_configuration_id == endpoint_id)
        return set(session.scalars(query))


def test_ap_operator_creates_edits_and_moves_chosen_services(api, ap_people, db):
    client = api.client
    login(client, "apdrift")
    listing = client.get("/console/endpoints")
    assert listing.status_code == 200
    assert str(api.ids["endpoint"]) in listing.get_data(as_text=True)
    assert "Exempelkommun" in listing.get_data(as_text=True)  # a participant it serves
    page = client.get("/console/endpoints/new")
    access_point = re.search(rb'<option value="([^"]+)"', page.data).group(1).decode()
    token = _csrf(page.data)
    bad = client.post(
        "/console/endpoints/new",
        data=_endpoint_form(csrf=token, accessPoint=access_point, endpointUrl="ftp://x", expirationDate="igår"),
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "expirationDate: must be a date" in text and 'value="Reserv"' in text  # what was typed stays
    created = client.post("/console/endpoints/new", data=_endpoint_form(csrf=token, accessPoint=access_point))
    assert created.status_code == 303
    target = uuid.UUID(created.headers["Location"].split("/")[-1].split("?")[0])

    source = api.ids["endpoint"]
    before = _services_of(db, source)
    page = client.get(f"/console/endpoints/{source}")
    assert page.status_code == 200 and f'value="{target}"' in page.get_data(as_text=True)
    chosen = sorted(str(s) for s in before)[:2]
    moved = client.post(
        f"/console/endpoints/{source}",
        data={"csrf": token, "step": "move", "target": str(target), "service": chosen},
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert "2 tjänster flyttade" in moved.get_data(as_text=True)
    assert _services_of(db, target) == {uuid.UUID(s) for s in chosen}
    nothing = client.post(f"/console/endpoints/{source}", data={"csrf": token, "step": "move", "target": str(target)})
    assert nothing.status_code == 422 and "choose at least one" in nothing.get_data(as_text=True)
    everything = client.post(
        f"/console/endpoints/{source}", data={"csrf": token, "step": "move_all", "target": str(target)}
    )
    assert everything.status_code == 200 and _services_of(db, source) == set()
    assert _services_of(db, target) == before

    edited = client.post(
        f"/console/endpoints/{target}",
        data=_endpoint_form(
            csrf=token,
            step="save",
            version="1",
            endpointUrl="https://ny.reserv.example.se/as4",
            activationDate="2026-01-01T00:00",
        ),
    )
    assert edited.status_code == 200 and "Sparat." in edited.get_data(as_text=True)
    participant = "iso6523-actorid-upis%3A%3A0203%3Aexempelkommun.se"
    smp = client.get(f"/smp/{participant}").data
    service_url = re.search(rb"href=\"([^\"]+)\"", smp).group(1).decode()
    assert b"https://ny.reserv.example.se/as4" in client.get(service_url.split("127.0.0.1:8080", 1)[-1]).data
    stale = client.post(f"/console/endpoints/{target}", data=_endpoint_form(csrf=token, step="save", version="1"))
    assert stale.status_code == 422 and "version" in stale.get_data(as_text=True)


def test_ap_operator_sees_only_its_own_endpoints_and_participants(api, ap_people):
    client = api.client
    login(client, "annanap")
    listing = client.get("/console/endpoints").get_data(as_text=True)
    assert str(api.ids["endpoint"]) not in listing and "Exempelkommun" not in listing
    assert client.get(f"/console/endpoints/{api.ids['endpoint']}").status_code == 403
    assert client.get(f"/console/participants/{api.ids[KOMMUN]}").status_code == 403
    token = _csrf(client.get("/console/endpoints/new").data)
    moved = client.post(
        f"/console/endpoints/{api.ids['endpoint']}",
        data={"csrf": token, "step": "move_all", "target": str(api.ids["endpoint"])},
    )
    assert moved.status_code == 403
    login(client, "kommunadmin")
    assert client.get("/console/endpoints").status_code == 403


def test_ap_operator_adds_a_service_through_approval_and_removes_one(api, ap_people, db):
    from app.registry.models import ParticipantService, PendingChange

    client = api.client
    login(client, "apdrift")
    page = client.get(f"/console/participants/{api.ids[KOMMUN]}")
    assert page.status_code == 200
    token = _csrf(page.data)
    with db.reader() as session:
        services = session.scalars(
            select(ParticipantService).where(ParticipantService.organisation_id == api.ids[KOMMUN])
        ).all()
        victim = services[0]
        document_type = victim.document_identifier
    removed = client.post(
        f"/console/participants/{api.ids[KOMMUN]}",
        data={"csrf": token, "step": "remove", "service": str(victim.id), "version": str(victim.version)},
    )
    assert removed.status_code == 200 and "Tjänsten är borttagen." in removed.get_data(as_text=True)
    added = client.post(
        f"/console/participants/{api.ids[KOMMUN]}",
        data={
            "csrf": token,
            "step": "add",
            "documentType": document_type,
            "process": victim.process_identifier,
            "endpoint": str(api.ids["endpoint"]),
        },
    )
    # Exempelkommun is approved: a new document type waits for the federation operator.
    assert added.status_code == 200 and "väntar på federationsoperatörens" in added.get_data(as_text=True)
    with db.reader() as session:
        change = session.scalar(select(PendingChange).where(PendingChange.status == "pending"))
    login(client, "operatör")
    queue = client.get("/console/approvals")
    assert str(change.id) in queue.get_data(as_text=True)
    decided = client.post(
        "/console/approvals", data={"csrf": _csrf(queue.data), "change": str(change.id), "decision": "approve"}
    )
    assert decided.status_code == 200
    with db.reader() as session:
        assert session.get(PendingChange, change.id).status == "approved"
        again = session.scalar(
            select(ParticipantService).where(
                ParticipantService.organisation_id == api.ids[KOMMUN],
                ParticipantService.document_value == victim.document_value,
            )
        )
        assert again is not None
    wrong = client.post(
        f"/console/participants/{api.ids[KOMMUN]}",
        data={"csrf": _csrf(queue.data), "step": "add", "documentType": "x::y", "endpoint": "nope"},
    )
    assert wrong.status_code == 422, wrong.get_data(as_text=True)
    assert "endpoint: choose one from the list" in wrong.get_data(as_text=True)


def test_the_operator_sees_the_smps_of_the_sml_and_their_participants(api, people, db, pki_instance_dir, tmp_path):
    from tests.sml_support import register, smp_identity

    identity = smp_identity(DevelopmentPki(pki_instance_dir / "pki"), tmp_path, "SMP-KONSOL")
    register(db, identity)
    client = api.client
    login(client, "operatör")
    listing = client.get("/console/smps").get_data(as_text=True)
    assert "SMP-KONSOL" in listing and "https://smp-konsol.example.se/smp" in listing and "denna tjänst" in listing
    local = re.search(r'href="(/console/smps/[^"]+)"><code>sdk-addressbook', listing).group(1)
    page = client.get(local).get_data(as_text=True)
    assert "iso6523-actorid-upis::0203:exempelkommun.se" in page and "Inga flyttar är förberedda." in page
    assert client.get(local + "?after=nonsense::").status_code == 400
    login(client, "kommunadmin")
    assert client.get("/console/smps").status_code == 403
    assert client.get(local).status_code == 403
