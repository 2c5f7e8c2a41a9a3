"""Use cases for access-point operators, their access points and endpoint configurations."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.identifiers import normalise_organisation_number
from app.operations.checks import Checker, get_for_update, get_or_not_found, reject_unknown
from app.operations.publication import refresh_participants
from app.operations.trust_anchors import acceptable
from app.registry import text_rules
from app.registry.errors import Conflict, FieldError, ValidationFailed
from app.registry.models import (
    DESCRIPTION_MAX,
    NAME_MAX,
    URL_MAX,
    AccessPoint,
    AccessPointOperator,
    EndpointConfiguration,
    Organisation,
    ParticipantService,
)
from app.trust.certificates import CertificateError, describe


def check_url(
    check: Checker, field: str, value: object, *, required: bool = True, https_only: bool = False
) -> str | None:
    url = check.text(field, value, maximum=URL_MAX, required=required)
    if url is None:
        return None
    parts = urlsplit(url)
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname or " " in url:
        check.fail(field, f"must be an absolute {' or '.join(schemes)} URL")
        return None
    return url


def create_ap_operator(
    session: Session,
    actor: Actor,
    *,
    name: str,
    organisation_number: str | None = None,
    contact_email: str | None = None,
) -> AccessPointOperator:
    check = Checker()
    name = check.text("name", name, maximum=NAME_MAX, required=True)
    number = check.identifier("organisationNumber", organisation_number, normalise_organisation_number, required=False)
    email = check.text("contactEmail", contact_email, maximum=320)
    if email is not None and ("@" not in email or email.startswith("@") or email.endswith("@")):
        check.fail("contactEmail", "must be an e-mail address")
    check.done()
    if session.scalar(select(AccessPointOperator).where(AccessPointOperator.name == name)):
        raise Conflict(f"an access point operator named {name!r} exists", field="name")
    operator = AccessPointOperator(id=uuid.uuid4(), name=name, organisation_number=number, contact_email=email)
    session.add(operator)
    session.flush()
    audit.record(
        session,
        actor,
        Action.AP_OPERATOR_CREATE,
        "ap_operator",
        operator.id,
        after=audit.snapshot(operator),
        also_visible_to=[operator.id],
    )
    return operator


def create_access_point(
    session: Session, actor: Actor, *, ap_operator_id: uuid.UUID | str, certificate: str
) -> AccessPoint:
    """Register an access point from its certificate; the AP id is the certificate's CN."""
    operator = get_or_not_found(session, AccessPointOperator, ap_operator_id, "access point operator")
    try:
        facts = describe(acceptable(session, certificate, "access-point"))
    except CertificateError as error:
        raise ValidationFailed(FieldError("certificate", str(error))) from None
    if not facts.common_name:
        raise ValidationFailed(
            FieldError("certificate", "has no subject CN, which names the access point (e.g. AP0001-SDK-QA)")
        )
    hidden = text_rules.first_forbidden(facts.common_name)
    if hidden is not None:  # the CN becomes the AP id, shown and stored as text: the text rule holds for it
        raise ValidationFailed(FieldError("certificate", f"its subject CN holds {hidden}, which an AP id may not"))
    if session.scalar(select(AccessPoint).where(AccessPoint.ap_id == facts.common_name)):
        raise Conflict(f"access point {facts.common_name} is already registered", field="certificate")
    access_point = AccessPoint(id=uuid.uuid4(), ap_operator_id=operator.id, ap_id=facts.common_name)
    access_point.take_certificate(facts)
    session.add(access_point)
    session.flush()
    audit.record(
        session,
        actor,
        Action.ACCESS_POINT_CREATE,
        "access_point",
        access_point.id,
        after=audit.snapshot(access_point),
        also_visible_to=[operator.id],
    )
    return access_point


@dataclass(frozen=True)
class EndpointConfigurationInput:
    access_point: uuid.UUID | str
    name: str
    transport_profile: str
    endpoint_url: str
    technical_contact_url: str
    description: str
    technical_information_url: str | None = None
    activation_date: datetime | None = None
    expiration_date: datetime | None = None


