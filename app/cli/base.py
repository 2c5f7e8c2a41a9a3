"""What every command shares: the ``cli`` group, the app it works in, and one-line failures.

Errors are one line on standard error and a non-zero exit: 2 for a bad setting, 1 for anything the
command refuses to do.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from flask import Flask, current_app, has_app_context

from app import create_app
from app.extensions import database_of, settings_of
from app.settings import Settings, SettingsError

EXIT_REFUSED = 1
EXIT_BAD_SETTING = 2


@contextmanager
def application() -> Iterator[Flask]:
    """The running app under ``flask --app app``; otherwise a new one, disposed of when the command ends."""
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    app = create_app()
    try:
        with app.app_context():
            yield app
    finally:
        database_of(app).dispose()


def settings_from(app: Flask) -> Settings:
    return settings_of(app)


def plain_settings() -> Settings:
    """The settings alone, without an app or a database (commands that talk to a service over the network)."""
    from app.settings import load_settings

    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error), EXIT_BAD_SETTING)
        raise  # not reached: _fail exits


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    click.echo(f"sdk-addressbook: {message}", err=True)
    sys.exit(code)


@click.group(help="SDK Address Book: the address book of an SDK eDelivery federation.")
def cli() -> None:
    pass


def display_url(url: str) -> str:
    if url.startswith("sqlite"):
        return url
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user + '@' if at else ''}{host}"
