"""``/api/v1/code-systems``, ``/tokens``, ``/audit-events``: the federation operator's housekeeping."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.api.common import Blueprint, PageArgs, Schema, etag, expected_version, page_schema, paginate, sort_field, text
from app.audit.reading import readable_events
from app.auth import rules
from app.auth.context import current_actor
from app.extensions import current_database
from app.operations import code_systems, credentials
from app.operations.checks import get_or_not_found
from app.registry.models import DESCRIPTION_MAX, NAME_MAX, AuditEvent, Code, CodeSystem, Credential

blp = Blueprint("administration", __name__, url_prefix="/api/v1", description="Code systems, API tokens, audit trail")


class CodeSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    code = text(128, nonblank=True, required=True, metadata={"example": "registrator"})
    display_name = text(NAME_MAX, nonblank=True, data_key="displayName", required=True)
    description = text(DESCRIPTION_MAX, nonblank=False, multiline=True, allow_none=True, load_default=None)


class CodeSystemSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    identifier = text(255, nonblank=True, required=True, metadata={"example": "urn:sdk:kodverk:funktionskategori"})
    name = text(NAME_MAX, nonblank=True, required=True)
    description = text(DESCRIPTION_MAX, nonblank=False, multiline=True, allow_none=True, load_default=None)
    version = text(64, nonblank=False, allow_none=True, load_default=None, attribute="code_system_version")
    codes = ma.fields.List(ma.fields.Nested(CodeSchema), dump_only=True)


class TokenCreateSchema(Schema):
    name = text(NAME_MAX, nonblank=True, required=True)
    role = ma.fields.String(required=True, metadata={"enum": ["operator", "ap_operator", "org_admin"]})
    scope = ma.fields.UUID(allow_none=True, load_default=None)
    expires_at = ma.fields.AwareDateTime(data_key="expiresAt", allow_none=True, load_default=None)


class TokenSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True)
    scope = ma.fields.UUID(dump_only=True, attribute="scope_id", allow_none=True)
    prefix = ma.fields.String(dump_only=True, attribute="token_prefix")
    created_at = ma.fields.DateTime(data_key="createdAt", dump_only=True)
    expires_at = ma.fields.DateTime(data_key="expiresAt", dump_only=True, allow_none=True)
    revoked_at = ma.fields.DateTime(data_key="revokedAt", dump_only=True, allow_none=True)
    last_used_at = ma.fields.DateTime(data_key="lastUsedAt", dump_only=True, allow_none=True)
    version = ma.fields.Integer(dump_only=True, metadata={"description": "what If-Match names to revoke it"})


class IssuedTokenSchema(TokenSchema):
    token = ma.fields.String(dump_only=True, metadata={"description": "shown once; only its hash is stored"})


class AuditEventSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    occurred_at = ma.fields.DateTime(data_key="occurredAt", dump_only=True)
    actor = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True)
    action = ma.fields.String(dump_only=True)
    entity_type = ma.fields.String(data_key="entityType", dump_only=True)
    entity_id = ma.fields.String(data_key="entityId", dump_only=True)
    organisation_id = ma.fields.UUID(data_key="organisation", dump_only=True, allow_none=True)
    also_visible_to = ma.fields.List(
        ma.fields.UUID(),
        data_key="alsoVisibleTo",
        dump_only=True,
        metadata={"description": "other organisations and AP operators the event concerns (e.g. the side a move left)"},
    )
    before = ma.fields.Dict(dump_only=True, allow_none=True)
    after = ma.fields.Dict(dump_only=True, allow_none=True)
    request_id = ma.fields.String(data_key="requestId", dump_only=True, allow_none=True)
    hash = ma.fields.String(dump_only=True)


class AuditFilterSchema(PageArgs):
    sort = sort_field("occurredAt")
    entity_type = ma.fields.String(data_key="entityType", load_default=None)
    entity_id = ma.fields.String(data_key="entityId", load_default=None)
    actor = ma.fields.String(load_default=None)
    action = ma.fields.String(load_default=None)
    since = ma.fields.AwareDateTime(load_default=None)
    until = ma.fields.AwareDateTime(load_default=None)


AuditPage = page_schema(AuditEventSchema, "AuditEventPage")


def _code_system(system: CodeSystem, codes: list[Any] | None = None) -> dict[str, Any]:
    """Attribute-named data for the response schema to serialise (while the session is open)."""
    return {
        "id": system.id,
        "identifier": system.identifier,
        "name": system.name,
        "description": system.description,
        "code_system_version": system.code_system_version,
        "codes": [
            {"id": c.id, "code": c.code, "display_name": c.display_name, "description": c.description}
            for c in (system.codes if codes is None else codes)
        ],
    }


@blp.route("/code-systems")
class CodeSystems(MethodView):
    @blp.response(200, CodeSystemSchema(many=True))
    @blp.doc(summary="List code systems and their codes")
    def get(self) -> Any:
        current_actor()
        with current_database().reader() as session:
            query = select(CodeSystem).options(selectinload(CodeSystem.codes)).order_by(CodeSystem.identifier)
            return [_code_system(system) for system in session.scalars(query)]

    @blp.arguments(CodeSystemSchema)
    @blp.response(201, CodeSystemSchema)
    @blp.doc(summary="Create a code system (federation operator)")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        with current_database().writer() as session:
            system = code_systems.create_code_system(session, actor, version=data.pop("code_system_version"), **data)
            return (
                _code_system(system, codes=[]),
                201,
                {"ETag": etag(system), "Location": f"/api/v1/code-systems/{system.id}"},
            )


@blp.route("/code-systems/<uuid:system_id>/codes")
class Codes(MethodView):
    @blp.arguments(CodeSchema)
    @blp.response(201, CodeSchema)
    @blp.doc(summary="Add a code (federation operator)")
    def post(self, data: dict[str, Any], system_id: uuid.UUID) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        with current_database().writer() as session:
            code = code_systems.add_code(session, actor, system_id, **data)
            return code, 201, {"ETag": etag(code)}


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.response(200, TokenSchema(many=True))
    @blp.doc(summary="List API tokens (federation operator; the tokens themselves are never shown again)")
    def get(self) -> Any:
        rules.require_operator(current_actor())
        with current_database().reader() as session:
            return list(session.scalars(select(Credential).order_by(Credential.created_at)))

    @blp.arguments(TokenCreateSchema)
    @blp.response(201, IssuedTokenSchema)
    @blp.doc(summary="Create an API token; the response is the only place it is shown")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        with current_database().writer() as session:
            issued = credentials.issue_token(
                session,
                actor,
                name=data["name"],
                role=data["role"],
                scope_id=data["scope"],
                expires_at=data["expires_at"],
            )
            body = IssuedTokenSchema().dump(issued.credential) | {"token": issued.token}
            return body, 201, {"Location": f"/api/v1/tokens/{issued.credential.id}", "Cache-Control": "no-store"}


@blp.route("/tokens/<uuid:token_id>")
class TokenItem(MethodView):
    @blp.response(204)
    @blp.doc(summary="Revoke a token (takes effect at once; send If-Match like every DELETE)")
    def delete(self, token_id: uuid.UUID) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        version = expected_version()
        with current_database().writer() as session:
            credentials.revoke_token(session, actor, token_id, expected_version=version)


@blp.route("/audit-events")
class AuditEvents(MethodView):
    @blp.arguments(AuditFilterSchema, location="query")
    @blp.response(200, AuditPage)
    @blp.doc(summary="Read the audit trail (an organisation admin sees its own organisation's events)")
    def get(self, args: dict[str, Any]) -> Any:
        query = readable_events(current_actor(), args)
        with current_database().reader() as session:
            return paginate(session, query, args, {"occurredAt": AuditEvent.id}, AuditEvent.id.desc())


class AuditHeadSchema(Schema):
    sequence = ma.fields.Integer(dump_only=True, metadata={"description": "the newest event's id (0: none yet)"})
    hash = ma.fields.String(dump_only=True)
    taken_at = ma.fields.String(data_key="takenAt", dump_only=True)
    signature = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "base64, by the SMP signing key, over {hash, sequence, takenAt}"},
    )


@blp.route("/audit-events/head")
class AuditHead(MethodView):
    @blp.response(200, AuditHeadSchema)
    @blp.doc(
        summary="The audit chain's newest event, signed: keep it elsewhere; `audit verify --checkpoint` checks "
        "the chain still reaches it (federation operator)"
    )
    def get(self) -> Any:
        from flask import current_app

        from app.audit.checkpoint import head, sign
        from app.publishing.keys import SigningKeyError
        from app.smp_front import current_publisher

        rules.require_operator(current_actor())
        with current_database().reader() as session:
            checkpoint = head(session)
        # Unsigned (signature null) without a usable key: /readyz and doctor already say so.
        with contextlib.suppress(SigningKeyError):
            checkpoint = sign(checkpoint, current_publisher(current_app).signer.credentials.key)
        return {
            "sequence": checkpoint.sequence,
            "hash": checkpoint.hash,
            "taken_at": checkpoint.taken_at,
            "signature": checkpoint.signature,
        }


__all__ = ["Code", "blp", "get_or_not_found"]
