"""The zone in memory, with answers precomputed in wire format (the embedded server's hot path).

An answer RRset is stored with the owner name written as a compression pointer to the question (offset
12), so a reply is: header + the query's own question + stored bytes. All participant NAPTR records share
one rdata, so their answers are one shared ``bytes`` object. Names that exist only as ancestors of
records (``iso6523-actorid-upis.{zone}``) are empty non-terminals: NOERROR without data, not NXDOMAIN.

With a :class:`~app.dns.dnssec.ZoneSigner` the zone is signed (``SDK_DNSSEC``): every RRset has its RRSIG,
kept next to it as a second precomputed answer (the RRset and its signature) for queries with the DO bit;
the apex has the DNSKEY RRset; every name has an NSEC record to the next name in canonical order (RFC 4034
§6.1), kept in step as names come and go, and negative answers carry the SOA and the NSEC records that
prove them (RFC 4035 §3.1.3), each with its signature. A change is signed when it is applied: the RRset,
and, when a name appears or disappears, its NSEC and its predecessor's.
"""

from __future__ import annotations

import bisect
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from app.dns.dnssec import ZoneSigner, canonical_rdata, nsec_rdata
from app.dns.records import Record

CLASS_IN = 1
NOERROR, NXDOMAIN, REFUSED = 0, 3, 5
CNAME = dns.rdatatype.CNAME
SOA = dns.rdatatype.SOA
ANY = dns.rdatatype.ANY
NSEC = dns.rdatatype.NSEC
RRSIG = dns.rdatatype.RRSIG
DNSKEY = dns.rdatatype.DNSKEY


def _wire(item: dns.name.Name | dns.rdata.Rdata) -> bytes:
    """``to_wire()`` without a file: the bytes (dnspython types it as maybe nothing, for the file case)."""
    wire = item.to_wire()
    if wire is None:
        raise ValueError(f"{item} has no wire form")
    return wire


def wire_name(text: str) -> bytes:
    """Lower-case, uncompressed wire form of an absolute name (trailing dot optional)."""
    return _wire(dns.name.from_text(text.rstrip(".") + ".")).lower()


def _rr(owner: bytes, rdtype: int, ttl: int, rdata: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rdtype, CLASS_IN, ttl, len(rdata)) + rdata


def _labels(key: bytes) -> tuple[bytes, ...]:
    """The labels of a wire name, root last dropped."""
    labels, offset = [], 0
    while key[offset]:
        labels.append(key[offset + 1 : offset + 1 + key[offset]])
        offset += key[offset] + 1
    return tuple(labels)


def canonical_key(key: bytes) -> tuple[bytes, ...]:
    """RFC 4034 §6.1 order of lower-case wire names: label by label from the right, as octet strings."""
    return tuple(reversed(_labels(key)))


@dataclass(frozen=True)
class Lookup:
    rcode: int
    answer: bytes
    answer_count: int
    authority: bytes
    authority_count: int


