"""The SML's SOAP interface driven by an independent client: zeep, built from the official Peppol/BDMSL WSDLs,
over a real socket, on SQLite and PostgreSQL. Every operation, every fault."""

from __future__ import annotations

from datetime import timedelta

import pytest
import zeep
from lxml import etree
from sqlalchemy import func, select

from app import create_app
from app.dns.naming import naptr_name
from app.registry.columns import utcnow
from app.registry.models import AuditEvent, DnsRecord, SmlMigration, SmlParticipant, Smp
from app.trust.devpki import DevelopmentPki
from tests.conftest import make_settings
from tests.sml_support import SmlClients, foreign_ca, identifier, register, serving, smp_identity

ZONE = "sml.sdk-addressbook.test"
KEY = "Ab1@cd2#Ef3$"


@pytest.fixture(scope="session")
def identities(pki_instance_dir, tmp_path_factory):
    pki = DevelopmentPki(pki_instance_dir / "pki")
    folder = tmp_path_factory.mktemp("smp-identities")
    foreign = foreign_ca(folder)
    return {
        "a": smp_identity(pki, folder, "SMP-A"),
        "b": smp_identity(pki, folder, "SMP-B"),
        "new": smp_identity(pki, folder, "SMP-NEW"),
        "a2": smp_identity(pki, folder, "SMP-A-RENEWED"),
        "foreign": smp_identity(pki, folder, "SMP-FOREIGN", issuer=foreign),
    }


@pytest.fixture
def sml(app, db, identities):
    register(db, identities["a"])
    register(db, identities["b"])
    with serving(app) as base:
        yield base


@pytest.fixture
def a(sml, identities):
    return SmlClients(sml, identities["a"].header)


@pytest.fixture
def b(sml, identities):
    return SmlClients(sml, identities["b"].header)


def refused(call, *args, **kwargs) -> tuple[str, str]:
    """The fault element's name (from the WSDL) and the message, of a call that must fail."""
    with pytest.raises(zeep.exceptions.Fault) as raised:
        call(*args, **kwargs)
    detail = raised.value.detail
    assert detail is not None, "a SOAP fault without the WSDL's fault element in its detail"
    [kind] = [etree.QName(element).localname for element in detail]
    assert detail[0][0].text == raised.value.message  # FaultMessage repeats the faultstring
    return kind, raised.value.message


def owner_of(db, value: str) -> str | None:
    with db.reader() as session:
        return session.scalar(
            select(Smp.smp_id)
            .join(SmlParticipant, SmlParticipant.smp_id == Smp.id)
            .where(SmlParticipant.value == value)
        )


def naptr_of(db, value: str) -> str | None:
    name = naptr_name("iso6523-actorid-upis", value, ZONE)
    with db.reader() as session:
        return session.scalar(select(DnsRecord.rdata).where(DnsRecord.name == name, DnsRecord.rtype == "NAPTR"))


# -- ManageParticipantIdentifier -------------------------------------------------------------------


def test_create_list_and_delete_one_participant(db, a):
    assert (
        a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:Ett.SE"))
        is None
    )
    assert owner_of(db, "0203:ett.se") == "SMP-A"
    assert naptr_of(db, "0203:ett.se") == '100 10 "U" "Meta:SMP" "!^.*$!https://smp-a.example.se/smp!" .'
    page = a.participants.List(ServiceMetadataPublisherID="SMP-A")
    assert [(p["scheme"], p["_value_1"]) for p in page.ParticipantIdentifier] == [
        ("iso6523-actorid-upis", "0203:ett.se")
    ]
    assert page.NextPageIdentifier is None
    a.participants.Delete(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:ett.se"))
    assert owner_of(db, "0203:ett.se") is None and naptr_of(db, "0203:ett.se") is None
    with db.reader() as session:
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "smp:SMP-A").order_by(AuditEvent.id))
        )
    assert actions == ["sml_participant:create", "sml_participant:delete"]


def test_lists_are_created_paged_and_deleted_whole(db, a):
    values = [f"0203:deltagare{n:03}.se" for n in range(150)]
    a.participants.CreateList(ParticipantIdentifier=[identifier(v) for v in values], ServiceMetadataPublisherID="SMP-A")
    first = a.participants.List(ServiceMetadataPublisherID="SMP-A")
    assert len(first.ParticipantIdentifier) == 100 and first.NextPageIdentifier
    second = a.participants.List(ServiceMetadataPublisherID="SMP-A", NextPageIdentifier=first.NextPageIdentifier)
    assert len(second.ParticipantIdentifier) == 50 and second.NextPageIdentifier is None
    listed = [p["_value_1"] for p in first.ParticipantIdentifier + second.ParticipantIdentifier]
    assert listed == values
    a.participants.DeleteList(
        ParticipantIdentifier=[identifier(v) for v in values[:149]], ServiceMetadataPublisherID="SMP-A"
    )
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(SmlParticipant)) == 1
        assert session.scalar(select(func.count()).select_from(DnsRecord)) == 1


