"""Which audit events an actor may read, narrowed by the usual filters (API and console share it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select

from app.audit.actor import Actor
from app.registry.models import AuditEvent, AuditEventScope, Organisation

FILTERS = {
    "entity_type": AuditEvent.entity_type,
    "entity_id": AuditEvent.entity_id,
    "actor": AuditEvent.actor,
    "action": AuditEvent.action,
}


def readable_events(actor: Actor, filters: dict[str, Any]) -> Select[Any]:
    """An organisation admin reads its organisation's events, an AP operator those of the organisations it
    serves and of its own access points, the operator all; an event an extra scope names (the other side
    of a move) is read there too; ``filters``: the keys of FILTERS plus ``since``/``until`` (datetimes)."""
    query = select(AuditEvent)
    if actor.role == "org_admin":
        query = query.where(
            _concerns(AuditEvent.organisation_id == actor.scope_id, AuditEventScope.scope_id == actor.scope_id)
        )
    elif actor.role == "ap_operator":
        served = select(Organisation.id).where(Organisation.ap_operator_id == actor.scope_id)
        query = query.where(
            _concerns(
                AuditEvent.organisation_id.in_(served),
                or_(AuditEventScope.scope_id == actor.scope_id, AuditEventScope.scope_id.in_(served)),
            )
        )
    elif actor.role != "operator":
        query = query.where(AuditEvent.id.is_(None))
    for field, column in FILTERS.items():
        if filters.get(field):
            query = query.where(column == filters[field])
    since: datetime | None = filters.get("since")
    until: datetime | None = filters.get("until")
    if since:
        query = query.where(AuditEvent.occurred_at >= since)
    if until:
        query = query.where(AuditEvent.occurred_at < until)
    return query


def _concerns(own: ColumnElement[bool], named_scope: ColumnElement[bool]) -> ColumnElement[bool]:
    """Events of the actor's own organisations, or with an extra scope that ``named_scope`` accepts."""
    named = select(AuditEventScope.event_id).where(named_scope)
    return or_(own, AuditEvent.id.in_(named))
