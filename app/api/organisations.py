"""``/api/v1/organisations``: participant organisations (``o``) and sub-organisations (``ou``)."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from app.api.common import (
    Blueprint,
    PageArgs,
    RejectionSchema,
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
from app.identifiers import LENIENT_POLICY, IdentifierError, ParticipantId
from app.operations import organisations as operations
from app.operations.checks import get_or_not_found
from app.operations.organisations import OrganisationInput
from app.registry.lifecycle import FederationStatus, Transition
from app.registry.models import DESCRIPTION_MAX, NAME_MAX, Organisation
from app.registry.text_rules import COUNTRY_CODES
from app.settings import Settings

blp = Blueprint(
    "organisations", __name__, url_prefix="/api/v1/organisations", description="Organisations and their lifecycle"
)


def _settings() -> Settings:
    from app.extensions import current_settings

    return current_settings()


class OrganisationSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    type = ma.fields.String(dump_only=True, metadata={"enum": ["o", "ou"]})
    participant_identifier = ma.fields.String(data_key="participantIdentifier", dump_only=True, allow_none=True)
    organisation_number = ma.fields.String(data_key="organisationNumber", dump_only=True, allow_none=True)
    name = ma.fields.String(dump_only=True)
    alternate_name = ma.fields.String(data_key="alternateName", dump_only=True, allow_none=True)
    description = ma.fields.String(dump_only=True, allow_none=True)
    country_code = ma.fields.String(data_key="countryCode", dump_only=True, allow_none=True)
    parent_id = ma.fields.UUID(data_key="parent", dump_only=True, allow_none=True)
    ap_operator_id = ma.fields.UUID(data_key="apOperator", dump_only=True, allow_none=True)
    federation_status = ma.fields.String(data_key="federationStatus", dump_only=True, allow_none=True)
    status_reason = ma.fields.String(data_key="statusReason", dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(data_key="createdAt", dump_only=True)
    updated_at = ma.fields.DateTime(data_key="updatedAt", dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class OrganisationCreateSchema(Schema):
    type = ma.fields.String(required=True, metadata={"enum": ["o", "ou"], "example": "o"})
    participant_identifier = identifier(
        data_key="participantIdentifier",
        allow_none=True,
        load_default=None,
        metadata={"example": "iso6523-actorid-upis::0203:exempel.se"},
    )
    organisation_number = ma.fields.String(
        data_key="organisationNumber", allow_none=True, load_default=None, metadata={"example": "212000-0142"}
    )
    name = text(NAME_MAX, nonblank=True, required=True, metadata={"example": "Exempelkommun"})
    alternate_name = text(NAME_MAX, nonblank=False, data_key="alternateName", allow_none=True, load_default=None)
    description = text(DESCRIPTION_MAX, nonblank=False, multiline=True, allow_none=True, load_default=None)
    country_code = ma.fields.String(
        data_key="countryCode", allow_none=True, load_default="SE", metadata={"enum": list(COUNTRY_CODES)}
    )
    parent = ma.fields.UUID(allow_none=True, load_default=None)
    ap_operator = ma.fields.UUID(data_key="apOperator", allow_none=True, load_default=None)


class OrganisationPatchSchema(Schema):
    """Only the fields sent change. The participant identifier and the type cannot change."""

    name = text(NAME_MAX, nonblank=True)
    alternateName = text(NAME_MAX, nonblank=False, allow_none=True)
    description = text(DESCRIPTION_MAX, nonblank=False, multiline=True, allow_none=True)
    countryCode = ma.fields.String(allow_none=True, metadata={"enum": list(COUNTRY_CODES)})
    organisationNumber = ma.fields.String(allow_none=True)
    apOperator = ma.fields.UUID(allow_none=True)
    parent = ma.fields.UUID(allow_none=True)
    participantIdentifier = ma.fields.String(metadata={"description": "immutable: sending it is an error"})
    type = ma.fields.String(metadata={"description": "immutable: sending it is an error"})


class OrganisationFilterSchema(PageArgs):
    sort = sort_field("name", "createdAt", "updatedAt")
    participant_identifier = ma.fields.String(data_key="participantIdentifier", load_default=None)
    type = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["o", "ou"]))
    federation_status = ma.fields.String(
        data_key="federationStatus", load_default=None, validate=ma.validate.OneOf([s.value for s in FederationStatus])
    )
    parent = ma.fields.UUID(load_default=None)
    ap_operator = ma.fields.UUID(data_key="apOperator", load_default=None)


class TransitionSchema(Schema):
    reason = text(
        DESCRIPTION_MAX,
        nonblank=False,
        multiline=True,
        allow_none=True,
        load_default=None,
        metadata={"description": "why (kept with the new status)"},
    )


OrganisationPage = page_schema(OrganisationSchema, "OrganisationPage")
SORTABLE = {"name": Organisation.name, "createdAt": Organisation.created_at, "updatedAt": Organisation.updated_at}


def _dump(organisation: Organisation) -> dict[str, Any]:
    return {
        **{c.key: getattr(organisation, c.key) for c in Organisation.__table__.columns},
        "participant_identifier": organisation.participant_identifier,
    }


def _respond(organisation: Organisation, status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    headers = {"ETag": etag(organisation)}
    if status == 201:
        headers["Location"] = f"/api/v1/organisations/{organisation.id}"
    return _dump(organisation), status, headers


@blp.route("")
class Organisations(MethodView):
    @blp.arguments(OrganisationFilterSchema, location="query")
    @blp.response(200, OrganisationPage)
    @blp.doc(summary="List organisations you may see, with filters, sorting and paging")
    def get(self, args: dict[str, Any]) -> Any:
        actor = current_actor()
        query = rules.organisations_readable(select(Organisation), actor)
        if args["participant_identifier"]:
            try:
                participant = ParticipantId.parse(args["participant_identifier"], LENIENT_POLICY)
                query = query.where(
                    Organisation.participant_scheme == participant.scheme,
                    Organisation.participant_value == participant.value,
                )
            except IdentifierError:
                query = query.where(Organisation.id.is_(None))
        for field, column in (
            ("type", Organisation.type),
            ("federation_status", Organisation.federation_status),
            ("parent", Organisation.parent_id),
            ("ap_operator", Organisation.ap_operator_id),
        ):
            if args[field] is not None:
                query = query.where(column == args[field])
        with current_database().reader() as session:
            page = paginate(session, query, args, SORTABLE, Organisation.name)
            page["items"] = [_dump(o) for o in page["items"]]
            return page

    @blp.arguments(OrganisationCreateSchema)
    @blp.response(201, OrganisationSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Invalid input; one error per field")
    @blp.alt_response(409, response="CONFLICT", description="The participant is already registered")
    @blp.doc(summary="Register a participant organisation (starts pending) or a sub-organisation")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        with current_database().writer() as session:
            if data["type"] == "ou":
                parent = get_or_not_found(session, Organisation, data["parent"], "parent organisation")
                rules.require_reference(actor, "parent", parent)
            else:
                rules.require_ap_role(actor)
                if actor.role == rules.AP_OPERATOR and data["ap_operator"] is None:
                    data["ap_operator"] = actor.scope_id
            if data["ap_operator"] is not None:
                rules.require_reference(actor, "apOperator", data["ap_operator"])
            organisation = operations.create_organisation(
                session, actor, OrganisationInput(**data), _settings().identifier_policy
            )
            return _respond(organisation, 201)


@blp.route("/<uuid:organisation_id>")
class OrganisationItem(MethodView):
    @blp.response(200, OrganisationSchema)
    @blp.doc(summary="Read one organisation")
    def get(self, organisation_id: uuid.UUID) -> Any:
        actor = current_actor()
        with current_database().reader() as session:
            organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
            rules.require_read_organisation(actor, organisation)
            return _respond(organisation)

    @blp.arguments(OrganisationPatchSchema)
    @blp.response(200, OrganisationSchema)
    @blp.alt_response(412, response="PRECONDITION_FAILED", description="If-Match does not name the current version")
    @blp.alt_response(428, response="PRECONDITION_REQUIRED", description="If-Match is missing")
    @blp.doc(summary="Change directory data (send If-Match)")
    def patch(self, changes: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        actor = current_actor()
        version = expected_version()
        with current_database().writer() as session:
            organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
            rules.require_directory_write(actor, organisation)
            if "apOperator" in changes:
                rules.require_handover(actor)
            parent = session.get(Organisation, changes["parent"]) if changes.get("parent") else None
            if parent is not None:  # an unknown parent is the use case's 422
                rules.require_reference(actor, "parent", parent)
            organisation = operations.update_organisation(
                session, actor, organisation.id, changes, expected_version=version
            )
            return _respond(organisation)

    @blp.response(204)
    @blp.doc(summary="Remove an empty sub-organisation (participants are deregistered instead)")
    def delete(self, organisation_id: uuid.UUID) -> Any:
        actor = current_actor()
        version = expected_version()
        with current_database().writer() as session:
            organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
            rules.require_directory_write(actor, organisation)
            operations.delete_sub_organisation(session, actor, organisation.id, expected_version=version)


def _transition_view(transition: Transition) -> type[MethodView]:
    rejection = transition == Transition.REJECT

    @blp.arguments(RejectionSchema if rejection else TransitionSchema, required=rejection)
    @blp.response(200, OrganisationSchema)
    @blp.alt_response(409, response="CONFLICT", description="Not allowed from the current state")
    @blp.doc(summary=f"{transition.value.capitalize()} a participant (federation operator)")
    def post(self: MethodView, data: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        from flask import request

        version = expected_version() if "If-Match" in request.headers else None
        with current_database().writer() as session:
            organisation = operations.change_status(
                session, actor, organisation_id, transition, reason=data["reason"], expected_version=version
            )
            return _respond(organisation)

    return type(f"{transition.value.capitalize()}Organisation", (MethodView,), {"post": post})


for _transition in (
    Transition.APPROVE,
    Transition.REJECT,
    Transition.SUSPEND,
    Transition.REINSTATE,
    Transition.DEREGISTER,
    Transition.RESUBMIT,
):
    blp.route(f"/<uuid:organisation_id>/{_transition.value}")(_transition_view(_transition))
