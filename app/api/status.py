"""``/api/v1/status``: what the federation operator watches (expiring certificates, lag, outbox)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from app import status
from app.api.common import Blueprint, Schema
from app.auth import rules
from app.auth.context import current_actor
from app.extensions import current_database, current_settings
from app.health import signing_certificate

blp = Blueprint("status", __name__, url_prefix="/api/v1/status", description="Federation status for the operator")


class ExpiringCertificateSchema(Schema):
    kind = ma.fields.String(dump_only=True, metadata={"enum": list(status.CERTIFICATE_KINDS)})
    owner = ma.fields.String(dump_only=True, metadata={"example": "0203::kommun.exempel.se"})
    subject = ma.fields.String(dump_only=True)
    not_after = ma.fields.DateTime(data_key="notAfter", dump_only=True)
    days_left = ma.fields.Integer(data_key="daysLeft", dump_only=True, metadata={"description": "negative: expired"})
    expired = ma.fields.Boolean(dump_only=True)


class DnsLagSchema(Schema):
    mode = ma.fields.String(dump_only=True, metadata={"enum": ["embedded", "rfc2136"]})
    outbox_pending = ma.fields.Integer(data_key="outboxPending", dump_only=True)
    oldest_pending_seconds = ma.fields.Float(
        data_key="oldestPendingSeconds", dump_only=True, metadata={"description": "the DNS lag"}
    )
    last_published_at = ma.fields.DateTime(data_key="lastPublishedAt", dump_only=True, allow_none=True)
    publish_errors = ma.fields.Integer(data_key="publishErrors", dump_only=True)
    last_error = ma.fields.String(data_key="lastError", dump_only=True, allow_none=True)
    serial = ma.fields.Integer(dump_only=True)


class PublicationLagSchema(Schema):
    generation = ma.fields.Integer(dump_only=True)
    changed_at = ma.fields.DateTime(data_key="changedAt", dump_only=True, allow_none=True)
    approved_without_documents = ma.fields.Integer(data_key="approvedWithoutDocuments", dump_only=True)
    withdrawn_still_published = ma.fields.Integer(data_key="withdrawnStillPublished", dump_only=True)


class DirectoryLagSchema(Schema):
    backlog = ma.fields.Integer(
        dump_only=True,
        metadata={"description": "function addresses of large imports whose directory entries are not written yet"},
    )
    oldest_backlog_seconds = ma.fields.Float(
        data_key="oldestBacklogSeconds", dump_only=True, metadata={"description": "the directory's lag"}
    )


class SmlClientLagSchema(Schema):
    url = ma.fields.String(dump_only=True, metadata={"description": "SDK_SML_URL"})
    pending = ma.fields.Integer(dump_only=True, metadata={"description": "registration changes not yet taken"})
    oldest_pending_seconds = ma.fields.Float(
        data_key="oldestPendingSeconds", dump_only=True, metadata={"description": "the SML client's lag"}
    )
    errors = ma.fields.Integer(dump_only=True, metadata={"description": "refusals and failures so far"})
    last_error = ma.fields.String(data_key="lastError", dump_only=True, allow_none=True)
    last_error_at = ma.fields.DateTime(data_key="lastErrorAt", dump_only=True, allow_none=True)
    last_applied_at = ma.fields.DateTime(data_key="lastAppliedAt", dump_only=True, allow_none=True)


class SmlStateSchema(Schema):
    smps = ma.fields.Integer(dump_only=True, metadata={"description": "external SMPs registered here"})
    participants = ma.fields.Integer(dump_only=True, metadata={"description": "registrations of every SMP"})
    local_participants = ma.fields.Integer(data_key="localParticipants", dump_only=True)
    open_migrations = ma.fields.Integer(data_key="openMigrations", dump_only=True)
    registered_elsewhere = ma.fields.Integer(
        data_key="registeredElsewhere",
        dump_only=True,
        metadata={"description": "approved organisations whose participant another SMP holds (until migrated)"},
    )
    client = ma.fields.Nested(
        SmlClientLagSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "this SMP under an external SML (null without SDK_SML_URL)"},
    )


class StatusSchema(Schema):
    generated_at = ma.fields.DateTime(data_key="generatedAt", dump_only=True)
    warn_days = ma.fields.Integer(data_key="warnDays", dump_only=True, metadata={"description": "SDK_CERT_WARN_DAYS"})
    certificates = ma.fields.List(ma.fields.Nested(ExpiringCertificateSchema), dump_only=True)
    signing_key = ma.fields.String(data_key="signingKey", dump_only=True)
    dns = ma.fields.Nested(DnsLagSchema, dump_only=True)
    publication = ma.fields.Nested(PublicationLagSchema, dump_only=True)
    directory = ma.fields.Nested(DirectoryLagSchema, dump_only=True)
    sml = ma.fields.Nested(SmlStateSchema, dump_only=True)


@blp.route("")
class FederationStatus(MethodView):
    @blp.response(200, StatusSchema)
    @blp.doc(summary="Certificates expiring within SDK_CERT_WARN_DAYS, publication and DNS lag, outbox depth")
    def get(self) -> Any:
        rules.require_operator(current_actor())
        certificate, problem = signing_certificate()
        with current_database().reader() as session:
            found = status.collect(session, current_settings(), certificate)
        return {**vars(found), "signing_key": problem or "ok"}
