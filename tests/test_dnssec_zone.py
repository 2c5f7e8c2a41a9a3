"""The signed zone in memory: every answer to a DO query validates with dnspython against the zone's DNSKEY.

What is checked is what a validating resolver checks (RFC 4035 §5): each RRset's RRSIG with the key,
the NSEC chain in canonical order that closes on the apex, and that the NSEC records in a negative
answer really prove it (the name is covered, the wildcard is covered, the type is absent).
"""

from __future__ import annotations

import warnings

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.dns.dnssec import (
    ECDSAP256SHA256,
    RSASHA256,
    DnssecKeyError,
    ZoneSigner,
    create_key,
    ds_text,
    load_key,
)
from app.dns.server import Answerer
from app.dns.zone import ZoneTable

with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import dns.dnssec

ZONE = "sml.example.test"
ORIGIN = dns.name.from_text(ZONE + ".")
SOA = f"ns.{ZONE}. hostmaster.{ZONE}. 7 3600 600 1209600 60"
NAPTR = '100 10 "U" "Meta:SMP" "!^.*$!http://127.0.0.1:8080/smp!" .'


def _name(label: str) -> str:
    return f"{label}.iso6523-actorid-upis.{ZONE}"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp("dnssec") / "zone.key"
    create_key(path)
    return load_key(path)


def _table(key, labels=("b-aaa", "b-ccc", "b-eee")) -> ZoneTable:
    table = ZoneTable(ZONE, ZoneSigner(ORIGIN, key))
    with table.loading():
        table.set_rrset(ZONE, "SOA", 60, [SOA])
        table.set_rrset(ZONE, "NS", 60, [f"ns.{ZONE}."])
        table.set_rrset(f"ns.{ZONE}", "A", 60, ["127.0.0.1"])
        table.set_rrset(ZONE, "DNSKEY", 60, [key.dnskey.to_text()])
        for label in labels:
            table.set_rrset(_name(label), "NAPTR", 60, [NAPTR])
    return table


def _ask(table: ZoneTable, name: str, rdtype: str = "NAPTR", *, dnssec: bool = True) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    reply = Answerer(table).answer(query.to_wire(), udp=False)
    assert reply is not None
    return dns.message.from_wire(reply)


