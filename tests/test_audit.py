"""The audit chain: intact after normal use, broken (and located) after tampering, linear under concurrency."""

from __future__ import annotations

import threading

from sqlalchemy import delete, select, update

from app import audit
from app.audit import Action, Actor
from app.registry.models import AuditEvent
from tests.factories import create_organisation

WRITER = Actor("a", "operator")


def _append(db, count, actor=WRITER):
    for n in range(count):
        with db.writer() as session:
            audit.record(session, actor, Action.CODE_CREATE, "code", f"id-{n}", after={"n": n, "text": "åäö"})


def test_an_untouched_chain_verifies(db):
    _append(db, 5)
    with db.reader() as session:
        report = audit.verify(session)
    assert report.intact and report.checked == 5


def test_a_changed_event_is_reported_by_id(db):
    _append(db, 5)
    with db.reader() as session:
        third = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()[2]
    with db.writer() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == third).values(actor="mallory"))
    with db.reader() as session:
        report = audit.verify(session)
    assert (report.first_broken_id, report.checked) == (third, 2)
    assert "changed" in report.reason


def test_a_deleted_event_is_reported(db):
    _append(db, 5)
    with db.reader() as session:
        ids = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
    with db.writer() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[1]))
    with db.reader() as session:
        report = audit.verify(session)
    assert report.first_broken_id == ids[2]
    assert "removed or inserted" in report.reason


def test_a_rehashed_forgery_still_breaks_the_link_to_the_next_event(db):
    _append(db, 3)
    with db.reader() as session:
        first = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
        content = audit.chain._content(first)
    content["actor"] = "mallory"
    forged = audit.chain.event_hash(first.previous_hash, content)
    with db.writer() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(actor="mallory", hash=forged))
    with db.reader() as session:
        report = audit.verify(session)
    assert report.first_broken_id == first.id + 1


def test_concurrent_writers_keep_one_linear_chain(db):
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            _append(db, 15, Actor(name, "operator"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"writer-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.reader() as session:
        report = audit.verify(session)
        hashes = session.scalars(select(AuditEvent.previous_hash)).all()
    assert report.intact and report.checked == 60
    assert len(set(hashes)) == 60  # no two events link to the same predecessor


def test_organisation_snapshot_leaves_secrets_out(db):
    from app.operations.credentials import issue_token

    with db.writer() as session:
        issued = issue_token(session, Actor("root", "system"), name="ci", role="operator")
    with db.reader() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "credential:create"))
    assert "token_hash" not in event.after
    assert issued.token not in str(event.after)


def test_organisation_events_carry_the_owner(db):
    with db.writer() as session:
        organisation = create_organisation(session)
    with db.reader() as session:
        assert session.scalar(select(AuditEvent.organisation_id)) == organisation.id
