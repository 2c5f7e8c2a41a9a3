"""``/api/v1/pending-changes``: gated changes awaiting the federation operator's decision."""

from __future__ import annotations

import json
import uuid
from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from sqlalchemy import select

from app.api.common import Blueprint, NoBodySchema, PageArgs, RejectionSchema, Schema, page_schema, paginate, sort_field
from app.audit import Actor
from app.auth import rules
from app.auth.context import current_actor
from app.extensions import current_database
from app.operations import pending_changes
from app.operations.checks import get_or_not_found
from app.registry.models import (
    PENDING_CHANGE_KINDS,
    PENDING_CHANGE_STATUSES,
    PendingChange,
)

blp = Blueprint(
    "pending_changes",
    __name__,
    url_prefix="/api/v1/pending-changes",
    description="Gated changes: new document types and O2O certificate changes of approved participants",
)


class PendingChangeSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    organisation = ma.fields.UUID(dump_only=True, attribute="organisation_id")
    kind = ma.fields.String(dump_only=True, metadata={"enum": list(PENDING_CHANGE_KINDS)})
    payload = ma.fields.Dict(dump_only=True)
    status = ma.fields.String(dump_only=True, metadata={"enum": list(PENDING_CHANGE_STATUSES)})
    reason = ma.fields.String(dump_only=True, allow_none=True)
    requested_by = ma.fields.String(data_key="requestedBy", dump_only=True)
    decided_by = ma.fields.String(data_key="decidedBy", dump_only=True, allow_none=True)
    decided_at = ma.fields.DateTime(data_key="decidedAt", dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(data_key="createdAt", dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class PendingFilterSchema(PageArgs):
    status = ma.fields.String(load_default="pending", validate=ma.validate.OneOf(list(PENDING_CHANGE_STATUSES)))
    organisation = ma.fields.UUID(load_default=None)
    sort = sort_field("createdAt")


PendingPage = page_schema(PendingChangeSchema, "PendingChangePage")


def pending_response(change: PendingChange) -> Response:
    """202 Accepted: the change is recorded and awaits the federation operator."""
    body = json.dumps(PendingChangeSchema().dump(change), ensure_ascii=False)
    return Response(
        body, status=202, content_type="application/json", headers={"Location": f"/api/v1/pending-changes/{change.id}"}
    )


def _readable(actor: Actor, change: PendingChange) -> None:
    rules.require_read_organisation(actor, change.organisation)


@blp.route("")
class PendingChanges(MethodView):
    @blp.arguments(PendingFilterSchema, location="query")
    @blp.response(200, PendingPage)
    @blp.doc(summary="List gated changes (default: those awaiting a decision)")
    def get(self, args: dict[str, Any]) -> Any:
        actor = current_actor()
        query = select(PendingChange).where(PendingChange.status == args["status"])
        if args["organisation"]:
            query = query.where(PendingChange.organisation_id == args["organisation"])
        query = rules.pending_changes_readable(query, actor)
        with current_database().reader() as session:
            return paginate(session, query, args, {"createdAt": PendingChange.created_at}, PendingChange.created_at)


@blp.route("/<uuid:change_id>")
class PendingChangeItem(MethodView):
    @blp.response(200, PendingChangeSchema)
    @blp.doc(summary="Read one gated change")
    def get(self, change_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            change = get_or_not_found(session, PendingChange, change_id, "pending change")
            _readable(current_actor(), change)
            return change


@blp.route("/<uuid:change_id>/approve")
class ApprovePendingChange(MethodView):
    @blp.arguments(NoBodySchema, required=False)
    @blp.response(200, PendingChangeSchema)
    @blp.alt_response(409, response="CONFLICT", description="Already decided")
    @blp.doc(summary="Approve: the change is applied and published at once (federation operator)")
    def post(self, _data: dict[str, Any], change_id: uuid.UUID) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        with current_database().writer() as session:
            return pending_changes.approve(session, actor, change_id)


@blp.route("/<uuid:change_id>/reject")
class RejectPendingChange(MethodView):
    @blp.arguments(RejectionSchema)
    @blp.response(200, PendingChangeSchema)
    @blp.alt_response(409, response="CONFLICT", description="Already decided")
    @blp.doc(summary="Reject with a reason: the publication stays as it was (federation operator)")
    def post(self, data: dict[str, Any], change_id: uuid.UUID) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        with current_database().writer() as session:
            return pending_changes.reject(session, actor, change_id, reason=data["reason"])
