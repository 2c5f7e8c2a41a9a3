"""The management REST API under ``/api/v1`` (flask-smorest), its OpenAPI document and UI."""

from __future__ import annotations

import http
from pathlib import Path
from typing import Any

import marshmallow as ma
from flask import Flask, Response, abort, request, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from app.api import (
    access_points,
    administration,
    errors,
    function_addresses,
    organisations,
    participant_data,
    pending_changes,
    smps,
    status,
    trust_anchors,
)
from app.api.common import IF_MATCH_PARAMETER
from app.auth.context import current_actor
from app.directory import openapi as directory_openapi

WRITE_METHODS = {"POST", "PUT", "PATCH"}
JSON_TYPES = {"application/json", "application/merge-patch+json"}


class FieldProblemSchema(ma.Schema):
    field = ma.fields.String(required=True, metadata={"example": "name"})
    reason = ma.fields.String(required=True, metadata={"example": "must be at most 256 characters (got 300)"})


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; ``type`` is stable, ``errors`` names each field and the reason."""

    type = ma.fields.String(required=True, metadata={"example": "urn:sdk-addressbook:problem:validation"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    errors = ma.fields.List(ma.fields.Nested(FieldProblemSchema))


class ManagementApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        return errors.http_error(error)

    def _register_responses(self) -> None:
        """Document every error as what it is: application/problem+json."""
        for http_status in http.HTTPStatus:
            response: dict[str, Any] = {"description": http_status.phrase}
            if not (100 <= http_status < 200) and http_status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_CONTENT_TYPE)
            self.spec.components.response(http_status.name, response, lazy=True)
        default: dict[str, Any] = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, errors.PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def openapi_settings() -> dict[str, Any]:
    return {
        "API_TITLE": "SDK Address Book",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "api/docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/static/",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": (
                    "Management API of the SDK Address Book. Authenticate with `Authorization: Bearer <token>`. "
                    "Errors are `application/problem+json` with a stable `type` and one `{field, reason}` per "
                    "problem. Every resource carries an ETag; PUT, PATCH and DELETE need `If-Match`."
                )
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    }


def _declare_preconditions(spec: Any) -> None:
    """Every PUT, PATCH and DELETE needs If-Match (``common.expected_version``): say so in each operation."""
    for path, operations in spec._paths.items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method in ("put", "patch", "delete"):
                operation.setdefault("parameters", []).append(IF_MATCH_PARAMETER)
                responses = operation.setdefault("responses", {})
                responses.setdefault("412", {"$ref": "#/components/responses/PRECONDITION_FAILED"})
                responses.setdefault("428", {"$ref": "#/components/responses/PRECONDITION_REQUIRED"})


def _has_body() -> bool:
    """Whether the request carries a body: an action sent as ``curl -X POST`` (no body, no type) is not refused."""
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def init_app(app: Flask) -> ManagementApi:
    app.config.update(openapi_settings())
    api = ManagementApi(app)
    for module in (
        organisations,
        function_addresses,
        participant_data,
        pending_changes,
        access_points,
        administration,
        smps,
        status,
        trust_anchors,
    ):
        api.register_blueprint(module.blp)
    _declare_preconditions(api.spec)
    directory_openapi.document(api.spec)
    errors.init_app(app)

    @app.before_request
    def authenticate() -> None:
        """Who is asking is settled before the body is parsed: no token means 401, whatever was sent."""
        if request.path.startswith("/api/v1/"):
            current_actor()

    @app.before_request
    def require_json() -> None:
        writing = request.path.startswith("/api/v1/") and request.method in WRITE_METHODS
        accepted = JSON_TYPES | ({"text/csv"} if request.path.endswith("/import") else set())
        if writing and request.mimetype not in accepted and _has_body():
            abort(415, description=f"send the body as {' or '.join(sorted(accepted))}")

    import swagger_ui_bundle

    static = Path(swagger_ui_bundle.swagger_ui_path)

    @app.get("/api/docs/static/<path:filename>")
    def swagger_static(filename: str) -> Response:
        return send_from_directory(static, filename)

    return api
