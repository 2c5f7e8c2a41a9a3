"""Logging in and out (password and TOTP, or OpenID Connect) and changing one's own password."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import abort, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from app.extensions import current_database, current_settings
from app.operations import accounts
from app.operations.accounts import LoginRefused, authenticate, end_sessions
from app.registry.columns import utcnow
from app.registry.errors import ValidationFailed
from app.registry.models import Account
from app.ui import oidc, security
from app.ui.pages import (
    blp,
    logged_in,
    problem_lines,
    render_page,
)
from app.ui.texts import TEXTS

_log = logging.getLogger(__name__)


# --- login -------------------------------------------------------------------------------------------


@blp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        security.check_csrf()
        with current_database().writer() as session_:
            try:
                account = authenticate(
                    session_,
                    current_settings(),
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


def _login_page(error: str | None) -> tuple[str, int]:
    name = current_settings().oidc_name if oidc.enabled() else None
    return render_page("login.html", 401 if error else 200, error=error, oidc_name=name)


def _who(account: Account) -> dict[str, Any]:
    """What the session cookie holds: who it is (role and scope are read from the account on each request)."""
    return {"id": str(account.id), "username": account.username}


def _start_session(who: dict[str, Any]) -> ResponseReturnValue:
    session.clear()  # a new session at login: nothing chosen before it (a fixed session id) carries over
    session["account"] = {**who, "since": utcnow().isoformat()}
    session.permanent = True
    return redirect(url_for("ui.console"))


@blp.get("/login/oidc")
def oidc_login() -> ResponseReturnValue:
    if not oidc.enabled():
        abort(404)
    try:
        redirected: ResponseReturnValue = oidc.client().authorize_redirect(oidc.callback_url(current_settings()))
        return redirected
    except oidc.PROVIDER_ERRORS as error:
        return _provider_failed(error)


@blp.get(oidc.CALLBACK_PATH)
def oidc_callback() -> ResponseReturnValue:
    if not oidc.enabled():
        abort(404)
    if "error" in request.args:
        return _login_page(
            f"{current_settings().oidc_name}: {request.args.get('error_description') or request.args['error']}"
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
            who = _who(oidc.account_for(session_, current_settings(), dict(claims)))
        except LoginRefused as refused:
            who, refusal = None, str(refused)
    return _start_session(who) if who is not None else _login_page(refusal)


def _provider_failed(error: Exception) -> tuple[str, int]:
    detail = getattr(error, "description", None) or str(error) or type(error).__name__
    _log.warning("OpenID Connect login failed: %s", detail)
    return _login_page(f"{current_settings().oidc_name}: {detail}")


@blp.post("/logout")
def logout() -> ResponseReturnValue:
    security.check_csrf()
    who = session.get("account")
    if who is not None:  # ends the session on the server too: a copied cookie no longer opens the console
        with current_database().writer() as session_:
            account = session_.get(Account, uuid.UUID(who["id"]))
            if account is not None:
                end_sessions(account)
    session.clear()
    return redirect(url_for("ui.search_page"))


@blp.route("/console/password", methods=["GET", "POST"])
@logged_in
def password_page() -> ResponseReturnValue:
    """Change one's own password: every session of the account ends, this browser gets a fresh one."""
    errors: list[str] = []
    if request.method == "POST":
        new = request.form.get("new", "")
        if new != request.form.get("confirm", ""):
            errors = [f"confirm: {TEXTS[g.lang]['passwords_differ']}"]
        else:
            with current_database().writer() as session_:
                account = session_.get(Account, g.account_id)
                if account is None:  # removed while this page was open: the session is over
                    return redirect(url_for("ui.login"))
                try:
                    accounts.change_own_password(
                        session_, current_settings(), account, request.form.get("current", ""), new, actor=g.actor
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
