"""Every error of the management API as ``application/problem+json`` with a stable ``type``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from app.api.common import MalformedIfMatch, PreconditionFailed, PreconditionRequired
from app.auth.context import Unauthenticated
from app.auth.rules import Forbidden
from app.problems import problem
from app.registry.errors import (
    Conflict,
    InUse,
    InvalidTransition,
    NotFound,
    RegistryError,
    ValidationFailed,
    VersionMismatch,
)

logger = logging.getLogger("sdk_addressbook.api")
PROBLEM_CONTENT_TYPE = "application/problem+json"

_STATUS = {
    ValidationFailed: 422,
    NotFound: 404,
    Conflict: 409,
    InvalidTransition: 409,
    InUse: 409,
    VersionMismatch: 412,
}


def registry_error(error: RegistryError) -> Response:
    status = next((code for kind, code in _STATUS.items() if isinstance(error, kind)), 400)
    errors = None
    if isinstance(error, ValidationFailed):
        errors = [{"field": e.field, "reason": e.reason} for e in error.errors]
    elif isinstance(error, Conflict) and error.field:
        errors = [{"field": error.field, "reason": str(error)}]
    return problem(status, error.kind, _titles.get(status, "Error"), str(error), errors=errors)


_titles = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def _flatten(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """webargs' nested message dict → one {field, reason} per problem."""
    if isinstance(messages, dict):
        result = []
        for key, value in messages.items():
            if key in ("json", "query", "headers", "form", "files") and not prefix:
                result += _flatten(value, "")
            else:
                name = (
                    f"{prefix}.{key}"
                    if prefix and not isinstance(key, int)
                    else (f"{prefix}[{key}]" if prefix else str(key))
                )
                result += _flatten(value, name)
        return result
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"field": prefix or "body", "reason": m} for m in messages]
    if isinstance(messages, list):
        return [item for m in messages for item in _flatten(m, prefix)]
    return [{"field": prefix or "body", "reason": str(messages)}]


def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages is not None:
        errors = _flatten(messages)
        if status == 400:  # webargs: malformed JSON
            return problem(400, "malformed-body", "Bad Request", "the body is not valid JSON", errors=errors)
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem(422, "validation", "Unprocessable Content", detail, errors=errors)
    allowed = getattr(error, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed)} if allowed else None
    kind = {404: "not-found", 405: "method-not-allowed", 413: "too-large", 415: "unsupported-media-type"}.get(
        status, "http-error"
    )
    return problem(status, kind, _titles.get(status, error.name), error.description, headers=headers)


def init_app(app: Flask) -> None:
    app.register_error_handler(RegistryError, registry_error)
    app.register_error_handler(
        Unauthenticated,
        lambda e: problem(
            401,
            "unauthenticated",
            "Unauthorized",
            str(e),
            headers={"WWW-Authenticate": 'Bearer realm="sdk-addressbook"'},
        ),
    )
    app.register_error_handler(Forbidden, lambda e: problem(403, "forbidden", "Forbidden", str(e)))
    app.register_error_handler(
        PreconditionRequired, lambda e: problem(428, "if-match-required", "Precondition Required", str(e))
    )
    app.register_error_handler(MalformedIfMatch, lambda e: problem(400, "malformed-header", "Bad Request", str(e)))
    app.register_error_handler(
        PreconditionFailed, lambda e: problem(412, "version-mismatch", "Precondition Failed", str(e))
    )
    app.register_error_handler(
        StaleDataError,
        lambda e: problem(
            412,
            "version-mismatch",
            "Precondition Failed",
            "someone changed the resource at the same moment; read it again",
        ),
    )

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return http_error(error)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem(
            500,
            "internal",
            "Internal Server Error",
            "something went wrong on our side; the request id helps us find it",
        )
