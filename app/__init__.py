"""SDK Address Book: the address book of a Swedish SDK eDelivery federation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Flask is imported only by what serves HTTP: the discovery client (app.client) runs without it.
    from flask import Flask

    from app.extensions import Database
    from app.settings import Settings


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    """Build the WSGI application; a bad setting raises SettingsError (one line naming it).

    ``database`` lets tests share one connection pool between several apps.
    """
    from flask import Flask

    from app import api, cli, health, limits, metrics, requestlog
    from app.directory import views as directory_views
    from app.extensions import Database
    from app.publishing import views as smp_views
    from app.settings import load_settings
    from app.ui import views as ui_views

    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config["SDK_SETTINGS"] = settings
    app.json.sort_keys = False
    database = database or Database(settings.database_url)
    database.init_app(app)
    requestlog.init_app(app)
    limits.init_app(app, settings)
    health.init_app(app)
    metrics.init_app(app)
    api.init_app(app)
    directory_views.init_app(app, settings)
    smp_views.init_app(app, settings, database)
    ui_views.init_app(app, settings)
    cli.register(app)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app


def current_settings() -> Settings:
    from flask import current_app

    return current_app.config["SDK_SETTINGS"]
