"""``/api/v1/smps``: the SML's registry of SMPs, their participants and migrations (federation operator).

The REST twin of ``sdk-addressbook sml …``: what an SMP does for itself over SOAP (``/sml/``), the
operator can do here for any SMP, this service's own included (its participants move to and from other
SMPs with migration keys).
"""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from app.api.common import Blueprint, Schema, etag, expected_version, identifier, text
from app.auth import rules
from app.auth.context import current_actor
from app.dns.records import MAX_NAPTR_ADDRESS
from app.extensions import current_database
from app.identifiers import LENIENT_POLICY, IdentifierError, ParticipantId, WrittenParticipant, split_scheme
from app.operations import sml_migrations, sml_participants, smps
from app.operations.checks import get_or_not_found
from app.registry.errors import FieldError, InUse, NotFound, ValidationFailed
from app.registry.models import SmlMigration, Smp
from app.sml.registrations import local_smp

blp = Blueprint(
    "smps",
    __name__,
    url_prefix="/api/v1/smps",
    description="The SML: SMPs registered here, their participants, migrations between them (federation operator)",
)


class SmpSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    smp_id = identifier(
        data_key="smpId",
        required=True,
        metadata={"example": "SMP-EXEMPEL-1", "description": "ServiceMetadataPublisherID"},
    )
    local = ma.fields.Boolean(dump_only=True, metadata={"description": "this service's own SMP"})
    logical_address = text(
        MAX_NAPTR_ADDRESS,
        nonblank=True,
        data_key="logicalAddress",
        required=True,
        metadata={"example": "https://smp.exempel.se/smp", "description": "its base URL, where NAPTR records lead"},
    )
    physical_address = identifier(data_key="physicalAddress", required=True, metadata={"example": "192.0.2.10"})
    certificate = ma.fields.String(
        required=True,
        load_only=True,
        metadata={"description": "its client certificate (PEM), from a trusted SMP CA", "pattern": r"\S"},
    )
    certificate_pem = ma.fields.String(data_key="certificatePem", dump_only=True, allow_none=True)
    subject = ma.fields.String(dump_only=True, allow_none=True)
    issuer = ma.fields.String(dump_only=True, allow_none=True)
    not_after = ma.fields.DateTime(data_key="notAfter", dump_only=True, allow_none=True)
    next_certificate_from = ma.fields.DateTime(
        data_key="nextCertificateFrom",
        dump_only=True,
        allow_none=True,
        metadata={"description": "when the certificate it announced (PrepareChangeCertificate) takes over"},
    )
    participants = ma.fields.Integer(dump_only=True, metadata={"description": "participants it registered"})
    version = ma.fields.Integer(dump_only=True)


class SmpPatchSchema(Schema):
    logicalAddress = text(MAX_NAPTR_ADDRESS, nonblank=True)
    physicalAddress = identifier()
    certificate = ma.fields.String(metadata={"description": "a new client certificate (PEM)", "pattern": r"\S"})


class RemoveArgs(Schema):
    with_participants = ma.fields.Boolean(
        data_key="withParticipants",
        load_default=False,
        metadata={"description": "remove it even though it has participants (they leave DNS)"},
    )


class ParticipantArgs(Schema):
    after = ma.fields.String(
        load_default=None,
        metadata={"description": "the last participant identifier of the page before (the `next` it gave)"},
    )
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))


class RegistrationSchema(Schema):
    participant_identifier = ma.fields.String(data_key="participantIdentifier", dump_only=True)


class ParticipantPageSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(RegistrationSchema), required=True)
    next = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "pass as `after` for the next page; null: the last"}
    )


class MigrationSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    participant_identifier = identifier(
        data_key="participantIdentifier", required=True, metadata={"example": "iso6523-actorid-upis::0203:exempel.se"}
    )
    migration_key = ma.fields.String(
        data_key="migrationKey",
        load_default=None,
        metadata={
            "description": "8-24 characters, two each of upper, lower, digits and @#$%()[]{}*^_-!~|+= (made here "
            "when left out); returned only in the answer to this request"
        },
    )
    smp = ma.fields.String(dump_only=True, metadata={"description": "the SMP that prepared it"})
    expires_at = ma.fields.DateTime(data_key="expiresAt", dump_only=True)
    failed_attempts = ma.fields.Integer(data_key="failedAttempts", dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class TakeOverSchema(Schema):
    participant_identifier = identifier(data_key="participantIdentifier", required=True)
    migration_key = ma.fields.String(data_key="migrationKey", required=True)


class TakeOverResultSchema(Schema):
    participant_identifier = ma.fields.String(data_key="participantIdentifier")
    smp = ma.fields.String()


@blp.before_request
def operator_only() -> None:
    """Every operation here is the federation operator's: refused before the body or the path is read."""
    rules.require_operator(current_actor())


def _smp(smp: Smp, counts: dict[uuid.UUID, int]) -> dict[str, Any]:
    return {c.key: getattr(smp, c.key) for c in Smp.__table__.columns} | {"participants": counts.get(smp.id, 0)}


def _migration(migration: SmlMigration) -> dict[str, Any]:
    return {
        "id": migration.id,
        "participant_identifier": str(migration.participant.participant_id),
        "smp": migration.smp.smp_id,
        "expires_at": migration.expires_at,
        "failed_attempts": migration.failed_attempts,
        "version": migration.version,
    }


def _written(text_value: str, field: str = "participantIdentifier") -> WrittenParticipant:
    try:
        scheme, value = split_scheme(text_value)
    except IdentifierError as error:
        raise ValidationFailed(FieldError(field, str(error))) from None
    return WrittenParticipant(scheme, value)


@blp.route("")
class Smps(MethodView):
    @blp.response(200, SmpSchema(many=True))
    @blp.doc(summary="Every SMP of the SML, this service's own first, with its participant count")
    def get(self) -> Any:
        with current_database().writer() as session:
            local_smp(session)
            counts = smps.participant_counts(session)
            return [_smp(smp, counts) for smp in smps.in_order(session)]

    @blp.arguments(SmpSchema)
    @blp.response(201, SmpSchema)
    @blp.doc(summary="Register an external SMP with its client certificate")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        with current_database().writer() as session:
            smp = smps.register_smp(session, actor, **data)
            return _smp(smp, {}), 201, {"ETag": etag(smp), "Location": f"/api/v1/smps/{smp.id}"}


@blp.route("/<uuid:smp_id>")
class SmpItem(MethodView):
    @blp.response(200, SmpSchema)
    @blp.doc(summary="Read one SMP")
    def get(self, smp_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            smp = get_or_not_found(session, Smp, smp_id, "SMP")
            return _smp(smp, smps.participant_counts(session)), 200, {"ETag": etag(smp)}

    @blp.arguments(SmpPatchSchema)
    @blp.response(200, SmpSchema)
    @blp.doc(summary="New addresses (every participant's records follow at once) or a new client certificate")
    def patch(self, changes: dict[str, Any], smp_id: uuid.UUID) -> Any:
        actor = current_actor()
        version = expected_version()
        with current_database().writer() as session:
            smp = smps.update_smp(session, actor, smp_id, changes, expected_version=version)
            return _smp(smp, smps.participant_counts(session)), 200, {"ETag": etag(smp)}

    @blp.arguments(RemoveArgs, location="query")
    @blp.response(204)
    @blp.doc(summary="Remove an external SMP and every participant it registered (their records leave DNS)")
    def delete(self, args: dict[str, Any], smp_id: uuid.UUID) -> Any:
        actor = current_actor()
        version = expected_version()
        with current_database().writer() as session:
            smp = get_or_not_found(session, Smp, smp_id, "SMP")
            count = smps.participant_counts(session).get(smp_id, 0)
            if count and not smp.local and not args["with_participants"]:
                raise InUse(f"the SMP has {count} participants, which would leave DNS: add ?withParticipants=true")
            smps.remove_smp(session, actor, smp_id, expected_version=version)


@blp.route("/<uuid:smp_id>/participants")
class SmpParticipants(MethodView):
    @blp.arguments(ParticipantArgs, location="query")
    @blp.response(200, ParticipantPageSchema)
    @blp.doc(summary="The participants the SMP registered, in identifier order, a page at a time")
    def get(self, args: dict[str, Any], smp_id: uuid.UUID) -> Any:
        after = None
        if args["after"]:
            try:
                after = ParticipantId.parse(args["after"], LENIENT_POLICY)
            except IdentifierError as error:
                raise ValidationFailed(FieldError("after", str(error))) from None
        with current_database().reader() as session:
            smp = get_or_not_found(session, Smp, smp_id, "SMP")
            page = sml_participants.page(session, smp, after=after, size=args["limit"] + 1)
        more = len(page) > args["limit"]
        page = page[: args["limit"]]
        return {
            "items": [{"participant_identifier": str(p)} for p in page],
            "next": str(page[-1]) if more and page else None,
        }


@blp.route("/<uuid:smp_id>/participants/take-over")
class TakeOver(MethodView):
    @blp.arguments(TakeOverSchema)
    @blp.response(200, TakeOverResultSchema)
    @blp.doc(
        summary="The SMP takes a participant over with the migration key its current SMP prepared "
        "(for this service's own SMP: DNS then leads here)"
    )
    def post(self, data: dict[str, Any], smp_id: uuid.UUID) -> Any:
        actor = current_actor()
        written = _written(data["participant_identifier"])
        with current_database().writer() as session:
            smp = get_or_not_found(session, Smp, smp_id, "SMP")
            moved = sml_migrations.complete(session, actor, smp, written, data["migration_key"])
            name = smp.smp_id
        if not moved:  # the refused attempt is committed (counted, audited) first
            raise NotFound(f"the migration key is not valid for {written}")
        return {"participant_identifier": str(written), "smp": name}


@blp.route("/<uuid:smp_id>/migrations")
class Migrations(MethodView):
    @blp.response(200, MigrationSchema(many=True))
    @blp.doc(summary="Migrations the SMP prepared that no SMP has taken yet")
    def get(self, smp_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            smp = get_or_not_found(session, Smp, smp_id, "SMP")
            return [_migration(m) for m in sml_migrations.open_migrations(session, smp)]

    @blp.arguments(MigrationSchema)
    @blp.response(201, MigrationSchema)
    @blp.doc(summary="Let another SMP take a participant of this SMP over; the key is in this answer only")
    def post(self, data: dict[str, Any], smp_id: uuid.UUID) -> Any:
        actor = current_actor()
        written = _written(data["participant_identifier"])
        with current_database().writer() as session:
            smp = get_or_not_found(session, Smp, smp_id, "SMP")
            migration, key = sml_migrations.prepare(session, actor, smp, written, data["migration_key"])
            body = _migration(migration) | {"migration_key": key}
            return body, 201, {"ETag": etag(migration), "Location": f"/api/v1/smps/{smp_id}/migrations/{migration.id}"}


@blp.route("/<uuid:smp_id>/migrations/<uuid:migration_id>")
class MigrationItem(MethodView):
    @blp.response(200, MigrationSchema)
    @blp.doc(summary="Read one prepared migration")
    def get(self, smp_id: uuid.UUID, migration_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            migration = _own_migration(session, smp_id, migration_id)
            return _migration(migration), 200, {"ETag": etag(migration)}

    @blp.response(204)
    @blp.doc(summary="Withdraw a prepared migration: its key no longer works")
    def delete(self, smp_id: uuid.UUID, migration_id: uuid.UUID) -> Any:
        actor = current_actor()
        version = expected_version()
        with current_database().writer() as session:
            _own_migration(session, smp_id, migration_id)
            sml_migrations.cancel(session, actor, migration_id, expected_version=version)


def _own_migration(session: Any, smp_id: uuid.UUID, migration_id: uuid.UUID) -> SmlMigration:
    migration = get_or_not_found(session, SmlMigration, migration_id, "migration")
    if migration.smp_id != smp_id:
        raise NotFound(f"migration {migration_id} not found")
    return migration
