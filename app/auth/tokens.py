"""API tokens: random, shown once, stored only as their SHA-256.

A token looks like ``sdkab_<43 url-safe characters>``; the prefix makes leaked tokens easy to find with
secret scanners, and the first characters (``token_prefix``) identify it in lists without revealing it.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.registry.columns import utcnow
from app.registry.models import Credential

TOKEN_PREFIX = "sdkab_"  # noqa: S105  (a public marker, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find_credential(session: Session, token: str) -> Credential | None:
    """The live credential behind ``token``: unknown, expired and revoked tokens give ``None``."""
    credential = session.scalar(select(Credential).where(Credential.token_hash == hash_token(token)))
    if credential is None or credential.revoked_at is not None:
        return None
    if credential.expires_at is not None and credential.expires_at <= utcnow():
        return None
    return credential
