"""Find a participant's SMP through DNS: U-NAPTR per BDXL (service ``Meta:SMP``), or the Peppol CNAME.

NAPTR records are filtered to flag ``U`` and service ``meta:smp`` (case-insensitive, RFC 4848), taken
in order then preference, and the first whose regular expression matches the queried name gives the
SMP's base URL. The CNAME fallback (``B-{md5}``) is used only when asked for: it is legacy Peppol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from app.client.cache import Cache
from app.client.errors import NotRegistered, TechnicalFailure
from app.dns.naming import cname_name, naptr_name
from app.identifiers import ParticipantId

SMP_SERVICE = "meta:smp"


@dataclass(frozen=True)
class DnsOptions:
    zone: str
    #: (host, port) of the DNS server to ask; None: the system resolver.
    server: tuple[str, int] | None = None
    timeout: float = 3.0
    cname_fallback: bool = False


@dataclass(frozen=True)
class Located:
    smp_url: str
    #: How it was found: the record's owner name and type.
    name: str
    record_type: str


def locate(participant: ParticipantId, options: DnsOptions, cache: Cache) -> Located:
    name = naptr_name(participant.scheme, participant.value, options.zone)
    key = f"dns:{name}:{options.cname_fallback}"
    entry = cache.get(key)
    if entry is not None and entry.fresh(cache.clock()):
        return Located(**entry.value)
    answer = _query(name, "NAPTR", options)
    located, ttl = _from_naptr(name, answer)
    if located is None and options.cname_fallback:
        cname = cname_name(participant.scheme, participant.value, options.zone)
        located, ttl = _from_cname(cname, _query(cname, "CNAME", options))
    if located is None:
        where = f"{name} (NAPTR)" + (" or its CNAME" if options.cname_fallback else "")
        raise NotRegistered(f"{participant} is not registered in DNS: no SMP record at {where}")
    cache.put(key, {"smp_url": located.smp_url, "name": located.name, "record_type": located.record_type}, ttl)
    return located


def _query(name: str, rdtype: str, options: DnsOptions) -> dns.message.Message | None:
    """The answer, or None for NXDOMAIN / no data; technical failures raise."""
    where = "the system resolver" if options.server is None else f"DNS server {options.server[0]}:{options.server[1]}"
    try:
        if options.server is None:
            try:
                return dns.resolver.resolve(name, rdtype, lifetime=options.timeout).response
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                return None
        host, port = options.server
        query = dns.message.make_query(name, rdtype)
        response = dns.query.udp(query, host, port=port, timeout=options.timeout)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, host, port=port, timeout=options.timeout)
    except dns.exception.Timeout:
        raise TechnicalFailure(f"{where} did not answer within {options.timeout:g} s") from None
    except (OSError, dns.exception.DNSException) as error:
        raise TechnicalFailure(f"{where} could not be asked: {error}") from None
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return None
    if rcode != dns.rcode.NOERROR:
        raise TechnicalFailure(f"{where} answered {dns.rcode.to_text(rcode)} for {name}")
    return response


def _from_naptr(name: str, response: dns.message.Message | None) -> tuple[Located | None, float]:
    if response is None:
        return None, 0
    records = []
    for rrset in response.answer:
        if rrset.rdtype != dns.rdatatype.NAPTR:
            continue
        for record in rrset:
            flags = record.flags.decode("ascii", "replace").lower()
            service = record.service.decode("ascii", "replace").lower()
            if flags == "u" and service == SMP_SERVICE:
                records.append((record.order, record.preference, record, rrset.ttl))
    for _order, _preference, record, ttl in sorted(records, key=lambda item: item[:2]):
        url = apply_regexp(record.regexp.decode("utf-8", "replace"), name.rstrip("."))
        if url is not None:
            if not url.startswith(("http://", "https://")):
                raise TechnicalFailure(f"the NAPTR record of {name} gives {url!r}, which is not an http(s) URL")
            return Located(url.rstrip("/"), name, "NAPTR"), ttl
    return None, 0


def _from_cname(name: str, response: dns.message.Message | None) -> tuple[Located | None, float]:
    if response is None:
        return None, 0
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.CNAME:
            target = rrset[0].target.to_text(omit_final_dot=True)
            return Located(f"http://{target}", name, "CNAME"), rrset.ttl
    return None, 0


def apply_regexp(regexp: str, subject: str) -> str | None:
    """Apply a NAPTR ``!ERE!replacement!flags`` rule (RFC 3402 §3.2) to ``subject``; None if it does not match."""
    if len(regexp) < 3:
        return None
    delimiter = regexp[0]
    parts = regexp[1:].split(delimiter)
    if len(parts) != 3 or parts[2] not in ("", "i"):
        raise TechnicalFailure(f"malformed NAPTR regexp {regexp!r}")
    pattern, replacement, flags = parts
    try:
        compiled = re.compile(pattern, re.IGNORECASE if flags == "i" else 0)
    except re.error as error:
        raise TechnicalFailure(f"malformed NAPTR regexp {regexp!r}: {error}") from None
    match = compiled.search(subject)
    if match is None:
        return None
    # Back-references are \1..\9 in NAPTR; a literal backslash is \\.
    result = re.sub(
        r"\\(\d|\\)", lambda m: "\\" if m.group(1) == "\\" else (match.group(int(m.group(1))) or ""), replacement
    )
    return result
