"""The audit chain's head, signed: an anchor kept outside the database.

The hash chain shows a change in the middle, but not the newest events deleted, nor a chain edited and
every later hash recomputed by someone who can write the database. A checkpoint (the newest event's
sequence number and hash, signed with the SMP signing key) kept elsewhere — a file ``audit verify
--checkpoint`` writes, the ``/api/v1/audit-events/head`` answer a monitor stores, the
``sdk_audit_head_sequence`` series Prometheus keeps — shows both: the event it names must still be
there with the same hash.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.chain import GENESIS
from app.registry.models import AuditEvent


class CheckpointError(Exception):
    """A saved checkpoint that cannot be read or is not signed by this service."""


@dataclass(frozen=True)
class Checkpoint:
    sequence: int  # the newest event's id (0: no event yet)
    hash: str  # its hash (the genesis hash when there is none)
    taken_at: str  # ISO 8601, UTC
    signature: str | None = None  # base64, over the canonical JSON of the fields above

    def payload(self) -> bytes:
        body = {"sequence": self.sequence, "hash": self.hash, "takenAt": self.taken_at}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def as_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "hash": self.hash, "takenAt": self.taken_at, "signature": self.signature}

    @classmethod
    def from_dict(cls, data: object) -> Checkpoint:
        fields = (data.get("sequence"), data.get("hash"), data.get("takenAt")) if isinstance(data, dict) else ()
        if len(fields) != 3 or not (
            isinstance(fields[0], int) and isinstance(fields[1], str) and isinstance(fields[2], str)
        ):
            raise CheckpointError("not a checkpoint (sequence, hash, takenAt, signature)")
        signature = data.get("signature") if isinstance(data, dict) else None
        return cls(fields[0], fields[1], fields[2], signature if isinstance(signature, str) else None)


def head(session: Session, now: datetime | None = None) -> Checkpoint:
    """The chain's newest event, unsigned."""
    newest = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    moment = (now or datetime.now(UTC)).isoformat()
    return Checkpoint(newest[0], newest[1], moment) if newest else Checkpoint(0, GENESIS, moment)


def sign(checkpoint: Checkpoint, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> Checkpoint:
    """Signed with the SMP signing key (RSA PKCS#1 v1.5 or ECDSA, SHA-256)."""
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(checkpoint.payload(), padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(checkpoint.payload(), ec.ECDSA(hashes.SHA256()))
    return replace(checkpoint, signature=base64.b64encode(signature).decode("ascii"))


def check_signature(checkpoint: Checkpoint, certificate: x509.Certificate) -> None:
    if not checkpoint.signature:
        raise CheckpointError("the checkpoint is not signed")
    public = certificate.public_key()
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, checkpoint.payload(), padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, checkpoint.payload(), ec.ECDSA(hashes.SHA256()))
        else:
            raise CheckpointError("the signing certificate's key is neither RSA nor EC")
    except (InvalidSignature, ValueError):
        raise CheckpointError("the checkpoint is not signed by this service's signing key") from None


def compare(session: Session, saved: Checkpoint) -> str | None:
    """What the stored chain says against ``saved``: ``None`` when the event it names is there unchanged."""
    if saved.sequence == 0:
        return None
    stored = session.get(AuditEvent, saved.sequence)
    if stored is None:
        newest = head(session).sequence
        return (
            f"event {saved.sequence} of the checkpoint taken {saved.taken_at} is gone (the chain now ends at "
            f"event {newest}): events were deleted"
        )
    if stored.hash != saved.hash:
        return (
            f"event {saved.sequence} no longer has the hash of the checkpoint taken {saved.taken_at}: "
            "the chain was changed and its hashes computed again"
        )
    return None