class ZoneTable:
    """Thread-safe for one writer (the follower) and many readers (the query threads)."""

    POINTER = b"\xc0\x0c"  # the name in the question

    def __init__(self, origin: str, signer: ZoneSigner | None = None) -> None:
        self.origin = dns.name.from_text(origin.rstrip(".") + ".")
        self.origin_wire = _wire(self.origin).lower()
        self.signer = signer
        self._rrsets: dict[bytes, dict[int, tuple[int, tuple[str, ...]]]] = {}
        self._answers: dict[bytes, dict[int, tuple[bytes, int]]] = {}
        self._ancestors: dict[bytes, int] = {}
        self._interned: dict[tuple[Any, ...], tuple[bytes, int, list[bytes]]] = {}
        self._negative = Lookup(NXDOMAIN, b"", 0, b"", 0)
        self._nodata = Lookup(NOERROR, b"", 0, b"", 0)
        self.serial = 0
        self._lock = threading.Lock()
        # DNSSEC: answers with their RRSIG (the signature is the answer's last record), the NSEC rdata of
        # each name, the NSEC chain in canonical order.
        self._signed: dict[bytes, dict[int, tuple[bytes, int]]] = {}
        self._nsec: dict[bytes, bytes] = {}
        self._chain: list[tuple[tuple[bytes, ...], bytes]] = []
        self._nsec_authority: dict[bytes, bytes] = {}
        self._soa_authority = b""
        #: TTL of negative answers and NSEC records: the smaller of the SOA's TTL and its minimum (RFC 9077).
        self.negative_ttl = 0
        self._loading = False

    # -- changes ---------------------------------------------------------------------------------

    def _encoded(self, rdtype: int, ttl: int, rdatas: tuple[str, ...]) -> tuple[bytes, int, list[bytes]]:
        """The answer records (owner: a pointer to the question) and each rdata in canonical form."""
        found = self._interned.get((rdtype, ttl, rdatas))
        if found is None:
            parsed = [
                dns.rdata.from_text(
                    dns.rdataclass.IN, dns.rdatatype.RdataType(rdtype), text, origin=dns.name.root, relativize=False
                )
                for text in rdatas
            ]
            found = (
                b"".join(_rr(self.POINTER, rdtype, ttl, _wire(r)) for r in parsed),
                len(parsed),
                [canonical_rdata(r, dns.name.root) for r in parsed] if self.signer is not None else [],
            )
            if len(self._interned) < 10_000:
                self._interned[(rdtype, ttl, rdatas)] = found
        return found

    def set_rrset(self, name: str, rtype: str, ttl: int, rdatas: tuple[str, ...] | list[str]) -> None:
        key = wire_name(name)
        rdtype = dns.rdatatype.from_text(rtype)
        rdatas = tuple(rdatas)
        encoded, count, bodies = self._encoded(rdtype, ttl, rdatas)
        signed = None
        if self.signer is not None:
            rrsig = self.signer.rrsig(key, rdtype, ttl, bodies)
            signed = (encoded + _rr(self.POINTER, RRSIG, ttl, rrsig), count + 1)
        with self._lock:
            new_name = key not in self._rrsets
            if new_name:
                self._rrsets[key] = {}
                self._answers[key] = {}
                self._count_ancestors(key, +1)
            new_type = rdtype not in self._rrsets[key]
            self._rrsets[key][rdtype] = (ttl, rdatas)
            self._answers[key][rdtype] = (encoded, count)
            if signed is not None:
                self._signed.setdefault(key, {})[rdtype] = signed
            if rdtype == SOA and key == self.origin_wire:
                self._set_negative(ttl, encoded, signed[0][len(encoded) :] if signed else b"")
            if self.signer is not None and not self._loading and (new_name or new_type):
                self._link(key, new_name)

    def delete_rrset(self, name: str, rtype: str) -> None:
        key = wire_name(name)
        rdtype = dns.rdatatype.from_text(rtype)
        with self._lock:
            types = self._rrsets.get(key)
            if not types or rdtype not in types:
                return
            del types[rdtype]
            del self._answers[key][rdtype]
            self._signed.get(key, {}).pop(rdtype, None)
            gone = not types
            if gone:
                for table in (self._rrsets, self._answers, self._signed):
                    table.pop(key, None)
                self._count_ancestors(key, -1)
            if self.signer is not None and not self._loading:
                self._unlink(key) if gone else self._link(key, False)

    def apply(self, record: Record) -> None:
        self.set_rrset(record.name, record.rtype, record.ttl, [record.rdata])

    def _count_ancestors(self, key: bytes, step: int) -> None:
        offset = key[0] + 1
        while len(key) - offset > len(self.origin_wire):
            ancestor = key[offset:]
            count = self._ancestors.get(ancestor, 0) + step
            if count > 0:
                self._ancestors[ancestor] = count
            else:
                self._ancestors.pop(ancestor, None)
            offset += key[offset] + 1

    def _set_negative(self, ttl: int, soa_answer: bytes, signature: bytes) -> None:
        # The authority SOA needs its own owner name (the zone), not a pointer to the question.
        soa_rdata = soa_answer[len(self.POINTER) + 10 :]
        minimum = struct.unpack("!I", soa_rdata[-4:])[0]
        negative_ttl = min(ttl, minimum)
        authority = _rr(self.origin_wire, SOA, negative_ttl, soa_rdata)
        self._negative = Lookup(NXDOMAIN, b"", 0, authority, 1)
        self._nodata = Lookup(NOERROR, b"", 0, authority, 1)
        if signature:  # the answer's RRSIG record: its rdata, under the zone's name and the negative TTL
            rrsig = signature[len(self.POINTER) + 10 :]
            self._soa_authority = authority + _rr(self.origin_wire, RRSIG, negative_ttl, rrsig)
        self.negative_ttl = negative_ttl

    # -- the NSEC chain (under the lock) ---------------------------------------------------------

    def _link(self, key: bytes, new_name: bool) -> None:
        """A name appeared (insert it and re-sign its predecessor's NSEC) or its types changed (re-sign its own)."""
        if new_name:
            position = bisect.bisect_left(self._chain, (canonical_key(key),))
            self._chain.insert(position, (canonical_key(key), key))
            self._sign_nsec(self._chain[position - 1][1] if position else self._chain[-1][1])
        self._sign_nsec(key)

    def _unlink(self, key: bytes) -> None:
        position = bisect.bisect_left(self._chain, (canonical_key(key),))
        if position < len(self._chain) and self._chain[position][1] == key:
            del self._chain[position]
        self._nsec_authority.pop(key, None)
        self._nsec.pop(key, None)
        if self._chain:
            self._sign_nsec(self._chain[position - 1][1] if position else self._chain[-1][1])

    def _next(self, key: bytes) -> bytes:
        position = bisect.bisect_right(self._chain, (canonical_key(key), key))
        return self._chain[position % len(self._chain)][1]

    def _sign_nsec(self, key: bytes) -> None:
        signer = self.signer
        if signer is None or key not in self._rrsets:
            return
        rdata = nsec_rdata(self._next(key), self._rrsets[key])
        ttl = self.negative_ttl
        rrsig = signer.rrsig(key, NSEC, ttl, [rdata])
        self._nsec[key] = rdata
        self._answers[key][NSEC] = (_rr(self.POINTER, NSEC, ttl, rdata), 1)
        self._signed.setdefault(key, {})[NSEC] = (
            _rr(self.POINTER, NSEC, ttl, rdata) + _rr(self.POINTER, RRSIG, ttl, rrsig),
            2,
        )
        self._nsec_authority[key] = _rr(key, NSEC, ttl, rdata) + _rr(key, RRSIG, ttl, rrsig)

    @contextmanager
    def loading(self) -> Iterator[None]:
        """Many RRsets at once (the zone at start): the NSEC chain is built once, at the end, in order."""
        self._loading = True
        try:
            yield
        finally:
            self._loading = False
            if self.signer is not None:
                with self._lock:
                    self._chain = sorted((canonical_key(key), key) for key in self._rrsets)
                    for _sort, key in self._chain:
                        self._sign_nsec(key)

    def resign(self) -> int:
        """Sign everything again in a new validity window (before the old one runs out); RRsets signed."""
        if self.signer is None:
            return 0
        self.signer.renew()
        with self._lock:
            items = [
                (key, rdtype, ttl, rdatas)
                for key, types in self._rrsets.items()
                for rdtype, (ttl, rdatas) in types.items()
            ]
        for key, rdtype, ttl, rdatas in items:
            self.set_rrset(
                dns.name.from_wire(key, 0)[0].to_text(),
                dns.rdatatype.to_text(dns.rdatatype.RdataType(rdtype)),
                ttl,
                rdatas,
            )
        with self._lock:
            for _sort, key in list(self._chain):
                self._sign_nsec(key)
        return len(items)

    # -- queries ---------------------------------------------------------------------------------

    def in_zone(self, key: bytes, label_starts: list[int]) -> bool:
        start = len(key) - len(self.origin_wire)
        return start >= 0 and key.endswith(self.origin_wire) and (start == 0 or start in label_starts)

    def lookup(self, key: bytes, qtype: int, *, dnssec: bool = False) -> Lookup:
        if dnssec and self.signer is not None:
            return self._lookup_signed(key, qtype)
        answers = self._answers.get(key)
        if answers is None:
            return self._nodata if key in self._ancestors else self._negative
        found = answers.get(qtype)
        if found is None and CNAME in answers:
            found = answers[CNAME]
        if found is None and qtype == ANY and answers:  # RFC 8482: one RRset is enough
            found = next(iter(answers.values()))
        if found is None:
            return self._nodata
        return Lookup(NOERROR, found[0], found[1], b"", 0)

    def _lookup_signed(self, key: bytes, qtype: int) -> Lookup:
        answers = self._signed.get(key)
        if answers is not None:
            found = answers.get(qtype)
            if found is None and CNAME in answers:
                found = answers[CNAME]
            if found is None and qtype == ANY and answers:
                found = next(iter(answers.values()))
            if found is not None:
                return Lookup(NOERROR, found[0], found[1], b"", 0)
        with self._lock:  # the chain is read in several steps: no change may come between them
            if not self._chain:  # nothing loaded yet
                return self._nodata if answers is not None or key in self._ancestors else self._negative
            if answers is not None:  # the name exists without this type: its own NSEC says so
                return Lookup(NOERROR, b"", 0, self._soa_authority + self._nsec_authority.get(key, b""), 4)
            covering = self._covering(key)
            if key in self._ancestors:  # an empty non-terminal: the NSEC that covers it proves it has no data
                return Lookup(NOERROR, b"", 0, self._soa_authority + self._nsec_authority[covering], 4)
            wildcard = self._covering(b"\x01*" + self._closest_encloser(key))
            proofs = [covering] if wildcard == covering else [covering, wildcard]
            authority = self._soa_authority + b"".join(self._nsec_authority[k] for k in proofs)
            return Lookup(NXDOMAIN, b"", 0, authority, 2 + 2 * len(proofs))

    def _covering(self, key: bytes) -> bytes:
        """The name whose NSEC covers ``key``: the last one before it in canonical order."""
        position = bisect.bisect_left(self._chain, (canonical_key(key),))
        return self._chain[position - 1][1]

    def _closest_encloser(self, key: bytes) -> bytes:
        offset = key[0] + 1
        while offset < len(key):
            ancestor = key[offset:]
            if ancestor in self._rrsets or ancestor in self._ancestors or ancestor == self.origin_wire:
                return ancestor
            offset += key[offset] + 1
        return self.origin_wire

    def rrsets(self) -> list[dns.rrset.RRset]:
        """Every RRset and, in a signed zone, its NSEC and RRSIGs, the SOA first (for AXFR and zone files)."""
        with self._lock:
            items = [
                (key, dict(types), dict(self._answers[key]), dict(self._signed.get(key, {})), self._nsec.get(key))
                for key, types in self._rrsets.items()
            ]
        result = []
        for key, types, answers, signed, nsec in items:
            name = dns.name.from_wire(key, 0)[0]
            for rdtype, (ttl, rdatas) in types.items():
                result.append(
                    dns.rrset.from_text_list(
                        name, ttl, dns.rdataclass.IN, dns.rdatatype.RdataType(rdtype), list(rdatas)
                    )
                )
            if nsec is not None:
                result.append(self._rrset_of(name, NSEC, NSEC, self.negative_ttl, nsec))
            for rdtype, (answer, _count) in signed.items():
                rrsig = answer[len(answers[rdtype][0]) + len(self.POINTER) + 10 :]
                ttl = types[rdtype][0] if rdtype in types else self.negative_ttl
                result.append(self._rrset_of(name, RRSIG, rdtype, ttl, rrsig))
        result.sort(key=lambda rrset: (rrset.rdtype != SOA, rrset.name != self.origin, rrset.name.to_text()))
        return result

    @staticmethod
    def _rrset_of(name: dns.name.Name, rdtype: int, covers: int, ttl: int, rdata: bytes) -> dns.rrset.RRset:
        kind = dns.rdatatype.RdataType(rdtype)
        rrset = dns.rrset.RRset(name, dns.rdataclass.IN, kind, dns.rdatatype.RdataType(covers))
        rrset.add(dns.rdata.from_wire(dns.rdataclass.IN, kind, rdata, 0, len(rdata)), ttl)
        return rrset

    def __len__(self) -> int:
        return len(self._rrsets)
