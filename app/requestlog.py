"""Request ids and the structured request log: one JSON object per line, one line per request."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, request

logger = logging.getLogger("sdk_addressbook.request")
_INBOUND_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; ``extra={"fields": {...}}`` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_json_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic announces its context on every readiness check; only its warnings matter at run time.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def inbound_request_id(value: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a sane token, a new random one otherwise."""
    return value if value and _INBOUND_ID.fullmatch(value) else uuid.uuid4().hex


def log_request(
    request_id: str, method: str, path: str, status: int, started: float, remote: str | None, size: int | None
) -> None:
    """The one request log line, for the Flask app and the SMP front alike."""
    if not logger.isEnabledFor(logging.INFO):
        return
    logger.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "fields": {
                "event": "request",
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "remote_addr": remote,
                "bytes": size,
            }
        },
    )


def init_app(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        g.request_id = inbound_request_id(request.headers.get("X-Request-ID"))
        g.request_started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        log_request(
            request_id or "-",
            request.method,
            request.path,
            response.status_code,
            g.get("request_started", time.perf_counter()),
            request.remote_addr,
            response.calculate_content_length(),
        )
        return response
