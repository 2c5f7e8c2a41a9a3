"""The web pages: public search and organisation pages, login, and the console (server-rendered Jinja)."""

from __future__ import annotations

import io
import logging
import uuid
from datetime import datetime
from functools import wraps

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from app import status
from app.audit.reading import readable_events
from app.auth import rules
from app.directory import queries, search
from app.directory.text import QueryError
from app.dns.naming import naptr_name
from app.extensions import current_database
from app.health import signing_certificate
from app.identifiers import ParticipantId, url_segment
from app.operations import accounts, function_addresses, organisations
from app.operations import approvals as change_requests
from app.operations import function_address_import as address_import
from app.operations.accounts import LoginRefused, actor_of, authenticate, end_sessions, session_valid
from app.registry.columns import utcnow
from app.registry.errors import RegistryError, ValidationFailed
from app.registry.lifecycle import FederationStatus
from app.registry.models import Account, AuditEvent, FunctionAddress, Organisation, PendingChange
from app.settings import Settings
from app.ui import oidc, security
from app.ui.texts import LANGUAGES, TEXTS

blp = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")
SETTINGS_KEY = "sdk.ui_settings"
_log = logging.getLogger(__name__)
RESULTS = 50
AUDIT_ROWS = 200
CONSOLE_ROWS = 200
IMPORT_BYTES = 1024 * 1024
PREVIEW_ROWS = 50


def ui_settings() -> Settings:
    from flask import current_app

    return current_app.extensions[SETTINGS_KEY]


@blp.before_request
def choose_language() -> None:
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted
    g.lang = session.get("lang", "sv")


@blp.before_request
def refuse_nul() -> None:
    """NUL is in no valid value of any page, and PostgreSQL cannot even compare with it: one 400 for all."""
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                abort(400, description=f"{name.replace(chr(0), '?')}: must not contain NUL")


@blp.context_processor
def page_context() -> dict:
    lang = g.get("lang", "sv")
    return {
        "t": TEXTS[lang],
        "lang": lang,
        "other_lang": "en" if lang == "sv" else "sv",
        "csrf_token": security.csrf_token,
        "account": session.get("account"),
    }


def problem_lines(error: RegistryError) -> list[str]:
    """What a refused change shows on a page: one "field: reason" line per field, or the message."""
    if isinstance(error, ValidationFailed):
        return [f"{e.field}: {e.reason}" for e in error.errors]
    return [str(error)]


def render_page(template: str, status: int = 200, **context):
    return render_template(template, **context), status


# --- public ----------------------------------------------------------------------------------------


@blp.get("/")
def search_page():
    text = request.args.get("q", "").strip()
    filters = {}
    if request.args.get("category"):
        filters["category"] = request.args["category"]
    if request.args.get("type") in ("o", "ou"):
        filters["organizationType"] = request.args["type"]
    found, error, corrections = [], None, {}
    with current_database().reader() as session_:
        categories = _categories(session_)
        if text:
            if "<" in text or ">" in text:
                error = "< >"
            else:
                try:
                    result = search.search(
                        session_, "addresses", text, queries.conditions("addresses", filters), offset=0, size=RESULTS
                    )
                    owners = {e.parent_id for e in result.entries}
                    parents = {o.id: o for o in queries.organisations_by_id(session_, owners)}
                    found = [(entry, parents.get(entry.parent_id)) for entry in result.entries]
                    corrections = {t.word: t.alternatives for t in result.terms if t.alternatives}
                except QueryError as problem:
                    error = str(problem)
    template = "_results.html" if request.args.get("partial") else "search.html"
    return render_page(
        template,
        q=text,
        found=found,
        error=error,
        corrections=corrections,
        categories=categories,
        chosen_category=filters.get("category", ""),
        chosen_type=filters.get("organizationType", ""),
    )


def _categories(session_) -> list[tuple[str, str]]:
    found = []
    for system in session_.scalars(queries.shown("codesystems")):
        found += [(code["code"], code["displayName"]) for code in (system.attributes or {}).get("codes", [])]
    return sorted(set(found), key=lambda item: item[1])


