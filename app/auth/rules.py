"""Who may do what: every authorisation rule of the management API, in one place.

Roles (DESIGN §1): ``operator`` may do everything; ``ap_operator`` (scoped to one access-point operator)
manages its own access points and endpoint configurations and the SMP data of the organisations it
serves, and may register new participants (they start pending); ``org_admin`` (scoped to one
organisation of type ``o``) manages its organisation's directory data, sub-organisations and function
addresses, and reads its SMP data; ``smp`` (an external SMP, scoped to its row in the SML registry,
authenticated by its client certificate on the SOAP interface) manages only its own registrations. A rule
that fails raises :class:`Forbidden` with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select

from app.audit import Actor
from app.registry.models import AccessPoint, AccessPointOperator, EndpointConfiguration, Organisation, PendingChange

OPERATOR, AP_OPERATOR, ORG_ADMIN = "operator", "ap_operator", "org_admin"
#: An SMP acting on the SML interface (not a role of tokens or console accounts).
SMP = "smp"
#: Whoever runs the service's command line (:data:`app.audit.SYSTEM_ACTOR`): the operator's own tool.
SYSTEM = "system"


class Forbidden(Exception):
    """The credential is valid but may not do this."""


def _deny(reason: str) -> None:
    raise Forbidden(reason)


def owner_of(organisation: Organisation) -> uuid.UUID:
    """The participant organisation (type o) an organisation belongs to."""
    return organisation.parent_id or organisation.id


def require_operator(actor: Actor) -> None:
    if actor.role != OPERATOR:
        _deny("only the federation operator may do this")


def require_sml_write(actor: Actor, smp_row_id: uuid.UUID, what: str) -> None:
    """The SML registry: an SMP changes only its own registrations; the federation operator (API, console or
    command line) those of any SMP."""
    if actor.role in (OPERATOR, SYSTEM) or (actor.role == SMP and actor.scope_id == smp_row_id):
        return
    _deny(f"{what} belongs to another SMP")


def require_handover(actor: Actor) -> None:
    """Who serves a participant (its ``apOperator``) changes only by the federation operator's decision."""
    if actor.role != OPERATOR:
        _deny("apOperator: only the federation operator hands a participant to another access point operator")


def serves(actor: Actor, organisation: Organisation) -> bool:
    participant = organisation if organisation.parent is None else organisation.parent
    return actor.role == AP_OPERATOR and participant.ap_operator_id == actor.scope_id


def administers(actor: Actor, organisation: Organisation) -> bool:
    return actor.role == ORG_ADMIN and owner_of(organisation) == actor.scope_id


def directory_writable(query: Select[Any], actor: Actor) -> Select[Any]:
    """``query`` (over organisations, or joined to them) limited to those whose directory data ``actor`` may
    change: the SQL twin of :func:`require_directory_write` (an ``ou``'s parent is always the ``o``)."""
    if actor.role == OPERATOR:
        return query
    if actor.role == ORG_ADMIN:
        return query.where((Organisation.id == actor.scope_id) | (Organisation.parent_id == actor.scope_id))
    return query.where(Organisation.id.is_(None))


def participants_served(query: Select[Any], actor: Actor) -> Select[Any]:
    """``query`` over organisations limited to the participants whose SMP data ``actor`` may change: the SQL
    twin of :func:`require_smp_write` for organisations of type ``o``."""
    if actor.role == OPERATOR:
        return query.where(Organisation.type == "o")
    if actor.role == AP_OPERATOR:
        return query.where(Organisation.type == "o", Organisation.ap_operator_id == actor.scope_id)
    return query.where(Organisation.id.is_(None))


def endpoints_usable(query: Select[Any], actor: Actor) -> Select[Any]:
    """``query`` over endpoint configurations joined to their access points, limited to those ``actor`` may
    read and use: the SQL twin of :func:`require_endpoint_configuration`."""
    if actor.role == OPERATOR:
        return query
    if actor.role == AP_OPERATOR:
        return query.where(AccessPoint.ap_operator_id == actor.scope_id)
    return query.where(AccessPoint.id.is_(None))


def organisations_readable(query: Select[Any], actor: Actor) -> Select[Any]:
    """``query`` over organisations limited to those ``actor`` may read: the SQL twin of
    :func:`can_read_organisation` (an org admin its own and its ``ou``s, an AP operator the participants it
    serves and their ``ou``s)."""
    if actor.role == ORG_ADMIN:
        return query.where((Organisation.id == actor.scope_id) | (Organisation.parent_id == actor.scope_id))
    if actor.role == AP_OPERATOR:
        served = select(Organisation.id).where(Organisation.ap_operator_id == actor.scope_id)
        return query.where((Organisation.ap_operator_id == actor.scope_id) | Organisation.parent_id.in_(served))
    return query


