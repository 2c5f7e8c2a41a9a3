"""The console's shared ground: the blueprint, the language, page rendering, the login guard, the headers.

Every page module (search, login, console, access points) adds its views to :data:`blp`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from app.auth import rules
from app.extensions import current_database
from app.operations.accounts import actor_of, session_valid
from app.registry.errors import RegistryError, ValidationFailed
from app.registry.models import Account
from app.ui import security
from app.ui.texts import LANGUAGES, TEXTS

blp = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")
RESULTS = 50
AUDIT_ROWS = 200
CONSOLE_ROWS = 200
IMPORT_BYTES = 1024 * 1024
PREVIEW_ROWS = 50


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
def page_context() -> dict[str, Any]:
    lang = g.get("lang", "sv")
    return {
        "t": TEXTS[lang],
        "lang": lang,
        "other_lang": "en" if lang == "sv" else "sv",
        "csrf_token": security.csrf_token,
        "account": session.get("account"),
        # what the account may do, as read from it on this request (logged_in), never from the cookie
        "role": g.actor.role if "actor" in g else None,
    }


def problem_lines(error: RegistryError) -> list[str]:
    """What a refused change shows on a page: one "field: reason" line per field, or the message."""
    if isinstance(error, ValidationFailed):
        return [f"{e.field}: {e.reason}" for e in error.errors]
    return [str(error)]


def render_page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


View = Callable[..., ResponseReturnValue]


def logged_in(view: View) -> View:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
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
            g.actor = actor_of(account, g.get("request_id"))  # the account's role and scope, never the cookie's
            g.account_id = account.id
        if request.method == "POST":
            security.check_csrf()
        return view(*args, **kwargs)

    return wrapper


def require(rule: Callable[..., None], *arguments: Any) -> None:
    try:
        rule(g.actor, *arguments)
    except rules.Forbidden:
        abort(403)


@blp.errorhandler(403)
def forbidden(_error: Exception) -> ResponseReturnValue:
    return render_page("message.html", 403, message=TEXTS[g.get("lang", "sv")]["forbidden"])


@blp.after_request
def headers(response: Response) -> Response:
    """Only the pages: the session, the language and these headers never touch the API, SMP or directory."""
    return security.protect(response)
