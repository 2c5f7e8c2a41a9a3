"""The audit chain: intact after normal use, broken (and located) after tampering, linear under concurrency."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import delete, select, update

from app import audit
from app.audit import Action, Actor
from app.registry.models import AuditEvent, AuditEventScope
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


def test_the_extra_scopes_of_an_event_are_covered_by_its_hash(db):
    """Who else may read an event is part of it: adding or removing a scope breaks the chain there."""
    other, mallory = uuid.uuid4(), uuid.uuid4()
    _append(db, 1)
    with db.writer() as session:
        moved = audit.record(
            session, WRITER, Action.CODE_CREATE, "code", "x", organisation_id=None, also_visible_to=[other]
        )
        moved_id = moved.id
    _append(db, 1)
    with db.reader() as session:
        assert audit.verify(session).intact
        assert session.get(AuditEvent, moved_id).also_visible_to == [other]
    with db.writer() as session:
        session.add(AuditEventScope(event_id=moved_id, scope_id=mallory))
    with db.reader() as session:
        assert audit.verify(session).first_broken_id == moved_id
    with db.writer() as session:
        session.execute(delete(AuditEventScope).where(AuditEventScope.event_id == moved_id))
    with db.reader() as session:
        assert audit.verify(session).first_broken_id == moved_id


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


# -- the checkpoint: an anchor kept outside the database ----------------------------------------------


def _recompute_chain_from(db, first_id: int, actor: str = "mallory") -> None:
    """What someone who can write the database does: change an event and compute every later hash again."""
    with db.writer() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.id >= first_id).order_by(AuditEvent.id)).all()
        previous = session.scalar(
            select(AuditEvent.hash).where(AuditEvent.id < first_id).order_by(AuditEvent.id.desc())
        )
        previous = previous or audit.chain.GENESIS
        for index, event in enumerate(events):
            if index == 0:
                event.actor = actor
            event.previous_hash = previous
            event.hash = audit.chain.event_hash(previous, audit.chain._content(event))
            previous = event.hash


def test_a_checkpoint_catches_tail_deletion_and_a_recomputed_chain(db, settings, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from app.cli import cli

    monkeypatch.setenv("SDK_INSTANCE_DIR", str(settings.instance_dir))
    monkeypatch.setenv("SDK_DATABASE_URL", db.url)
    monkeypatch.setenv("SDK_ENV_FILE", "/nonexistent.env")
    saved = tmp_path / "checkpoint.json"
    runner = CliRunner()
    _append(db, 5)
    first = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(saved)])
    assert first.exit_code == 0 and "checkpoint at event" in first.output, first.output
    _append(db, 2)
    assert runner.invoke(cli, ["audit", "verify", "--checkpoint", str(saved)]).exit_code == 0  # moves forward
    kept = saved.read_text()

    # The newest events deleted: the plain chain still verifies, the checkpoint does not.
    with db.reader() as session:
        ids = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
    with db.writer() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id >= ids[-2]))
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    deleted = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(saved)])
    assert deleted.exit_code == 1 and "events were deleted" in deleted.output

    # A changed event with every later hash recomputed: intact as a chain, caught by the checkpoint.
    saved.unlink()
    assert runner.invoke(cli, ["audit", "verify", "--checkpoint", str(saved)]).exit_code == 0  # a new anchor
    _recompute_chain_from(db, ids[1])
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    recomputed = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(saved)])
    assert recomputed.exit_code == 1 and "computed again" in recomputed.output

    # A forged checkpoint file is not taken at its word.
    forged = kept.replace('"sequence": ', '"sequence": 1', 1)
    saved.write_text(forged)
    refused = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(saved)])
    assert refused.exit_code == 1 and "not signed by this service" in refused.output


def test_the_head_is_published_signed(api, settings):
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from app.audit.checkpoint import Checkpoint

    body = api("GET", "/api/v1/audit-events/head").get_json()
    assert body["sequence"] > 0 and len(body["hash"]) == 64
    certificate = x509.load_pem_x509_certificate((settings.pki_dir / "smp-signing.crt").read_bytes())
    checkpoint = Checkpoint.from_dict(body)
    certificate.public_key().verify(
        base64.b64decode(body["signature"]), checkpoint.payload(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert api("GET", "/api/v1/audit-events/head", "kommun").status_code == 403
    metrics = api.client.get("/metrics").get_data(as_text=True)
    assert f"\nsdk_audit_head_sequence {body['sequence']}\n" in metrics


# -- the checkpoints the worker writes itself ------------------------------------------------------------


def test_the_worker_moves_its_checkpoint_forward_and_stops_at_a_broken_chain(db, settings, tmp_path):
    """Each round checks the saved checkpoint, then signs the new head; once the chain no longer reaches
    it (newest events deleted, or an event after it changed) the file stays as the evidence."""
    import json

    from app.audit.anchor import CheckpointKeeper, read_checkpoint
    from app.publishing.keys import load_signing_credentials

    credentials = load_signing_credentials(settings)
    path = tmp_path / "checkpoint.json"
    keeper = CheckpointKeeper(db, path, credentials, interval=60)
    assert keeper.round().sequence == 0 and read_checkpoint(path, credentials).sequence == 0  # an empty chain
    _append(db, 3)
    first = keeper.round()
    _append(db, 2)
    second = keeper.round()
    assert second.sequence > first.sequence and read_checkpoint(path, credentials) == second
    assert "sdk_audit_checkpoint_intact 1\n" in keeper.status.metrics()

    _append(db, 1)  # an event after the checkpoint, then changed (its hash left alone)
    with db.reader() as session:
        newest = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    with db.writer() as session:
        session.get(AuditEvent, newest.id).actor = "mallory"
    kept = path.read_text()
    assert keeper.round() is None and "content does not match" in keeper.status.problem
    assert path.read_text() == kept and "sdk_audit_checkpoint_intact 0\n" in keeper.status.metrics()
    with db.writer() as session:
        session.get(AuditEvent, newest.id).actor = WRITER.name  # put right: the keeper still waits for a person
    assert keeper.round() is None and path.read_text() == kept

    fresh = CheckpointKeeper(db, path, credentials, interval=60)  # e.g. the worker restarted after a look
    assert fresh.round() is not None
    with db.writer() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id >= newest.id - 1))
    assert fresh.round() is None and "events were deleted" in fresh.status.problem
    assert json.loads(path.read_text())["sequence"] == newest.id


def test_the_worker_refuses_a_checkpoint_it_did_not_sign(db, settings, tmp_path):
    from app.audit.anchor import CheckpointKeeper
    from app.publishing.keys import load_signing_credentials

    path = tmp_path / "checkpoint.json"
    path.write_text('{"sequence": 0, "hash": "' + "0" * 64 + '", "takenAt": "2026-01-01T00:00:00+00:00"}')
    keeper = CheckpointKeeper(db, path, load_signing_credentials(settings), interval=60)
    assert keeper.round() is None and "not signed" in keeper.status.problem
    path.write_bytes(b"\xff\xfe not json")
    assert CheckpointKeeper(db, path, load_signing_credentials(settings), interval=60).round() is None