def _keys(key) -> dict[dns.name.Name, dns.rrset.RRset]:
    rrset = dns.rrset.RRset(ORIGIN, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    rrset.add(key.dnskey, 60)
    return {ORIGIN: rrset}


def _validate_section(section: list[dns.rrset.RRset], key) -> set[tuple[dns.name.Name, int]]:
    """Every RRset of the section against its RRSIG; what was validated."""
    signatures = {(r.name, r.covers): r for r in section if r.rdtype == dns.rdatatype.RRSIG}
    validated = set()
    for rrset in section:
        if rrset.rdtype == dns.rdatatype.RRSIG:
            continue
        rrsig = signatures[(rrset.name, rrset.rdtype)]
        dns.dnssec.validate(rrset, rrsig, _keys(key))  # raises ValidationFailure
        validated.add((rrset.name, rrset.rdtype))
    assert len(signatures) == len(validated)
    return validated


def _covers(nsec_rrset: dns.rrset.RRset, name: dns.name.Name) -> bool:
    """Whether an NSEC record proves ``name`` does not exist: owner < name < next (or wraps at the end)."""
    owner, following = nsec_rrset.name, nsec_rrset[0].next
    if owner < following:
        return owner < name < following
    return name > owner or name < following  # the last NSEC: next is the apex


def _chain(table: ZoneTable) -> list[tuple[dns.name.Name, dns.name.Name]]:
    return sorted((r.name, r[0].next) for r in table.rrsets() if r.rdtype == dns.rdatatype.NSEC)


def _assert_closed_chain(table: ZoneTable) -> None:
    links = _chain(table)
    owners = [owner for owner, _next in links]
    assert owners == sorted(owners)
    assert [following for _owner, following in links] == [*owners[1:], owners[0]]
    assert owners[0] == ORIGIN


def test_a_positive_answer_carries_its_rrsig_and_validates(key):
    response = _ask(_table(key), _name("b-ccc"))
    assert response.rcode() == dns.rcode.NOERROR
    assert response.ednsflags & dns.flags.DO
    assert _validate_section(response.answer, key) == {(dns.name.from_text(_name("b-ccc")), dns.rdatatype.NAPTR)}


def test_without_do_the_answer_has_no_signatures(key):
    response = _ask(_table(key), _name("b-ccc"), dnssec=False)
    assert [r.rdtype for r in response.answer] == [dns.rdatatype.NAPTR]
    assert not response.ednsflags & dns.flags.DO


def test_the_dnskey_rrset_is_self_signed(key):
    response = _ask(_table(key), ZONE, "DNSKEY")
    assert _validate_section(response.answer, key) == {(ORIGIN, dns.rdatatype.DNSKEY)}
    assert response.answer[0][0].flags == 257


def test_nxdomain_is_proven_by_a_covering_nsec_and_the_wildcard_nsec(key):
    missing = dns.name.from_text(_name("b-bbb"))
    response = _ask(_table(key), missing.to_text())
    assert response.rcode() == dns.rcode.NXDOMAIN
    validated = _validate_section(response.authority, key)
    assert (ORIGIN, dns.rdatatype.SOA) in validated
    nsecs = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
    assert any(_covers(r, missing) for r in nsecs)
    wildcard = dns.name.from_text("*.iso6523-actorid-upis." + ZONE)
    assert any(_covers(r, wildcard) for r in nsecs)
    soa = next(r for r in response.authority if r.rdtype == dns.rdatatype.SOA)
    assert soa.ttl == 60 and all(r.ttl == 60 for r in nsecs)


def test_nxdomain_after_the_last_name_is_covered_by_the_wrapping_nsec(key):
    missing = dns.name.from_text(_name("b-zzz"))
    response = _ask(_table(key), missing.to_text())
    assert response.rcode() == dns.rcode.NXDOMAIN
    _validate_section(response.authority, key)
    assert any(_covers(r, missing) for r in response.authority if r.rdtype == dns.rdatatype.NSEC)


def test_nodata_is_proven_by_the_names_own_nsec(key):
    response = _ask(_table(key), _name("b-aaa"), "TXT")
    assert response.rcode() == dns.rcode.NOERROR and not response.answer
    _validate_section(response.authority, key)
    [proof] = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
    assert proof.name == dns.name.from_text(_name("b-aaa"))
    types = {t for window in proof[0].windows for t in _types(window)}
    assert dns.rdatatype.NAPTR in types and dns.rdatatype.TXT not in types


def test_an_empty_non_terminal_is_nodata_proven_by_the_nsec_that_leads_into_it(key):
    ent = dns.name.from_text("iso6523-actorid-upis." + ZONE)
    response = _ask(_table(key), ent.to_text())
    assert response.rcode() == dns.rcode.NOERROR and not response.answer
    _validate_section(response.authority, key)
    [proof] = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
    assert proof.name < ent and proof[0].next.is_subdomain(ent)


def _types(window: tuple[int, bytes]) -> set[int]:
    number, bitmap = window
    return {
        number * 256 + byte * 8 + bit for byte, octet in enumerate(bitmap) for bit in range(8) if octet & (0x80 >> bit)
    }


def test_the_chain_follows_additions_and_removals(key):
    table = _table(key)
    _assert_closed_chain(table)
    table.set_rrset(_name("b-bbb"), "NAPTR", 60, [NAPTR])
    table.set_rrset(_name("b-zzz"), "NAPTR", 60, [NAPTR])
    _assert_closed_chain(table)
    response = _ask(table, _name("b-bbb"))
    assert response.rcode() == dns.rcode.NOERROR
    _validate_section(response.answer, key)
    table.delete_rrset(_name("b-ccc"), "NAPTR")
    table.delete_rrset(_name("b-zzz"), "NAPTR")
    _assert_closed_chain(table)
    response = _ask(table, _name("b-ccc"))
    assert response.rcode() == dns.rcode.NXDOMAIN
    _validate_section(response.authority, key)
    assert any(
        _covers(r, dns.name.from_text(_name("b-ccc"))) for r in response.authority if r.rdtype == dns.rdatatype.NSEC
    )


def test_a_second_type_at_a_name_updates_its_nsec_bitmap(key):
    table = _table(key)
    table.set_rrset(_name("b-aaa"), "TXT", 60, ['"second"'])
    response = _ask(table, _name("b-aaa"), "A")
    [proof] = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
    types = {t for window in proof[0].windows for t in _types(window)}
    assert {dns.rdatatype.NAPTR, dns.rdatatype.TXT} <= types
    _validate_section(response.authority, key)
    table.delete_rrset(_name("b-aaa"), "TXT")
    response = _ask(table, _name("b-aaa"), "A")
    [proof] = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
    assert dns.rdatatype.TXT not in {t for window in proof[0].windows for t in _types(window)}
    _validate_section(response.authority, key)


@hypothesis_settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.text("abcdefgh-", min_size=1, max_size=6).filter(lambda s: s[0] != "-")),
        max_size=25,
    )
)
def test_the_chain_stays_closed_and_equal_to_a_fresh_build_under_any_changes(key, steps):
    table = _table(key)
    present = {"b-aaa", "b-ccc", "b-eee"}
    for add, label in steps:
        if add:
            table.set_rrset(_name(label), "NAPTR", 60, [NAPTR])
            present.add(label)
        else:
            table.delete_rrset(_name(label), "NAPTR")
            present.discard(label)
    _assert_closed_chain(table)
    assert _chain(table) == _chain(_table(key, tuple(sorted(present))))


