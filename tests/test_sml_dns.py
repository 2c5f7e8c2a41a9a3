"""A participant an external SMP registers over SOAP resolves in DNS to that SMP: through the embedded server
and through BIND (RFC 2136), by NAPTR and by the Peppol-style CNAME, and follows a migration."""

from __future__ import annotations

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from app import create_app
from app.dns.naming import cname_name, naptr_name
from app.dns.reconcile import reconcile
from app.dns.rfc2136 import OutboxPublisher
from app.dns.server import EmbeddedDnsServer
from app.wiring import wire
from tests.conftest import make_settings
from tests.named import free_port, start_named
from tests.processes import wait_until
from tests.sml_support import SmlClients, identifier, register, serving, smp_identities

SCHEME = "iso6523-actorid-upis"
KEY = "Ab1@cd2#Ef3$"


@pytest.fixture(scope="session")
def identities(pki_instance_dir, tmp_path_factory):
    return smp_identities(pki_instance_dir / "pki", tmp_path_factory.mktemp("smp-dns"), "SMP-A", "SMP-B")


def ask(port: int, name: str, rdtype: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port, timeout=3)


def rdatas(port: int, name: str, rdtype: str) -> list[str]:
    response = ask(port, name, rdtype)
    return [
        rdata.to_text()
        for rrset in response.answer
        for rdata in rrset
        if rrset.rdtype == dns.rdatatype.from_text(rdtype)
    ]


def test_participants_of_an_external_smp_resolve_through_the_embedded_server(db, pki_instance_dir, identities):
    port = free_port()
    settings = make_settings(pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{port}", SDK_DNS_RECORD_TYPES="all")
    wire(db, settings)
    for identity in identities.values():
        register(db, identity)
    server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
    server.start()
    try:
        with serving(create_app(settings, database=db)) as base:
            a = SmlClients(base, identities["SMP-A"].header)
            b = SmlClients(base, identities["SMP-B"].header)
            a.participants.Create(ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:dns.se"))
            naptr = naptr_name(SCHEME, "0203:dns.se", settings.sml_zone)
            expected = ['100 10 "U" "Meta:SMP" "!^.*$!https://smp-a.example.se/smp!" .']
            assert wait_until(lambda: rdatas(port, naptr, "NAPTR") == expected, 5)
            cname = cname_name(SCHEME, "0203:dns.se", settings.sml_zone)
            assert rdatas(port, cname, "CNAME") == [f"smp-a.publisher.{settings.sml_zone}."]
            assert rdatas(port, f"smp-a.publisher.{settings.sml_zone}", "CNAME") == ["smp-a.example.se."]
            # Migrated to SMP-B: the same names now lead there, within a second.
            a.participants.PrepareToMigrate(
                ServiceMetadataPublisherID="SMP-A", ParticipantIdentifier=identifier("0203:dns.se"), MigrationKey=KEY
            )
            b.participants.Migrate(
                ServiceMetadataPublisherID="SMP-B", ParticipantIdentifier=identifier("0203:dns.se"), MigrationKey=KEY
            )
            moved = ['100 10 "U" "Meta:SMP" "!^.*$!https://smp-b.example.se/smp!" .']
            assert wait_until(lambda: rdatas(port, naptr, "NAPTR") == moved, 1.5)
            assert rdatas(port, cname, "CNAME") == [f"smp-b.publisher.{settings.sml_zone}."]
            b.participants.Delete(ServiceMetadataPublisherID="SMP-B", ParticipantIdentifier=identifier("0203:dns.se"))
            assert wait_until(lambda: ask(port, naptr, "NAPTR").rcode() == dns.rcode.NXDOMAIN, 1.5)
    finally:
        server.stop()


def test_participants_of_an_external_smp_reach_bind(db, pki_instance_dir, identities, tmp_path):
    named = start_named(tmp_path / "named", "sml.rfc2136.test")
    try:
        settings = make_settings(pki_instance_dir, db.url, SDK_DNS_RECORD_TYPES="all", **named.environ)
        wire(db, settings)
        register(db, identities["SMP-A"], address="https://192.0.2.44/smp")
        with serving(create_app(settings, database=db)) as base:
            a = SmlClients(base, identities["SMP-A"].header)
            values = [f"0203:bind{n}.se" for n in range(30)]
            a.participants.CreateList(
                ParticipantIdentifier=[identifier(v) for v in values], ServiceMetadataPublisherID="SMP-A"
            )
        assert OutboxPublisher(settings, db).drain() == 30 * 2 + 1
        for value in values[::7]:
            answer = named.query(naptr_name(SCHEME, value, named.zone))
            assert [r.to_text() for r in answer.answer[0]] == [
                '100 10 "U" "Meta:SMP" "!^.*$!https://192.0.2.44/smp!" .'
            ]
        publisher = named.query(f"smp-a.publisher.{named.zone}", "A")
        assert [r.to_text() for r in publisher.answer[0]] == ["192.0.2.44"]
        with db.reader() as session:
            drift, repaired = reconcile(session, settings, dry_run=True)
        assert drift.clean and repaired == 0
    finally:
        named.stop()
