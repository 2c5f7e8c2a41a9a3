"""How large a request body may be: ``SDK_MAX_REQUEST_BYTES``, more (``SDK_MAX_IMPORT_BYTES``) for imports and
(``SDK_SML_MAX_REQUEST_BYTES``) for the SML's SOAP interface, whose lists of participants are long.

A declared length over the limit is answered 413 before anything is read; a body without a length
(chunked) is cut off at the limit while it is read (Werkzeug's limited stream), also with 413.
"""

from __future__ import annotations

from flask import Flask, abort, request

from app.settings import Settings


def _limit(settings: Settings) -> int:
    if request.path.startswith("/sml/"):
        return settings.sml_max_request_bytes
    importing = request.path.endswith("/import") and request.method == "POST"
    return settings.max_import_bytes if importing else settings.max_request_bytes


def init_app(app: Flask, settings: Settings) -> None:
    @app.before_request
    def limit_body() -> None:
        limit = _limit(settings)
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            abort(413, description=f"the body is {request.content_length} bytes; at most {limit} are accepted here")
