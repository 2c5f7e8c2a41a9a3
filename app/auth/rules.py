"""Who may do what: every authorisation rule of the management API, in one place.

Roles (DESIGN §1): ``operator`` may do everything; ``ap_operator`` (scoped to one access-point operator)
manages its own access points and endpoint configurations and the SMP data of the organisations it
serves, and may register new participants (they start pending); ``org_admin`` (scoped to one
organisation of type ``o``) manages its organisation's directory data, sub-organisations and function
addresses, and reads its SMP data. A rule that fails raises :class:`Forbidden` with the reason.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select

from app.audit import Actor
from app.registry.models import AccessPoint, EndpointConfiguration, Organisation

OPERATOR, AP_OPERATOR, ORG_ADMIN = "operator", "ap_operator", "org_admin"


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


def serves(actor: Actor, organisation: Organisation) -> bool:
    participant = organisation if organisation.parent is None else organisation.parent
    return actor.role == AP_OPERATOR and participant.ap_operator_id == actor.scope_id


def administers(actor: Actor, organisation: Organisation) -> bool:
    return actor.role == ORG_ADMIN and owner_of(organisation) == actor.scope_id


def directory_writable(query: Select, actor: Actor) -> Select:
    """``query`` (over organisations, or joined to them) limited to those whose directory data ``actor`` may
    change: the SQL twin of :func:`require_directory_write` (an ``ou``'s parent is always the ``o``)."""
    if actor.role == OPERATOR:
        return query
    if actor.role == ORG_ADMIN:
        return query.where((Organisation.id == actor.scope_id) | (Organisation.parent_id == actor.scope_id))
    return query.where(Organisation.id.is_(None))


def participants_served(query: Select, actor: Actor) -> Select:
    """``query`` over organisations limited to the participants whose SMP data ``actor`` may change: the SQL
    twin of :func:`require_smp_write` for organisations of type ``o``."""
    if actor.role == OPERATOR:
        return query.where(Organisation.type == "o")
    if actor.role == AP_OPERATOR:
        return query.where(Organisation.type == "o", Organisation.ap_operator_id == actor.scope_id)
    return query.where(Organisation.id.is_(None))


def endpoints_usable(query: Select, actor: Actor) -> Select:
    """``query`` over endpoint configurations joined to their access points, limited to those ``actor`` may
    read and use: the SQL twin of :func:`require_endpoint_configuration`."""
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


def require_parent(actor: Actor, parent: Organisation) -> None:
    """A write that puts something under ``parent`` (a new ``ou``, an ``ou`` moved): the caller must be
    allowed to change ``parent``'s directory data too, not only the thing it moves."""
    if actor.role == OPERATOR or administers(actor, parent):
        return
    _deny("the new parent organisation is outside your scope")


def require_smp_write(actor: Actor, organisation: Organisation) -> None:
    """SMP data: services and participant certificates."""
    if actor.role == OPERATOR or serves(actor, organisation):
        return
    _deny("only the access point operator serving this organisation or the federation operator may change its SMP data")


def require_register_participant(actor: Actor, ap_operator_id: uuid.UUID | None) -> None:
    if actor.role == OPERATOR:
        return
    if actor.role == AP_OPERATOR and ap_operator_id in (None, actor.scope_id):
        return
    _deny("only an access point operator (for itself) or the federation operator may register participants")


def can_read_access_point(actor: Actor, access_point: AccessPoint) -> bool:
    return actor.role == OPERATOR or (actor.role == AP_OPERATOR and access_point.ap_operator_id == actor.scope_id)


def require_access_point(actor: Actor, access_point: AccessPoint) -> None:
    if not can_read_access_point(actor, access_point):
        _deny("this access point belongs to another access point operator")


def require_endpoint_configuration(actor: Actor, configuration: EndpointConfiguration) -> None:
    require_access_point(actor, configuration.access_point)


def require_ap_operator(actor: Actor, ap_operator_id: uuid.UUID) -> None:
    if actor.role == OPERATOR or (actor.role == AP_OPERATOR and actor.scope_id == ap_operator_id):
        return
    _deny("this access point operator is outside your scope")
