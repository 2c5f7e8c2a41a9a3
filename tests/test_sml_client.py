"""This service's SMP under an external SML: approvals and withdrawals reach the SML through the client's
outbox, in order, with retries; refusals and outages are counted and shown. The SML here is a second
instance of the service on its own database, reached over a real socket."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from app import create_app, demo, schema
from app.audit import Actor
from app.identifiers import ParticipantId, WrittenParticipant
from app.operations import organisations, sml_participants
from app.registry.columns import utcnow
from app.registry.models import DnsRecord, Organisation, SmlClientChange, SmlClientState, SmlParticipant, Smp
from app.sml.client import ClientOutbox, SmlClient, SmlRefusal
from app.status import sml_state
from app.trust.devpki import DevelopmentPki
from app.wiring import open_database, wire
from tests.conftest import make_settings
from tests.named import free_port
from tests.sml_support import register, serving, smp_identity

OPERATOR = Actor("op", "operator")


@pytest.fixture(scope="session")
def identity(pki_instance_dir, tmp_path_factory):
    return smp_identity(DevelopmentPki(pki_instance_dir / "pki"), tmp_path_factory.mktemp("sml-client"), "SMP-B")


@pytest.fixture
def sml(tmp_path, pki_instance_dir, identity):
    """Another instance as the SML, with SMP-B registered; its database and its base URL."""
    settings = make_settings(pki_instance_dir, f"sqlite:///{tmp_path / 'sml.sqlite3'}")
    database = open_database(settings)
    schema.upgrade(database)
    register(database, identity, address="https://smp-b.example.se/smp")
    with serving(create_app(settings, database=database)) as base:
        yield database, base
    database.dispose()


def smp_settings(pki_instance_dir, db, identity, base: str, smp_id: str = "SMP-B"):
    return make_settings(
        pki_instance_dir,
        db.url,
        SDK_SML_URL=f"{base}/sml",
        SDK_SML_SMP_ID=smp_id,
        SDK_SML_CLIENT_CERT=str(identity.pair.certificate),
        SDK_SML_CLIENT_KEY=str(identity.pair.key),
    )


def outbox(settings, db, identity) -> ClientOutbox:
    """The client as it runs in the worker; plain HTTP here, so the header a TLS proxy would add is sent along."""
    session = requests.Session()
    session.headers["Client-Cert"] = identity.header
    return ClientOutbox(settings, db, SmlClient(settings, session))


def registered_at_sml(database) -> dict[str, str]:
    with database.reader() as session:
        rows = session.execute(select(SmlParticipant.value, Smp.smp_id).join(Smp, Smp.id == SmlParticipant.smp_id))
        return dict(rows.all())


def pending(db) -> int:
    with db.reader() as session:
        return len(session.scalars(select(SmlClientChange).where(SmlClientChange.applied_at.is_(None))).all())


def test_approved_participants_reach_the_sml_and_leave_it(db, pki_instance_dir, identity, sml):
    sml_database, base = sml
    settings = smp_settings(pki_instance_dir, db, identity, base)
    wire(db, settings)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    assert pending(db) == 3
    with db.reader() as session:
        assert session.scalar(select(DnsRecord)) is None  # the external SML publishes them, not this zone
    assert outbox(settings, db, identity).drain() == 3
    assert registered_at_sml(sml_database) == {
        "0203:exempelkommun.se": "SMP-B",
        "0203:exempelmyndigheten.se": "SMP-B",
        "0203:regionexempel.se": "SMP-B",
    }
    with db.writer() as session:
        kommun = session.scalar(select(Organisation).where(Organisation.participant_value == "0203:exempelkommun.se"))
        organisations.change_status(session, OPERATOR, kommun.id, "suspend")
        organisations.change_status(session, OPERATOR, kommun.id, "reinstate")
        organisations.change_status(session, OPERATOR, kommun.id, "suspend")
    assert outbox(settings, db, identity).drain() == 3  # delete, create, delete: in order
    assert "0203:exempelkommun.se" not in registered_at_sml(sml_database)
    with db.reader() as session:
        state = sml_state(session, settings, utcnow())
    assert (state.client.pending, state.client.errors, state.local_participants) == (0, 0, 2)
    assert state.client.last_applied_at is not None


def test_an_outage_waits_with_back_off_and_loses_nothing(db, pki_instance_dir, identity, sml):
    sml_database, base = sml
    down = f"http://127.0.0.1:{free_port()}"
    settings = smp_settings(pki_instance_dir, db, identity, down)
    wire(db, settings)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    sender = outbox(settings, db, identity)
    assert sender.send_once() == 0
    assert sender.send_once() == 0  # backing off: not even tried
    with db.reader() as session:
        head = session.scalars(select(SmlClientChange).order_by(SmlClientChange.id)).first()
        state = session.get(SmlClientState, 1)
        status = sml_state(session, settings, utcnow())
    assert head.attempts == 1 and head.next_attempt_at is not None and "ConnectionError" in head.last_error
    assert state.errors == 1 and status.client.pending == 3 and status.client.last_error == head.last_error
    # Back: the same changes go to the SML once the back-off has passed.
    up = outbox(smp_settings(pki_instance_dir, db, identity, base), db, identity)
    with db.writer() as session:
        session.scalars(select(SmlClientChange).order_by(SmlClientChange.id)).first().next_attempt_at = None
    assert up.drain() == 3 and pending(db) == 0
    assert len(registered_at_sml(sml_database)) == 3


def test_refusals_are_recorded_and_what_the_sml_has_already_counts_as_done(db, pki_instance_dir, identity, sml):
    sml_database, base = sml
    settings = smp_settings(pki_instance_dir, db, identity, base)
    wire(db, settings)
    # The SML has one participant of SMP-B already, and another SMP holds a second one.
    other = smp_identity(DevelopmentPki(pki_instance_dir / "pki"), settings.instance_dir, "SMP-OTHER")
    register(sml_database, other, address="https://other.example.se/smp")
    with sml_database.writer() as session:
        smp_b = session.scalar(select(Smp).where(Smp.smp_id == "SMP-B"))
        smp_other = session.scalar(select(Smp).where(Smp.smp_id == "SMP-OTHER"))
        scheme = "iso6523-actorid-upis"
        sml_participants.create(session, OPERATOR, smp_b, [WrittenParticipant(scheme, "0203:exempelkommun.se")])
        sml_participants.create(session, OPERATOR, smp_other, [WrittenParticipant(scheme, "0203:regionexempel.se")])
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    sender = outbox(settings, db, identity)
    assert sender.send_once() == 0  # the list is refused; one by one: the kommun is done, the region is not
    with db.reader() as session:
        head = session.scalars(select(SmlClientChange).order_by(SmlClientChange.id)).first()
    assert "0203:regionexempel.se" in head.last_error and "registered by another SMP" in head.last_error
    assert registered_at_sml(sml_database)["0203:regionexempel.se"] == "SMP-OTHER"
    # An SML that does not know this SMP refuses too, with its reason kept.
    stranger = smp_settings(pki_instance_dir, db, identity, base, smp_id="SMP-UNKNOWN")
    client = SmlClient(stranger, requests.Session())
    client.http.headers["Client-Cert"] = identity.header
    with pytest.raises(SmlRefusal) as refused:
        client.create([ParticipantId(head.scheme, head.value)])
    assert refused.value.kind == "NotFoundFault" and "SMP-UNKNOWN" in refused.value.message


def test_the_smp_registers_and_checks_itself(db, pki_instance_dir, identity, sml):
    _database, base = sml
    settings = smp_settings(pki_instance_dir, db, identity, base)
    client = SmlClient(settings, requests.Session())
    client.http.headers["Client-Cert"] = identity.header
    assert client.read_smp() == ("https://smp-b.example.se/smp", "192.0.2.10")
    client.register_smp("https://smp-b.example.se/ny", "192.0.2.11", update=True)
    assert client.read_smp() == ("https://smp-b.example.se/ny", "192.0.2.11")
