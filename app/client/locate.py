"""Find a participant's SMP through DNS: U-NAPTR per BDXL (service ``Meta:SMP``), or the Peppol CNAME.

NAPTR records are filtered to flag ``U`` and service ``meta:smp`` (case-insensitive, RFC 4848), taken
in order then preference, and the first whose regular expression matches the queried name gives the
SMP's base URL. The CNAME fallback (``B-{md5}``) is used only when asked for: it is legacy Peppol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from app.client.cache import Cache
from app.client.dnssec import TrustAnchor, Validator
from app.client.errors import NotRegistered, TechnicalFailure
from app.dns.naming import SMP1_SERVICE, SMP2_SERVICE, cname_name, naptr_name
from app.identifiers import ParticipantId

SMP_SERVICES = frozenset({SMP1_SERVICE.lower(), SMP2_SERVICE})


@dataclass(frozen=True)
class DnsOptions:
    zone: str
    #: (host, port) of the DNS server to ask; None: the system resolver.
    server: tuple[str, int] | None = None
    timeout: float = 3.0
    cname_fallback: bool = False
    #: The zone's DNSSEC trust anchor: with it, every answer must validate.
    anchor: TrustAnchor | None = None


@dataclass(frozen=True)
class Located:
    smp_url: str
    #: How it was found: the record's owner name and type.
    name: str
    record_type: str
    #: The NAPTR service (lower case) that led here: ``oasis-bdxr-smp-2`` means an SMP 2.0 root.
    service: str = SMP1_SERVICE.lower()
    #: The key tags the answer (or its denial) was validated with; empty: not validated (no anchor given).
    validated_with: tuple[int, ...] = ()


def locate(participant: ParticipantId, options: DnsOptions, cache: Cache) -> Located:
    name = naptr_name(participant.scheme, participant.value, options.zone)
    anchor = options.anchor.fingerprint if options.anchor else "-"
    key = f"dns:{name}:{options.cname_fallback}:{anchor}"
    entry = cache.get(key)
    if entry is not None and entry.fresh(cache.clock()):
        value = dict(entry.value)
        return Located(**{**value, "validated_with": tuple(value.get("validated_with") or ())})
    validator = Validator(options.anchor, lambda n, t: _ask(n, t, options, dnssec=True)) if options.anchor else None
    answer = _query(name, "NAPTR", options, validator)
    located, ttl = _from_naptr(name, answer)
    if located is None and options.cname_fallback:
        cname = cname_name(participant.scheme, participant.value, options.zone)
        located, ttl = _from_cname(cname, _query(cname, "CNAME", options, validator))
    if located is None:
        where = f"{name} (NAPTR)" + (" or its CNAME" if options.cname_fallback else "")
        raise NotRegistered(f"{participant} is not registered in DNS: no SMP record at {where}")
    if validator is not None:
        located = replace(located, validated_with=tuple(validator.key_tags))
    cache.put(
        key,
        {
            "smp_url": located.smp_url,
            "name": located.name,
            "record_type": located.record_type,
            "service": located.service,
            "validated_with": list(located.validated_with),
        },
        ttl,
    )
    return located


def _where(options: DnsOptions) -> str:
    return "the system resolver" if options.server is None else f"DNS server {options.server[0]}:{options.server[1]}"


def _ask(name: str, rdtype: str, options: DnsOptions, *, dnssec: bool) -> dns.message.Message:
    """One question to the configured server (with DNSSEC: to the system's first nameserver if none), any rcode."""
    server = options.server
    if server is None:
        nameservers = dns.resolver.get_default_resolver().nameservers
        if not nameservers:
            raise TechnicalFailure("no DNS server configured (give --dns-server)")
        server = (str(nameservers[0]), 53)
    host, port = server
    try:
        query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        response = dns.query.udp(query, host, port=port, timeout=options.timeout)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, host, port=port, timeout=options.timeout)
    except dns.exception.Timeout:
        raise TechnicalFailure(f"{_where(options)} did not answer within {options.timeout:g} s") from None
    except (OSError, dns.exception.DNSException) as error:
        raise TechnicalFailure(f"{_where(options)} could not be asked: {error}") from None
    return response


def _query(name: str, rdtype: str, options: DnsOptions, validator: Validator | None) -> dns.message.Message | None:
    """The answer, or None for NXDOMAIN / no data; technical failures raise; with a validator, unproven ones too."""
    if options.server is None and validator is None:
        try:
            return dns.resolver.resolve(name, rdtype, lifetime=options.timeout).response
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.Timeout:
            raise TechnicalFailure(f"{_where(options)} did not answer within {options.timeout:g} s") from None
        except dns.exception.DNSException as error:
            raise TechnicalFailure(f"{_where(options)} could not be asked: {error}") from None
    response = _ask(name, rdtype, options, dnssec=validator is not None)
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise TechnicalFailure(f"{_where(options)} answered {dns.rcode.to_text(rcode)} for {name}")
    if validator is not None:
        validator.validate(response, name, rdtype)
    return None if rcode == dns.rcode.NXDOMAIN else response


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
            if flags == "u" and service in SMP_SERVICES:
                records.append((record.order, record.preference, record, rrset.ttl))
    for _order, _preference, record, ttl in sorted(records, key=lambda item: item[:2]):
        service = record.service.decode("ascii", "replace").lower()
        url = apply_regexp(record.regexp.decode("utf-8", "replace"), name.rstrip("."))
        if url is not None:
            if not url.startswith(("http://", "https://")):
                raise TechnicalFailure(f"the NAPTR record of {name} gives {url!r}, which is not an http(s) URL")
            return Located(url.rstrip("/"), name, "NAPTR", service), ttl
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
