"""Who may act: API tokens and console accounts."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from datetime import timedelta

import click
from sqlalchemy.orm import Session

from app.cli.base import (
    application,
    cli,
    fail,
)
from app.registry.errors import RegistryError
from app.registry.models import Account


@cli.group(help="API tokens.")
def token() -> None:
    pass


@token.command("create", help="Create an API token and print it (it is shown only this once).")
@click.option("--role", required=True, type=click.Choice(["operator", "ap_operator", "org_admin"]))
@click.option("--scope", "scope", default=None, help="Id of the AP operator or organisation the token may manage.")
@click.option("--name", required=True, help="Who or what uses the token.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
def token_create(role: str, scope: str | None, name: str, expires_in_days: int | None) -> None:
    from app.audit import SYSTEM_ACTOR
    from app.extensions import current_database
    from app.operations.credentials import issue_token
    from app.registry.columns import utcnow

    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with application(), current_database().writer() as session:
        issued = issue_token(session, SYSTEM_ACTOR, name=name, role=role, scope_id=scope, expires_at=expires_at)
    click.echo(issued.token)
    click.echo(f"token {issued.credential.id} ({role}) created; store it now, it is not shown again", err=True)


@cli.group(help="Console accounts (people who log in to the web console).")
def account() -> None:
    pass


@account.command("create", help="Create a console account; the password is read from standard input or asked for.")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["operator", "ap_operator", "org_admin"]))
@click.option("--scope", "scope", default=None, help="Id of the AP operator or organisation the account may manage.")
@click.option("--totp", is_flag=True, help="require a one-time code too (prints the secret for an authenticator app)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--no-password", is_flag=True, help="no password: the account logs in only through OpenID Connect")
def account_create(
    username: str, role: str, scope: str | None, totp: bool, password_stdin: bool, no_password: bool
) -> None:
    from app.extensions import current_database
    from app.operations.accounts import create_account

    if no_password and (password_stdin or totp):
        fail("--no-password cannot be combined with --password-stdin or --totp")
    password = None if no_password else _read_password(password_stdin)
    scope_id = _scope_id(scope)

    try:
        with application(), current_database().writer() as session:
            created = create_account(session, username, password, role, scope_id, totp=totp)
            secret = created.totp_secret
    except RegistryError as error:
        fail(str(error))
    click.echo(f"account {username} ({role}) created", err=True)
    if secret:
        click.echo(f"TOTP secret (add it to an authenticator app): {secret}")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


def _change_account(username: str, change: Callable[[Session, Account], None]) -> None:
    """Run ``change(session, account)`` on the named account in one audited write; one line if refused."""
    from app.extensions import current_database
    from app.operations.accounts import find_account

    try:
        with application(), current_database().writer() as session:
            change(session, find_account(session, username))
    except RegistryError as error:
        fail(str(error))


@account.command("password", help="Give an account a new password; every session of the account ends.")
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--no-password", is_flag=True, help="remove the password: log in only through OpenID Connect")
def account_password(username: str, password_stdin: bool, no_password: bool) -> None:
    from app.operations.accounts import change_password

    if no_password and password_stdin:
        fail("--no-password cannot be combined with --password-stdin")
    password = None if no_password else _read_password(password_stdin)
    _change_account(username, lambda session, account: change_password(session, account, password))
    click.echo(f"account {username}: password changed, its sessions ended", err=True)


@account.command("role", help="Give an account another role or scope; its sessions end.")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["operator", "ap_operator", "org_admin"]))
@click.option("--scope", "scope", default=None, help="Id of the AP operator or organisation the account may manage.")
def account_role(username: str, role: str, scope: str | None) -> None:
    from app.operations.accounts import change_role

    scope_id = _scope_id(scope)
    _change_account(username, lambda session, account: change_role(session, account, role, scope_id))
    click.echo(f"account {username} is now {role}", err=True)


@account.command("disable", help="Refuse every login of an account and end its sessions at once.")
@click.option("--username", required=True)
def account_disable(username: str) -> None:
    from app.operations.accounts import set_disabled

    _change_account(username, lambda session, account: set_disabled(session, account, True))
    click.echo(f"account {username} disabled, its sessions ended", err=True)


@account.command("enable", help="Let a disabled account log in again.")
@click.option("--username", required=True)
def account_enable(username: str) -> None:
    from app.operations.accounts import set_disabled

    _change_account(username, lambda session, account: set_disabled(session, account, False))
    click.echo(f"account {username} enabled", err=True)


def _scope_id(scope: str | None) -> uuid.UUID | None:
    import uuid

    try:
        return uuid.UUID(scope) if scope else None
    except ValueError:
        fail(f"--scope {scope!r} is not an id")
