"""``serve`` with ``SDK_DNSSEC=on``, checked by software we did not write: BIND's ``delv`` validates every kind
of answer from the zone's trust anchor (what ``dnssec dnskey`` prints), and ``dnssec-verify`` checks the
whole zone as AXFR hands it out. A tampered zone, and a wrong anchor, fail."""

from __future__ import annotations

import re
import subprocess
import warnings

import dns.name
import dns.query
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.utils import CryptographyDeprecationWarning

from app.dns.naming import naptr_name
from tests.conftest import require_program
from tests.processes import wait_until
from tests.served.service import ZONE, Served, running

with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import dns.dnssec

KOMMUN = naptr_name("iso6523-actorid-upis", "0203:exempelkommun.se", ZONE)
REGION = naptr_name("iso6523-actorid-upis", "0203:regionexempel.se", ZONE)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dnssec-served")
    yield from running(Served(folder, f"sqlite:///{folder / 'sdk.sqlite3'}", extra={"SDK_DNSSEC": "on"}))


@pytest.fixture(scope="module")
def anchor(signed, tmp_path_factory):
    """delv's trust anchor for the zone, written from what ``dnssec dnskey`` prints."""
    record = signed.cli("dnssec", "dnskey").stdout.strip()
    owner, _class, _type, flags, protocol, algorithm, *key = record.split()
    assert owner == ZONE + "."
    path = tmp_path_factory.mktemp("anchor") / "anchor.conf"
    path.write_text(
        f'trust-anchors {{ "{owner}" static-key {flags} {protocol} {algorithm} "{"".join(key)}"; }};\n',
        encoding="utf-8",
    )
    return path


def delv(signed: Served, anchor, name: str, rdtype: str) -> subprocess.CompletedProcess:
    program = require_program("delv")
    return subprocess.run(
        [program, "@127.0.0.1", "-p", str(signed.dns_port), "-a", str(anchor), f"+root={ZONE}", name, rdtype],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "rdtype", "verdict"),
    [
        (KOMMUN, "NAPTR", "; fully validated"),
        (ZONE, "SOA", "; fully validated"),
        (ZONE, "DNSKEY", "; fully validated"),
        (KOMMUN, "TXT", "; negative response, fully validated"),  # NODATA: the name's own NSEC
        ("iso6523-actorid-upis." + ZONE, "NAPTR", "; negative response, fully validated"),  # empty non-terminal
        ("b-nobody.iso6523-actorid-upis." + ZONE, "NAPTR", "; negative response, fully validated"),  # NXDOMAIN
        ("zzz." + ZONE, "A", "; negative response, fully validated"),  # after the last name: the chain wraps
    ],
)
def test_delv_validates_every_kind_of_answer(signed, anchor, name, rdtype, verdict):
    result = delv(signed, anchor, name, rdtype)
    assert verdict in result.stdout.splitlines(), result.stdout + result.stderr


def test_delv_refuses_the_zone_under_another_key(signed, tmp_path):
    wrong = tmp_path / "wrong.conf"
    other = "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
    wrong.write_text(f'trust-anchors {{ "{ZONE}." static-key 257 3 13 "{other}"; }};\n', encoding="utf-8")
    result = delv(signed, wrong, KOMMUN, "NAPTR")
    assert "; fully validated" not in result.stdout
    assert "resolution failed" in result.stderr, result.stdout + result.stderr


def test_the_ds_the_cli_prints_matches_the_served_dnskey(signed):
    ds_line = signed.cli("dnssec", "ds").stdout.strip()
    origin = dns.name.from_text(ZONE + ".")
    served_keys = signed.ask(ZONE, "DNSKEY").answer[0]
    [ds] = dns.rrset.from_text(origin, 60, "IN", "DS", ds_line.split(" DS ", 1)[1])
    assert ds == dns.dnssec.make_ds(origin, served_keys[0], "SHA256")
    assert ds.key_tag == dns.dnssec.key_id(served_keys[0])


