"""OpenID Connect login to the console, against a real provider on a loopback port."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwk

from app import create_app
from app.operations.accounts import NO_PASSWORD, create_account
from app.settings import SettingsError
from tests.conftest import make_settings
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, running_provider


@pytest.fixture
def provider():
    with running_provider() as running:
        yield running


@pytest.fixture
def oidc_client(provider, pki_instance_dir, db):
    settings = make_settings(
        pki_instance_dir,
        db.url,
        SDK_OIDC_ISSUER=provider.issuer,
        SDK_OIDC_CLIENT_ID=CLIENT_ID,
        SDK_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        SDK_OIDC_NAME="Testinloggning",
    )
    application = create_app(settings, database=db)
    application.config["TESTING"] = True
    with db.writer() as session:
        create_account(session, "anna@example.se", None, "operator", None)
    return application.test_client()


def _through_provider(client, **claims):
    """Start the login here, let the provider answer, and hand its redirect back: the callback's response."""
    started = client.get("/login/oidc")
    assert started.status_code == 302, started.get_data(as_text=True)
    authorise = started.headers["Location"]
    asked = parse_qs(urlsplit(authorise).query)
    assert asked["client_id"] == [CLIENT_ID] and "openid" in asked["scope"][0].split()
    assert asked["nonce"] and asked["state"]
    assert asked["redirect_uri"] == ["http://127.0.0.1:8080/login/oidc/callback"]
    answer = requests.get(authorise, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def test_login_through_the_provider_opens_the_console_of_the_matching_account(oidc_client, provider):
    page = oidc_client.get("/login").get_data(as_text=True)
    assert "Logga in med Testinloggning" in page
    provider.claims = {"email": "anna@example.se", "email_verified": True}
    done = _through_provider(oidc_client)
    assert done.status_code == 302 and done.headers["Location"].endswith("/console")
    console = oidc_client.get("/console")
    assert console.status_code == 200 and "anna@example.se" in console.get_data(as_text=True)


def test_the_provider_cannot_create_accounts_or_vouch_for_unverified_addresses(oidc_client, provider):
    provider.claims = {"email": "mallory@example.se", "email_verified": True}
    refused = _through_provider(oidc_client)
    assert refused.status_code == 401 and "no console account for mallory@example.se" in refused.get_data(as_text=True)
    provider.claims = {"email": "anna@example.se", "email_verified": False}
    unverified = _through_provider(oidc_client)
    assert unverified.status_code == 401 and "not verified" in unverified.get_data(as_text=True)
    provider.claims = {"name": "Anna"}
    nameless = _through_provider(oidc_client)
    assert nameless.status_code == 401 and "no email claim" in nameless.get_data(as_text=True)
    assert oidc_client.get("/console").status_code == 302  # still not logged in


def test_a_forged_token_or_a_foreign_state_is_refused(oidc_client, provider):
    provider.claims = {"email": "anna@example.se"}
    provider.signing_key = jwk.RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    forged = _through_provider(oidc_client)
    assert forged.status_code == 401, forged.get_data(as_text=True)
    assert oidc_client.get("/console").status_code == 302
    provider.signing_key = provider.key
    foreign = oidc_client.get("/login/oidc/callback?code=stolen&state=not-ours")
    assert foreign.status_code == 401 and "Testinloggning" in foreign.get_data(as_text=True)
    denied = oidc_client.get("/login/oidc/callback?error=access_denied&error_description=User+said+no")
    assert denied.status_code == 401 and "User said no" in denied.get_data(as_text=True)


def test_an_unreachable_provider_is_an_error_on_the_login_page(pki_instance_dir, db):
    from tests.named import free_port

    settings = make_settings(
        pki_instance_dir,
        db.url,
        SDK_OIDC_ISSUER=f"http://127.0.0.1:{free_port()}",
        SDK_OIDC_CLIENT_ID=CLIENT_ID,
        SDK_OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )
    client = create_app(settings, database=db).test_client()
    failed = client.get("/login/oidc")
    assert failed.status_code == 401 and "OpenID Connect:" in failed.get_data(as_text=True)


def test_without_an_issuer_there_is_no_oidc_login(client):
    assert client.get("/login/oidc").status_code == 404
    assert "/login/oidc" not in client.get("/login").get_data(as_text=True)


def test_an_account_without_a_password_cannot_log_in_with_one(db, settings):
    from app.operations.accounts import LoginRefused, authenticate

    with db.writer() as session:
        account = create_account(session, "ingen", None, "operator", None)
        assert account.password_hash == NO_PASSWORD
        for guess in ("", "!", NO_PASSWORD):
            with pytest.raises(LoginRefused):
                authenticate(session, settings, "ingen", guess)


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"SDK_OIDC_ISSUER": "https://idp.example.se"}, "SDK_OIDC_CLIENT_ID"),
        ({"SDK_OIDC_ISSUER": "idp.example.se", "SDK_OIDC_CLIENT_ID": "x"}, "SDK_OIDC_ISSUER"),
        ({"SDK_OIDC_SCOPES": "email profile"}, "SDK_OIDC_SCOPES"),
        ({"SDK_OIDC_USERNAME_CLAIM": "e mail"}, "SDK_OIDC_USERNAME_CLAIM"),
    ],
)
def test_oidc_settings_are_checked(tmp_path, environ, complaint):
    with pytest.raises(SettingsError) as raised:
        make_settings(tmp_path, "sqlite://", **environ)
    assert complaint in str(raised.value)
