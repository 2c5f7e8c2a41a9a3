"""The embedded authoritative server, queried with dnspython and dig over real loopback sockets."""

from __future__ import annotations

import base64
import secrets
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from app import demo
from app.audit import Actor
from app.dns.naming import naptr_name
from app.dns.server import Answerer, EmbeddedDnsServer
from app.operations import organisations
from app.registry.models import Organisation
from app.trust.devpki import DevelopmentPki
from tests.conftest import make_settings, require_program

ZONE = "sml.sdk-addressbook.test"
KOMMUN = naptr_name("iso6523-actorid-upis", "0203:exempelkommun.se", ZONE)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp.bind(("127.0.0.1", port))
        return port


@pytest.fixture
def server(db, pki_instance_dir):
    settings = make_settings(pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{_free_port()}")
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
    server.start()
    yield server
    server.stop()


def ask(server, name: str, rdtype: str = "NAPTR", *, tcp: bool = False, **options) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **options)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=server.settings.dns_listen.port, timeout=3)


@pytest.mark.parametrize("tcp", [False, True])
def test_naptr_answer(server, tcp):
    response = ask(server, KOMMUN, tcp=tcp)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    [rrset] = response.answer
    assert rrset.ttl == 60
    assert [r.to_text() for r in rrset] == ['100 10 "U" "Meta:SMP" "!^.*$!http://127.0.0.1:8080/smp!" .']


def test_names_match_case_insensitively_and_keep_the_question(server):
    upper = KOMMUN.upper()
    response = ask(server, upper)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.question[0].name.to_text() == upper + "."
    assert response.answer[0].name.to_text() == upper + "."


def test_unknown_name_in_the_zone_is_nxdomain_with_the_soa(server):
    response = ask(server, "unknown." + "iso6523-actorid-upis." + ZONE)
    assert response.rcode() == dns.rcode.NXDOMAIN
    [soa] = response.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name.to_text() == ZONE + "."


def test_empty_non_terminal_and_other_types_are_nodata(server):
    for name, rdtype in [("iso6523-actorid-upis." + ZONE, "NAPTR"), (KOMMUN, "A")]:
        response = ask(server, name, rdtype)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.answer == []
        assert response.authority[0].rdtype == dns.rdatatype.SOA


@pytest.mark.parametrize("name", ["example.com", "sdk-addressbook.test", "xsml.sdk-addressbook.test"])
def test_names_outside_the_zone_are_refused(server, name):
    assert ask(server, name, "A").rcode() == dns.rcode.REFUSED


def test_apex_soa_ns_and_glue(server):
    soa = ask(server, ZONE, "SOA").answer[0]
    assert soa[0].mname.to_text() == f"ns1.{ZONE}."
    ns = ask(server, ZONE, "NS").answer[0]
    assert ns[0].target.to_text() == f"ns1.{ZONE}."
    assert ask(server, f"ns1.{ZONE}", "A").answer[0][0].address == "127.0.0.1"


def test_edns_queries_get_an_opt_record(server):
    response = ask(server, KOMMUN, use_edns=0, payload=1232)
    assert response.edns == 0
    assert response.answer


def test_axfr_holds_every_record(server, db):
    port = server.settings.dns_listen.port
    zone = dns.zone.from_xfr(
        dns.query.xfr("127.0.0.1", ZONE + ".", port=port, timeout=5, relativize=False), relativize=False
    )
    names = {name.to_text(omit_final_dot=True) for name, node in zone.nodes.items() if node.get_rdataset(1, 35)}
    from app.registry.models import DnsRecord

    with db.reader() as session:
        assert names == set(session.scalars(select(DnsRecord.name).where(DnsRecord.rtype == "NAPTR")))


def _serial(server) -> int:
    return ask(server, ZONE, "SOA").answer[0][0].serial


