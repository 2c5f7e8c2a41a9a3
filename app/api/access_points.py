"""``/api/v1/ap-operators``, ``/access-points``, ``/endpoint-configurations``: the routing side."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

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
from app.operations import access_points as operations
from app.operations.checks import get_or_not_found
from app.registry.models import (
    DESCRIPTION_MAX,
    NAME_MAX,
    URL_MAX,
    AccessPoint,
    AccessPointOperator,
    EndpointConfiguration,
)
from app.settings import Settings

blp = Blueprint(
    "routing", __name__, url_prefix="/api/v1", description="Access point operators, access points and endpoints"
)


def _settings() -> Settings:
    from app.extensions import current_settings

    return current_settings()


class ApOperatorSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    name = text(NAME_MAX, nonblank=True, required=True, metadata={"example": "Exempel AP AB"})
    organisation_number = ma.fields.String(data_key="organisationNumber", allow_none=True, load_default=None)
    contact_email = text(320, nonblank=False, data_key="contactEmail", allow_none=True, load_default=None)
    version = ma.fields.Integer(dump_only=True)


class AccessPointSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    ap_operator = ma.fields.UUID(data_key="apOperator", required=True)
    certificate = ma.fields.String(required=True, metadata={"description": "PEM; its CN is the access point id"})
    ap_id = ma.fields.String(data_key="apId", dump_only=True, metadata={"example": "AP0001-SDK-QA"})
    subject = ma.fields.String(dump_only=True)
    issuer = ma.fields.String(dump_only=True)
    not_before = ma.fields.DateTime(data_key="notBefore", dump_only=True)
    not_after = ma.fields.DateTime(data_key="notAfter", dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class AccessPointPatchSchema(Schema):
    certificate = ma.fields.String(required=True, metadata={"description": "the renewed certificate, same CN"})


class EndpointSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    access_point = ma.fields.UUID(data_key="accessPoint", required=True)
    name = text(NAME_MAX, nonblank=True, required=True)
    transport_profile = identifier(
        data_key="transportProfile", required=True, metadata={"example": "digg-transport-as4-v1_0"}
    )
    endpoint_url = text(
        URL_MAX, nonblank=True, data_key="endpointUrl", required=True, metadata={"example": "https://ap.example.se/as4"}
    )
    technical_contact_url = text(URL_MAX, nonblank=True, data_key="technicalContactUrl", required=True)
    technical_information_url = text(
        URL_MAX, nonblank=False, data_key="technicalInformationUrl", allow_none=True, load_default=None
    )
    description = text(DESCRIPTION_MAX, nonblank=True, multiline=True, required=True)
    activation_date = ma.fields.AwareDateTime(data_key="activationDate", allow_none=True, load_default=None)
    expiration_date = ma.fields.AwareDateTime(data_key="expirationDate", allow_none=True, load_default=None)
    version = ma.fields.Integer(dump_only=True)


class EndpointPatchSchema(Schema):
    name = text(NAME_MAX, nonblank=True)
    transportProfile = identifier()
    endpointUrl = text(URL_MAX, nonblank=True)
    technicalContactUrl = text(URL_MAX, nonblank=True)
    technicalInformationUrl = text(URL_MAX, nonblank=False, allow_none=True)
    description = text(DESCRIPTION_MAX, nonblank=True, multiline=True)
    activationDate = ma.fields.AwareDateTime(allow_none=True)
    expirationDate = ma.fields.AwareDateTime(allow_none=True)


class EndpointFilterSchema(PageArgs):
    sort = sort_field("name")


class MoveSchema(Schema):
    target = ma.fields.UUID(
        required=True, metadata={"description": "the endpoint configuration to move the services to"}
    )
    services = ma.fields.List(
        ma.fields.UUID(),
        load_default=None,
        validate=ma.validate.Length(min=1, max=100_000),
        metadata={"description": "only these services of the source (all of them when left out)"},
    )


class MoveResultSchema(Schema):
    moved = ma.fields.Integer()
    republished = ma.fields.Integer()


EndpointPage = page_schema(EndpointSchema, "EndpointConfigurationPage")


def _endpoint(configuration: EndpointConfiguration) -> dict[str, Any]:
    return {c.key: getattr(configuration, c.key) for c in EndpointConfiguration.__table__.columns} | {
        "access_point": configuration.access_point_id
    }


def _access_point(access_point: AccessPoint) -> dict[str, Any]:
    return {c.key: getattr(access_point, c.key) for c in AccessPoint.__table__.columns} | {
        "ap_operator": access_point.ap_operator_id,
        "certificate": access_point.certificate_pem,
    }


@blp.route("/ap-operators")
class ApOperators(MethodView):
    @blp.response(200, ApOperatorSchema(many=True))
    @blp.doc(summary="List access point operators (yours, unless you are the operator)")
    def get(self) -> Any:
        actor = current_actor()
        query = rules.ap_operators_readable(select(AccessPointOperator).order_by(AccessPointOperator.name), actor)
        with current_database().reader() as session:
            return list(session.scalars(query))

    @blp.arguments(ApOperatorSchema)
    @blp.response(201, ApOperatorSchema)
    @blp.doc(summary="Register an access point operator (federation operator)")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        rules.require_operator(actor)
        with current_database().writer() as session:
            operator = operations.create_ap_operator(session, actor, **data)
            return operator, 201, {"ETag": etag(operator), "Location": f"/api/v1/ap-operators/{operator.id}"}


@blp.route("/access-points")
class AccessPoints(MethodView):
    @blp.response(200, AccessPointSchema(many=True))
    @blp.doc(summary="List access points (yours, unless you are the operator)")
    def get(self) -> Any:
        actor = current_actor()
        if actor.role not in (rules.OPERATOR, rules.AP_OPERATOR):
            rules.require_operator(actor)  # an org admin has no access points: 403, not an empty list
        query = rules.access_points_readable(select(AccessPoint).order_by(AccessPoint.ap_id), actor)
        with current_database().reader() as session:
            return [_access_point(a) for a in session.scalars(query)]

    @blp.arguments(AccessPointSchema)
    @blp.response(201, AccessPointSchema)
    @blp.doc(summary="Register an access point from its certificate")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        rules.require_ap_role(actor)
        rules.require_reference(actor, "apOperator", data["ap_operator"])
        with current_database().writer() as session:
            access_point = operations.create_access_point(
                session, actor, ap_operator_id=data["ap_operator"], certificate=data["certificate"]
            )
            headers = {"ETag": etag(access_point), "Location": f"/api/v1/access-points/{access_point.id}"}
            return _access_point(access_point), 201, headers


@blp.route("/access-points/<uuid:access_point_id>")
class AccessPointItem(MethodView):
    @blp.response(200, AccessPointSchema)
    @blp.doc(summary="Read one access point")
    def get(self, access_point_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            access_point = get_or_not_found(session, AccessPoint, access_point_id, "access point")
            rules.require_access_point(current_actor(), access_point)
            return _access_point(access_point), 200, {"ETag": etag(access_point)}

    @blp.arguments(AccessPointPatchSchema)
    @blp.response(200, AccessPointSchema)
    @blp.doc(summary="Renew the certificate (same CN); every participant using it is re-published at once")
    def patch(self, data: dict[str, Any], access_point_id: uuid.UUID) -> Any:
        version = expected_version()
        with current_database().writer() as session:
            access_point = get_or_not_found(session, AccessPoint, access_point_id, "access point")
            rules.require_access_point(current_actor(), access_point)
            access_point = operations.replace_access_point_certificate(
                session, current_actor(), access_point.id, data["certificate"], expected_version=version
            )
            return _access_point(access_point), 200, {"ETag": etag(access_point)}


@blp.route("/endpoint-configurations")
class EndpointConfigurations(MethodView):
    @blp.arguments(EndpointFilterSchema, location="query")
    @blp.response(200, EndpointPage)
    @blp.doc(summary="List endpoint configurations (yours, unless you are the operator)")
    def get(self, args: dict[str, Any]) -> Any:
        actor = current_actor()
        if actor.role not in (rules.AP_OPERATOR, rules.OPERATOR):
            rules.require_operator(actor)
        query = rules.endpoints_usable(select(EndpointConfiguration).join(AccessPoint), actor)
        with current_database().reader() as session:
            page = paginate(session, query, args, {"name": EndpointConfiguration.name}, EndpointConfiguration.name)
            page["items"] = [_endpoint(c) for c in page["items"]]
            return page

    @blp.arguments(EndpointSchema)
    @blp.response(201, EndpointSchema)
    @blp.doc(summary="Create an endpoint configuration of one of your access points")
    def post(self, data: dict[str, Any]) -> Any:
        actor = current_actor()
        with current_database().writer() as session:
            rules.require_ap_role(actor)
            access_point = get_or_not_found(session, AccessPoint, data["access_point"], "access point")
            rules.require_reference(actor, "accessPoint", access_point)
            configuration = operations.create_endpoint_configuration(
                session,
                actor,
                operations.EndpointConfigurationInput(**data),
                transport_profiles=_settings().transport_profiles,
            )
            headers = {"ETag": etag(configuration), "Location": f"/api/v1/endpoint-configurations/{configuration.id}"}
            return _endpoint(configuration), 201, headers


@blp.route("/endpoint-configurations/<uuid:configuration_id>")
class EndpointConfigurationItem(MethodView):
    @blp.response(200, EndpointSchema)
    @blp.doc(summary="Read one endpoint configuration")
    def get(self, configuration_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            configuration = get_or_not_found(session, EndpointConfiguration, configuration_id, "endpoint configuration")
            rules.require_endpoint_configuration(current_actor(), configuration)
            return _endpoint(configuration), 200, {"ETag": etag(configuration)}

    @blp.arguments(EndpointPatchSchema)
    @blp.response(200, EndpointSchema)
    @blp.doc(summary="Change URL, profile, dates…; applies at once and re-publishes every participant using it")
    def patch(self, changes: dict[str, Any], configuration_id: uuid.UUID) -> Any:
        version = expected_version()
        with current_database().writer() as session:
            configuration = get_or_not_found(session, EndpointConfiguration, configuration_id, "endpoint configuration")
            rules.require_endpoint_configuration(current_actor(), configuration)
            configuration = operations.update_endpoint_configuration(
                session,
                current_actor(),
                configuration.id,
                changes,
                transport_profiles=_settings().transport_profiles,
                expected_version=version,
            )
            return _endpoint(configuration), 200, {"ETag": etag(configuration)}


@blp.route("/endpoint-configurations/<uuid:configuration_id>/move-services")
class MoveServices(MethodView):
    @blp.arguments(MoveSchema)
    @blp.response(200, MoveResultSchema)
    @blp.doc(summary="Move all (or the listed) services to another endpoint configuration in one step (bulk change)")
    def post(self, data: dict[str, Any], configuration_id: uuid.UUID) -> Any:
        actor = current_actor()
        with current_database().writer() as session:
            source = get_or_not_found(session, EndpointConfiguration, configuration_id, "endpoint configuration")
            rules.require_endpoint_configuration(actor, source)
            target = get_or_not_found(session, EndpointConfiguration, data["target"], "endpoint configuration")
            rules.require_reference(actor, "target", target)
            moved, republished = operations.move_services(
                session, actor, configuration_id, data["target"], data["services"]
            )
            return {"moved": moved, "republished": republished}
