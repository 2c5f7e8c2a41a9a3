"""Run the WSGI app under gunicorn in this process (the ``serve`` command)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from app.extensions import database_of
from app.settings import Settings


class _Service(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "bind": str(settings.http_listen),
        "workers": settings.http_workers,
        "worker_class": "gthread",
        "threads": settings.http_threads,
        "timeout": settings.http_timeout,
        "graceful_timeout": settings.http_graceful_timeout,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        # gunicorn's own lines in the same one-JSON-object-per-line format as the request log.
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": "app.requestlog.JsonFormatter"}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
            "loggers": {"gunicorn.error": {"handlers": ["console"], "level": settings.log_level, "propagate": False}},
        },
        # The runtime control socket is an extra local attack surface we do not use.
        "control_socket_disable": True,
    }


def run(app: Flask, settings: Settings) -> None:
    def post_fork(_server: Any, _worker: Any) -> None:
        # Pooled connections opened before the fork belong to the parent; each worker opens its own.
        database_of(app).engine.dispose(close=False)

    _Service(app, {**gunicorn_options(settings), "post_fork": post_fork}).run()
