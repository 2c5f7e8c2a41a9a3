"""``/api/v1/organisations/{id}/services`` and ``…/certificates``: what a participant publishes in SMP."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.common import Blueprint, Schema, etag, expected_version, identifier
from app.api.pending_changes import PendingChangeSchema, pending_response
from app.auth import rules
from app.auth.context import current_actor
from app.extensions import current_database
from app.operations import participants as operations
from app.operations import pending_changes
from app.operations.checks import get_or_not_found
from app.registry.errors import NotFound
from app.registry.models import Organisation, ParticipantCertificate, ParticipantService, PendingChange
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE, Settings

blp = Blueprint(
    "participant_data",
    __name__,
    url_prefix="/api/v1/organisations/<uuid:organisation_id>",
    description="SMP data of a participant: services and O2O certificates",
)


def _settings() -> Settings:
    from app.extensions import current_settings

    return current_settings()


class ServiceSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    document_type = identifier(data_key="documentType", required=True, metadata={"example": SDK_MESSAGE_DOCUMENT_TYPE})
    process = identifier(
        load_default="urn:fdc:digg.se:edelivery:process::bdx:noprocess",
        metadata={"example": "urn:fdc:digg.se:edelivery:process::bdx:noprocess"},
    )
    endpoint_configuration = ma.fields.UUID(data_key="endpointConfiguration", required=True)
    version = ma.fields.Integer(dump_only=True)


class CertificateSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    usage = ma.fields.String(required=True, metadata={"enum": ["signing", "encryption"]})
    certificate = ma.fields.String(required=True, load_only=True, metadata={"description": "PEM or base64 DER"})
    pem = ma.fields.String(dump_only=True)
    subject = ma.fields.String(dump_only=True)
    issuer = ma.fields.String(dump_only=True)
    serial_number = ma.fields.String(data_key="serialNumber", dump_only=True)
    not_before = ma.fields.DateTime(data_key="notBefore", dump_only=True)
    not_after = ma.fields.DateTime(data_key="notAfter", dump_only=True)
    sha256 = ma.fields.String(dump_only=True)
    version = ma.fields.Integer(dump_only=True)


def _service(service: ParticipantService) -> dict[str, Any]:
    return {
        "id": service.id,
        "document_type": service.document_identifier,
        "process": service.process_identifier,
        "endpoint_configuration": service.endpoint_configuration_id,
        "version": service.version,
    }


def _certificate(record: ParticipantCertificate) -> dict[str, Any]:
    return {
        "id": record.id,
        "usage": record.usage,
        "pem": record.certificate_pem,
        "subject": record.subject,
        "issuer": record.issuer,
        "serial_number": record.serial_number,
        "not_before": record.not_before,
        "not_after": record.not_after,
        "sha256": record.certificate_sha256,
        "version": record.version,
    }


def _organisation(session: Session, organisation_id: uuid.UUID, *, write: bool) -> Organisation:
    actor = current_actor()
    organisation = get_or_not_found(session, Organisation, organisation_id, "organisation")
    (rules.require_smp_write if write else rules.require_read_organisation)(actor, organisation)
    return organisation


def _child(
    session: Session, model: type[Any], organisation_id: uuid.UUID, child_id: uuid.UUID, label: str, *, write: bool
) -> Any:
    """A service or certificate of this organisation, after the read or write check on the organisation."""
    _organisation(session, organisation_id, write=write)
    record = get_or_not_found(session, model, child_id, label)
    if record.organisation_id != organisation_id:
        raise NotFound(f"no such {label} in this organisation")
    return record


@blp.route("/services")
class Services(MethodView):
    @blp.response(200, ServiceSchema(many=True))
    @blp.doc(summary="List the document types the participant receives")
    def get(self, organisation_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            organisation = _organisation(session, organisation_id, write=False)
            query = select(ParticipantService).where(ParticipantService.organisation_id == organisation.id)
            return [_service(s) for s in session.scalars(query.order_by(ParticipantService.document_value))]

    @blp.arguments(ServiceSchema)
    @blp.response(201, ServiceSchema)
    @blp.alt_response(
        202,
        schema=PendingChangeSchema,
        description="The participant is approved: the new document type awaits the federation operator",
    )
    @blp.alt_response(409, response="CONFLICT", description="The participant already receives this document type")
    @blp.doc(summary="Receive a document type at an endpoint configuration (published at once when approved)")
    def post(self, data: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        settings = _settings()
        with current_database().writer() as session:
            organisation = _organisation(session, organisation_id, write=True)
            configuration_id = data["endpoint_configuration"]
            from app.registry.models import EndpointConfiguration

            configuration = session.get(EndpointConfiguration, configuration_id)
            if configuration is not None:  # an unknown one is the use case's 422
                rules.require_reference(current_actor(), "endpointConfiguration", configuration)
            service = pending_changes.add_service(
                session,
                current_actor(),
                organisation.id,
                document_type=data["document_type"],
                process=data["process"],
                endpoint_configuration_id=configuration_id,
                allowed_document_types=settings.document_types,
                policy=settings.identifier_policy,
            )
            if isinstance(service, PendingChange):
                return pending_response(service)
            location = f"/api/v1/organisations/{organisation.id}/services/{service.id}"
            return _service(service), 201, {"ETag": etag(service), "Location": location}


@blp.route("/services/<uuid:service_id>")
class ServiceItem(MethodView):
    @blp.response(200, ServiceSchema)
    @blp.doc(summary="Read one service")
    def get(self, organisation_id: uuid.UUID, service_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            service = _child(session, ParticipantService, organisation_id, service_id, "service", write=False)
            return _service(service), 200, {"ETag": etag(service)}

    @blp.response(204)
    @blp.doc(summary="Stop receiving this document type (send If-Match)")
    def delete(self, organisation_id: uuid.UUID, service_id: uuid.UUID) -> Any:
        version = expected_version()
        with current_database().writer() as session:
            service = _child(session, ParticipantService, organisation_id, service_id, "service", write=True)
            operations.remove_service(session, current_actor(), service.id, expected_version=version)


@blp.route("/certificates")
class Certificates(MethodView):
    @blp.response(200, CertificateSchema(many=True))
    @blp.doc(summary="List the participant's O2O certificates (published as CertPub)")
    def get(self, organisation_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            organisation = _organisation(session, organisation_id, write=False)
            query = select(ParticipantCertificate).where(ParticipantCertificate.organisation_id == organisation.id)
            return [_certificate(c) for c in session.scalars(query.order_by(ParticipantCertificate.not_before))]

    @blp.arguments(CertificateSchema)
    @blp.response(201, CertificateSchema)
    @blp.alt_response(
        202,
        schema=PendingChangeSchema,
        description="The participant is approved: the change awaits the federation operator",
    )
    @blp.doc(summary="Add a signing or encryption certificate (for an approved participant: awaits approval)")
    def post(self, data: dict[str, Any], organisation_id: uuid.UUID) -> Any:
        with current_database().writer() as session:
            organisation = _organisation(session, organisation_id, write=True)
            record = pending_changes.add_certificate(
                session, current_actor(), organisation.id, usage=data["usage"], certificate=data["certificate"]
            )
            if isinstance(record, PendingChange):
                return pending_response(record)
            location = f"/api/v1/organisations/{organisation.id}/certificates/{record.id}"
            return _certificate(record), 201, {"ETag": etag(record), "Location": location}


@blp.route("/certificates/<uuid:certificate_id>")
class CertificateItem(MethodView):
    @blp.response(200, CertificateSchema)
    @blp.doc(summary="Read one certificate")
    def get(self, organisation_id: uuid.UUID, certificate_id: uuid.UUID) -> Any:
        with current_database().reader() as session:
            record = _child(
                session, ParticipantCertificate, organisation_id, certificate_id, "certificate", write=False
            )
            return _certificate(record), 200, {"ETag": etag(record)}

    @blp.response(204)
    @blp.alt_response(
        202,
        schema=PendingChangeSchema,
        description="The participant is approved: the removal awaits the federation operator",
    )
    @blp.doc(summary="Remove a certificate (send If-Match; for an approved participant: awaits approval)")
    def delete(self, organisation_id: uuid.UUID, certificate_id: uuid.UUID) -> Any:
        version = expected_version()
        with current_database().writer() as session:
            record = _child(session, ParticipantCertificate, organisation_id, certificate_id, "certificate", write=True)
            change = pending_changes.remove_certificate(session, current_actor(), record.id, expected_version=version)
            if change is not None:
                return pending_response(change)
        return None
