"""DNSSEC validation of the SML zone's answers from a trust anchor for the zone itself.

The anchor is a file of DS or DNSKEY records of the zone (what ``sdk-addressbook dnssec ds`` and
``dnssec dnskey`` print; for a zone under a signed parent, the DS the parent publishes). The zone's
DNSKEY RRset is fetched, must be signed by a key the anchor names, and then signs everything else:
a positive answer needs a valid RRSIG over its RRset; a negative one needs signed NSEC records that
prove it (RFC 4035 §5.4): for NXDOMAIN, one covering the name and one covering the wildcard at its
closest encloser; for "no such type", the name's own NSEC without that type (or, for an empty
non-terminal, the NSEC that leads into it). Signatures must be within their validity window now.
NSEC3 denial is not read: it is refused as unprovable (the embedded server and BIND's
``dnssec-policy default`` both use NSEC).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.node
import dns.rcode
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zonefile
from cryptography.utils import CryptographyDeprecationWarning

from app.client.errors import DnssecFailure

with warnings.catch_warnings():  # dnspython's DSA support imports a deprecated cryptography name
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import dns.dnssec

#: Asks the zone's server one question with the DO bit; returns the response (any rcode).
Ask = Callable[[str, str], dns.message.Message]

_DIGESTS = {1: "SHA1", 2: "SHA256", 4: "SHA384"}
Keys = dict[dns.name.Name, dns.rdataset.Rdataset | dns.node.Node]


class AnchorError(ValueError):
    """The trust anchor file cannot be used; the message says why."""


@dataclass(frozen=True)
class TrustAnchor:
    zone: dns.name.Name
    records: tuple[dns.rrset.RRset, ...]
    #: A short fingerprint of the anchor, for cache keys.
    fingerprint: str

    @classmethod
    def load(cls, path: Path, zone: str) -> TrustAnchor:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise AnchorError(f"{path}: cannot be read ({error})") from None
        try:
            rrsets = dns.zonefile.read_rrsets(text, rdclass=None, default_ttl=3600, relativize=False)
        except dns.exception.DNSException as error:
            raise AnchorError(f"{path}: not DS or DNSKEY records in zone-file form ({error})") from None
        origin = dns.name.from_text(zone.rstrip(".") + ".")
        usable = [r for r in rrsets if r.rdtype in (dns.rdatatype.DS, dns.rdatatype.DNSKEY)]
        if not usable or len(usable) != len(rrsets):
            raise AnchorError(f"{path}: give only DS or DNSKEY records of the zone")
        if any(r.name != origin for r in usable):
            raise AnchorError(f"{path}: the records are not for the zone {origin}")
        return cls(origin, tuple(usable), hashlib.sha256(text.encode()).hexdigest()[:16])


class Validator:
    """Validates answers from one zone's server; the zone's keys are fetched once and kept."""

    def __init__(self, anchor: TrustAnchor, ask: Ask) -> None:
        self.anchor = anchor
        self.ask = ask
        self._keys: dns.rrset.RRset | None = None

    @property
    def key_tags(self) -> list[int]:
        return sorted(dns.dnssec.key_id(key) for key in self.keys())

    def keys(self) -> dns.rrset.RRset:
        if self._keys is None:
            self._keys = self._trusted_keys()
        return self._keys

    def _trusted_keys(self) -> dns.rrset.RRset:
        zone = self.anchor.zone
        response = self.ask(zone.to_text(), "DNSKEY")
        dnskeys = _rrset(response.answer, zone, dns.rdatatype.DNSKEY)
        if dnskeys is None:
            raise DnssecFailure(f"{zone} has no DNSKEY records: the zone is not signed")
        anchored = dns.rrset.RRset(zone, dnskeys.rdclass, dns.rdatatype.DNSKEY)
        for key in dnskeys:
            if self._anchored(key):
                anchored.add(key, dnskeys.ttl)
        if not anchored:
            raise DnssecFailure(f"none of the DNSKEYs of {zone} matches the trust anchor")
        self._check(response.answer, dnskeys, {zone: anchored})
        return dnskeys

    def _anchored(self, key: dns.rdata.Rdata) -> bool:
        for rrset in self.anchor.records:
            for record in rrset:
                if rrset.rdtype == dns.rdatatype.DNSKEY and record == key:
                    return True
                digest = _DIGESTS.get(record.digest_type) if rrset.rdtype == dns.rdatatype.DS else None
                if digest is not None and dns.dnssec.make_ds(self.anchor.zone, key, digest) == record:
                    return True
        return False

    def _check(self, section: list[dns.rrset.RRset], rrset: dns.rrset.RRset, keys: Keys | None = None) -> None:
        signatures = [
            r for r in section if r.rdtype == dns.rdatatype.RRSIG and r.name == rrset.name and r.covers == rrset.rdtype
        ]
        what = f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"
        if not signatures:
            raise DnssecFailure(f"{what} is not signed")
        try:
            dns.dnssec.validate(rrset, signatures[0], keys or {self.anchor.zone: self.keys()})
        except dns.exception.ValidationFailure as error:
            raise DnssecFailure(f"{what}: the signature does not validate ({error})") from None

    def validate(self, response: dns.message.Message, qname: str, rdtype: str) -> None:
        """Raise :class:`DnssecFailure` unless ``response`` is a proven answer to ``qname``/``rdtype``."""
        name = dns.name.from_text(qname.rstrip(".") + ".")
        wanted = dns.rdatatype.from_text(rdtype)
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            found = _rrset(response.answer, name, wanted) or _rrset(response.answer, name, dns.rdatatype.CNAME)
            if found is not None:
                self._check(response.answer, found)
                return
            self._prove_no_data(response, name, wanted)
        elif rcode == dns.rcode.NXDOMAIN:
            self._prove_no_name(response, name)
        else:
            raise DnssecFailure(f"{qname}: {dns.rcode.to_text(rcode)} cannot be validated")

    def _nsecs(self, response: dns.message.Message, name: dns.name.Name) -> list[dns.rrset.RRset]:
        if any(r.rdtype == dns.rdatatype.NSEC3 for r in response.authority):
            raise DnssecFailure(f"{name}: the denial uses NSEC3, which this client does not read")
        nsecs = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
        if not nsecs:
            raise DnssecFailure(f"{name}: the negative answer carries no NSEC proof (an unsigned zone?)")
        for rrset in nsecs:
            self._check(response.authority, rrset)
        return nsecs

    def _prove_no_name(self, response: dns.message.Message, name: dns.name.Name) -> None:
        nsecs = self._nsecs(response, name)
        covering = next((r for r in nsecs if _covers(r, name)), None)
        if covering is None:
            raise DnssecFailure(f"{name}: no NSEC record proves that the name does not exist")
        encloser = _closest_encloser(name, covering)
        wildcard = dns.name.from_text("*", origin=encloser)
        if not any(_covers(r, wildcard) for r in nsecs):
            raise DnssecFailure(f"{name}: no NSEC record proves that no wildcard {wildcard} answers instead")

    def _prove_no_data(self, response: dns.message.Message, name: dns.name.Name, wanted: int) -> None:
        nsecs = self._nsecs(response, name)
        own = next((r for r in nsecs if r.name == name), None)
        if own is not None:
            present = _types(own[0])
            if wanted in present or dns.rdatatype.CNAME in present:
                raise DnssecFailure(f"{name}: its NSEC record says the type exists, yet none was answered")
            return
        if any(r.name < name and r[0].next.is_subdomain(name) and r[0].next != name for r in nsecs):
            return  # an empty non-terminal: the NSEC before it leads to a name below it
        raise DnssecFailure(f"{name}: no NSEC record proves that it has no such data")


def _rrset(section: list[dns.rrset.RRset], name: dns.name.Name, rdtype: int) -> dns.rrset.RRset | None:
    return next((r for r in section if r.name == name and r.rdtype == rdtype), None)


def _covers(nsec: dns.rrset.RRset, name: dns.name.Name) -> bool:
    owner, following = nsec.name, nsec[0].next
    if owner < following:
        return bool(owner < name < following)
    return bool(name > owner or name < following)  # the last NSEC of the zone points back at the apex


def _closest_encloser(name: dns.name.Name, covering: dns.rrset.RRset) -> dns.name.Name:
    """The longest ancestor of ``name`` that exists, as the covering NSEC shows it (RFC 4035 §5.4)."""
    candidates = [covering.name, covering[0].next]
    best = dns.name.root
    for candidate in candidates:
        common = name.fullcompare(candidate)[2]
        if common > len(best.labels):
            best = dns.name.Name(name.labels[len(name.labels) - common :])
    return best


def _types(nsec: Any) -> set[int]:
    return {
        number * 256 + byte * 8 + bit
        for number, bitmap in nsec.windows
        for byte, octet in enumerate(bitmap)
        for bit in range(8)
        if octet & (0x80 >> bit)
    }
