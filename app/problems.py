"""RFC 9457 problem details: every HTTP error of the service is ``application/problem+json``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Response

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:sdk-addressbook:problem:"


def json_bytes(value: object) -> bytes:
    """JSON in UTF-8 for an answer. Text that echoes a client's input may hold a lone surrogate, which
    UTF-8 cannot carry: it goes out as its JSON escape (``\\udcff``), the very code unit the client sent."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace")


def problem_body(
    status: int, kind: str, title: str, detail: str | None = None, *, errors: list[dict[str, str]] | None = None
) -> bytes:
    body: dict[str, object] = {"type": TYPE_PREFIX + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return json_bytes(body)


def problem(
    status: int,
    kind: str,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    from flask import Response  # only the HTTP faces answer with one; the bodies above are plain

    body = problem_body(status, kind, title, detail, errors=errors)
    response = Response(body, status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
