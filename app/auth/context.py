"""Turn the request's ``Authorization: Bearer`` header into the acting :class:`Actor`."""

from __future__ import annotations

from datetime import timedelta

from flask import g, request
from sqlalchemy import update

from app.audit import Actor
from app.auth.tokens import find_credential
from app.extensions import current_database
from app.registry.columns import utcnow
from app.registry.models import Credential

LAST_USED_RESOLUTION = timedelta(minutes=1)  # don't write on every request


class Unauthenticated(Exception):
    """No usable credential: missing, malformed, unknown, expired or revoked token."""


def current_actor() -> Actor:
    known: Actor | None = g.get("actor")
    if known is not None:
        return known
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>")
    database = current_database()
    with database.reader() as session:
        credential = find_credential(session, token.strip())
        if credential is None:
            raise Unauthenticated("the token is unknown, expired or revoked")
        actor = Actor(
            name=credential.name, role=credential.role, scope_id=credential.scope_id, request_id=g.get("request_id")
        )
        stale = credential.last_used_at is None or credential.last_used_at < utcnow() - LAST_USED_RESOLUTION
        credential_id = credential.id
    if stale:
        with database.writer() as session:
            session.execute(
                update(Credential)
                .where(Credential.id == credential_id)
                .values(last_used_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    g.actor = actor
    return actor
