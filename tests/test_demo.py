"""seed-demo builds the demo federation through the use cases; a second run changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import demo
from app.registry.models import (
    AccessPoint,
    AuditEvent,
    FunctionAddress,
    Organisation,
    ParticipantCertificate,
    ParticipantService,
)
from app.trust.devpki import ensure_development_pki


@pytest.fixture
def pki(settings):
    return ensure_development_pki(
        settings.pki_dir, access_points=[demo.AP_ID], participants=demo.participants_of_demo()
    )


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_seed_builds_the_demo_federation_once(db, settings, pki):
    with db.writer() as session:
        assert demo.seed(session, settings, pki) is True
    with db.reader() as session:
        participants = session.scalars(select(Organisation).where(Organisation.type == "o")).all()
        assert sorted(o.participant_value for o in participants) == sorted(demo.participants_of_demo())
        assert {o.federation_status for o in participants} == {"approved"}
        assert count(session, Organisation, Organisation.type == "ou") == 1
        assert count(session, FunctionAddress) == 6
        assert count(session, ParticipantService) == 3 * len(settings.document_types)
        assert count(session, ParticipantCertificate) == 6
        assert session.scalar(select(AccessPoint.ap_id)) == "AP0001-DEMO"
        events_after_first_run = count(session, AuditEvent)
    with db.writer() as session:
        assert demo.seed(session, settings, pki) is False
    with db.reader() as session:
        assert count(session, AuditEvent) == events_after_first_run
        assert count(session, FunctionAddress) == 6


def test_seed_completes_a_partial_federation(db, settings, pki):
    with db.writer() as session:
        demo.seed(session, settings, pki)
    with db.writer() as session:
        address = session.scalar(
            select(FunctionAddress).where(FunctionAddress.identifier == demo.ORGANISATIONS[2].functions[1].identifier)
        )
        session.delete(address)
    with db.writer() as session:
        assert demo.seed(session, settings, pki) is True
    with db.reader() as session:
        assert count(session, FunctionAddress) == 6
