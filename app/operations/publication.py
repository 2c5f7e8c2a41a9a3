"""After any change to what a participant publishes: its SMP documents and its registration (DNS), together."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.database import publisher_of
from app.publishing.publisher import PublishResult
from app.registry.models import Organisation
from app.sml.registrations import sync_local


def refresh_participant(session: Session, organisation: Organisation, *, force: bool = False) -> PublishResult:
    """Re-publish (or withdraw) the participant's SMP documents and its registration in the SML (its DNS records,
    or, under an external SML, the change queued for it) in this transaction."""
    return refresh_participants(session, [organisation], force=force)[0]


def refresh_participants(
    session: Session, organisations: Sequence[Organisation], *, force: bool = False
) -> list[PublishResult]:
    """:func:`refresh_participant` of many in one go (bulk changes: reads batched, signing on every core)."""
    results = publisher_of(session).republish_many(session, organisations, force=force)
    sync_local(session, [(o, results[o.id].published) for o in organisations if o.type == "o"])
    return [results[o.id] for o in organisations]
