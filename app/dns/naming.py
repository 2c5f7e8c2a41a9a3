"""Participant DNS names: BDXL U-NAPTR labels and the classic Peppol ``B-{md5}`` CNAME labels.

NAPTR: ``lower(base32(sha256(lower(value))))`` without ``=`` padding, then ``.{lower(scheme)}.{zone}``
(Peppol SML / eDelivery BDXL as implemented by peppol-commons' BDXLURLProvider). Only the identifier
*value* is hashed; with ``scheme_in_zone=False`` the whole ``scheme::value`` is hashed and no scheme
label is added (the DBNAlliance / ebCore variant).
"""

from __future__ import annotations

import base64
import hashlib

#: BDXL U-NAPTR services of SMPs: OASIS SMP 1.0 and Peppol (written as Peppol and BDMSL write it; compared
#: without case, RFC 4848) and OASIS SMP 2.0 (§5.5).
SMP1_SERVICE = "Meta:SMP"
SMP2_SERVICE = "oasis-bdxr-smp-2"


def naptr_label(value: str, *, lowercase: bool = True) -> str:
    text = value.lower() if lowercase else value
    return base64.b32encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii").rstrip("=").lower()


def cname_label(value: str) -> str:
    return "B-" + hashlib.md5(value.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def _join(label: str, scheme: str | None, zone: str) -> str:
    parts = [label]
    if scheme:
        parts.append(scheme.lower())
    zone = zone.rstrip(".")
    if zone:
        parts.append(zone)
    return ".".join(parts)


def naptr_name(scheme: str | None, value: str, zone: str, *, scheme_in_zone: bool = True) -> str:
    """The owner name (no trailing dot) of a participant's NAPTR record."""
    if scheme_in_zone or not scheme:
        return _join(naptr_label(value), scheme if scheme_in_zone else None, zone)
    return _join(naptr_label(f"{scheme}::{value}"), None, zone)


def cname_name(scheme: str | None, value: str, zone: str) -> str:
    """The owner name (no trailing dot) of a participant's Peppol-style CNAME record."""
    return _join(cname_label(value), scheme, zone)