def test_a_list_is_all_or_nothing(db, a, b):
    a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:finns.se"))
    kind, message = refused(
        b.participants.CreateList,
        ParticipantIdentifier=[identifier("0203:ny.se"), identifier("0203:finns.se")],
        ServiceMetadataPublisherID="SMP-B",
    )
    assert kind == "BadRequestFault"
    assert message.startswith(
        "[ERR-106] The participant identifier '0203:finns.se' with scheme: 'iso6523-actorid-upis' is registered by "
        "another SMP"
    )
    assert owner_of(db, "0203:ny.se") is None
    # Its own participant again: BDMSL's words, which DomiSMP (and this service's SML client) count as done.
    kind, message = refused(
        a.participants.Create, ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:finns.se")
    )
    assert (kind, message) == (
        "BadRequestFault",
        "[ERR-106] The participant identifier '0203:finns.se' with scheme: 'iso6523-actorid-upis' already exist",
    )
    kind, message = refused(
        a.participants.DeleteList,
        ParticipantIdentifier=[identifier("0203:finns.se"), identifier("0203:saknas.se")],
        ServiceMetadataPublisherID="SMP-A",
    )
    assert kind == "NotFoundFault"
    assert message.startswith("[ERR-110] At least one of the participants doesn't exist in the list")
    assert "0203:saknas.se" in message and owner_of(db, "0203:finns.se") == "SMP-A"
    kind, message = refused(
        a.participants.CreateList,
        ParticipantIdentifier=[identifier("0203:dubbel.se"), identifier("0203:DUBBEL.se")],
        ServiceMetadataPublisherID="SMP-A",
    )
    assert kind == "BadRequestFault" and "twice" in message


def test_an_smp_acts_only_on_its_own_participants(db, a, b):
    a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:a-s.se"))
    kind, message = refused(
        b.participants.Delete, ServiceMetadataPublisherID="SMP-B", ParticipantIdentifier=identifier("0203:a-s.se")
    )
    assert kind == "UnauthorizedFault" and "another SMP" in message
    kind, message = refused(
        b.participants.Create, ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:x.se")
    )
    assert kind == "UnauthorizedFault" and "SMP 'SMP-B', not of 'SMP-A'" in message
    kind, message = refused(b.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault"
    assert owner_of(db, "0203:a-s.se") == "SMP-A" and owner_of(db, "0203:x.se") is None


@pytest.mark.parametrize(
    ("scheme", "value", "reason"),
    [
        ("iso6523-actorid-upis", "0203:inte en domän", "not a valid IDNA name"),
        ("iso6523-actorid-upis", "9999:okänd", "ICD 9999 is not allowed"),
        ("busdox-actorid-upis", "0203:fel-schema.se", "participant scheme must be"),
        ("iso6523-actorid-upis", "0203:" + "a" * 200 + ".se", "longer than"),
        ("", "0203:utan-schema.se", "scheme attribute is required"),
    ],
)
def test_bad_identifiers_are_bad_requests(db, a, scheme, value, reason):
    kind, message = refused(
        a.participants.Create, ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier(value, scheme)
    )
    assert kind == "BadRequestFault" and reason in message
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(SmlParticipant)) == 0