def test_changes_show_within_a_second_and_the_serial_increases(server, db):
    first = _serial(server)
    with db.writer() as session:
        organisation = session.scalar(
            select(Organisation).where(Organisation.participant_value == "0203:exempelkommun.se")
        )
        organisations.change_status(session, Actor("op", "operator"), organisation.id, "suspend")
    started = time.monotonic()
    while ask(server, KOMMUN).rcode() != dns.rcode.NXDOMAIN:
        assert time.monotonic() - started < 1.0, "removal did not show within one second"
        time.sleep(0.02)
    suspended = _serial(server)
    assert suspended > first
    with db.writer() as session:
        organisations.change_status(session, Actor("op", "operator"), organisation.id, "reinstate")
    started = time.monotonic()
    while ask(server, KOMMUN).rcode() != dns.rcode.NOERROR:
        assert time.monotonic() - started < 1.0, "approval did not show within one second"
        time.sleep(0.02)
    assert _serial(server) > suspended


def test_dig_sees_the_same(server):
    dig = require_program("dig")
    port = str(server.settings.dns_listen.port)
    answer = subprocess.run(
        [dig, "@127.0.0.1", "-p", port, "+short", KOMMUN, "NAPTR"], capture_output=True, text=True, timeout=10
    ).stdout.strip()
    assert answer == '100 10 "U" "Meta:SMP" "!^.*$!http://127.0.0.1:8080/smp!" .'
    status = subprocess.run(
        [dig, "@127.0.0.1", "-p", port, "nope." + ZONE, "NAPTR"], capture_output=True, text=True, timeout=10
    ).stdout
    assert "status: NXDOMAIN" in status
    assert "flags: qr aa" in status
    transfer = subprocess.run([dig, "@127.0.0.1", "-p", port, ZONE, "AXFR"], capture_output=True, text=True, timeout=10)
    assert transfer.stdout.count("\tSOA\t") == 2
    assert KOMMUN in transfer.stdout


