"""After any change to what a participant publishes: its SMP documents and its DNS records, together."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.dns.outbox import sync_participant
from app.publishing.publisher import PublishResult, republish
from app.registry.models import Organisation


def refresh_participant(session: Session, organisation: Organisation, *, force: bool = False) -> PublishResult:
    """Re-publish (or withdraw) the participant's SMP documents and DNS records in this transaction."""
    result = republish(session, organisation, force=force)
    if organisation.type == "o":
        sync_participant(session, organisation, published=result.published)
    return result
