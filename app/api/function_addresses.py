"""``/api/v1/organisations/{id}/function-addresses``: the function mailboxes of an organisation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.common import (
    Blueprint,
    PageArgs,
    Schema,
    etag,
    expected_version,
    identifier,
    page_schema,
    paginate,
    sort_field,
    text,
)
from app.auth import rules
from app.auth.context import current_actor
from app.extensions import current_database
from app.operations import function_addresses as operations
from app.operations.checks import KEYWORD_MAX, KEYWORDS_MAX, get_or_not_found
from app.operations.function_addresses import FunctionAddressInput
from app.registry.errors import NotFound
from app.registry.models import DESCRIPTION_MAX, NAME_MAX, FunctionAddress, Organisation

blp = Blueprint(
    "function_addresses",
    __name__,
    url_prefix="/api/v1/organisations/<uuid:organisation_id>/function-addresses",
    description="Function addresses (funktionsadresser)",
)


class FunctionAddressSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    organisation = ma.fields.UUID(dump_only=True)
    identifier = ma.fields.String(dump_only=True, metadata={"example": "sdk:inkorg:0203:exempel.se"})
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True, allow_none=True)
    categories = ma.fields.List(ma.fields.UUID(), dump_only=True)
    keywords = ma.fields.List(ma.fields.String(), dump_only=True)
    status = ma.fields.String(dump_only=True, metadata={"enum": ["active", "inactive"]})
    created_at = ma.fields.DateTime(data_key="createdAt", dump_only=True)
    updated_at = ma.fields.DateTime(data_key="updatedAt", dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class FunctionAddressCreateSchema(Schema):
    identifier = identifier(required=True, metadata={"example": "sdk:registrator:0203:exempel.se"})
    name = text(NAME_MAX, nonblank=True, required=True, metadata={"example": "Registrator"})
    description = text(DESCRIPTION_MAX, nonblank=False, multiline=True, allow_none=True, load_default=None)
    categories = ma.fields.List(ma.fields.UUID(), load_default=list, metadata={"description": "code ids"})
    keywords = ma.fields.List(text(KEYWORD_MAX, nonblank=True), load_default=list, metadata={"maxItems": KEYWORDS_MAX})


class FunctionAddressPatchSchema(Schema):
    identifier = identifier()
    name = text(NAME_MAX, nonblank=True)
    description = text(DESCRIPTION_MAX, nonblank=False, multiline=True, allow_none=True)
    categories = ma.fields.List(ma.fields.UUID())
    keywords = ma.fields.List(text(KEYWORD_MAX, nonblank=True), metadata={"maxItems": KEYWORDS_MAX})
    organisation = ma.fields.UUID(metadata={"description": "move within the same participant organisation"})
    status = ma.fields.String(validate=ma.validate.OneOf(["active", "inactive"]))


class FunctionAddressFilterSchema(PageArgs):
    sort = sort_field("name", "identifier", "createdAt", "updatedAt")
    identifier = ma.fields.String(load_default=None)
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["active", "inactive"]))


FunctionAddressPage = page_schema(FunctionAddressSchema, "FunctionAddressPage")
SORTABLE = {
    "name": FunctionAddress.name,
    "identifier": FunctionAddress.identifier_folded,
    "createdAt": FunctionAddress.created_at,
    "updatedAt": FunctionAddress.updated_at,
}


def _dump(address: FunctionAddress) -> dict[str, Any]:
    return {
        "id": address.id,
        "organisation": address.organisation_id,
        "identifier": address.identifier,
        "name": address.name,
        "description": address.description,
        "categories": [code.id for code in address.categories],
        "keywords": address.keywords or [],
        "status": address.status,
        "created_at": address.created_at,
        "updated_at": address.updated_at,
        "version": address.version,
    }


def _respond(address: FunctionAddress, status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    headers = {"ETag": etag(address)}
    if status == 201:
        headers["Location"] = f"/api/v1/organisations/{address.organisation_id}/function-addresses/{address.id}"
    return _dump(address), status, headers


def _address(session: Session, organisation_id: uuid.UUID, address_id: uuid.UUID) -> FunctionAddress:
    address = get_or_not_found(session, FunctionAddress, address_id, "function address")
    if address.organisation_id != organisation_id:
        raise NotFound(f"function address {address_id} is not in organisation {organisation_id}")
    return address


@blp.route("")
class FunctionAddresses(MethodView):
    @blp.arguments(FunctionAddressFilterSchema, location="query")
    @blp.response(200, FunctionAddressPage)
    @blp.doc(summary="List an organisation's function addresses")
    def get(self, args: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        actor = current_actor()
        with current_database().reader() as session:
            organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
            rules.require_read_organisation(actor, organisation)
            query = select(FunctionAddress).where(FunctionAddress.organisation_id == organisation.id)
            if args["identifier"]:
                query = query.where(FunctionAddress.identifier_folded == args["identifier"].strip().lower())
            if args["status"]:
                query = query.where(FunctionAddress.status == args["status"])
            page = paginate(session, query, args, SORTABLE, FunctionAddress.name)
            page["items"] = [_dump(a) for a in page["items"]]
            return page

    @blp.arguments(FunctionAddressCreateSchema)
    @blp.response(201, FunctionAddressSchema)
    @blp.alt_response(409, response="CONFLICT", description="The identifier exists (case-insensitively)")
    @blp.doc(summary="Create a function address (visible in the directory at once)")
    def post(self, data: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        actor = current_actor()
        with current_database().writer() as session:
            organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
            rules.require_directory_write(actor, organisation)
            address = operations.create_function_address(session, actor, organisation.id, FunctionAddressInput(**data))
            return _respond(address, 201)


@blp.route("/<uuid:address_id>")
class FunctionAddressItem(MethodView):
    @blp.response(200, FunctionAddressSchema)
    @blp.doc(summary="Read one function address")
    def get(self, organisation_id: uuid.UUID, address_id: uuid.UUID) -> Any:
        actor = current_actor()
        with current_database().reader() as session:
            address = _address(session, organisation_id, address_id)
            rules.require_read_organisation(actor, address.organisation)
            return _respond(address)

    @blp.arguments(FunctionAddressPatchSchema)
    @blp.response(200, FunctionAddressSchema)
    @blp.alt_response(412, response="PRECONDITION_FAILED", description="If-Match does not name the current version")
    @blp.alt_response(428, response="PRECONDITION_REQUIRED", description="If-Match is missing")
    @blp.doc(summary="Change a function address (send If-Match); status inactive hides it from the directory")
    def patch(self, changes: dict[str, Any], organisation_id: uuid.UUID, address_id: uuid.UUID) -> Any:
        actor = current_actor()
        version = expected_version()
        with current_database().writer() as session:
            address = _address(session, organisation_id, address_id)
            rules.require_directory_write(actor, address.organisation)
            target = session.get(Organisation, changes["organisation"]) if changes.get("organisation") else None
            if target is not None:  # an unknown one is the use case's 422
                rules.require_reference(actor, "organisation", target)
            status = changes.pop("status", None)
            if changes:
                address = operations.update_function_address(
                    session, actor, address.id, changes, expected_version=version
                )
                version = None
            if status is not None:
                address = operations.set_active(
                    session, actor, address.id, status == "active", expected_version=version
                )
            return _respond(address)

    @blp.response(204)
    @blp.doc(summary="Deactivate a function address (kept for history, gone from the directory)")
    def delete(self, organisation_id: uuid.UUID, address_id: uuid.UUID) -> Any:
        actor = current_actor()
        version = expected_version()
        with current_database().writer() as session:
            address = _address(session, organisation_id, address_id)
            rules.require_directory_write(actor, address.organisation)
            operations.set_active(session, actor, address.id, False, expected_version=version)


class ImportArgs(Schema):
    dry_run = ma.fields.Boolean(data_key="dryRun", load_default=True, metadata={"description": "only check (default)"})


class RowErrorSchema(Schema):
    row = ma.fields.Integer()
    field = ma.fields.String()
    reason = ma.fields.String()


class ImportResultSchema(Schema):
    rows = ma.fields.Integer()
    created = ma.fields.Integer()
    dry_run = ma.fields.Boolean(data_key="dryRun")
    errors = ma.fields.List(ma.fields.Nested(RowErrorSchema))


class ExportArgs(Schema):
    format = ma.fields.String(load_default="csv", validate=ma.validate.OneOf(["csv", "json"]))


_IMPORT_BODY = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": "identifier,name,description,categories,keywords\n"
            "sdk:ekonomi:0203:exempel.se,Ekonomi,,,faktura;lön\n",
        },
        "application/json": {
            "schema": {"type": "array", "items": {"type": "object"}},
            "example": [{"identifier": "sdk:ekonomi:0203:exempel.se", "name": "Ekonomi"}],
        },
    },
}


@blp.route("/import")
class FunctionAddressImport(MethodView):
    @blp.arguments(ImportArgs, location="query")
    @blp.response(200, ImportResultSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Some rows are invalid: nothing was imported")
    @blp.doc(
        summary="Import function addresses from CSV or JSON: dryRun reports per-row errors; an apply is all or nothing",
        requestBody=_IMPORT_BODY,
    )
    def post(self, args: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        from flask import request

        from app.operations.function_address_import import import_function_addresses, read_csv_bytes, read_json
        from app.problems import problem

        actor = current_actor()
        with current_database().writer() as session:
            organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
            rules.require_directory_write(actor, organisation)
            rows = read_csv_bytes(request.stream) if request.mimetype == "text/csv" else read_json(request.get_data())
            result = import_function_addresses(session, actor, organisation.id, rows, dry_run=args["dry_run"])
            if result.errors and not result.dry_run:
                session.rollback()
                errors = [{"field": f"rows[{e.row}].{e.field}", "reason": e.reason} for e in result.errors[:1000]]
                detail = f"{len(result.errors)} problems in {result.rows} rows; nothing was imported"
                return problem(422, "import-rejected", "Unprocessable Content", detail, errors=errors)
            return {
                "rows": result.rows,
                "created": result.created,
                "dry_run": result.dry_run,
                "errors": [e.__dict__ for e in result.errors],
            }


@blp.route("/export")
class FunctionAddressExport(MethodView):
    @blp.arguments(ExportArgs, location="query")
    @blp.response(200, description="CSV (text/csv) or JSON (application/json), streamed")
    @blp.doc(summary="Export the organisation's function addresses (the import format plus status), streamed")
    def get(self, args: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        from flask import Response, stream_with_context

        from app.operations.function_address_import import export_csv, export_json, export_rows

        actor = current_actor()
        database = current_database()
        with database.reader() as session:
            organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
            rules.require_read_organisation(actor, organisation)

        def generate() -> Iterator[str]:
            with database.reader() as session:
                rows = export_rows(session, organisation_id)
                yield from (export_csv(rows) if args["format"] == "csv" else export_json(rows))

        content_type = "text/csv; charset=utf-8" if args["format"] == "csv" else "application/json"
        filename = f"function-addresses-{organisation_id}.{args['format']}"
        return Response(
            stream_with_context(generate()),
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
