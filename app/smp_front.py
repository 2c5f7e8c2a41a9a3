"""The SMP read interface in front of Flask: a thin WSGI layer, so the hot path skips the framework.

Everything under ``SDK_SMP_PATH`` is answered here from :class:`SmpReader` (stored bytes, cache,
conditional requests); everything else goes on to the Flask app. The request log line is the same.

The classic Peppol form is answered too: a client that followed a participant's ``B-{md5}`` CNAME asks
``http://B-{md5}.{scheme}.{zone}/{participant}`` (and ``…/services/{document}``) at the host root, with
no room for a base path. A path whose first segment is a participant identifier
(``iso6523-actorid-upis::…``, in any case, ``::`` raw or encoded) is such a request, whatever the host;
it is answered in the Peppol flavour, which is what those clients read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from app.database import Database
from app.identifiers import PARTICIPANT_SCHEME
from app.problems import problem_body
from app.publishing.flavours import PEPPOL
from app.publishing.publisher import Publisher
from app.publishing.reader import SmpReader
from app.requestlog import inbound_request_id, log_request
from app.settings import Settings

logger = logging.getLogger("sdk_addressbook.smp")
_PROBLEM = "application/problem+json"
#: The start of a host-root request of a classic (CNAME) client, as PATH_INFO has it (percent-decoded).
_CLASSIC_FORM = f"{PARTICIPANT_SCHEME}::"


class SmpFront:
    def __init__(self, app: Callable[..., Any], reader: SmpReader, prefix: str) -> None:
        self.app = app
        self.reader = reader
        self.prefix = prefix + "/"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path_info = environ.get("PATH_INFO", "")
        if path_info.startswith(self.prefix):
            root, flavour_prefix = environ.get("SCRIPT_NAME", "") + self.prefix, ""
        elif path_info[1:].lower().startswith(_CLASSIC_FORM):
            root, flavour_prefix = environ.get("SCRIPT_NAME", "") + "/", f"{PEPPOL.url_prefix}/"
        else:
            passed: Iterable[bytes] = self.app(environ, start_response)
            return passed
        started = time.perf_counter()
        request_id = inbound_request_id(environ.get("HTTP_X_REQUEST_ID"))
        method = environ.get("REQUEST_METHOD", "GET")
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path_info  # PATH_INFO is already decoded
        raw = raw.split("?", 1)[0]
        if "://" in raw[:12]:  # absolute-form request target (RFC 9112 §3.2.2)
            raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
        if method not in ("GET", "HEAD"):
            status, headers, body = _problem("405 Method Not Allowed", "method-not-allowed", "SMP is read-only")
            headers.append(("Allow", "GET, HEAD"))
        elif not raw.startswith(root):
            status, headers, body = _problem("404 Not Found", "not-found", "no SMP resource has this path")
        else:
            try:
                answer = self.reader.answer(
                    flavour_prefix + raw[len(root) :],
                    if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
                    if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
                )
                status, headers, body = answer.status, answer.headers, answer.body
            except SQLAlchemyError:
                logger.exception("SMP lookup failed", extra={"fields": {"request_id": request_id}})
                status, headers, body = _problem("503 Service Unavailable", "unavailable", "try again shortly")
                headers.append(("Retry-After", "5"))
        headers.append(("X-Request-ID", request_id))
        start_response(status, headers)
        log_request(request_id, method, path_info, int(status[:3]), started, environ.get("REMOTE_ADDR"), len(body))
        return [b""] if method == "HEAD" else [body]


def _problem(status: str, kind: str, detail: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = problem_body(int(status[:3]), kind, status[4:], detail)
    return status, [("Content-Type", _PROBLEM), ("Content-Length", str(len(body)))], body


def init_app(app: Flask, settings: Settings, database: Database) -> None:
    """The SMP front on a wired database (:func:`app.wiring.wire`): it reads through the database's cache."""
    if database.wiring is None:
        raise RuntimeError("wire the database first (app.wiring.open_database)")
    reader = SmpReader(settings, database.engine, cache=database.publication_cache)
    app.extensions["sdk.publisher"] = database.wiring.publisher
    app.extensions["sdk.smp_reader"] = reader
    app.wsgi_app = SmpFront(app.wsgi_app, reader, settings.smp_path)  # type: ignore[method-assign]  # WSGI middleware


def current_publisher(app: Flask) -> Publisher:
    publisher: Publisher = app.extensions["sdk.publisher"]
    return publisher
