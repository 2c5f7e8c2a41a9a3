"""Console accounts, a use case like any other: created, given a new password or role, disabled and enabled
again (each audited, and each but creation ending the account's sessions on the server), and logged in
with argon2 password hashes, lockout after repeated failures and optional TOTP."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import SYSTEM_ACTOR, Action, Actor
from app.operations.credentials import check_scope
from app.registry.columns import utcnow
from app.registry.errors import FieldError, NotFound, ValidationFailed
from app.registry.models import Account
from app.settings import Settings

_hasher = PasswordHasher()
#: Verified against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")
MIN_PASSWORD_LENGTH = 12
#: Stored instead of a hash for an account that logs in only through OpenID Connect: it never verifies.
NO_PASSWORD = "!"  # noqa: S105  (a marker that is no hash, never a password)


#: What every refused login is told: unknown name, wrong password or code, or an account locked for now.
REFUSED = "wrong username, password or code, or too many failed attempts: try again later"


class LoginRefused(Exception):
    """Wrong name, password or code, or a locked account (the message never says which of the first three)."""


def create_account(
    session: Session,
    username: str,
    password: str | None,
    role: str,
    scope_id: uuid.UUID | None,
    *,
    totp: bool = False,
    actor: Actor = SYSTEM_ACTOR,
) -> Account:
    """A new account; with ``password=None`` it can log in only through OpenID Connect."""
    username = username.strip()
    if not username or len(username) > 256:
        raise ValidationFailed(FieldError("username", "must be 1 to 256 characters"))
    check_scope(session, role, scope_id)
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise ValidationFailed(FieldError("username", "is taken"))
    account = Account(
        username=username,
        password_hash=NO_PASSWORD if password is None else _hash(password),
        role=role,
        scope_id=scope_id,
        totp_secret=pyotp.random_base32() if totp else None,
        failed_logins=0,
    )
    session.add(account)
    session.flush()
    _record(session, actor, Action.ACCOUNT_CREATE, account, None)
    return account


def find_account(session: Session, username: str) -> Account:
    account = session.scalar(select(Account).where(Account.username == username.strip()))
    if account is None:
        raise NotFound(f"no console account named {username.strip()!r}")
    return account


def change_password(session: Session, account: Account, password: str | None, *, actor: Actor = SYSTEM_ACTOR) -> None:
    """A new password (``None``: OpenID Connect only); every session of the account ends, a lock is lifted."""
    before = audit.snapshot(account)
    account.password_hash = NO_PASSWORD if password is None else _hash(password)
    account.failed_logins, account.locked_until = 0, None
    end_sessions(account)
    _record(session, actor, Action.ACCOUNT_PASSWORD, account, before)


def change_role(
    session: Session, account: Account, role: str, scope_id: uuid.UUID | None, *, actor: Actor = SYSTEM_ACTOR
) -> None:
    """Another role or scope; sessions started under the old one end."""
    check_scope(session, role, scope_id)
    if (account.role, account.scope_id) == (role, scope_id):
        return
    before = audit.snapshot(account)
    account.role, account.scope_id = role, scope_id
    end_sessions(account)
    _record(session, actor, Action.ACCOUNT_ROLE, account, before)


def change_own_password(
    session: Session, settings: Settings, account: Account, current: str, new: str, *, actor: Actor
) -> None:
    """The console's self-service: the current password proves it is the holder, not a borrowed session.

    A wrong current password counts as a failed login (and locks the account like one); commit the
    transaction when :class:`LoginRefused` is raised, so the count stands.
    """
    if account.password_hash == NO_PASSWORD:
        raise ValidationFailed(FieldError("current", "this account logs in through OpenID Connect and has no password"))
    if not _matches(account.password_hash, current):
        _count_failure(account, settings, utcnow())
        raise LoginRefused("current: is not this account's password")
    if new == current:
        raise ValidationFailed(FieldError("new", "must differ from the current password"))
    change_password(session, account, new, actor=actor)


def set_disabled(session: Session, account: Account, disabled: bool, *, actor: Actor = SYSTEM_ACTOR) -> None:
    """Disable (no login, every session ends at once) or enable an account again."""
    if (account.disabled_at is not None) == disabled:
        return
    before = audit.snapshot(account)
    account.disabled_at = utcnow() if disabled else None
    if disabled:
        end_sessions(account)
    _record(session, actor, Action.ACCOUNT_DISABLE if disabled else Action.ACCOUNT_ENABLE, account, before)


def session_valid(account: Account, started: datetime | None) -> bool:
    """Whether a console session of ``account`` started at ``started`` still stands."""
    if account.disabled_at is not None or started is None:
        return False
    return account.sessions_valid_from is None or started >= account.sessions_valid_from


def end_sessions(account: Account) -> None:
    """Every session of the account started until now is refused from now on (logout, and the changes above)."""
    account.sessions_valid_from = utcnow()


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(FieldError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
    return _hasher.hash(password)


def _record(session: Session, actor: Actor, action: Action, account: Account, before: dict[str, Any] | None) -> None:
    """Account events belong to the scope the account works in (and, after a role change, the old one)."""
    session.flush()
    scopes = [account.scope_id, uuid.UUID(before["scope_id"]) if before and before["scope_id"] else None]
    audit.record(
        session,
        actor,
        action,
        "account",
        account.id,
        organisation_id=account.scope_id if account.role == "org_admin" else None,
        before=before,
        after=audit.snapshot(account),
        also_visible_to=scopes,
    )


def authenticate(session: Session, settings: Settings, username: str, password: str, code: str = "") -> Account:
    """The account, with its failure count reset; or :class:`LoginRefused` (and one more failure counted).

    Catch the refusal inside the write transaction, so the counted failure is committed.
    """
    account = session.scalar(select(Account).where(Account.username == username.strip()))
    now = utcnow()
    # Unknown, locked and wrong are told apart neither by the answer nor by its time: each costs one
    # password hash and gets the same words (a locked account is told apart by nothing at all).
    if account is None:
        _matches(_DUMMY_HASH, password)
        raise LoginRefused(REFUSED)
    if account.disabled_at is not None or (account.locked_until is not None and account.locked_until > now):
        _matches(account.password_hash, password)
        raise LoginRefused(REFUSED)
    good = _matches(account.password_hash, password)
    if good and account.totp_secret is not None:
        good = pyotp.TOTP(account.totp_secret).verify(code.strip(), valid_window=1)
    if not good:
        _count_failure(account, settings, now)
        raise LoginRefused(REFUSED)
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


def _count_failure(account: Account, settings: Settings, now: datetime) -> None:
    account.failed_logins = (account.failed_logins or 0) + 1
    if account.failed_logins >= settings.login_lockout_attempts:
        account.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
        account.failed_logins = 0


def _matches(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def actor_of(account: Account, request_id: str | None) -> Actor:
    """Who acts in a console request: the account, with the role and scope it has now."""
    return Actor(
        name=f"console:{account.username}", role=account.role, scope_id=account.scope_id, request_id=request_id
    )
