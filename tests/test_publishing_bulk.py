"""Bulk re-publication: many participants in one call, signed in a process pool, stored exactly as one
by one."""

from __future__ import annotations

from sqlalchemy import select

from app.operations.publication import refresh_participant, refresh_participants
from app.publishing import publisher as publisher_module
from app.publishing.publisher import Publisher
from app.registry.models import Organisation, Publication
from app.wiring import wire
from tests.conftest import make_settings


def _stored(db) -> dict:
    with db.reader() as session:
        rows = session.execute(
            select(Publication.flavour, Publication.path_key, Publication.document, Publication.etag)
        )
        return {(flavour, key): (bytes(document), etag) for flavour, key, document, etag in rows}


def _participants(session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).where(Organisation.type == "o").order_by(Organisation.id)))


def test_the_signing_pool_stores_what_signing_one_by_one_stores(api, db, pki_instance_dir, monkeypatch):
    with db.writer() as session:
        for organisation in _participants(session):
            refresh_participant(session, organisation, force=True)
    one_by_one = _stored(db)
    assert len(one_by_one) >= 9

    pooled = Publisher(make_settings(pki_instance_dir, db.url, SDK_PUBLISH_PROCESSES="2"))
    wire(db, pooled.settings, publisher=pooled)
    monkeypatch.setattr(publisher_module, "MIN_DOCUMENTS", 0)  # the demo is small: use the pool anyway
    monkeypatch.setattr(publisher_module, "CHUNK", 1)  # one participant per step: the pipeline runs
    started = []
    real_pool = publisher_module.SigningPool

    def counting_pool(*args, **kwargs):
        started.append(args[1])
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(publisher_module, "SigningPool", counting_pool)
    with db.writer() as session:
        results = refresh_participants(session, _participants(session), force=True)
    assert started == [2]
    assert sum(r.signed for r in results) == len(one_by_one)
    assert _stored(db) == one_by_one  # byte for byte, ETags included


def test_bulk_refresh_withdraws_and_keeps_dns_in_step(api, db):
    from app.registry.models import DnsRecord, ParticipantService, SmlParticipant

    with db.writer() as session:
        organisations = _participants(session)
        first = organisations[0]
        for service in session.scalars(
            select(ParticipantService).where(ParticipantService.organisation_id == first.id)
        ):
            session.delete(service)
        session.flush()
        results = refresh_participants(session, organisations)
    assert not results[0].published and results[0].withdrawn > 0
    assert all(r.published and r.signed == 0 for r in results[1:])  # nothing else changed: no signature
    with db.reader() as session:
        assert session.scalar(select(Publication).where(Publication.organisation_id == first.id)) is None
        registered = set(
            session.scalars(select(SmlParticipant.value).join(DnsRecord, DnsRecord.participant_id == SmlParticipant.id))
        )
        assert first.participant_value not in registered
        assert {o.participant_value for o in organisations[1:]} <= registered
