"""Render, sign and store a participant's publications in the caller's transaction.

Only documents whose content changed are signed again: each publication keeps the hash of its unsigned
form plus the signing certificate, so re-publishing unchanged data costs no signature and changes no
ETag. Removing a participant's last service, or its approval, withdraws every document it had.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.publishing.content import Participant, load_participants
from app.publishing.flavours import FLAVOURS, Flavour
from app.publishing.keys import load_signing_credentials
from app.publishing.notify import notify_changed
from app.publishing.paths import service_group_key, service_metadata_key
from app.publishing.pool import MIN_DOCUMENTS, SigningPool, available_cores, collect
from app.publishing.signing import Signer, serialize
from app.registry.bulk import update_singleton
from app.registry.columns import utcnow
from app.registry.models import Organisation, Publication, PublicationState
from app.settings import Settings

#: Participants loaded, rendered and stored per step of a bulk re-publication.
CHUNK = 250
_CHANGED_KEY = "sdk.publications_changed"


@dataclass
class PublishResult:
    published: bool = False  # whether the participant is published at all after this
    signed: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    keys: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Rendered:
    flavour: Flavour
    key: str
    root: etree._Element
    sign: bool


class Publisher:
    """Builds the documents; the signing key is loaded on first use (``init`` runs before it exists)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            with self._lock:
                if self._signer is None:
                    self._signer = Signer(load_signing_credentials(self.settings))
        return self._signer

    def reload_key(self) -> Signer:
        with self._lock:
            self._signer = Signer(load_signing_credentials(self.settings))
        return self._signer

    def render(self, participant: Participant) -> list[Rendered]:
        documents = []
        for flavour in FLAVOURS:
            group = flavour.builder.service_group(participant, flavour.base_url(self.settings))
            documents.append(Rendered(flavour, service_group_key(participant.id), group, flavour.sign_service_group))
            for service in participant.services:
                metadata = flavour.builder.service_metadata(participant, service)
                key = service_metadata_key(participant.id, service.document)
                documents.append(Rendered(flavour, key, metadata, True))
        for document in documents:
            etree.indent(document.root, space="  ")
        return documents

    def republish(self, session: Session, organisation: Organisation, *, force: bool = False) -> PublishResult:
        return self.republish_many(session, [organisation], force=force)[organisation.id]

    def republish_many(
        self, session: Session, organisations: Sequence[Organisation], *, force: bool = False
    ) -> dict[uuid.UUID, PublishResult]:
        """:meth:`republish` of many participants, in chunks: while the signing pool signs one chunk (when
        there are enough documents to pay for it), the next is loaded and rendered."""
        organisations = list(organisations)
        results: dict[uuid.UUID, PublishResult] = {}
        processes = self.settings.publish_processes or available_cores()
        expected = len(organisations) * 6  # documents of a participant with two services, roughly
        with ExitStack() as stack:
            pool = None
            if processes > 1 and expected >= MIN_DOCUMENTS:
                pool = stack.enter_context(SigningPool(self.signer, processes))
            waiting: tuple[list[_Work], list[Any]] | None = None
            for start in range(0, len(organisations), CHUNK):
                work = self._plan(session, organisations[start : start + CHUNK], results, force)
                signing = (work, pool.submit([(w.unsigned, w.method) for w in work if w.sign])) if pool else None
                if waiting is not None:
                    self._store(session, *waiting, results)
                if signing is None:
                    self._store(session, work, None, results)
                waiting = signing
            if waiting is not None:
                self._store(session, *waiting, results)
        if any(r.signed or r.withdrawn for r in results.values()) and not publications_changed(session):
            _advance_generation(session)  # once per transaction: readers look at it after the commit
            session.info[_CHANGED_KEY] = True
        session.flush()
        return results

    def _plan(
        self, session: Session, organisations: list[Organisation], results: dict[uuid.UUID, PublishResult], force: bool
    ) -> list[_Work]:
        """Withdraw what is no longer wanted; return the documents that must be (re)stored."""
        participants = load_participants(session, organisations, self.settings.identifier_policy)
        existing: dict[uuid.UUID, dict[tuple[str, str], Publication]] = defaultdict(dict)
        for publication in session.scalars(
            select(Publication).where(Publication.organisation_id.in_([o.id for o in organisations]))
        ):
            existing[publication.organisation_id][(publication.flavour, publication.path_key)] = publication
        fingerprint = None
        work = []
        for organisation in organisations:
            participant = participants[organisation.id]
            result = results[organisation.id] = PublishResult(published=participant is not None)
            current = existing[organisation.id]
            desired = self.render(participant) if participant is not None else []
            wanted = {(d.flavour.name, d.key) for d in desired}
            for key, publication in current.items():
                if key not in wanted:
                    session.delete(publication)
                    result.withdrawn += 1
                    result.keys.append(key)
            if desired and fingerprint is None:
                fingerprint = self.signer.credentials.certificate.fingerprint(hashes.SHA256()).hex()
            for document in desired:
                unsigned = etree.tostring(document.root, encoding="UTF-8")
                source_hash = hashlib.sha256(f"{fingerprint}\n".encode() + unsigned).hexdigest()
                stored = current.get((document.flavour.name, document.key))
                if stored is not None and stored.source_hash == source_hash and not force:
                    result.unchanged += 1
                    continue
                work.append(_Work(organisation.id, document, unsigned, source_hash, stored))
        return work

    def _store(
        self, session: Session, work: list[_Work], signing: list[Any] | None, results: dict[uuid.UUID, PublishResult]
    ) -> None:
        signed = iter(collect(signing)) if signing is not None else None
        for item in work:
            document = item.document
            if not document.sign:
                body = serialize(document.root)
            elif signed is not None:
                body = next(signed)
            else:
                body = self.signer.sign(document.root, document.flavour.canonicalization)
            etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
            if item.stored is None:
                session.add(
                    Publication(
                        organisation_id=item.organisation_id,
                        flavour=document.flavour.name,
                        path_key=document.key,
                        document=body,
                        etag=etag,
                        source_hash=item.source_hash,
                        published_at=utcnow(),
                    )
                )
            else:
                stored = item.stored
                stored.document, stored.etag, stored.source_hash = body, etag, item.source_hash
                stored.published_at = utcnow()
            result = results[item.organisation_id]
            result.signed += 1
            result.keys.append((document.flavour.name, document.key))
        session.flush()


@dataclass(frozen=True)
class _Work:
    """One document to (re)store, rendered and hashed; signed later, here or in the pool."""

    organisation_id: uuid.UUID
    document: Rendered
    unsigned: bytes
    source_hash: str
    stored: Publication | None

    @property
    def sign(self) -> bool:
        return self.document.sign

    @property
    def method(self) -> str:
        return self.document.flavour.canonicalization


def _advance_generation(session: Session) -> None:
    """Tell every worker's read cache that publications changed (in this same transaction)."""
    update_singleton(
        session,
        PublicationState,
        {"generation": PublicationState.generation + 1, "changed_at": utcnow()},
        lambda: PublicationState(id=1, generation=1, changed_at=utcnow()),
    )
    notify_changed(session)


def publications_changed(session: Session) -> bool:
    """Whether this transaction changed a stored publication (the readers' caches must then let go)."""
    return bool(session.info.get(_CHANGED_KEY, False))
