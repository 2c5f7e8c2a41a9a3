"""Use cases for API credentials: issue a token (shown once) and revoke it."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.auth.tokens import TOKEN_PREFIX, hash_token
from app.operations.checks import Checker, get_for_update
from app.registry.columns import utcnow
from app.registry.errors import FieldError, ValidationFailed
from app.registry.models import NAME_MAX, ROLES, AccessPointOperator, Credential, Organisation


@dataclass(frozen=True)
class IssuedToken:
    credential: Credential
    token: str


def check_scope(session: Session, role: str, scope_id: uuid.UUID | None) -> None:
    """The rule for tokens and console accounts alike: a known role, and a scope only, and always, for the
    scoped roles, naming an AP operator or a top-level organisation that exists."""
    if role not in ROLES:
        raise ValidationFailed(FieldError("role", f"must be one of {', '.join(ROLES)}"))
    if role == "operator":
        if scope_id is not None:
            raise ValidationFailed(FieldError("scope", "the operator role is not scoped"))
        return
    if scope_id is None:
        raise ValidationFailed(FieldError("scope", f"the {role} role needs a scope (the id it may manage)"))
    if role == "ap_operator" and session.get(AccessPointOperator, scope_id) is None:
        raise ValidationFailed(FieldError("scope", "no access point operator has this id"))
    if role == "org_admin":
        organisation = session.get(Organisation, scope_id)
        if organisation is None or organisation.type != "o":
            raise ValidationFailed(FieldError("scope", "no organisation of type o has this id"))


def issue_token(
    session: Session,
    actor: Actor,
    *,
    name: str,
    role: str,
    scope_id: uuid.UUID | str | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    check = Checker()
    name = check.text("name", name, maximum=NAME_MAX, required=True)
    if role not in ROLES:
        check.fail("role", f"must be one of {', '.join(ROLES)}")
    scope = check.uuid("scope", scope_id)
    if expires_at is not None and expires_at <= utcnow():
        check.fail("expiresAt", "must be in the future")
    check.done()
    check_scope(session, role, scope)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    credential = Credential(
        id=uuid.uuid4(),
        name=name,
        role=role,
        scope_id=scope,
        token_hash=hash_token(token),
        token_prefix=token[: len(TOKEN_PREFIX) + 6],
        created_by=actor.name,
        expires_at=expires_at,
    )
    session.add(credential)
    session.flush()
    audit.record(
        session, actor, Action.CREDENTIAL_CREATE, "credential", credential.id, after=audit.snapshot(credential)
    )
    return IssuedToken(credential, token)


def revoke_token(
    session: Session, actor: Actor, credential_id: uuid.UUID | str, *, expected_version: int | None = None
) -> Credential:
    credential = get_for_update(session, Credential, credential_id, "credential", expected_version)
    if credential.revoked_at is not None:
        return credential
    before = audit.snapshot(credential)
    credential.revoked_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        Action.CREDENTIAL_REVOKE,
        "credential",
        credential.id,
        before=before,
        after=audit.snapshot(credential),
    )
    return credential
