"""Liveness (``/healthz``) and readiness (``/readyz``) probes.

Under ``serve`` with its DNS side, both report that side too: readiness needs it to answer (the
embedded server is asked for the zone's SOA), liveness fails only when it has been down so long that
restarting it keeps failing (:data:`app.dns.supervisor.STUCK_AFTER`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from flask import Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import schema
from app.extensions import current_database, current_settings

#: ``app.config`` key of the DNS side's shared state, set by ``serve`` when it runs one.
DNS_SIDE_KEY = "SDK_DNS_SIDE"


def dns_side_check() -> str | None:
    """``ok`` or what is wrong with the DNS side ``serve`` runs; ``None`` when this process runs none."""
    from app.dns.supervisor import probe

    shared = current_app.config.get(DNS_SIDE_KEY)
    if shared is None:
        return None
    state = shared.read()
    if not state.running:
        described: str | None = state.describe()
        return described
    settings = current_settings()
    if settings.dns_mode == "embedded":
        answer = probe(settings.dns_listen, settings.sml_zone)
        if answer != "ok":
            return f"{answer} (worker pid {state.pid} starting or stuck)"
    summary: str | None = state.describe()
    return summary


def readiness_checks() -> dict[str, str]:
    """Each dependency the service needs to answer correctly: ``ok`` or what is wrong."""
    database = current_database()
    checks: dict[str, str] = {}
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
        checks["migrations"] = "unknown: database unreachable"
        return checks
    try:
        pending = schema.pending_migrations(database)
        checks["migrations"] = "ok" if pending is None else f"pending: {pending}"
    except SQLAlchemyError as error:
        checks["migrations"] = f"unknown: {type(error).__name__}"
    checks["signing_key"] = _signing_key_check()
    dns_side = dns_side_check()
    if dns_side is not None:
        checks["dns"] = dns_side
    return checks


def signing_certificate() -> tuple[x509.Certificate | None, str | None]:
    """The SMP signing certificate in use, or why there is none usable."""
    from app.publishing.keys import SigningKeyError

    publisher = current_app.extensions.get("sdk.publisher")
    if publisher is None:
        return None, "not configured"
    try:
        return publisher.signer.credentials.certificate, None
    except SigningKeyError as error:
        return None, f"unusable: {error}"


def _signing_key_check() -> str:
    certificate, problem = signing_certificate()
    if certificate is None:
        return problem or "not configured"
    if certificate.not_valid_after_utc <= datetime.now(UTC):
        return f"expired on {certificate.not_valid_after_utc.date().isoformat()}"
    return "ok"


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        shared = app.config.get(DNS_SIDE_KEY)
        if shared is None:
            return jsonify(status="ok")
        state = shared.read()
        response = jsonify(status="dns side stuck" if state.stuck else "ok", dns=state.describe())
        response.status_code = 503 if state.stuck else 200
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/readyz")
    def readyz() -> ResponseReturnValue:
        checks = readiness_checks()
        ready = all(value == "ok" or value.startswith("ok ") for value in checks.values())
        response = jsonify(status="ready" if ready else "not ready", checks=checks)
        response.status_code = 200 if ready else 503
        response.headers["Cache-Control"] = "no-store"
        return response
