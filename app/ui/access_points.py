"""The console pages of access-point operators: endpoint configurations, participants' services, bulk moves.

The federation operator sees every access point's; an AP operator only its own (``rules.endpoints_usable``
and ``rules.participants_served`` are the SQL twins of the rules the use cases are checked with).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth import rules
from app.extensions import current_database, current_settings
from app.identifiers import NO_PROCESS_ID
from app.operations import access_points, participants, pending_changes
from app.operations.checks import get_or_not_found
from app.registry.errors import FieldError, RegistryError, ValidationFailed
from app.registry.models import AccessPoint, EndpointConfiguration, Organisation, ParticipantService, PendingChange
from app.ui.pages import CONSOLE_ROWS, blp, logged_in, problem_lines, render_page, require
from app.ui.texts import TEXTS

#: Services listed (with a checkbox each) on an endpoint configuration's page; "move all" moves the rest too.
LISTED_SERVICES = 1000
#: Form field → use-case field of an endpoint configuration (dates are parsed separately).
FORM_FIELDS = (
    "name",
    "transportProfile",
    "endpointUrl",
    "technicalContactUrl",
    "technicalInformationUrl",
    "description",
)
DATE_FIELDS = ("activationDate", "expirationDate")


def _require_ap_role() -> None:
    if g.actor.role not in (rules.OPERATOR, rules.AP_OPERATOR):
        abort(403)


def _usable_endpoints(session_: Session) -> list[EndpointConfiguration]:
    query = select(EndpointConfiguration).join(AccessPoint).order_by(EndpointConfiguration.name)
    return list(session_.scalars(rules.endpoints_usable(query, g.actor).limit(CONSOLE_ROWS)))


def _form_changes() -> dict[str, Any]:
    """The endpoint form's values in the use case's names; an empty optional field means "none"."""
    changes: dict[str, Any] = {name: request.form.get(name, "").strip() for name in FORM_FIELDS}
    changes["technicalInformationUrl"] = changes["technicalInformationUrl"] or None
    errors = []
    for name in DATE_FIELDS:
        text = request.form.get(name, "").strip()
        try:
            changes[name] = datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None
        except ValueError:
            errors.append(FieldError(name, "must be a date and time (YYYY-MM-DDTHH:MM, UTC)"))
    if errors:
        raise ValidationFailed(errors)
    return changes


@blp.get("/console/endpoints")
@logged_in
def endpoints() -> ResponseReturnValue:
    _require_ap_role()
    with current_database().reader() as session_:
        configurations = _usable_endpoints(session_)
        counts = dict(
            session_.execute(
                select(ParticipantService.endpoint_configuration_id, func.count())
                .where(ParticipantService.endpoint_configuration_id.in_([c.id for c in configurations]))
                .group_by(ParticipantService.endpoint_configuration_id)
            ).all()
        )
        rows = [(c, c.access_point.ap_id, counts.get(c.id, 0)) for c in configurations]
        served = select(Organisation).order_by(Organisation.name)
        participants_ = list(session_.scalars(rules.participants_served(served, g.actor).limit(CONSOLE_ROWS)))
    return render_page("endpoints.html", rows=rows, participants=participants_, limit=CONSOLE_ROWS)


@blp.route("/console/endpoints/new", methods=["GET", "POST"])
@logged_in
def new_endpoint() -> ResponseReturnValue:
    _require_ap_role()
    errors: list[str] = []
    database = current_database()
    if request.method == "POST":
        try:
            with database.writer() as session_:
                access_point = get_or_not_found(
                    session_, AccessPoint, request.form.get("accessPoint", ""), "access point"
                )
                require(rules.require_reference, "accessPoint", access_point)
                fields = {access_points.ENDPOINT_UPDATABLE[name]: v for name, v in _form_changes().items()}
                data = access_points.EndpointConfigurationInput(access_point=access_point.id, **fields)
                created = access_points.create_endpoint_configuration(
                    session_, g.actor, data, transport_profiles=current_settings().transport_profiles
                )
            return redirect(url_for("ui.endpoint_page", configuration_id=created.id, created=1), 303)
        except RegistryError as error:
            errors = problem_lines(error)
    with database.reader() as session_:
        query = rules.access_points_readable(select(AccessPoint).order_by(AccessPoint.ap_id), g.actor)
        choices = [(a.id, a.ap_id) for a in session_.scalars(query.limit(CONSOLE_ROWS))]
    return render_page(
        "endpoint_edit.html",
        422 if errors else 200,
        configuration=None,
        form=request.form,
        access_points=choices,
        profiles=current_settings().transport_profiles,
        errors=errors,
    )


@blp.route("/console/endpoints/<uuid:configuration_id>", methods=["GET", "POST"])
@logged_in
def endpoint_page(configuration_id: uuid.UUID) -> ResponseReturnValue:
    """Edit one endpoint configuration, and move its services (chosen ones or all) to another one."""
    _require_ap_role()
    database = current_database()
    errors: list[str] = []
    message = TEXTS[g.lang]["created"] if request.args.get("created") else None
    step = request.form.get("step")
    if request.method == "POST" and step in ("save", "move", "move_all"):
        try:
            with database.writer() as session_:
                configuration = get_or_not_found(session_, EndpointConfiguration, configuration_id, "configuration")
                require(rules.require_endpoint_configuration, configuration)
                if step == "save":
                    access_points.update_endpoint_configuration(
                        session_,
                        g.actor,
                        configuration.id,
                        _form_changes(),
                        transport_profiles=current_settings().transport_profiles,
                        expected_version=_version(),
                    )
                    message = TEXTS[g.lang]["saved"]
                else:
                    moved, republished = _move(session_, configuration, step == "move_all")
                    message = TEXTS[g.lang]["moved"].format(moved=moved, republished=republished)
        except RegistryError as error:
            errors = problem_lines(error)
    elif request.method == "POST":
        errors = [f"step: must be save, move or move_all, got {step!r}"]
    with database.reader() as session_:
        shown = session_.get(EndpointConfiguration, configuration_id)
        if shown is None:
            return render_page("message.html", 404, message=TEXTS[g.lang]["not_found"])
        configuration = shown
        require(rules.require_endpoint_configuration, configuration)
        query = (
            select(ParticipantService, Organisation.name)
            .join(Organisation)
            .where(ParticipantService.endpoint_configuration_id == configuration.id)
            .order_by(Organisation.name, ParticipantService.document_value)
        )
        services = session_.execute(query.limit(LISTED_SERVICES)).all()
        total = session_.scalar(
            select(func.count())
            .select_from(ParticipantService)
            .where(ParticipantService.endpoint_configuration_id == configuration.id)
        )
        targets = [c for c in _usable_endpoints(session_) if c.id != configuration.id]
        ap_id = configuration.access_point.ap_id
    return render_page(
        "endpoint_edit.html",
        422 if errors else 200,
        configuration=configuration,
        ap_id=ap_id,
        form=request.form if errors and step == "save" else None,
        profiles=current_settings().transport_profiles,
        services=services,
        total=total,
        listed=LISTED_SERVICES,
        targets=targets,
        errors=errors,
        message=message,
    )


def _version() -> int | None:
    text = request.form.get("version", "")
    return int(text) if text.isdigit() else None


def _move(session_: Session, source: EndpointConfiguration, everything: bool) -> tuple[int, int]:
    target = get_or_not_found(session_, EndpointConfiguration, _uuid("target", request.form.get("target")), "target")
    require(rules.require_reference, "target", target)
    chosen = None if everything else [_uuid("service", text) for text in request.form.getlist("service")]
    if chosen == []:
        raise ValidationFailed(FieldError("service", "choose at least one service to move"))
    return access_points.move_services(session_, g.actor, source.id, target.id, chosen)


def _uuid(field: str, text: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        raise ValidationFailed(FieldError(field, "choose one from the list")) from None


@blp.route("/console/participants/<uuid:organisation_id>", methods=["GET", "POST"])
@logged_in
def participant_services(organisation_id: uuid.UUID) -> ResponseReturnValue:
    """A participant's services: add one (gated while the participant is approved), or remove one."""
    _require_ap_role()
    database = current_database()
    errors: list[str] = []
    message = None
    step = request.form.get("step")
    if request.method == "POST":
        try:
            with database.writer() as session_:
                organisation = get_or_not_found(session_, Organisation, organisation_id, "organisation")
                require(rules.require_smp_write, organisation)
                if step == "add":
                    message = _add_service(session_, organisation)
                elif step == "remove":
                    service = get_or_not_found(
                        session_, ParticipantService, _uuid("service", request.form.get("service")), "service"
                    )
                    if service.organisation_id != organisation.id:
                        abort(404)
                    participants.remove_service(session_, g.actor, service.id, expected_version=_version())
                    message = TEXTS[g.lang]["service_removed"]
                else:
                    raise ValidationFailed(FieldError("step", "must be add or remove"))
        except RegistryError as error:
            errors = problem_lines(error)
    with database.reader() as session_:
        found = session_.get(Organisation, organisation_id)
        if found is None or found.type != "o":
            return render_page("message.html", 404, message=TEXTS[g.lang]["not_found"])
        organisation = found
        require(rules.require_smp_write, organisation)
        services = session_.scalars(
            select(ParticipantService)
            .where(ParticipantService.organisation_id == organisation.id)
            .order_by(ParticipantService.document_value, ParticipantService.process_value)
        ).all()
        names = {c.id: c.name for c in _usable_endpoints(session_)}
        pending = session_.scalars(
            select(PendingChange).where(
                PendingChange.organisation_id == organisation.id, PendingChange.status == "pending"
            )
        ).all()
        facts = [(s, names.get(s.endpoint_configuration_id, str(s.endpoint_configuration_id))) for s in services]
    return render_page(
        "participant_services.html",
        422 if errors else 200,
        organisation=organisation,
        services=facts,
        pending=pending,
        endpoints=sorted(names.items(), key=lambda item: item[1]),
        document_types=current_settings().document_types,
        default_process=str(NO_PROCESS_ID),
        errors=errors,
        message=message,
    )


def _add_service(session_: Session, organisation: Organisation) -> str:
    settings = current_settings()
    configuration = get_or_not_found(
        session_, EndpointConfiguration, _uuid("endpoint", request.form.get("endpoint")), "endpoint configuration"
    )
    require(rules.require_reference, "endpointConfiguration", configuration)
    added = pending_changes.add_service(
        session_,
        g.actor,
        organisation.id,
        document_type=request.form.get("documentType", ""),
        process=request.form.get("process", "").strip() or str(NO_PROCESS_ID),
        endpoint_configuration_id=configuration.id,
        allowed_document_types=settings.document_types,
        policy=settings.identifier_policy,
    )
    return TEXTS[g.lang]["service_requested" if isinstance(added, PendingChange) else "service_added"]
