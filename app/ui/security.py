"""Sessions, CSRF and the headers that keep the console's pages in their lane.

* The session is Flask's signed cookie: HttpOnly, SameSite=Lax, Secure when the public URL is https.
  It holds only the account's id, name, role and scope, and the CSRF token.
* Every POST carries the session's CSRF token in a hidden field; a missing or wrong one is a 400.
* Every page gets a Content-Security-Policy that allows nothing but this origin's own files (no
  inline script or style), and frame, referrer and content-type protections.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from flask import Flask, Response, abort, request, session

from app.settings import Settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def secret_key(settings: Settings) -> str:
    """SDK_SECRET_KEY, or (development) a random key kept in the instance folder across restarts."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.instance_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def configure(app: Flask, settings: Settings) -> None:
    app.secret_key = secret_key(settings)
    app.config.update(
        SESSION_COOKIE_NAME="sdk_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=8 * 3600,
    )


def csrf_token() -> str:
    token = session.get("csrf")
    if token is None:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    sent = request.form.get("csrf", "")
    expected = session.get("csrf", "")
    # As bytes: compare_digest refuses str with anything beyond ASCII (a TypeError, not a mismatch).
    if not expected or not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode()):
        abort(400, description="the form is stale or was not sent from this site (CSRF check); reload and try again")


def protect(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
