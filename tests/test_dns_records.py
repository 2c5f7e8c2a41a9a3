"""DNS records of participants: computed from settings, kept in step with publication, with an outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import demo
from app.audit import Actor
from app.dns.records import apex_records, participant_records
from app.identifiers import ParticipantId
from app.operations import organisations
from app.registry.models import DnsChange, DnsRecord, DnsState, Organisation, SmlParticipant
from app.trust.devpki import DevelopmentPki
from tests.conftest import make_settings

OPERATOR = Actor("op", "operator")
DIGG = ParticipantId.parse("0203:digg.se")


def test_naptr_record_points_at_the_smp(tmp_path):
    settings = make_settings(
        tmp_path, "sqlite://", SDK_PUBLIC_URL="https://smp.example.se", SDK_SML_ZONE="sml.example.se", SDK_DNS_TTL="120"
    )
    [record] = participant_records(DIGG, settings)
    assert record.name == "72chqpy5ohsq6xr4iy7fdoegwgqcf5mmnoj5tbwqifxcvjumf52a.iso6523-actorid-upis.sml.example.se"
    assert (record.rtype, record.ttl) == ("NAPTR", 120)
    assert record.rdata == '100 10 "U" "Meta:SMP" "!^.*$!https://smp.example.se/smp!" .'


@pytest.mark.parametrize(
    ("flavour", "service", "address"),
    [
        ("oasis1", "Meta:SMP", "https://smp.example.se/smp"),
        ("peppol", "Meta:SMP", "https://smp.example.se/smp/peppol"),
        ("oasis2", "oasis-bdxr-smp-2", "https://smp.example.se/smp"),  # SMP 2.0 clients add /bdxr-smp-2
    ],
)
def test_the_naptr_record_leads_to_the_flavour_the_setting_names(tmp_path, flavour, service, address):
    settings = make_settings(
        tmp_path, "sqlite://", SDK_PUBLIC_URL="https://smp.example.se", SDK_DNS_SMP_FLAVOUR=flavour
    )
    [record] = participant_records(DIGG, settings)
    assert record.rdata == f'100 10 "U" "{service}" "!^.*$!{address}!" .'


def test_cname_records_when_asked(tmp_path):
    settings = make_settings(
        tmp_path,
        "sqlite://",
        SDK_PUBLIC_URL="https://smp.example.se",
        SDK_SML_ZONE="sml.example.se",
        SDK_DNS_RECORD_TYPES="all",
    )
    records = {r.rtype: r for r in participant_records(DIGG, settings)}
    assert records["CNAME"].name.startswith("b-") and records["CNAME"].name.endswith(
        ".iso6523-actorid-upis.sml.example.se"
    )
    assert records["CNAME"].rdata == "smp.example.se."


def test_a_cname_never_points_at_an_address(tmp_path):
    settings = make_settings(
        tmp_path, "sqlite://", SDK_PUBLIC_URL="http://127.0.0.1:8080", SDK_DNS_RECORD_TYPES="cname"
    )
    [record] = participant_records(DIGG, settings)
    assert record.rdata == "smp.sml.sdk-addressbook.test."
    apex = {(r.name, r.rtype): r.rdata for r in apex_records(settings, 7)}
    assert apex[("smp.sml.sdk-addressbook.test", "A")] == "127.0.0.1"
    assert apex[("sml.sdk-addressbook.test", "SOA")].split()[2] == "7"


@pytest.fixture
def seeded(db, settings):
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    return db


def _serial(db) -> int:
    with db.reader() as session:
        return session.scalar(select(DnsState.serial))


def test_approved_participants_have_records_and_outbox_rows(seeded):
    with seeded.reader() as session:
        names = sorted(session.scalars(select(DnsRecord.name)))
        changes = session.execute(select(DnsChange.operation, DnsChange.name)).all()
    assert len(names) == 3
    assert all(name.endswith(".iso6523-actorid-upis.sml.sdk-addressbook.test") for name in names)
    assert sorted(name for _, name in changes) == names
    assert {operation for operation, _ in changes} == {"upsert"}


def test_suspension_deletes_and_moves_the_serial(seeded):
    before = _serial(seeded)
    with seeded.writer() as session:
        organisation = session.scalar(
            select(Organisation).where(Organisation.participant_value == "0203:regionexempel.se")
        )
        organisations.change_status(session, OPERATOR, organisation.id, "suspend")
    with seeded.reader() as session:
        assert session.scalar(select(SmlParticipant).where(SmlParticipant.value == "0203:regionexempel.se")) is None
        assert len(session.scalars(select(DnsRecord)).all()) == 2
        last = session.scalars(select(DnsChange).order_by(DnsChange.id.desc())).first()
    assert (last.operation, last.rdata) == ("delete", None)
    assert _serial(seeded) == before + 1


def test_unchanged_participants_write_nothing(seeded, settings):
    before = _serial(seeded)
    with seeded.writer() as session:
        organisation = session.scalar(
            select(Organisation).where(Organisation.participant_value == "0203:regionexempel.se")
        )
        organisations.update_organisation(session, OPERATOR, organisation.id, {"name": "Region Exempel (ny)"})
    assert _serial(seeded) == before


def test_a_settings_change_is_applied_by_republishing(seeded, pki_instance_dir):
    from app.operations.publication import refresh_participant
    from app.wiring import wire

    new = make_settings(pki_instance_dir, seeded.url, SDK_PUBLIC_URL="https://smp.ny.example.se")
    wire(seeded, new)
    with seeded.writer() as session:
        for organisation in session.scalars(select(Organisation).where(Organisation.type == "o")):
            refresh_participant(session, organisation)
    with seeded.reader() as session:
        rdatas = set(session.scalars(select(DnsRecord.rdata)))
    assert rdatas == {'100 10 "U" "Meta:SMP" "!^.*$!https://smp.ny.example.se/smp!" .'}
    # the flavour is a setting like the others: re-publishing leads every record to the Peppol base
    wire(seeded, make_settings(pki_instance_dir, seeded.url, SDK_DNS_SMP_FLAVOUR="peppol"))
    with seeded.writer() as session:
        for organisation in session.scalars(select(Organisation).where(Organisation.type == "o")):
            refresh_participant(session, organisation)
    with seeded.reader() as session:
        assert {rdata.split("!")[2] for rdata in session.scalars(select(DnsRecord.rdata))} == {
            "http://127.0.0.1:8080/smp/peppol"
        }
