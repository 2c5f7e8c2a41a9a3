"""The tamper-evident audit trail: who changed what, when, before and after."""

from app.audit.actions import Action
from app.audit.actor import SYSTEM_ACTOR, Actor
from app.audit.chain import record, snapshot, verify

__all__ = ["SYSTEM_ACTOR", "Action", "Actor", "record", "snapshot", "verify"]
