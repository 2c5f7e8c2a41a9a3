"""The zone in memory, with answers precomputed in wire format (the embedded server's hot path).

An answer RRset is stored with the owner name written as a compression pointer to the question (offset
12), so a reply is: header + the query's own question + stored bytes. All participant NAPTR records share
one rdata, so their answers are one shared ``bytes`` object. Names that exist only as ancestors of
records (``iso6523-actorid-upis.{zone}``) are empty non-terminals: NOERROR without data, not NXDOMAIN.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from app.dns.records import Record

CLASS_IN = 1
NOERROR, NXDOMAIN, REFUSED = 0, 3, 5
CNAME = dns.rdatatype.CNAME
SOA = dns.rdatatype.SOA
ANY = dns.rdatatype.ANY


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

    def __init__(self, origin: str) -> None:
        self.origin = dns.name.from_text(origin.rstrip(".") + ".")
        self.origin_wire = _wire(self.origin).lower()
        self._rrsets: dict[bytes, dict[int, tuple[int, tuple[str, ...]]]] = {}
        self._answers: dict[bytes, dict[int, tuple[bytes, int]]] = {}
        self._ancestors: dict[bytes, int] = {}
        self._interned: dict[tuple[Any, ...], tuple[bytes, int]] = {}
        self._negative = Lookup(NXDOMAIN, b"", 0, b"", 0)
        self._nodata = Lookup(NOERROR, b"", 0, b"", 0)
        self.serial = 0
        self._lock = threading.Lock()

    # -- changes ---------------------------------------------------------------------------------

    def set_rrset(self, name: str, rtype: str, ttl: int, rdatas: tuple[str, ...] | list[str]) -> None:
        key = wire_name(name)
        rdtype = dns.rdatatype.from_text(rtype)
        rdatas = tuple(rdatas)
        encoded = self._interned.get((rdtype, ttl, rdatas))
        if encoded is None:
            wires = [
                _wire(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False))
                for text in rdatas
            ]
            encoded = (b"".join(_rr(self.POINTER, rdtype, ttl, wire) for wire in wires), len(wires))
            if len(self._interned) < 10_000:
                self._interned[(rdtype, ttl, rdatas)] = encoded
        with self._lock:
            if key not in self._rrsets:
                self._rrsets[key] = {}
                self._answers[key] = {}
                self._count_ancestors(key, +1)
            self._rrsets[key][rdtype] = (ttl, rdatas)
            self._answers[key][rdtype] = encoded
            if rdtype == SOA and key == self.origin_wire:
                self._set_negative(ttl, encoded[0])

    def delete_rrset(self, name: str, rtype: str) -> None:
        key = wire_name(name)
        rdtype = dns.rdatatype.from_text(rtype)
        with self._lock:
            types = self._rrsets.get(key)
            if not types or rdtype not in types:
                return
            del types[rdtype]
            del self._answers[key][rdtype]
            if not types:
                del self._rrsets[key]
                del self._answers[key]
                self._count_ancestors(key, -1)

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

    def _set_negative(self, ttl: int, soa_answer: bytes) -> None:
        # The authority SOA needs its own owner name (the zone), not a pointer to the question.
        soa_rdata = soa_answer[len(self.POINTER) + 10 :]
        minimum = struct.unpack("!I", soa_rdata[-4:])[0]
        authority = _rr(self.origin_wire, SOA, min(ttl, minimum), soa_rdata)
        self._negative = Lookup(NXDOMAIN, b"", 0, authority, 1)
        self._nodata = Lookup(NOERROR, b"", 0, authority, 1)

    # -- queries ---------------------------------------------------------------------------------

    def in_zone(self, key: bytes, label_starts: list[int]) -> bool:
        start = len(key) - len(self.origin_wire)
        return start >= 0 and key.endswith(self.origin_wire) and (start == 0 or start in label_starts)

    def lookup(self, key: bytes, qtype: int) -> Lookup:
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

    def rrsets(self) -> list[dns.rrset.RRset]:
        """Every RRset, the SOA first (for AXFR and zone files)."""
        with self._lock:
            items = [(key, dict(types)) for key, types in self._rrsets.items()]
        result = []
        for key, types in items:
            name = dns.name.from_wire(key, 0)[0]
            for rdtype, (ttl, rdatas) in types.items():
                result.append(
                    dns.rrset.from_text_list(
                        name, ttl, dns.rdataclass.IN, dns.rdatatype.RdataType(rdtype), list(rdatas)
                    )
                )
        result.sort(key=lambda rrset: (rrset.rdtype != SOA, rrset.name != self.origin, rrset.name.to_text()))
        return result

    def __len__(self) -> int:
        return len(self._rrsets)
