"""The directory's HTTP answers: JSON:API documents with a strong ETag, and JSON:API errors."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Request, Response

from app.directory.jsonapi import MEDIA_TYPE
from app.problems import json_bytes


def respond(request: Request, document: dict[str, Any], status: int = 200) -> Response:
    """Serialise with a strong ETag of the bytes; ``If-None-Match`` that matches is 304."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if status == 200 and tag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
        return Response(status=304, headers=headers)
    return Response(body, status=status, content_type=MEDIA_TYPE, headers=headers)


def error(
    status: int,
    title: str,
    detail: str,
    *,
    parameter: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    item: dict[str, Any] = {"status": str(status), "title": title, "detail": detail}
    if code is not None:
        item["code"] = code
    if parameter is not None:
        item["source"] = {"parameter": parameter}
    body = json_bytes({"errors": [item]})
    return Response(
        body, status=status, content_type=MEDIA_TYPE, headers={"Cache-Control": "no-store", **(headers or {})}
    )
