"""RFC 9457 problem details: every HTTP error of the service is ``application/problem+json``."""

from __future__ import annotations

import json

from flask import Response

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:sdk-addressbook:problem:"


def problem_body(
    status: int, kind: str, title: str, detail: str | None = None, *, errors: list[dict[str, str]] | None = None
) -> bytes:
    body: dict[str, object] = {"type": TYPE_PREFIX + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def problem(
    status: int,
    kind: str,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = problem_body(status, kind, title, detail, errors=errors)
    response = Response(body, status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
