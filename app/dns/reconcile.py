"""Find and repair drift between the DNS primary's zone and the database.

The zone is transferred (AXFR, TSIG), and within the namespace the service owns — NAPTR and CNAME
records under ``{participant scheme}.{zone}``, and the names of external SMPs under ``publisher.{zone}``
(CNAME, A, AAAA) — every record set is compared with ``dns_records``:
missing or different sets are replaced, sets nobody registered are deleted. Records elsewhere in the
zone (the apex, other hosts) are never touched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
from sqlalchemy.orm import Session

from app.dns.rfc2136 import Primary
from app.dns.zonefile import stored_records
from app.identifiers import PARTICIPANT_SCHEME
from app.settings import Settings

#: The subtrees the service owns, and the record types it writes there.
MANAGED = {PARTICIPANT_SCHEME: ("NAPTR", "CNAME"), "publisher": ("CNAME", "A", "AAAA")}


@dataclass
class Drift:
    missing: list[tuple[str, str]] = field(default_factory=list)  # in the database, not in the zone
    different: list[tuple[str, str]] = field(default_factory=list)  # in both, with other data or TTL
    unexpected: list[tuple[str, str]] = field(default_factory=list)  # in the zone only

    @property
    def clean(self) -> bool:
        return not (self.missing or self.different or self.unexpected)

    def lines(self) -> list[str]:
        return (
            [f"+ {name} {rtype} (missing from the zone)" for name, rtype in self.missing]
            + [f"~ {name} {rtype} (differs in the zone)" for name, rtype in self.different]
            + [f"- {name} {rtype} (in the zone, not registered)" for name, rtype in self.unexpected]
        )


def _rdata(rtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text, relativize=False)


#: Record sets by (owner name, type): their TTL and the text of each record.
RecordSets = dict[tuple[str, str], tuple[int, frozenset[dns.rdata.Rdata]]]


def desired_sets(session: Session) -> RecordSets:
    ttls: dict[tuple[str, str], int] = {}
    rdatas: dict[tuple[str, str], set[dns.rdata.Rdata]] = defaultdict(set)
    for record in stored_records(session):
        ttls[(record.name, record.rtype)] = record.ttl
        rdatas[(record.name, record.rtype)].add(_rdata(record.rtype, record.rdata))
    return {key: (ttls[key], frozenset(values)) for key, values in rdatas.items()}


def actual_sets(zone: dns.zone.Zone, settings: Settings) -> RecordSets:
    subtrees = {dns.name.from_text(f"{label}.{settings.sml_zone}"): types for label, types in MANAGED.items()}
    found = {}
    for name, node in zone.nodes.items():
        absolute = name if name.is_absolute() or zone.origin is None else name.derelativize(zone.origin)
        types = next((t for top, t in subtrees.items() if absolute.is_subdomain(top) and absolute != top), ())
        for rdataset in node.rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            if rtype in types:
                key = (absolute.to_text(omit_final_dot=True).lower(), rtype)
                found[key] = (rdataset.ttl, frozenset(rdataset))
    return found


def compare(desired: RecordSets, actual: RecordSets) -> Drift:
    drift = Drift()
    for key, value in sorted(desired.items()):
        if key not in actual:
            drift.missing.append(key)
        elif actual[key] != value:
            drift.different.append(key)
    drift.unexpected = sorted(key for key in actual if key not in desired)
    return drift


def repair(primary: Primary, drift: Drift, desired: RecordSets, *, batch_size: int = 200) -> int:
    operations = [(key, "replace") for key in drift.missing + drift.different] + [
        (key, "delete") for key in drift.unexpected
    ]
    for start in range(0, len(operations), batch_size):
        message = primary.new_update()
        for (name, rtype), action in operations[start : start + batch_size]:
            owner = dns.name.from_text(name + ".")
            if action == "delete":
                message.delete(owner, rtype)
            else:
                ttl, rdatas = desired[(name, rtype)]
                message.replace(owner, ttl, *rdatas)
        primary.send(message)
    return len(operations)


def reconcile(session: Session, settings: Settings, *, dry_run: bool) -> tuple[Drift, int]:
    primary = Primary.from_settings(settings)
    desired = desired_sets(session)
    drift = compare(desired, actual_sets(primary.transfer(), settings))
    repaired = 0 if dry_run or drift.clean else repair(primary, drift, desired)
    return drift, repaired
