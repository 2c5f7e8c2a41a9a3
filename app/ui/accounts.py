"""Console accounts: argon2 password hashes, lockout after repeated failures, optional TOTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import Actor
from app.registry.columns import utcnow
from app.registry.errors import FieldError, ValidationFailed
from app.registry.models import ROLES, Account
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
) -> Account:
    """A new account; with ``password=None`` it can log in only through OpenID Connect."""
    username = username.strip()
    if not username or len(username) > 256:
        raise ValidationFailed(FieldError("username", "must be 1 to 256 characters"))
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(FieldError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
    if role not in ROLES:
        raise ValidationFailed(FieldError("role", f"must be one of {', '.join(ROLES)}"))
    if role != "operator" and scope_id is None:
        raise ValidationFailed(FieldError("scope", f"a {role} account needs a scope"))
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise ValidationFailed(FieldError("username", "is taken"))
    account = Account(
        username=username,
        password_hash=NO_PASSWORD if password is None else _hasher.hash(password),
        role=role,
        scope_id=scope_id,
        totp_secret=pyotp.random_base32() if totp else None,
        failed_logins=0,
    )
    session.add(account)
    session.flush()
    return account


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
    if account.locked_until is not None and account.locked_until > now:
        _matches(account.password_hash, password)
        raise LoginRefused(REFUSED)
    good = _matches(account.password_hash, password)
    if good and account.totp_secret is not None:
        good = pyotp.TOTP(account.totp_secret).verify(code.strip(), valid_window=1)
    if not good:
        account.failed_logins = (account.failed_logins or 0) + 1
        if account.failed_logins >= settings.login_lockout_attempts:
            account.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            account.failed_logins = 0
        raise LoginRefused(REFUSED)
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


def _matches(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def actor_of(username: str, role: str, scope_id: str | None, request_id: str | None) -> Actor:
    return Actor(
        name=f"console:{username}",
        role=role,
        scope_id=uuid.UUID(scope_id) if scope_id else None,
        request_id=request_id,
    )