@blp.get("/organisations/<ident>")
def organisation_page(ident: str):
    settings = ui_settings()
    with current_database().reader() as session_:
        entry = queries.one(session_, "organizations", ident)
        if entry is None:
            return render_page("message.html", 404, message=TEXTS[g.lang]["not_found"])
        addresses, _ = queries.page(session_, "addresses", {"organization": ident}, 1000, None)
        children, _ = queries.page(session_, "organizations", {"parent": ident}, 1000, None)
        parent = queries.one(session_, "organizations", str(entry.parent_id)) if entry.parent_id else None
    facts = None
    participant_text = (entry.attributes or {}).get("participantIdentifier")
    if participant_text:
        participant = ParticipantId.parse(participant_text)
        facts = {
            "participant": str(participant),
            "naptr": naptr_name(participant.scheme, participant.value, settings.sml_zone),
            "smp": f"{settings.smp_base_url}/{url_segment(participant)}",
        }
    return render_page(
        "organisation.html", entry=entry, addresses=addresses, children=children, parent=parent, facts=facts
    )


# --- login -------------------------------------------------------------------------------------------


@blp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        security.check_csrf()
        with current_database().writer() as session_:
            try:
                account = authenticate(
                    session_,
                    ui_settings(),
                    request.form.get("username", ""),
                    request.form.get("password", ""),
                    request.form.get("code", ""),
                )
                who = _who(account)
            except LoginRefused as refused:
                error, who = str(refused), None
        if who is not None:
            return _start_session(who)
    return _login_page(error)


def _login_page(error: str | None):
    name = ui_settings().oidc_name if oidc.enabled() else None
    return render_page("login.html", 401 if error else 200, error=error, oidc_name=name)


def _who(account: Account) -> dict:
    return {
        "id": str(account.id),
        "username": account.username,
        "role": account.role,
        "scope": str(account.scope_id) if account.scope_id else None,
    }


def _start_session(who: dict):
    session.clear()  # a new session at login: nothing chosen before it (a fixed session id) carries over
    session["account"] = {**who, "since": utcnow().isoformat()}
    session.permanent = True
    return redirect(url_for("ui.console"))


@blp.get("/login/oidc")
def oidc_login():
    if not oidc.enabled():
        abort(404)
    try:
        return oidc.client().authorize_redirect(oidc.callback_url(ui_settings()))
    except oidc.PROVIDER_ERRORS as error:
        return _provider_failed(error)


@blp.get(oidc.CALLBACK_PATH)
def oidc_callback():
    if not oidc.enabled():
        abort(404)
    if "error" in request.args:
        return _login_page(
            f"{ui_settings().oidc_name}: {request.args.get('error_description') or request.args['error']}"
        )
    try:
        token = oidc.client().authorize_access_token()
    except oidc.PROVIDER_ERRORS as error:
        return _provider_failed(error)
    claims = token.get("userinfo")
    if not claims:
        return _login_page("the identity provider sent no ID token")
    with current_database().writer() as session_:
        try:
            who = _who(oidc.account_for(session_, ui_settings(), dict(claims)))
        except LoginRefused as refused:
            who, error = None, str(refused)
    return _start_session(who) if who is not None else _login_page(error)


def _provider_failed(error: Exception):
    detail = getattr(error, "description", None) or str(error) or type(error).__name__
    _log.warning("OpenID Connect login failed: %s", detail)
    return _login_page(f"{ui_settings().oidc_name}: {detail}")


@blp.post("/logout")
def logout():
    security.check_csrf()
    who = session.get("account")
    if who is not None:  # ends the session on the server too: a copied cookie no longer opens the console
        with current_database().writer() as session_:
            account = session_.get(Account, uuid.UUID(who["id"]))
            if account is not None:
                end_sessions(account)
    session.clear()
    return redirect(url_for("ui.search_page"))