def test_a_tampered_answer_fails_validation(key):
    response = _ask(_table(key), _name("b-ccc"))
    naptr, rrsig = response.answer
    forged = dns.rrset.from_text(naptr.name, naptr.ttl, "IN", "NAPTR", NAPTR.replace("127.0.0.1", "198.51.100.66"))
    with pytest.raises(dns.dnssec.ValidationFailure):
        dns.dnssec.validate(forged, rrsig, _keys(key))


def test_expired_signatures_fail_and_resigning_renews_them(key):
    table = _table(key)
    signer = table.signer
    assert signer is not None and not signer.due()
    signer.renew(now=signer.inception - 30 * 86400)  # a window that ended long ago
    table.set_rrset(_name("b-ccc"), "NAPTR", 60, [NAPTR])
    naptr, rrsig = _ask(table, _name("b-ccc")).answer
    assert signer.due()
    with pytest.raises(dns.dnssec.ValidationFailure):
        dns.dnssec.validate(naptr, rrsig, _keys(key))
    assert table.resign() > 0
    assert not signer.due()
    naptr, rrsig = _ask(table, _name("b-ccc")).answer
    dns.dnssec.validate(naptr, rrsig, _keys(key))
    _validate_section(_ask(table, _name("b-bbb")).authority, key)


def test_the_axfr_content_holds_every_signature(key):
    table = _table(key)
    rrsets = table.rrsets()
    assert rrsets[0].rdtype == dns.rdatatype.SOA
    signed = {(r.name, r.covers) for r in rrsets if r.rdtype == dns.rdatatype.RRSIG}
    plain = {(r.name, r.rdtype) for r in rrsets if r.rdtype != dns.rdatatype.RRSIG}
    assert signed == plain
    assert sum(r.rdtype == dns.rdatatype.NSEC for r in rrsets) == len(table)


def test_rsa_keys_sign_too(tmp_path):
    path = tmp_path / "rsa.key"
    from cryptography.hazmat.primitives import serialization

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    rsa_key = load_key(path)
    assert rsa_key.algorithm == RSASHA256
    response = _ask(_table(rsa_key), _name("b-aaa"))
    _validate_section(response.answer, rsa_key)


