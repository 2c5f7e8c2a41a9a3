"""Render, sign and store a participant's publications in the caller's transaction.

Only documents whose content changed are signed again: each publication keeps the hash of its unsigned
form plus the signing certificate, so re-publishing unchanged data costs no signature and changes no
ETag. Removing a participant's last service, or its approval, withdraws every document it had.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from lxml import etree
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.publishing.content import Participant, load_participant
from app.publishing.flavours import FLAVOURS, Flavour
from app.publishing.keys import load_signing_credentials
from app.publishing.paths import service_group_key, service_metadata_key
from app.publishing.signing import Signer, serialize
from app.registry.columns import utcnow
from app.registry.models import Organisation, Publication, PublicationState
from app.settings import Settings

SESSION_KEY = "sdk.publisher"
CHANGED_KEY = "sdk.publications_changed"


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
        participant = load_participant(session, organisation)
        existing = {
            (p.flavour, p.path_key): p
            for p in session.scalars(select(Publication).where(Publication.organisation_id == organisation.id))
        }
        result = PublishResult(published=participant is not None)
        desired = self.render(participant) if participant is not None else []
        wanted = {(d.flavour.name, d.key) for d in desired}
        for key, publication in existing.items():
            if key not in wanted:
                session.delete(publication)
                result.withdrawn += 1
                result.keys.append(key)
        if desired:
            fingerprint = self.signer.credentials.certificate.fingerprint(hashes.SHA256()).hex()
        for document in desired:
            unsigned = etree.tostring(document.root, encoding="UTF-8")
            source_hash = hashlib.sha256(f"{fingerprint}\n".encode() + unsigned).hexdigest()
            current = existing.get((document.flavour.name, document.key))
            if current is not None and current.source_hash == source_hash and not force:
                result.unchanged += 1
                continue
            body = (
                self.signer.sign(document.root, document.flavour.canonicalization)
                if document.sign
                else serialize(document.root)
            )
            etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
            if current is None:
                session.add(
                    Publication(
                        organisation_id=organisation.id,
                        flavour=document.flavour.name,
                        path_key=document.key,
                        document=body,
                        etag=etag,
                        source_hash=source_hash,
                        published_at=utcnow(),
                    )
                )
            else:
                current.document, current.etag, current.source_hash = body, etag, source_hash
                current.published_at = utcnow()
            result.signed += 1
            result.keys.append((document.flavour.name, document.key))
        if (result.signed or result.withdrawn) and not session.info.get(CHANGED_KEY):
            _advance_generation(session)  # once per transaction: readers look at it after the commit
            session.info[CHANGED_KEY] = True
        session.flush()
        return result


def _advance_generation(session: Session) -> None:
    """Tell every worker's read cache that publications changed (in this same transaction)."""
    moved = session.execute(
        update(PublicationState)
        .where(PublicationState.id == 1)
        .values(generation=PublicationState.generation + 1, changed_at=utcnow())
        .execution_options(synchronize_session=False)  # no scan of every object in the session
    ).rowcount
    if not moved:
        session.add(PublicationState(id=1, generation=1, changed_at=utcnow()))


def publisher_for(session: Session) -> Publisher:
    publisher = session.info.get(SESSION_KEY)
    if publisher is None:
        raise RuntimeError("this session has no publisher: open it with Database.writer() of a configured app")
    return publisher


def republish(session: Session, organisation: Organisation, *, force: bool = False) -> PublishResult:
    """Bring the organisation's stored publications in line with its data (the only entry for writers)."""
    return publisher_for(session).republish(session, organisation, force=force)
