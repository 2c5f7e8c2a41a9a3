"""``/api/v1/trust-anchors``: CA certificates the federation operator trusts besides those in settings."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from app.api.common import Blueprint, Schema, etag, expected_version
from app.auth import rules
from app.auth.context import current_actor
from app.extensions import current_database
from app.operations import trust_anchors
from app.operations.checks import get_or_not_found
from app.registry.models import TRUST_PURPOSES, TrustAnchor

blp = Blueprint(
    "trust_anchors",
    __name__,
    url_prefix="/api/v1/trust-anchors",
    description="Trust anchors per purpose, added and removed by the federation operator",
)


class TrustAnchorSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    purpose = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(TRUST_PURPOSES),
        metadata={"description": "access-point: AP certificates; o2o: participant certificates; smp: SMP signing"},
    )
    certificate = ma.fields.String(
        required=True,
        load_only=True,
        metadata={"description": "the CA certificate, PEM or base64 DER"},
    )
    certificate_pem = ma.fields.String(data_key="certificatePem", dump_only=True)
    certificate_sha256 = ma.fields.String(data_key="certificateSha256", dump_only=True)
    subject = ma.fields.String(dump_only=True)
    not_after = ma.fields.DateTime(data_key="notAfter", dump_only=True)
    created_at = ma.fields.DateTime(data_key="createdAt", dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class TrustAnchorFilterSchema(Schema):
    purpose = ma.fields.String(load_default=None, validate=ma.validate.OneOf(TRUST_PURPOSES))


@blp.route("")
class TrustAnchors(MethodView):
    @blp.arguments(TrustAnchorFilterSchema, location="query")
    @blp.response(200, TrustAnchorSchema(many=True))
    @blp.doc(summary="List the trust anchors added through the API (those from settings are trusted too)")
    def get(self, args: dict[str, Any]) -> Any:
        current_actor()
        query = select(TrustAnchor).order_by(TrustAnchor.purpose, TrustAnchor.created_at)
        if args["purpose"]:
            query = query.where(TrustAnchor.purpose == args["purpose"])
        with current_database().reader() as session:
            return list(session.scalars(query))

    @blp.arguments(TrustAnchorSchema)
    @blp.response(201, TrustAnchorSchema)
    @blp.doc(summary="Trust a CA for a purpose (federation operator)")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        with current_database().writer() as session:
            anchor = trust_anchors.add_trust_anchor(session, actor, **data)
            return anchor, 201, {"ETag": etag(anchor), "Location": f"/api/v1/trust-anchors/{anchor.id}"}


@blp.route("/<uuid:anchor_id>")
class TrustAnchorItem(MethodView):
    @blp.response(200, TrustAnchorSchema)
    @blp.doc(summary="Read one trust anchor")
    def get(self, anchor_id: uuid.UUID) -> Any:
        current_actor()
        with current_database().reader() as session:
            anchor = get_or_not_found(session, TrustAnchor, anchor_id, "trust anchor")
            return anchor, 200, {"ETag": etag(anchor)}

    @blp.response(204)
    @blp.doc(summary="Stop trusting this CA (federation operator; send If-Match)")
    def delete(self, anchor_id: uuid.UUID) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        version = expected_version()
        with current_database().writer() as session:
            trust_anchors.remove_trust_anchor(session, actor, anchor_id, expected_version=version)
