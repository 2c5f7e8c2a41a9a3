"""Optional OpenID Connect login for the console (authlib), switched on by ``SDK_OIDC_ISSUER``.

The identity provider proves who someone is; what they may do stays here. The claim named by
``SDK_OIDC_USERNAME_CLAIM`` must equal the username of an existing console account, which brings its
role and scope. Nobody gets an account by logging in. The authorisation-code flow with state and nonce;
the ID token is verified (signature against the issuer's JWKS, issuer, audience, expiry, nonce) by authlib.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError
from requests import RequestException
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.operations.accounts import LoginRefused
from app.registry.columns import utcnow
from app.registry.models import Account
from app.settings import Settings

CLIENT = "idp"
KEY = "sdk.oidc"
CALLBACK_PATH = "/login/oidc/callback"
#: What can go wrong talking to the identity provider or checking its answer.
PROVIDER_ERRORS = (OAuthError, JoseError, RequestException, ValueError, KeyError)


def configure(app: Flask, settings: Settings) -> None:
    if settings.oidc_issuer is None:
        return
    oauth = OAuth(app)
    oauth.register(
        CLIENT,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "timeout": 10},
    )
    app.extensions[KEY] = oauth


def enabled() -> bool:
    return KEY in current_app.extensions


def client() -> Any:
    return current_app.extensions[KEY].create_client(CLIENT)


def callback_url(settings: Settings) -> str:
    """Registered with the identity provider: from SDK_PUBLIC_URL, never from the request's Host header."""
    return settings.public_url + CALLBACK_PATH


def account_for(session: Session, settings: Settings, claims: dict[str, Any]) -> Account:
    """The console account the verified ID-token claims name, or :class:`LoginRefused`."""
    name = claims.get(settings.oidc_username_claim)
    if not isinstance(name, str) or not name.strip():
        raise LoginRefused(f"the identity provider sent no {settings.oidc_username_claim} claim")
    if settings.oidc_username_claim == "email" and claims.get("email_verified") is False:
        raise LoginRefused("the identity provider has not verified this e-mail address")
    account = session.scalar(select(Account).where(Account.username == name.strip()))
    if account is None:
        raise LoginRefused(f"no console account for {name.strip()}; ask the federation operator for one")
    now = utcnow()
    if account.disabled_at is not None:
        raise LoginRefused("the account is disabled; ask the federation operator")
    if account.locked_until is not None and account.locked_until > now:
        raise LoginRefused("the account is locked after too many failed logins; try again later")
    account.last_login_at = now
    return account