def test_unusable_keys_are_refused_with_the_reason(tmp_path):
    small = tmp_path / "p384.key"
    from cryptography.hazmat.primitives import serialization

    small.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(DnssecKeyError, match="ECDSA P-256 or RSA"):
        load_key(small)
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"\x00\x01 not a key")
    with pytest.raises(DnssecKeyError, match="not a readable"):
        load_key(garbage)


def test_created_keys_are_private_and_kept(tmp_path):
    path = tmp_path / "sub" / "zone.key"
    create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_bytes()
    create_key(path)
    assert path.read_bytes() == before
    loaded = load_key(path)
    assert loaded.algorithm == ECDSAP256SHA256
    ds = ds_text(ZONE, loaded)
    assert ds.startswith(f"{ZONE}. IN DS {loaded.key_tag} 13 2 ")
    expected = dns.dnssec.make_ds(ORIGIN, loaded.dnskey, "SHA256")
    assert ds.endswith(expected.to_text().split(" ", 3)[3])


# -- the embedded server with SDK_DNSSEC on, following the database (SQLite and PostgreSQL) -------------


def _signed_server(db, pki_instance_dir):
    from app import demo
    from app.dns.server import EmbeddedDnsServer
    from app.trust.devpki import DevelopmentPki
    from tests.conftest import make_settings
    from tests.named import free_port

    settings = make_settings(pki_instance_dir, db.url, SDK_DNS_LISTEN=f"127.0.0.1:{free_port()}", SDK_DNSSEC="on")
    create_key(settings.dnssec_key_path)
    with db.writer() as session:
        demo.seed(session, settings, DevelopmentPki(settings.pki_dir))
    return settings, EmbeddedDnsServer(settings, db, poll_interval=0.05)


def _served(server, name: str, rdtype: str = "NAPTR") -> dns.message.Message:
    import dns.query

    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    return dns.query.udp(query, "127.0.0.1", port=server.settings.dns_listen.port, timeout=3)


def test_the_following_server_signs_each_change_and_keeps_the_chain(db, pki_instance_dir):
    from app.dns.naming import naptr_name
    from tests.processes import wait_until
    from tests.test_dns_server import _suspend_and_reinstate

    settings, server = _signed_server(db, pki_instance_dir)
    zone_key = load_key(settings.dnssec_key_path)
    region = naptr_name("iso6523-actorid-upis", "0203:regionexempel.se", settings.sml_zone)
    server.start()
    try:
        origin = dns.name.from_text(settings.sml_zone + ".")
        keys = {origin: _served(server, settings.sml_zone, "DNSKEY").answer[0]}
        assert keys[origin][0] == zone_key.dnskey
        serial = server.table.serial
        _suspend_and_reinstate(db, "0203:regionexempel.se")
        assert wait_until(lambda: server.table.serial >= serial + 2 and len(_served(server, region).answer) == 2, 5)
        response = _served(server, region)
        naptr, rrsig = response.answer
        dns.dnssec.validate(naptr, rrsig, keys)
        soa, soa_rrsig = _served(server, settings.sml_zone, "SOA").answer
        dns.dnssec.validate(soa, soa_rrsig, keys)
        assert soa[0].serial == server.table.serial
        links = sorted((r.name, r[0].next) for r in server.table.rrsets() if r.rdtype == dns.rdatatype.NSEC)
        assert [following for _owner, following in links] == [*[o for o, _n in links][1:], links[0][0]]
    finally:
        server.stop()


def test_the_follower_signs_the_zone_again_before_the_signatures_run_out(db, pki_instance_dir):
    from tests.processes import wait_until

    settings, server = _signed_server(db, pki_instance_dir)
    server.start()
    try:
        signer = server.table.signer
        assert signer is not None
        first = _served(server, settings.sml_zone, "SOA").answer[1][0]
        signer.renew(now=signer.inception - signer.validity)  # as if half the window had gone by
        assert signer.due()
        assert wait_until(lambda: not signer.due(), 5)
        renewed = _served(server, settings.sml_zone, "NS").answer[1][0]
        assert renewed.expiration >= first.expiration
    finally:
        server.stop()