def create_endpoint_configuration(
    session: Session, actor: Actor, data: EndpointConfigurationInput, *, transport_profiles: tuple[str, ...]
) -> EndpointConfiguration:
    access_point = get_or_not_found(session, AccessPoint, data.access_point, "access point")
    check = Checker()
    name = check.text("name", data.name, maximum=NAME_MAX, required=True)
    if data.transport_profile not in transport_profiles:
        check.fail("transportProfile", f"must be one of the federation's profiles: {', '.join(transport_profiles)}")
    endpoint_url = check_url(check, "endpointUrl", data.endpoint_url)
    contact = check.text("technicalContactUrl", data.technical_contact_url, maximum=URL_MAX, required=True)
    information = check_url(check, "technicalInformationUrl", data.technical_information_url, required=False)
    description = check.text("description", data.description, maximum=DESCRIPTION_MAX, required=True, multiline=True)
    for field, value in (("activationDate", data.activation_date), ("expirationDate", data.expiration_date)):
        if value is not None and value.tzinfo is None:
            check.fail(field, "must carry a time zone (UTC)")
    if data.activation_date and data.expiration_date and data.activation_date >= data.expiration_date:
        check.fail("expirationDate", "must be after activationDate")
    check.done()
    configuration = EndpointConfiguration(
        id=uuid.uuid4(),
        access_point_id=access_point.id,
        name=name,
        transport_profile=data.transport_profile,
        endpoint_url=endpoint_url,
        technical_contact_url=contact,
        technical_information_url=information,
        description=description,
        activation_date=data.activation_date,
        expiration_date=data.expiration_date,
    )
    session.add(configuration)
    session.flush()
    audit.record(
        session,
        actor,
        Action.ENDPOINT_CONFIGURATION_CREATE,
        "endpoint_configuration",
        configuration.id,
        after=audit.snapshot(configuration),
        also_visible_to=[access_point.ap_operator_id],
    )
    return configuration


ENDPOINT_UPDATABLE = {
    "name": "name",
    "transportProfile": "transport_profile",
    "endpointUrl": "endpoint_url",
    "technicalContactUrl": "technical_contact_url",
    "technicalInformationUrl": "technical_information_url",
    "description": "description",
    "activationDate": "activation_date",
    "expirationDate": "expiration_date",
}


def _organisations_using(session: Session, configuration_ids: list[uuid.UUID]) -> list[Organisation]:
    return list(
        session.scalars(
            select(Organisation)
            .where(
                Organisation.id.in_(
                    select(ParticipantService.organisation_id).where(
                        ParticipantService.endpoint_configuration_id.in_(configuration_ids)
                    )
                )
            )
            .order_by(Organisation.id)
        )
    )


def republish_users_of(session: Session, configuration_ids: list[uuid.UUID]) -> int:
    """Re-publish every participant whose services use these endpoint configurations; return how many."""
    organisations = _organisations_using(session, configuration_ids)
    refresh_participants(session, organisations)
    return len(organisations)


def update_endpoint_configuration(
    session: Session,
    actor: Actor,
    configuration_id: uuid.UUID | str,
    changes: dict[str, Any],
    *,
    transport_profiles: tuple[str, ...],
    expected_version: int | None = None,
) -> EndpointConfiguration:
    """Change where and how an access point receives; applies at once and re-publishes every user."""
    configuration = get_for_update(
        session, EndpointConfiguration, configuration_id, "endpoint configuration", expected_version
    )
    reject_unknown(changes, ENDPOINT_UPDATABLE)
    before = audit.snapshot(configuration)
    check = Checker()
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = check.text("name", changes["name"], maximum=NAME_MAX, required=True)
    if "transportProfile" in changes:
        if changes["transportProfile"] not in transport_profiles:
            check.fail("transportProfile", f"must be one of the federation's profiles: {', '.join(transport_profiles)}")
        values["transport_profile"] = changes["transportProfile"]
    if "endpointUrl" in changes:
        values["endpoint_url"] = check_url(check, "endpointUrl", changes["endpointUrl"])
    if "technicalContactUrl" in changes:
        values["technical_contact_url"] = check.text(
            "technicalContactUrl", changes["technicalContactUrl"], maximum=URL_MAX, required=True
        )
    if "technicalInformationUrl" in changes:
        values["technical_information_url"] = check_url(
            check, "technicalInformationUrl", changes["technicalInformationUrl"], required=False
        )
    if "description" in changes:
        values["description"] = check.text(
            "description", changes["description"], maximum=DESCRIPTION_MAX, required=True, multiline=True
        )
    for field in ("activationDate", "expirationDate"):
        if field in changes:
            value = changes[field]
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                check.fail(field, "must be a date and time with a time zone")
            values[ENDPOINT_UPDATABLE[field]] = value
    activation = values.get("activation_date", configuration.activation_date)
    expiration = values.get("expiration_date", configuration.expiration_date)
    if activation and expiration and activation >= expiration:
        check.fail("expirationDate", "must be after activationDate")
    check.done()
    for attribute, value in values.items():
        setattr(configuration, attribute, value)
    after = audit.snapshot(configuration)
    if after == before:
        return configuration
    session.flush()
    republish_users_of(session, [configuration.id])
    audit.record(
        session,
        actor,
        Action.ENDPOINT_CONFIGURATION_UPDATE,
        "endpoint_configuration",
        configuration.id,
        before=before,
        after=audit.snapshot(configuration),
        also_visible_to=[configuration.access_point.ap_operator_id],
    )
    return configuration


