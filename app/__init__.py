"""SDK Address Book: the address book of a Swedish SDK eDelivery federation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Flask is imported only by what serves HTTP: the discovery client (app.client) runs without it.
    from flask import Flask

    from app.database import Database
    from app.settings import Settings


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    """Build the WSGI application; a bad setting raises SettingsError (one line naming it).

    ``database`` lets tests share one connection pool between several apps; it is wired again with
    ``settings`` (:func:`app.wiring.wire`), as the app's own would be.
    """
    from flask import Flask

    from app import api, cli, extensions, health, limits, metrics, requestlog, ui
    from app import smp_front as smp_views
    from app.directory import views as directory_views
    from app.settings import load_settings
    from app.sml import views as sml_views
    from app.wiring import open_database, wire

    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has it
    database = wire(database, settings) if database is not None else open_database(settings)
    extensions.init_app(app, settings, database)
    requestlog.init_app(app)
    limits.init_app(app, settings)
    health.init_app(app)
    metrics.init_app(app)
    api.init_app(app)
    directory_views.init_app(app, settings)
    smp_views.init_app(app, settings, database)
    sml_views.init_app(app)
    ui.init_app(app, settings)
    cli.register(app)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app
