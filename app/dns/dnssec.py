"""DNSSEC for the embedded server: the zone's key, RRSIGs over its RRsets, NSEC records, the DS for the parent.

One combined signing key (flags 257: it signs the DNSKEY RRset and every other RRset), ECDSA P-256
(algorithm 13) as ``init`` makes it, or an RSA key (algorithm 8) given as a file. Signatures are valid
from an hour before they are made for ``SDK_DNSSEC_VALIDITY_DAYS`` (14) and are made again when half of
that is gone. Signing is done here, not by dnspython's ``sign()``: the signed data is RFC 4034 §3.1.8.1's
(the RRSIG fields, then every RR in canonical form, rdata in canonical order), and the raw signature is
what RFC 6605 (ECDSA: r and s, 32 bytes each) and RFC 5702 (RSA/SHA-256) put in the record — four times
faster than dnspython's general path, which matters at 200,000 signatures for a 100,000-name zone.
dnspython checks the results in the tests, and BIND's ``delv`` and ``dnssec-verify`` check the served zone.
"""

from __future__ import annotations

import os
import struct
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dns.dnssectypes
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.utils import CryptographyDeprecationWarning

if TYPE_CHECKING:
    from app.settings import Settings

with warnings.catch_warnings():  # dnspython's DSA support imports a deprecated cryptography name
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import dns.dnssec

ECDSAP256SHA256 = 13
RSASHA256 = 8
#: Flags of a key that signs the DNSKEY RRset (SEP) and the zone (zone key): a combined signing key.
CSK_FLAGS = 257
INCEPTION_SLACK = 3600  # seconds a signature is valid before it was made: clocks that run behind

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class DnssecKeyError(Exception):
    """The zone key cannot be used; the message says why."""


@dataclass(frozen=True)
class ZoneKey:
    private: PrivateKey
    algorithm: int
    dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY

    @property
    def key_tag(self) -> int:
        return int(dns.dnssec.key_id(self.dnskey))


def create_key(path: Path) -> None:
    """A new ECDSA P-256 key in ``path`` (mode 0600); an existing file is left alone."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def load_key(path: Path) -> ZoneKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise DnssecKeyError(f"{path}: not a readable unencrypted PEM private key ({error})") from None
    if isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1):
        algorithm = ECDSAP256SHA256
    elif isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048:
        algorithm = RSASHA256
    else:
        raise DnssecKeyError(f"{path}: the zone key must be ECDSA P-256 or RSA of 2048 bits or more")
    dnskey = dns.dnssec.make_dnskey(private.public_key(), dns.dnssectypes.Algorithm(algorithm), flags=CSK_FLAGS)
    return ZoneKey(private, algorithm, dnskey)


def zone_signer(settings: Settings) -> ZoneSigner | None:
    """The signer of the embedded server's zone with ``SDK_DNSSEC`` on (None when off)."""
    if not settings.dnssec:
        return None
    path = settings.dnssec_key_path
    if not path.is_file():
        raise DnssecKeyError(f"{path}: no zone key (run 'sdk-addressbook init', or set SDK_DNSSEC_KEY)")
    origin = dns.name.from_text(settings.sml_zone.rstrip(".") + ".")
    return ZoneSigner(origin, load_key(path), validity_days=settings.dnssec_validity_days)


def ds_text(zone: str, key: ZoneKey) -> str:
    """The DS record (SHA-256) the parent zone publishes for this key."""
    origin = dns.name.from_text(zone.rstrip(".") + ".")
    ds = dns.dnssec.make_ds(origin, key.dnskey, "SHA256")
    return f"{origin.to_text()} IN DS {ds.to_text()}"


def dnskey_text(zone: str, key: ZoneKey) -> str:
    """The DNSKEY record: what a validator is given as the zone's trust anchor."""
    origin = dns.name.from_text(zone.rstrip(".") + ".")
    return f"{origin.to_text()} IN DNSKEY {key.dnskey.to_text()}"


class ZoneSigner:
    """Signs RRsets of one zone with its key, all with the same validity window until :meth:`renew`."""

    def __init__(self, origin: dns.name.Name, key: ZoneKey, *, validity_days: int = 14) -> None:
        self.origin = origin
        self.key = key
        self.validity = validity_days * 86400
        self._signer_wire = _wire(origin.canonicalize())
        self._key_tag = key.key_tag
        self.renew()

    def renew(self, now: float | None = None) -> None:
        """Start a new validity window (every signature made from now on carries it)."""
        moment = int(now if now is not None else time.time())
        self.inception = moment - INCEPTION_SLACK
        self.expiration = moment + self.validity

    def due(self, now: float | None = None) -> bool:
        """Whether half of the window is gone: time to sign everything again."""
        moment = now if now is not None else time.time()
        return moment >= self.expiration - self.validity / 2

    def rrsig(self, owner: bytes, rdtype: int, ttl: int, bodies: list[bytes]) -> bytes:
        """The RRSIG rdata (wire form) over one RRset: ``owner`` in lower-case wire form, ``bodies`` the rdata
        of each record in canonical form (:func:`canonical_rdata`)."""
        labels = _label_count(owner)
        fields = struct.pack(
            "!HBBIIIH", rdtype, self.key.algorithm, labels, ttl, self.expiration, self.inception, self._key_tag
        )
        fields += self._signer_wire
        head = owner + struct.pack("!HHI", rdtype, dns.rdataclass.IN, ttl)
        data = fields + b"".join(head + struct.pack("!H", len(body)) + body for body in sorted(bodies))
        return fields + self._signature(data)

    def _signature(self, data: bytes) -> bytes:
        private = self.key.private
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def canonical_rdata(rdata: dns.rdata.Rdata, origin: dns.name.Name) -> bytes:
    """The rdata as RFC 4034 §6.2 signs it (names in the types it lists in lower case, uncompressed)."""
    return rdata.to_digestable(origin)


def nsec_rdata(next_name: bytes, rdtypes: Iterable[int]) -> bytes:
    """The NSEC rdata of a name: the next name (wire form) and the types present, RRSIG and NSEC among them."""
    windows: dict[int, bytearray] = {}
    for rdtype in {*rdtypes, dns.rdatatype.RRSIG, dns.rdatatype.NSEC}:
        window, offset = divmod(rdtype, 256)
        bitmap = windows.setdefault(window, bytearray())
        byte, bit = divmod(offset, 8)
        if len(bitmap) <= byte:
            bitmap.extend(bytes(byte + 1 - len(bitmap)))
        bitmap[byte] |= 0x80 >> bit
    return next_name + b"".join(bytes((window, len(windows[window]))) + windows[window] for window in sorted(windows))


def _label_count(owner: bytes) -> int:
    """The RRSIG labels field: the owner's labels without the root, and without a leading ``*``."""
    count, offset = 0, 0
    while owner[offset]:
        count += 1
        offset += owner[offset] + 1
    return count - 1 if owner[:2] == b"\x01*" else count


def _wire(name: dns.name.Name) -> bytes:
    wire = name.to_wire()
    if wire is None:
        raise ValueError(f"{name} has no wire form")
    return wire