def logged_in(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        who = session.get("account")
        if who is None:
            return redirect(url_for("ui.login"))
        with current_database().reader() as session_:
            account = session_.get(Account, uuid.UUID(who["id"]))
            started = datetime.fromisoformat(who["since"]) if who.get("since") else None
            # removed, disabled, logged out or given a new password or role since this login
            if account is None or not session_valid(account, started):
                session.clear()
                return redirect(url_for("ui.login"))
            scope = str(account.scope_id) if account.scope_id else None  # the account's, never the cookie's
            g.actor = actor_of(account.username, account.role, scope, g.get("request_id"))
            g.account_id = account.id
        if request.method == "POST":
            security.check_csrf()
        return view(*args, **kwargs)

    return wrapper


@blp.route("/console/password", methods=["GET", "POST"])
@logged_in
def password_page():
    """Change one's own password: every session of the account ends, this browser gets a fresh one."""
    errors: list[str] = []
    if request.method == "POST":
        new = request.form.get("new", "")
        if new != request.form.get("confirm", ""):
            errors = [f"confirm: {TEXTS[g.lang]['passwords_differ']}"]
        else:
            with current_database().writer() as session_:
                account = session_.get(Account, g.account_id)
                try:
                    accounts.change_own_password(
                        session_, ui_settings(), account, request.form.get("current", ""), new, actor=g.actor
                    )
                    who = _who(account)
                except LoginRefused as refused:  # the failed attempt is counted (committed) like a login's
                    errors = [str(refused)]
                except ValidationFailed as invalid:  # refused before anything changed
                    errors = problem_lines(invalid)
            if not errors:
                _start_session(who)
                return render_page("message.html", message=TEXTS[g.lang]["password_changed"])
    return render_page("password.html", 422 if errors else 200, errors=errors)


# --- console -----------------------------------------------------------------------------------------


@blp.get("/console")
@logged_in
def console():
    actor = g.actor
    with current_database().reader() as session_:
        query = select(FunctionAddress).join(Organisation).order_by(Organisation.name, FunctionAddress.name)
        rows = session_.scalars(rules.directory_writable(query, actor).limit(CONSOLE_ROWS + 1)).all()
        addresses = [(address, address.organisation.name) for address in rows[:CONSOLE_ROWS]]
        owned = select(Organisation).order_by(Organisation.name)
        organisations_ = session_.scalars(rules.directory_writable(owned, actor).limit(CONSOLE_ROWS)).all()
        pending = 0
        if actor.role == rules.OPERATOR:
            changes = select(func.count()).select_from(PendingChange).where(PendingChange.status == "pending")
            pending = len(_pending(session_)) + session_.scalar(changes)
    return render_page(
        "console.html",
        addresses=addresses,
        more=len(rows) > CONSOLE_ROWS,
        organisations=organisations_,
        pending=pending,
        limit=CONSOLE_ROWS,
    )


@blp.route("/console/organisations/<uuid:organisation_id>", methods=["GET", "POST"])
@logged_in
def edit_organisation(organisation_id: uuid.UUID):
    def changes() -> dict:
        return {
            "name": request.form.get("name", ""),
            "alternateName": request.form.get("alternateName") or None,
            "description": request.form.get("description") or None,
        }

    return _edit_page(
        Organisation, organisation_id, lambda o: o, changes, organisations.update_organisation, "organisation"
    )


@blp.route("/console/addresses/<uuid:address_id>", methods=["GET", "POST"])
@logged_in
def edit_address(address_id: uuid.UUID):
    def changes() -> dict:
        return {
            "name": request.form.get("name", ""),
            "description": request.form.get("description") or None,
            "keywords": [k.strip() for k in request.form.get("keywords", "").split(",") if k.strip()],
        }

    return _edit_page(
        FunctionAddress,
        address_id,
        lambda a: a.organisation,
        changes,
        function_addresses.update_function_address,
        "address",
    )


def _edit_page(model, ident: uuid.UUID, organisation_of, changes, update, name: str):
    """An edit form of directory data: save through the use case on POST, then show the stored values."""
    errors, saved = [], False
    database = current_database()
    if request.method == "POST":
        try:
            with database.writer() as session_:
                item = session_.get(model, ident)
                if item is None:
                    abort(404)
                require(rules.require_directory_write, organisation_of(item))
                update(session_, g.actor, ident, changes())
            saved = True
        except ValidationFailed as failed:
            errors = problem_lines(failed)
    with database.reader() as session_:
        item = session_.get(model, ident)
        if item is None:
            return render_page("message.html", 404, message=TEXTS[g.lang]["not_found"])
        owner = organisation_of(item)
        require(rules.require_directory_write, owner)
        context = {name: item, "organisation_name": owner.name}
    return render_page(f"{name}_edit.html", 422 if errors else 200, errors=errors, saved=saved, **context)


@blp.route("/console/approvals", methods=["GET", "POST"])
@logged_in
def approvals():
    require(rules.require_operator)
    message = None
    if request.method == "POST":
        decision = request.form.get("decision")
        reason = request.form.get("reason", "").strip() or None
        try:
            with current_database().writer() as session_:
                if request.form.get("change"):  # a change asked for an approved participant (e.g. a new service)
                    change_id = request.form["change"]
                    if decision == "approve":
                        change_requests.approve(session_, g.actor, change_id)
                    else:
                        change_requests.reject(session_, g.actor, change_id, reason=reason)
                else:
                    organisations.change_status(
                        session_, g.actor, request.form.get("organisation", ""), decision or "", reason=reason
                    )
            message = TEXTS[g.lang]["approved" if decision == "approve" else "rejected"]
        except (RegistryError, ValueError) as problem:
            message = str(problem)
    with current_database().reader() as session_:
        pending = _pending(session_)
        changes = [
            (change, change.organisation)
            for change in session_.scalars(
                select(PendingChange).where(PendingChange.status == "pending").order_by(PendingChange.created_at)
            )
        ]
    return render_page("approvals.html", pending=pending, changes=changes, message=message)


@blp.route("/console/import", methods=["GET", "POST"])
@logged_in
def import_addresses():
    """CSV import of function addresses: upload, see every row's verdict (a dry run), then apply."""
    with current_database().reader() as session_:
        writable = [
            (organisation.id, organisation.name)
            for organisation in session_.scalars(select(Organisation).order_by(Organisation.name))
            if g.actor.role == rules.OPERATOR or rules.administers(g.actor, organisation)
        ]
    result, text, rows, problem = None, "", [], None
    chosen = request.form.get("organisation", "")
    if request.method == "POST":
        upload = request.files.get("file")
        raw = upload.read(IMPORT_BYTES + 1) if upload and upload.filename else request.form.get("csv", "").encode()
        if len(raw) > IMPORT_BYTES:
            problem = f"file: at most {IMPORT_BYTES // 1024} KiB through the console (use the API for more)"
        else:
            text = raw.decode("utf-8-sig", errors="replace")
            apply = request.form.get("step") == "apply"
            try:
                with current_database().writer() as session_:
                    organisation = session_.get(Organisation, uuid.UUID(chosen)) if _is_uuid(chosen) else None
                    if organisation is None:
                        abort(400, description="choose an organisation")
                    require(rules.require_directory_write, organisation)
                    rows = list(address_import.read_csv(io.StringIO(text)))
                    result = address_import.import_function_addresses(
                        session_, g.actor, organisation.id, rows, dry_run=not apply
                    )
            except ValidationFailed as failed:
                problem = "; ".join(problem_lines(failed))
    return render_page(
        "import.html",
        422 if problem or (result and result.errors) else 200,
        writable=writable,
        chosen=chosen,
        result=result,
        csv_text=text,
        rows=rows[:PREVIEW_ROWS],
        problem=problem,
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@blp.get("/console/audit")
@logged_in
def audit_log():
    filters = {name: request.args.get(name, "").strip() for name in ("actor", "action", "entity_type")}
    query = readable_events(g.actor, filters).order_by(AuditEvent.id.desc()).limit(AUDIT_ROWS)
    with current_database().reader() as session_:
        events = list(session_.scalars(query))
    return render_page("audit.html", events=events, filters=filters, limit=AUDIT_ROWS)


@blp.get("/console/certificates")
@logged_in
def certificates():
    require(rules.require_operator)
    certificate, _problem = signing_certificate()
    with current_database().reader() as session_:
        found = status.expiring_certificates(session_, ui_settings(), certificate, utcnow())
    return render_page("certificates.html", certificates=found, days=ui_settings().cert_warn_days)


def _pending(session_) -> list[Organisation]:
    query = select(Organisation).where(Organisation.federation_status == FederationStatus.PENDING.value)
    return list(session_.scalars(query.order_by(Organisation.created_at)))


def require(rule, *arguments) -> None:
    try:
        rule(g.actor, *arguments)
    except rules.Forbidden:
        abort(403)


@blp.errorhandler(403)
def forbidden(_error):
    return render_page("message.html", 403, message=TEXTS[g.get("lang", "sv")]["forbidden"])


@blp.after_request
def headers(response):
    """Only the pages: the session, the language and these headers never touch the API, SMP or directory."""
    return security.protect(response)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[SETTINGS_KEY] = settings
    security.configure(app, settings)
    oidc.configure(app, settings)
    from app.ui import access_points  # noqa: F401  (its pages join the blueprint)

    app.register_blueprint(blp)