def test_unknown_smps_are_not_found(a, identities, sml):
    kind, message = refused(
        a.participants.Create, ServiceMetadataPublisherID="SMP-GHOST", ParticipantIdentifier=identifier("0203:g.se")
    )
    assert (kind, message) == ("NotFoundFault", "[ERR-100] The SMP 'SMP-GHOST' doesn't exist")
    unregistered = SmlClients(sml, identities["new"].header)  # trusted, but no SMP has this certificate
    kind, message = refused(unregistered.participants.List, ServiceMetadataPublisherID="SMP-NEW")
    assert (kind, message) == ("NotFoundFault", "[ERR-100] The SMP 'SMP-NEW' doesn't exist")
    kind, message = refused(unregistered.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault" and "no SMP is registered with this certificate" in message


def test_who_the_caller_is_rests_on_the_trusted_certificate(app, db, sml, identities, settings):
    nobody = SmlClients(sml, None)
    kind, message = refused(nobody.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault" and "no client certificate" in message
    forged = SmlClients(sml, identities["foreign"].header)
    kind, message = refused(forged.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault" and "not issued by a trusted SMP CA" in message
    garbled = SmlClients(sml, ":bm90IGEgY2VydGlmaWNhdGU=:")
    kind, message = refused(garbled.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault" and "cannot be read" in message
    # The header counts only from the proxies the operator named: here none of loopback.
    elsewhere = make_settings(settings.instance_dir, db.url, SDK_SML_TRUSTED_PROXIES="10.0.0.0/8")
    with serving(create_app(elsewhere, database=db)) as base:
        spoofed = SmlClients(base, identities["a"].header)
        kind, message = refused(spoofed.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault" and "SDK_SML_TRUSTED_PROXIES" in message


def test_the_certificate_header_takes_the_forms_proxies_send(db, sml, identities):
    from urllib.parse import quote

    pem = identities["a"].pem
    for form in (quote(pem, safe=""), pem.replace("\n", " ").strip()):
        clients = SmlClients(sml, form)
        assert clients.participants.List(ServiceMetadataPublisherID="SMP-A").ServiceMetadataPublisherID == "SMP-A"


# -- migration ------------------------------------------------------------------------------------


def test_a_participant_moves_to_another_smp_with_the_key(db, a, b):
    a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:flytt.se"))
    a.participants.PrepareToMigrate(
        ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:flytt.se"), MigrationKey=KEY
    )
    with db.reader() as session:
        migration = session.scalar(select(SmlMigration))
        assert migration.key_hash != KEY and KEY not in str(session.scalars(select(AuditEvent.after)).all())
    b.participants.Migrate(
        ServiceMetadataPublisherID="SMP-B", ParticipantIdentifier=identifier("0203:flytt.se"), MigrationKey=KEY
    )
    assert owner_of(db, "0203:flytt.se") == "SMP-B"
    assert naptr_of(db, "0203:flytt.se").endswith('"!^.*$!https://smp-b.example.se/smp!" .')
    with db.reader() as session:
        assert session.scalar(select(SmlMigration)) is None
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "sml_migration:complete")).one()
    assert (event.before["smp"], event.after["smp"]) == ("SMP-A", "SMP-B")
    # The key was used: it does not move the participant again.
    kind, _message = refused(
        a.participants.Migrate,
        ServiceMetadataPublisherID="SMP-A",
        ParticipantIdentifier=identifier("0203:flytt.se"),
        MigrationKey=KEY,
    )
    assert kind == "NotFoundFault"


def test_migration_faults(db, a, b):
    a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:m.se"))
    record = {"ParticipantIdentifier": identifier("0203:m.se"), "MigrationKey": KEY}
    for weak, reason in (("enkel", "8 to 24"), ("abcdefgh12", "upper-case"), ("Ab1@cd2# Ef3$", "white space")):
        kind, message = refused(
            a.participants.PrepareToMigrate,
            ServiceMetadataPublisherID="SMP-A",
            ParticipantIdentifier=identifier("0203:m.se"),
            MigrationKey=weak,
        )
        assert kind == "BadRequestFault" and reason in message
    kind, _ = refused(b.participants.PrepareToMigrate, ServiceMetadataPublisherID="SMP-B", **record)
    assert kind == "UnauthorizedFault"
    kind, _ = refused(
        a.participants.PrepareToMigrate,
        ServiceMetadataPublisherID="SMP-A",
        ParticipantIdentifier=identifier("0203:saknas.se"),
        MigrationKey=KEY,
    )
    assert kind == "NotFoundFault"
    kind, _ = refused(b.participants.Migrate, ServiceMetadataPublisherID="SMP-B", **record)
    assert kind == "NotFoundFault"  # nothing prepared yet
    a.participants.PrepareToMigrate(ServiceMetadataPublisherID="SMP-A", **record)
    kind, _ = refused(a.participants.Migrate, ServiceMetadataPublisherID="SMP-A", **record)
    assert kind == "BadRequestFault"  # it is A's already
    for attempt in range(1, 6):
        kind, message = refused(
            b.participants.Migrate,
            ServiceMetadataPublisherID="SMP-B",
            ParticipantIdentifier=identifier("0203:m.se"),
            MigrationKey=f"Wr0ng#Key!{attempt}X",
        )
        assert (kind, "not valid") == ("NotFoundFault", "not valid" if "not valid" in message else message)
    # Five wrong keys cancel the migration: even the right key is refused now, and the tries are audited.
    kind, _ = refused(b.participants.Migrate, ServiceMetadataPublisherID="SMP-B", **record)
    assert kind == "NotFoundFault" and owner_of(db, "0203:m.se") == "SMP-A"
    with db.reader() as session:
        refusals = session.scalar(select(func.count()).where(AuditEvent.action == "sml_migration:refuse"))
    assert refusals == 5


def test_migration_keys_expire(db, a, b):
    a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:gammal.se"))
    record = {"ParticipantIdentifier": identifier("0203:gammal.se"), "MigrationKey": KEY}
    a.participants.PrepareToMigrate(ServiceMetadataPublisherID="SMP-A", **record)
    with db.writer() as session:
        session.scalar(select(SmlMigration)).expires_at = utcnow() - timedelta(seconds=1)
    kind, message = refused(b.participants.Migrate, ServiceMetadataPublisherID="SMP-B", **record)
    assert kind == "NotFoundFault" and "expired" in message
    assert owner_of(db, "0203:gammal.se") == "SMP-A"


# -- ManageServiceMetadata ------------------------------------------------------------------------


def test_an_smp_reads_and_moves_itself_and_its_records_follow(db, a):
    a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:följer.se"))
    # peppol-commons reads with the id only (the schema's PublisherEndpoint left out), as SkipValue does here.
    read = a.smp.Read(PublisherEndpoint=zeep.xsd.SkipValue, ServiceMetadataPublisherID="SMP-A")
    assert (read.ServiceMetadataPublisherID, read.PublisherEndpoint.LogicalAddress) == (
        "SMP-A",
        "https://smp-a.example.se/smp",
    )
    a.smp.Update(
        PublisherEndpoint={"LogicalAddress": "https://ny.smp-a.example.se/", "PhysicalAddress": "198.51.100.7"},
        ServiceMetadataPublisherID="SMP-A",
    )
    unchanged = {"LogicalAddress": "https://ignored.example.se", "PhysicalAddress": "192.0.2.1"}
    read = a.smp.Read(PublisherEndpoint=unchanged, ServiceMetadataPublisherID="SMP-A")
    assert (read.PublisherEndpoint.LogicalAddress, read.PublisherEndpoint.PhysicalAddress) == (
        "https://ny.smp-a.example.se",
        "198.51.100.7",
    )
    assert naptr_of(db, "0203:xn--fljer-jua.se").endswith('"!^.*$!https://ny.smp-a.example.se!" .')
    kind, message = refused(
        a.smp.Update,
        PublisherEndpoint={"LogicalAddress": "https://x.se/!evil!", "PhysicalAddress": "nowhere"},
        ServiceMetadataPublisherID="SMP-A",
    )
    assert kind == "BadRequestFault" and "logicalAddress" in message and "physicalAddress" in message


def test_an_smp_that_leaves_takes_its_participants_along(db, a, b):
    a.participants.CreateList(
        ParticipantIdentifier=[identifier("0203:en.se"), identifier("0203:tva.se")], ServiceMetadataPublisherID="SMP-A"
    )
    b.participants.Create(ServiceMetadataPublisherID="SMP-B", ParticipantIdentifier=identifier("0203:kvar.se"))
    a.smp.Delete("SMP-A")
    with db.reader() as session:
        assert session.scalar(select(Smp).where(Smp.smp_id == "SMP-A")) is None
        assert list(session.scalars(select(SmlParticipant.value))) == ["0203:kvar.se"]
    kind, _ = refused(a.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "NotFoundFault"


def test_smps_register_themselves_only_where_allowed(app, db, sml, identities, settings):
    newcomer = SmlClients(sml, identities["new"].header)
    endpoint = {"LogicalAddress": "https://ny.example.se/smp", "PhysicalAddress": "192.0.2.99"}
    kind, message = refused(newcomer.smp.Create, PublisherEndpoint=endpoint, ServiceMetadataPublisherID="SMP-NEW")
    assert kind == "UnauthorizedFault" and "registered by the federation operator" in message
    allowed = make_settings(settings.instance_dir, db.url, SDK_SML_SMP_SELF_REGISTRATION="on")
    with serving(create_app(allowed, database=db)) as base:
        newcomer = SmlClients(base, identities["new"].header)
        newcomer.smp.Create(PublisherEndpoint=endpoint, ServiceMetadataPublisherID="SMP-NEW")
        read = newcomer.smp.Read(PublisherEndpoint=zeep.xsd.SkipValue, ServiceMetadataPublisherID="SMP-NEW")
        assert read.PublisherEndpoint.PhysicalAddress == "192.0.2.99"
        kind, message = refused(newcomer.smp.Create, PublisherEndpoint=endpoint, ServiceMetadataPublisherID="SMP-NEW")
        assert (kind, message) == ("BadRequestFault", "[ERR-106] The SMP 'SMP-NEW' already exists")
        stranger = SmlClients(base, identities["foreign"].header)
        kind, _ = refused(stranger.smp.Create, PublisherEndpoint=endpoint, ServiceMetadataPublisherID="SMP-FOREIGN")
        assert kind == "UnauthorizedFault"
        taken = SmlClients(base, identities["a2"].header)
        kind, message = refused(taken.smp.Create, PublisherEndpoint=endpoint, ServiceMetadataPublisherID="smp-a")
        assert (kind, message) == ("BadRequestFault", "[ERR-106] The SMP 'smp-a' already exists")


# -- BDMSLService ---------------------------------------------------------------------------------


def test_is_alive_needs_no_certificate(sml):
    assert SmlClients(sml, None).bdmsl.IsAlive() is None


def test_exists_and_a_participant_with_its_own_naptr_service(db, a, b):
    a.bdmsl.CreateParticipantIdentifier(
        CreateParticipantIdentifier={
            "ServiceMetadataPublisherID": "SMP-A",
            "ParticipantIdentifier": identifier("0203:cppa.se"),
        },
        serviceName="meta:cppa3",
    )
    assert naptr_of(db, "0203:cppa.se") == '100 10 "U" "meta:cppa3" "!^.*$!https://smp-a.example.se/smp!" .'
    answer = a.exists.ExistsParticipantIdentifier(
        ParticipantIdentifier=identifier("0203:cppa.se"), ServiceMetadataPublisherID="SMP-A"
    )
    assert (answer.Exist, answer.ServiceMetadataPublisherID) == (True, "SMP-A")
    assert (
        b.exists.ExistsParticipantIdentifier(
            ParticipantIdentifier=identifier("0203:cppa.se"), ServiceMetadataPublisherID="SMP-B"
        ).Exist
        is False
    )
    kind, message = refused(
        a.bdmsl.CreateParticipantIdentifier,
        CreateParticipantIdentifier={
            "ServiceMetadataPublisherID": "SMP-A",
            "ParticipantIdentifier": identifier("0203:fel.se"),
        },
        serviceName='Meta:SMP" "!evil',
    )
    assert kind == "BadRequestFault" and "NAPTR service" in message


def test_an_smp_changes_its_certificate_as_announced(db, sml, identities):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    old = SmlClients(sml, identities["a"].header)
    renewed = x509.load_pem_x509_certificate(identities["a2"].pair.certificate.read_bytes())
    body = renewed.public_bytes(Encoding.DER)
    import base64

    tomorrow = (utcnow() + timedelta(days=1)).date()
    old.bdmsl.PrepareChangeCertificate(newCertificatePublicKey=base64.b64encode(body).decode(), migrationDate=tomorrow)
    new = SmlClients(sml, identities["a2"].header)
    kind, _ = refused(new.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault"  # announced, not in force yet
    assert old.participants.List(ServiceMetadataPublisherID="SMP-A").ServiceMetadataPublisherID == "SMP-A"
    with db.writer() as session:
        session.scalar(select(Smp).where(Smp.smp_id == "SMP-A")).next_certificate_from = utcnow()
    assert new.participants.List(ServiceMetadataPublisherID="SMP-A").ServiceMetadataPublisherID == "SMP-A"
    kind, _ = refused(old.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "UnauthorizedFault"  # replaced
    kind, message = refused(old.bdmsl.PrepareChangeCertificate, newCertificatePublicKey="bm9wZQ==")
    assert kind == "UnauthorizedFault"
    kind, message = refused(
        new.bdmsl.PrepareChangeCertificate,
        newCertificatePublicKey=identities["foreign"].pem,
    )
    assert kind == "BadRequestFault" and "not issued by a trusted SMP CA" in message


def test_an_unexpected_error_is_an_internal_error_fault(a, monkeypatch):
    from app.operations import sml_participants

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sml_participants, "page", broken)
    kind, message = refused(a.participants.List, ServiceMetadataPublisherID="SMP-A")
    assert kind == "InternalErrorFault" and message.startswith("[ERR-105]") and "boom" not in message