def pending_changes_readable(query: Select[Any], actor: Actor) -> Select[Any]:
    """``query`` over pending changes limited to those of organisations ``actor`` administers or serves."""
    if actor.role == ORG_ADMIN:
        return query.where(PendingChange.organisation_id == actor.scope_id)
    if actor.role == AP_OPERATOR:
        served = select(Organisation.id).where(Organisation.ap_operator_id == actor.scope_id)
        return query.where(PendingChange.organisation_id.in_(served))
    return query


def ap_operators_readable(query: Select[Any], actor: Actor) -> Select[Any]:
    """``query`` over AP operators: all for the operator, otherwise only the one the actor is scoped to."""
    return query if actor.role == OPERATOR else query.where(AccessPointOperator.id == actor.scope_id)


def access_points_readable(query: Select[Any], actor: Actor) -> Select[Any]:
    """``query`` over access points: all for the operator, an AP operator's own; nobody else reads them."""
    if actor.role == OPERATOR:
        return query
    if actor.role == AP_OPERATOR:
        return query.where(AccessPoint.ap_operator_id == actor.scope_id)
    return query.where(AccessPoint.id.is_(None))


def can_read_organisation(actor: Actor, organisation: Organisation) -> bool:
    return actor.role == OPERATOR or administers(actor, organisation) or serves(actor, organisation)


def require_read_organisation(actor: Actor, organisation: Organisation) -> None:
    if not can_read_organisation(actor, organisation):
        _deny("this organisation is outside your scope")


def require_directory_write(actor: Actor, organisation: Organisation) -> None:
    """Directory data: names, descriptions, sub-organisations, function addresses."""
    if actor.role == OPERATOR or administers(actor, organisation):
        return
    _deny("only the organisation's admin or the federation operator may change its directory data")


def require_smp_write(actor: Actor, organisation: Organisation) -> None:
    """SMP data: services and participant certificates."""
    if actor.role == OPERATOR or serves(actor, organisation):
        return
    _deny("only the access point operator serving this organisation or the federation operator may change its SMP data")


def require_ap_role(actor: Actor) -> None:
    """Registering participants and access points: an access point operator (then for itself: see the
    ``apOperator`` reference) or the federation operator."""
    if actor.role not in (OPERATOR, AP_OPERATOR):
        _deny("only an access point operator or the federation operator may do this")


def can_read_access_point(actor: Actor, access_point: AccessPoint) -> bool:
    return actor.role == OPERATOR or (actor.role == AP_OPERATOR and access_point.ap_operator_id == actor.scope_id)


def require_access_point(actor: Actor, access_point: AccessPoint) -> None:
    if not can_read_access_point(actor, access_point):
        _deny("this access point belongs to another access point operator")


def require_endpoint_configuration(actor: Actor, configuration: EndpointConfiguration) -> None:
    require_access_point(actor, configuration.access_point)


def _directory_target(actor: Actor, organisation: Organisation) -> None:
    if actor.role == OPERATOR or administers(actor, organisation):
        return
    _deny("the organisation it points at is outside your scope")


def _ap_operator_target(actor: Actor, ap_operator_id: uuid.UUID) -> None:
    if actor.role == OPERATOR or (actor.role == AP_OPERATOR and actor.scope_id == ap_operator_id):
        return
    _deny("the access point operator it points at is not you")


def _endpoint_target(actor: Actor, configuration: EndpointConfiguration) -> None:
    if not can_read_access_point(actor, configuration.access_point):
        _deny("the endpoint configuration it points at belongs to another access point operator")


def _access_point_target(actor: Actor, access_point: AccessPoint) -> None:
    if not can_read_access_point(actor, access_point):
        _deny("the access point it points at belongs to another access point operator")


# Every field of a write that points at another resource, and the right the caller needs over that target
# (the same right it would need to write there directly). A write checks the source with the rules above
# and each reference it sets or changes with require_reference; tests/test_api_references.py fails when
# the API grows a reference field that is not here.
REFERENCES: dict[str, Callable[[Actor, Any], None]] = {
    "parent": _directory_target,  # a sub-organisation created under, or moved to, an organisation
    "organisation": _directory_target,  # a function address moved to another (sub-)organisation
    "apOperator": _ap_operator_target,  # who serves a participant; whose an access point is
    "accessPoint": _access_point_target,  # the access point of an endpoint configuration
    "endpointConfiguration": _endpoint_target,  # where a service routes
    "target": _endpoint_target,  # where moved services route
}


def require_reference(actor: Actor, field: str, target: Any) -> None:
    """A write that sets ``field`` to ``target`` (a loaded resource, or an AP operator's id): the caller
    must have the right over the target too, not only over what it changes."""
    try:
        REFERENCES[field](actor, target)
    except Forbidden as denied:
        raise Forbidden(f"{field}: {denied}") from None