def replace_access_point_certificate(
    session: Session,
    actor: Actor,
    access_point_id: uuid.UUID | str,
    certificate: str,
    *,
    expected_version: int | None = None,
) -> AccessPoint:
    """Renew an access point's certificate (same AP id); applies at once and re-publishes every user."""
    access_point = get_for_update(session, AccessPoint, access_point_id, "access point", expected_version)
    try:
        facts = describe(acceptable(session, certificate, "access-point"))
    except CertificateError as error:
        raise ValidationFailed(FieldError("certificate", str(error))) from None
    if facts.common_name != access_point.ap_id:
        raise ValidationFailed(
            FieldError(
                "certificate", f"its CN is {facts.common_name!r}, not the access point's id {access_point.ap_id}"
            )
        )
    if facts.sha256 == access_point.certificate_sha256:
        return access_point
    before = audit.snapshot(access_point)
    access_point.take_certificate(facts)
    session.flush()
    republish_users_of(session, [c.id for c in access_point.endpoint_configurations])
    audit.record(
        session,
        actor,
        Action.ACCESS_POINT_UPDATE,
        "access_point",
        access_point.id,
        before=before,
        after=audit.snapshot(access_point),
        also_visible_to=[access_point.ap_operator_id],
    )
    return access_point


def move_services(
    session: Session,
    actor: Actor,
    source_id: uuid.UUID | str,
    target_id: uuid.UUID | str,
    service_ids: Collection[uuid.UUID] | None = None,
) -> tuple[int, int]:
    """Point the services of one endpoint configuration at another (the bulk change SMP users ask for).

    All of them, or only ``service_ids`` (each must use the source). One transaction: the services move
    and every affected participant is re-published, or nothing changes. Returns (services moved,
    participants re-published).
    """
    source = get_or_not_found(session, EndpointConfiguration, source_id, "endpoint configuration")
    target = get_or_not_found(session, EndpointConfiguration, target_id, "endpoint configuration")
    if source.id == target.id:
        raise ValidationFailed(FieldError("target", "is the same endpoint configuration"))
    query = select(ParticipantService).where(ParticipantService.endpoint_configuration_id == source.id)
    if service_ids is not None:
        wanted = set(service_ids)
        if not wanted:
            raise ValidationFailed(FieldError("services", "name at least one service, or leave it out to move all"))
        query = query.where(ParticipantService.id.in_(wanted))
    services = list(session.scalars(query.order_by(ParticipantService.id)))
    if service_ids is not None and len(services) != len(wanted):
        strays = sorted(str(i) for i in wanted - {s.id for s in services})
        raise ValidationFailed(FieldError("services", f"not services of the source configuration: {', '.join(strays)}"))
    for service in services:
        service.endpoint_configuration_id = target.id
    session.flush()
    moved_for = {service.organisation_id for service in services}
    refresh_participants(session, list(session.scalars(select(Organisation).where(Organisation.id.in_(moved_for)))))
    audit.record(
        session,
        actor,
        Action.SERVICES_MOVE,
        "endpoint_configuration",
        source.id,
        before={"endpointConfiguration": str(source.id), "services": [str(s.id) for s in services]},
        after={"endpointConfiguration": str(target.id), "services": [str(s.id) for s in services]},
        # both sides' AP operators, and every participant whose routing changed
        also_visible_to=[source.access_point.ap_operator_id, target.access_point.ap_operator_id, *moved_for],
    )
    return len(services), len(moved_for)
