"""The embedded authoritative DNS server (``SDK_DNS_MODE=embedded``): UDP and TCP, AXFR over TCP.

Ordinary queries (one question, class IN, optional EDNS OPT) are answered without parsing the message
into objects: the question is copied from the query and the answer bytes come precomputed from the
:class:`~app.dns.zone.ZoneTable`. Everything else (other opcodes, several questions, TSIG, malformed
input) goes through dnspython. Names outside the zone are REFUSED; unknown names inside it get
NXDOMAIN with the SOA; AXFR streams the whole zone.

A follower thread keeps the table in line with the database: it loads every record at start, then
polls the zone serial and applies the ``dns_changes`` rows it has not seen yet, in id order. Its
position is its own (``dns_followers``, :mod:`app.dns.followers`): several servers can follow one
database, each reporting what it serves.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import dns.exception
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig
from sqlalchemy import func, select, update

from app.database import Database
from app.dns import followers
from app.dns.dnssec import zone_signer
from app.dns.records import apex_records
from app.dns.tsig import tsig_key
from app.dns.zone import NXDOMAIN, REFUSED, ZoneTable
from app.registry.columns import utcnow
from app.registry.models import DnsChange, DnsRecord, DnsState
from app.settings import Settings

logger = logging.getLogger("sdk_addressbook.dns")

AXFR, IXFR, OPT = 252, 251, 41
_HEADER = struct.Struct("!HHHHHH")
_OPT_RR = b"\x00" + struct.pack("!HHIH", OPT, 1232, 0, 0)  # EDNS0: root owner, 1232-byte payload, no options
_OPT_RR_DO = b"\x00" + struct.pack("!HHIH", OPT, 1232, 0x8000, 0)  # the same with DO: DNSSEC records wanted
MAX_UDP = 512


class Answerer:
    def __init__(self, table: ZoneTable, key: dns.tsig.Key | None = None) -> None:
        self.table = table
        #: The service's TSIG key: signed queries with it get signed answers (a secondary's SOA checks),
        #: and, when set, zone transfers need it.
        self.key = key

    def answer(self, data: bytes, *, udp: bool) -> bytes | None:
        """The reply to one query message, or ``None`` to stay silent (responses, garbage)."""
        if len(data) < 12:
            return None
        query_id, flags, questions, answers, authorities, additionals = _HEADER.unpack_from(data)
        if flags & 0x8000:
            return None  # a response: never answer those
        if questions != 1 or answers or authorities or additionals > 1 or (flags >> 11) & 0xF:
            return self._slow(data, udp)
        offset, starts = 12, []
        try:
            while True:
                length = data[offset]
                if length == 0:
                    offset += 1
                    break
                if length & 0xC0:
                    return self._slow(data, udp)
                starts.append(offset - 12)
                offset += length + 1
            qtype, qclass = struct.unpack_from("!HH", data, offset)
        except (IndexError, struct.error):
            return self._slow(data, udp)
        question_end = offset + 4
        edns = dnssec = False
        if additionals:
            if data[question_end : question_end + 3] != b"\x00\x00\x29" or len(data) < question_end + 11:
                return self._slow(data, udp)  # an additional record that is not a plain OPT (TSIG, …)
            edns = True
            dnssec = bool(data[question_end + 7] & 0x80)  # the DO bit: the high bit of the OPT's flags
        opt = (_OPT_RR_DO if dnssec else _OPT_RR) if edns else b""
        key = data[12:offset].lower()
        if qclass != 1 or not self.table.in_zone(key, starts):
            return _header(query_id, flags, REFUSED, 0, 0, edns) + data[12:question_end] + opt
        if qtype in (AXFR, IXFR):
            return None if udp else self._slow(data, udp)
        result = self.table.lookup(key, qtype, dnssec=dnssec)
        message = (
            _header(query_id, flags, result.rcode, result.answer_count, result.authority_count, edns)
            + data[12:question_end]
            + result.answer
            + result.authority
            + opt
        )
        limit = 1232 if edns else MAX_UDP
        if udp and len(message) > limit:  # truncated: the client retries over TCP
            return (
                _header(query_id, flags | 0x0200, result.rcode, 0, 0, edns, truncated=True)
                + data[12:question_end]
                + opt
            )
        return message

    def _slow(self, data: bytes, udp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(data, keyring={self.key.name: self.key} if self.key else None)
        except dns.message.ShortHeader:
            return None
        except _TSIG_FAILURES as failure:  # signed, but not with our key, or altered, or out of time
            return _unsigned_refusal(data, dns.rcode.NOTAUTH, failure)
        except dns.exception.DNSException:
            return (
                _header(struct.unpack_from("!H", data)[0], 0, dns.rcode.FORMERR, 0, 0, False) if len(data) > 2 else None
            )
        plain = query.opcode() == dns.opcode.QUERY and len(query.question) == 1
        if plain and query.had_tsig and query.question[0].rdtype not in (AXFR, IXFR):
            return self._signed(query, udp)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            response.set_rcode(dns.rcode.REFUSED)  # otherwise unusual queries are not served
        return response.to_wire()

    def _signed(self, query: dns.message.Message, udp: bool) -> bytes | None:
        """The ordinary answer to a query signed with our key, signed in turn (RFC 8945 §5.3)."""
        unsigned = dns.message.Message(id=query.id)
        unsigned.flags = query.flags
        unsigned.question = list(query.question)
        if query.edns >= 0:
            unsigned.use_edns(query.edns, query.ednsflags, query.payload)
        reply = self.answer(unsigned.to_wire(), udp=udp)
        if reply is None:
            return None
        response = dns.message.from_wire(reply)
        response.use_tsig(query.keyring, query.keyname, algorithm=query.keyalgorithm or dns.tsig.default_algorithm)
        response.request_mac = query.mac or b""
        return response.to_wire()

    def zone_transfer(self, data: bytes, *, allowed: bool = True) -> Iterator[bytes]:
        """AXFR: the SOA, every RRset, the SOA again, in messages under 64 KiB.

        REFUSED when the client is not ``allowed``; when the service has a TSIG key, also when the request
        is not signed with it, and NOTAUTH when its signature does not verify (wrong secret, an unknown key, a clock
        beyond the fudge). A signed request gets a signed stream: every message carries a TSIG that
        chains to the one before (RFC 8945 §5.3.1), as a BIND secondary checks it.
        """
        key = self.key
        try:
            query = dns.message.from_wire(data, keyring={key.name: key} if key else None)
        except _TSIG_FAILURES as failure:
            yield _unsigned_refusal(data, dns.rcode.NOTAUTH, failure)
            return
        if not allowed or (key is not None and not query.had_tsig):
            yield _answer_with(query, dns.rcode.REFUSED)
            return
        if query.question[0].name != self.table.origin:
            yield _answer_with(query, dns.rcode.NOTAUTH)
            return
        rrsets = self.table.rrsets()
        soa = rrsets[0]
        ordered = [soa, *rrsets[1:], soa]
        context = None
        for start in range(0, len(ordered), 300):
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            response.answer = ordered[start : start + 300]
            yield response.to_wire(max_size=65535, multi=query.had_tsig, tsig_ctx=context)
            context = response.tsig_ctx if query.had_tsig else None


#: A signed request whose signature cannot be checked: not ours, altered, or out of its time window.
_TSIG_FAILURES = (dns.message.UnknownTSIGKey, dns.tsig.BadSignature, dns.tsig.BadTime, dns.tsig.BadAlgorithm)


def _answer_with(query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    return response.to_wire()


def _unsigned_refusal(data: bytes, rcode: dns.rcode.Rcode, failure: Exception) -> bytes:
    """The question again with ``rcode`` and no signature (we cannot sign for a key we do not share)."""
    logger.warning("signed DNS request refused: %s", type(failure).__name__)
    query = dns.message.from_wire(data, question_only=True)
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    return response.to_wire()


def _header(
    query_id: int, flags: int, rcode: int, answers: int, authorities: int, edns: bool, truncated: bool = False
) -> bytes:
    out = 0x8000 | 0x0400 | (flags & 0x0100) | (0x0200 if truncated else 0) | (rcode & 0xF)
    return _HEADER.pack(query_id, out, 1, answers, authorities, 1 if edns else 0)


# -- transports --------------------------------------------------------------------------------------


class _TcpHandler(socketserver.BaseRequestHandler):
    answerer: Answerer
    transfer_allowed: Callable[[str], bool]

    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(10)
        with contextlib.suppress(OSError, ConnectionError):
            while True:
                prefix = _receive(connection, 2)
                if prefix is None:
                    return
                data = _receive(connection, struct.unpack("!H", prefix)[0])
                if data is None:
                    return
                if _is_transfer(data):
                    allowed = self.transfer_allowed(self.client_address[0])
                    for message in self.answerer.zone_transfer(data, allowed=allowed):
                        connection.sendall(struct.pack("!H", len(message)) + message)
                    continue
                reply = self.answerer.answer(data, udp=False)
                if reply is not None:
                    connection.sendall(struct.pack("!H", len(reply)) + reply)


def _receive(connection: socket.socket, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = connection.recv(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _is_transfer(data: bytes) -> bool:
    try:
        query = dns.message.from_wire(data, question_only=True)  # a signed request is checked later
    except dns.exception.DNSException:
        return False
    return len(query.question) == 1 and query.question[0].rdtype in (AXFR, IXFR)


class _ThreadingTcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class EmbeddedDnsServer:
    """UDP and TCP listeners on ``SDK_DNS_LISTEN`` plus the follower; ``start()``/``stop()``."""

    def __init__(
        self, settings: Settings, database: Database, *, poll_interval: float = 0.2, name: str | None = None
    ) -> None:
        self.settings = settings
        #: This server's row in ``dns_followers``: unique per host and listening address.
        self.name = name or f"{socket.gethostname()}:{settings.dns_listen}"
        self._reported_at = 0.0
        self.database = database
        self.table = ZoneTable(settings.sml_zone, zone_signer(settings))
        self.answerer = Answerer(self.table, tsig_key(settings))
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_change_id = 0
        family = socket.AF_INET6 if ":" in settings.dns_listen.host else socket.AF_INET
        self._udp = socket.socket(family, socket.SOCK_DGRAM)
        self._udp.bind((settings.dns_listen.host, settings.dns_listen.port))
        self._udp.settimeout(0.5)
        allow = settings.dns_transfer_allow

        def transfer_allowed(address: str) -> bool:
            try:
                client = ipaddress.ip_address(address.split("%")[0])
            except ValueError:
                return False
            if client.version == 6 and client.ipv4_mapped:
                client = client.ipv4_mapped
            return any(client in network for network in allow)

        handler = type(
            "Handler",
            (_TcpHandler,),
            {
                "answerer": self.answerer,
                "transfer_allowed": staticmethod(transfer_allowed),
            },
        )
        _ThreadingTcpServer.address_family = family
        self._tcp = _ThreadingTcpServer((settings.dns_listen.host, settings.dns_listen.port), handler)

    # -- data ------------------------------------------------------------------------------------

    def load(self) -> None:
        """Everything from the database: the outbox position first, so no later change is missed."""
        with self.database.reader() as session, self.table.loading():
            self._last_change_id = session.scalar(select(func.max(DnsChange.id))) or 0
            serial = session.scalar(select(DnsState.serial).where(DnsState.id == 1)) or 1
            for name, rtype, ttl, rdata in session.execute(
                select(DnsRecord.name, DnsRecord.rtype, DnsRecord.ttl, DnsRecord.rdata).execution_options(
                    yield_per=5000
                )
            ):
                self.table.set_rrset(name, rtype, ttl, [rdata])
            self._set_serial(serial)
        # The snapshot holds every change up to the position read before it: those are served now.
        self._report(started=True)
        logger.info("zone %s loaded: %d names, serial %d", self.settings.sml_zone, len(self.table), serial)

    def _set_serial(self, serial: int) -> None:
        for record in apex_records(self.settings, serial):
            self.table.set_rrset(record.name, record.rtype, record.ttl, [record.rdata])
        signer = self.table.signer
        if signer is not None and self.table.serial == 0:  # the zone's key, once: it does not change with the serial
            self.table.set_rrset(self.settings.sml_zone, "DNSKEY", self.settings.dns_ttl, [signer.key.dnskey.to_text()])
        self.table.serial = serial

    def catch_up(self) -> int:
        """Apply outbox rows committed since the last look; return how many."""
        with self.database.reader() as session:
            serial = session.scalar(select(DnsState.serial).where(DnsState.id == 1))
            if serial is None or serial == self.table.serial:
                return 0
            rows = session.execute(
                select(
                    DnsChange.id, DnsChange.operation, DnsChange.name, DnsChange.rtype, DnsChange.ttl, DnsChange.rdata
                )
                .where(DnsChange.id > self._last_change_id)
                .order_by(DnsChange.id)
            ).all()
        for change_id, operation, name, rtype, ttl, rdata in rows:
            if operation == "delete":
                self.table.delete_rrset(name, rtype)
            else:
                self.table.set_rrset(name, rtype, ttl, rdata or [])
            self._last_change_id = change_id
        self._set_serial(serial)
        if rows:
            self._report(published=True)
        return len(rows)

    def _report(self, *, started: bool = False, published: bool = False) -> None:
        """Tell the database what this server serves (its position), so the DNS lag is true in every replica."""
        now = utcnow()
        with self.database.writer() as session:
            followers.report(
                session, self.name, position=self._last_change_id, serial=self.table.serial, now=now, started=started
            )
            if published:
                session.execute(update(DnsState).where(DnsState.id == 1).values(last_published_at=now))
        self._reported_at = time.monotonic()

    def report_if_due(self) -> None:
        if time.monotonic() - self._reported_at >= followers.REPORT_SECONDS:
            self._report()

    def prune(self, older_than: timedelta = timedelta(hours=1)) -> None:
        """Outbox rows every live server has passed long ago (and rows of servers long gone)."""
        with self.database.writer() as session:
            followers.prune(session, utcnow(), older_than=older_than)

    # -- threads ---------------------------------------------------------------------------------

    def start(self, *, follow: bool = True) -> None:
        """Load the zone and answer; with ``follow`` (the default) also apply the outbox as it grows."""
        self.load()
        targets = [(self._serve_udp, "dns-udp"), (self._tcp.serve_forever, "dns-tcp")]
        if follow:
            targets.append((self._follow, "dns-follow"))
        for target, name in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._tcp.shutdown()
        self._tcp.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._udp.close()

    def _serve_udp(self) -> None:
        sock, answer = self._udp, self.answerer.answer
        while not self._stop.is_set():
            try:
                data, address = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = answer(data, udp=True)
            except Exception:
                logger.exception("DNS query failed")
                continue
            if reply is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(reply, address)

    def _follow(self) -> None:
        rounds = 0
        while not self._stop.wait(self.poll_interval):
            try:
                applied = self.catch_up()
                if applied:
                    logger.info("applied %d DNS changes, serial %d", applied, self.table.serial)
                signer = self.table.signer
                if signer is not None and signer.due():
                    logger.info("zone signed again: %d RRsets, valid until %d", self.table.resign(), signer.expiration)
                self.report_if_due()
                rounds += 1
                if rounds % 3000 == 0:  # every ten minutes at the default interval
                    self.prune()
            except Exception:
                logger.exception("DNS follower could not read the database")


__all__ = ["NXDOMAIN", "Answerer", "EmbeddedDnsServer"]
