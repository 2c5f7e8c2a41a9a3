"""The faces' way to what the running Flask app holds: its settings and its wired database.

Every face (API, directory, console, CLI, health, metrics) reads the settings with
:func:`current_settings` (or :func:`settings_of` an app) and the database with :func:`current_database`;
the use cases below them get what they need as arguments or from the write session
(:func:`app.database.settings_of`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

from app.database import Database

if TYPE_CHECKING:
    from app.settings import Settings

_DATABASE, _SETTINGS = "sdk.database", "sdk.settings"


def init_app(app: Flask, settings: Settings, database: Database) -> None:
    app.extensions[_SETTINGS] = settings
    app.extensions[_DATABASE] = database


def settings_of(app: Flask) -> Settings:
    settings: Settings = app.extensions[_SETTINGS]
    return settings


def database_of(app: Flask) -> Database:
    database: Database = app.extensions[_DATABASE]
    return database


def current_settings() -> Settings:
    return settings_of(current_app)


def current_database() -> Database:
    return database_of(current_app)
