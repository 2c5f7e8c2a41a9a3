"""The web console and public pages (server-rendered Jinja): one blueprint, a module per job."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.settings import Settings


def init_app(app: Flask, settings: Settings) -> None:
    from app.ui import access_points, console, login, oidc, search, security, sml  # noqa: F401  (their pages join the blueprint)
    from app.ui.pages import blp

    security.configure(app, settings)
    oidc.configure(app, settings)
    app.register_blueprint(blp)