def test_queries_that_are_not_plain_get_a_proper_error(server):
    port = server.settings.dns_listen.port
    notify = dns.message.make_query(ZONE, "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert dns.query.udp(notify, "127.0.0.1", port=port, timeout=3).rcode() == dns.rcode.NOTIMP


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_breaks_the_answerer(data):
    from app.dns.zone import ZoneTable

    answerer = Answerer(ZoneTable(ZONE))
    reply = answerer.answer(data, udp=True)
    assert reply is None or len(reply) >= 12


def test_the_server_survives_garbage_packets(server):
    port = server.settings.dns_listen.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in (b"", b"\x00", b"\xff" * 40, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c"):
            sock.sendto(payload, ("127.0.0.1", port))
    assert ask(server, KOMMUN).rcode() == dns.rcode.NOERROR


# -- each server's own position in the outbox ---------------------------------------------------------


def _lag(db, settings, seconds_later: float = 0.0):
    from datetime import UTC, datetime, timedelta

    from app.status import dns_lag

    with db.reader() as session:
        return dns_lag(session, settings, datetime.now(UTC) + timedelta(seconds=seconds_later))


def _suspend_and_reinstate(db, value: str) -> None:
    actor = Actor("op", "operator")
    with db.writer() as session:
        organisation = session.scalar(select(Organisation).where(Organisation.participant_value == value))
        organisations.change_status(session, actor, organisation.id, "suspend")
    with db.writer() as session:
        organisations.change_status(session, actor, organisation.id, "reinstate")


def test_a_server_that_loaded_the_zone_serves_everything_before_it(db, pki_instance_dir):
    """The seeded changes are in the snapshot a server loads: nothing is pending once it started."""
    settings = make_settings(pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{_free_port()}")
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    before = _lag(db, settings)
    assert before.outbox_pending > 0  # no server yet: nobody serves the seeded records
    server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
    server.start()
    try:
        assert _lag(db, settings).outbox_pending == 0
        _suspend_and_reinstate(db, "0203:exempelkommun.se")
        deadline = time.monotonic() + 2
        while _lag(db, settings).outbox_pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lag(db, settings).outbox_pending == 0
        assert _lag(db, settings, 600).outbox_pending == 0  # and no alarm later: nothing waits
    finally:
        server.stop()
    # Gone quiet: its report ages out, and changes after it are pending (no live server serves them).
    _suspend_and_reinstate(db, "0203:exempelkommun.se")
    later = _lag(db, settings, 60)
    assert later.outbox_pending == 2  # the NAPTR deleted, then written again


def test_two_servers_on_one_database_converge_each_on_its_own(db, pki_instance_dir):
    ports = [_free_port(), _free_port()]
    settings = [make_settings(pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{port}") for port in ports]
    with db.writer() as session:
        demo.seed(session, settings[0], DevelopmentPki(settings[0].pki_dir))
    servers = [EmbeddedDnsServer(s, db, poll_interval=0.05) for s in settings]
    first, second = servers
    first.start(follow=False)  # the first answers but does not follow (a replica whose follower hangs)
    second.start()
    try:
        for _ in range(5):
            _suspend_and_reinstate(db, "0203:regionexempel.se")
        deadline = time.monotonic() + 3
        while second.table.serial != _serial_in_database(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.table.serial == _serial_in_database(db)
        assert first.table.serial < second.table.serial
        lag = _lag(db, settings[0])
        assert lag.outbox_pending == 10  # what the first, still live but behind, does not serve
        first.catch_up()  # it follows again from its own position, not from the other's
        assert first.table.serial == second.table.serial
        assert _lag(db, settings[0]).outbox_pending == 0
        region = naptr_name("iso6523-actorid-upis", "0203:regionexempel.se", ZONE)
        assert ask(first, region).rcode() == ask(second, region).rcode() == dns.rcode.NOERROR
        # A replica that restarts: changes made while it was down are in what it loads, and it goes on
        # following from there; the one that stayed up follows on its own.
        second.stop()
        for _ in range(3):
            _suspend_and_reinstate(db, "0203:exempelkommun.se")
        restarted = EmbeddedDnsServer(settings[1], db, poll_interval=0.05)
        servers.append(restarted)
        restarted.start()
        assert restarted.table.serial == _serial_in_database(db)
        _suspend_and_reinstate(db, "0203:regionexempel.se")
        first.catch_up()
        deadline = time.monotonic() + 3
        while restarted.table.serial != _serial_in_database(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.table.serial == restarted.table.serial == _serial_in_database(db)
        assert _lag(db, settings[0]).outbox_pending == 0
    finally:
        for server in servers:
            server.stop()


def _serial_in_database(db) -> int:
    from app.registry.models import DnsState

    with db.reader() as session:
        return session.get(DnsState, 1).serial


def test_zone_transfers_only_for_the_allowed_networks(db, pki_instance_dir):
    """Loopback may transfer by default; an allow list without it refuses the same client (REFUSED)."""
    import dns.xfr

    port = _free_port()
    settings = make_settings(
        pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{port}", SDK_DNS_TRANSFER_ALLOW="10.0.0.0/8, 2001:db8::/32"
    )
    server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
    server.start()
    try:
        with pytest.raises(dns.xfr.TransferError) as refused:
            dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE + ".", port=port, timeout=5))
        assert refused.value.rcode == dns.rcode.REFUSED
        assert ask(server, ZONE, "SOA").rcode() == dns.rcode.NOERROR  # ordinary queries are still answered
    finally:
        server.stop()
    assert make_settings(pki_instance_dir, db.url).dns_transfer_allow  # loopback by default
    assert make_settings(pki_instance_dir, db.url, SDK_DNS_TRANSFER_ALLOW="none").dns_transfer_allow == ()


def _tsig_settings(pki_instance_dir, db, **environ):
    from tests.named import KEY_NAME

    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    environ = {"SDK_DNS_TSIG_KEY_NAME": KEY_NAME, "SDK_DNS_TSIG_SECRET": secret, **environ}
    return make_settings(pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{_free_port()}", **environ)


def _raw_transfer(port: int, wire: bytes) -> dns.message.Message:
    """The first answer to the query in ``wire`` as it comes, read without checking any signature."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", connection.recv(2, socket.MSG_WAITALL))[0]
        return dns.message.from_wire(connection.recv(size, socket.MSG_WAITALL), question_only=True)


def test_zone_transfers_need_the_tsig_key_when_one_is_set(db, pki_instance_dir):
    """Unsigned: REFUSED; a wrong secret, another key or a tampered MAC: NOTAUTH; the key: a signed stream
    whose every message dnspython verifies in the chain (over a thousand RRsets, so several messages)."""
    import dns.tsig
    import dns.xfr

    from app.dns.tsig import tsig_key

    settings = _tsig_settings(pki_instance_dir, db)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    server = EmbeddedDnsServer(settings, db, poll_interval=60)
    server.start()
    port = settings.dns_listen.port
    key = tsig_key(settings)
    for number in range(1200):
        server.table.set_rrset(f"n{number}.{ZONE}", "NAPTR", 60, ['100 10 "U" "Meta:SMP" "!^.*$!https://x!" .'])

    def signed_query(with_key: dns.tsig.Key) -> dns.message.Message:
        query = dns.message.make_query(ZONE + ".", "AXFR")
        query.use_tsig({with_key.name: with_key}, keyname=with_key.name, algorithm=with_key.algorithm)
        return query

    try:
        with pytest.raises(dns.xfr.TransferError) as unsigned:
            dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE + ".", port=port, timeout=5))
        assert unsigned.value.rcode == dns.rcode.REFUSED
        other_secret = dns.tsig.Key(key.name, base64.b64encode(secrets.token_bytes(32)).decode(), key.algorithm)
        other_name = dns.tsig.Key("someone-else.", key.secret, key.algorithm)
        for wrong in (other_secret, other_name):
            answer = _raw_transfer(port, signed_query(wrong).to_wire())
            assert answer.rcode() == dns.rcode.NOTAUTH and not answer.answer
        tampered = bytearray(signed_query(key).to_wire())
        tampered[-10] ^= 0xFF  # inside the MAC
        assert _raw_transfer(port, bytes(tampered)).rcode() == dns.rcode.NOTAUTH
        transfer = dns.query.xfr(
            "127.0.0.1", ZONE + ".", port=port, timeout=10, keyring={key.name: key}, keyname=key.name,
            keyalgorithm=key.algorithm, relativize=False,
        )  # fmt: skip
        zone = dns.zone.from_xfr(transfer, relativize=False)
        names = {name.to_text(omit_final_dot=True) for name, node in zone.nodes.items() if node.get_rdataset(1, 35)}
        assert {f"n{number}.{ZONE}" for number in range(1200)} <= names and KOMMUN in names
        assert ask(server, KOMMUN).rcode() == dns.rcode.NOERROR  # ordinary queries need no key
        signed = dns.message.make_query(ZONE, "SOA")  # a secondary's refresh check: the answer is signed
        signed.use_tsig({key.name: key}, keyname=key.name, algorithm=key.algorithm)
        checked = dns.query.udp(signed, "127.0.0.1", port=port, timeout=3)  # dnspython verifies the TSIG
        assert checked.had_tsig and checked.answer[0].rdtype == dns.rdatatype.SOA
    finally:
        server.stop()


def test_a_bind_secondary_transfers_the_zone_with_the_key(db, pki_instance_dir, tmp_path):
    """A real BIND secondary, configured with ``primaries { … key …; }``, loads the zone and answers it."""
    from tests.named import Named, free_port

    require_program("named")
    settings = _tsig_settings(pki_instance_dir, db)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    server = EmbeddedDnsServer(settings, db, poll_interval=0.05)
    server.start()
    directory = tmp_path / "secondary"
    directory.mkdir()
    directory.chmod(0o777)
    secondary = Named(directory, ZONE, free_port(), settings.dns_tsig_secret, primary_port=settings.dns_listen.port)
    try:
        secondary.start()  # returns once the secondary answers the SOA: it has transferred the zone
        answer = secondary.query(KOMMUN)
        assert answer.rcode() == dns.rcode.NOERROR and answer.answer == ask(server, KOMMUN).answer
    finally:
        secondary.stop()
        server.stop()