def _axfr_file(signed: Served, path) -> None:
    zone = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=signed.dns_port, timeout=10))
    zone.to_file(str(path), relativize=False)


def test_dnssec_verify_accepts_the_transferred_zone_and_refuses_a_tampered_copy(signed, tmp_path):
    program = require_program("dnssec-verify")
    good = tmp_path / "zone.db"
    _axfr_file(signed, good)
    # -z: the single key is a combined signing key (KSK flag set) and signs every RRset itself
    result = subprocess.run([program, "-z", "-o", ZONE, str(good)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Zone fully signed" in result.stdout
    text = good.read_text(encoding="utf-8")
    assert "http://127.0.0.1:" in text
    tampered = tmp_path / "tampered.db"
    tampered.write_text(text.replace("http://127.0.0.1:", "http://127.0.0.66:", 1), encoding="utf-8")
    result = subprocess.run([program, "-z", "-o", ZONE, str(tampered)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "No correct ECDSAP256SHA256 signature" in result.stdout + result.stderr


def test_a_change_is_served_signed_and_proven_both_ways(signed, anchor):
    operator = signed.token("operator")
    region = signed.organisation_id("iso6523-actorid-upis::0203:regionexempel.se", operator)
    assert signed.http("POST", f"/api/v1/organisations/{region}/suspend", operator).status_code == 200
    try:
        assert wait_until(lambda: signed.ask(REGION).rcode() == 3, 5)
        gone = delv(signed, anchor, REGION, "NAPTR")
        assert "; negative response, fully validated" in gone.stdout.splitlines(), gone.stdout + gone.stderr
    finally:
        assert signed.http("POST", f"/api/v1/organisations/{region}/reinstate", operator).status_code == 200
    assert wait_until(lambda: signed.ask(REGION).rcode() == 0 and bool(signed.ask(REGION).answer), 5)
    back = delv(signed, anchor, REGION, "NAPTR")
    assert "; fully validated" in back.stdout.splitlines(), back.stdout + back.stderr
    # and the zone as a whole is still one correct chain
    whole = delv(signed, anchor, "b-nobody.iso6523-actorid-upis." + ZONE, "NAPTR")
    assert "; negative response, fully validated" in whole.stdout.splitlines()


def test_lookup_validates_from_the_anchor_and_refuses_a_revoked_ap_certificate(signed, tmp_path):
    """Last in this module: it revokes the instance's AP certificate."""
    anchor = tmp_path / "anchor.txt"
    anchor.write_text(signed.cli("dnssec", "ds").stdout, encoding="utf-8")
    found = signed.cli("lookup", "0203:exempelkommun.se", "--dnssec-anchor", str(anchor))
    assert "DNSSEC" in found.stdout and "validated (key tag " in found.stdout, found.stdout
    assert re.search(r"revocation +good: not on the CRL of CN=Accesspunkt CA-SDK-DEV", found.stdout), found.stdout
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(f"{ZONE}. IN DS 1 13 2 {'ab' * 32}\n", encoding="utf-8")
    refused = signed.cli("lookup", "0203:exempelkommun.se", "--dnssec-anchor", str(wrong), check=False)
    assert refused.returncode == 7, refused.stderr
    assert refused.stderr.startswith("sdk-addressbook: dnssec: none of the DNSKEYs")
    certificate = signed.folder / "instance" / "pki" / "access-points" / "ap0001-demo.crt"
    revoked = signed.cli("pki", "revoke", str(certificate))
    assert revoked.stdout.startswith("revoked CN=AP0001")
    ended = signed.cli("lookup", "0203:exempelkommun.se", "--dnssec-anchor", str(anchor), check=False)
    assert ended.returncode == 8, ended.stdout + ended.stderr
    assert "revoked: the AP certificate CN=AP0001" in ended.stderr
    assert "is revoked by CN=Accesspunkt CA-SDK-DEV" in ended.stderr
    unchecked = signed.cli("lookup", "0203:exempelkommun.se", "--revocation", "off")
    assert re.search(r"revocation +not-checked", unchecked.stdout)
