"""Answer SMP reads from stored publications: parse once, look up once, cache, never sign.

Framework-free: :meth:`SmpReader.answer` maps a raw request path and the conditional headers to a
status, headers and body. Paths are split on the raw URI before percent-decoding (SMP 2.0 §3.3), so an
encoded ``%2F`` stays inside its identifier. Identifiers are parsed leniently (any letter case, raw or
encoded ``:``, hex in either case) and looked up in canonical form, which the documents also carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Engine

from app.identifiers import LENIENT_POLICY, PARTICIPANT_SCHEME, DocumentTypeId, IdentifierError, ParticipantId
from app.problems import problem_body
from app.publishing.cache import CachedDocument, PublicationCache
from app.publishing.flavours import BY_PREFIX, SMP1, Flavour
from app.publishing.notify import ChangeListener
from app.publishing.paths import service_group_key, service_metadata_key
from app.registry.models import Publication, PublicationState
from app.settings import Settings

_GENERATION = select(PublicationState.generation).where(PublicationState.id == 1)
# The generation is read in the same statement (one snapshot) as the document, so a document read just
# before a change can be recognised as stale and is not cached.
_STATE = select(_GENERATION.scalar_subquery().label("generation")).subquery("state")
_LOOKUP = select(_STATE.c.generation, Publication.document, Publication.etag, Publication.published_at).select_from(
    _STATE.outerjoin(
        Publication,
        and_(Publication.flavour == bindparam("flavour"), Publication.path_key == bindparam("path_key")),
    )
)
_PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


class _BadRequest(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class _NotHere(Exception):
    """A well-formed request for something this SMP does not publish."""


def _decode(segment: str, field: str) -> str:
    # WSGI hands the raw URI over as latin-1 text; the bytes behind percent escapes are UTF-8.
    try:
        return unquote_to_bytes(segment.encode("latin-1")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise _BadRequest(field, "is not valid percent-encoded UTF-8") from None


def _participant(segment: str) -> ParticipantId:
    text = _decode(segment, "participantIdentifier")
    try:
        return ParticipantId.parse(text, LENIENT_POLICY)
    except IdentifierError as error:
        scheme = text.partition("::")[0].strip().lower() if "::" in text else PARTICIPANT_SCHEME
        if scheme != PARTICIPANT_SCHEME:
            raise _NotHere(f"participant scheme {scheme!r} is not published by this SMP") from None
        raise _BadRequest("participantIdentifier", str(error)) from None


def _problem(status: str, kind: str, title: str, detail: str, errors: list[Any] | None = None) -> Answer:
    body = problem_body(int(status[:3]), kind, title, detail, errors=errors)
    return Answer(status, [("Content-Type", _PROBLEM), ("Content-Length", str(len(body)))], body)


def publication_cache(settings: Settings, engine: Engine) -> PublicationCache:
    """A process' cache of SMP answers, checking the stored generation every SDK_SMP_MEMORY_CACHE_SECONDS
    and, on PostgreSQL, expired at once by a notification when any process commits a change."""

    def generation() -> int | None:
        with engine.connect() as connection:
            return connection.execute(_GENERATION).scalar()

    cache = PublicationCache(
        generation,
        check_interval=settings.smp_memory_cache_seconds,
        budget_bytes=settings.smp_memory_cache_mb * 1024 * 1024,
    )
    if engine.dialect.name == "postgresql":
        cache.listen_with(lambda: ChangeListener(engine, cache.expire).start())
    return cache


class SmpReader:
    def __init__(self, settings: Settings, engine: Engine, cache: PublicationCache | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.cache_control = f"public, max-age={settings.smp_cache_max_age}"
        self.cache = cache if cache is not None else publication_cache(settings, engine)

    def _locate(self, segments: list[str]) -> tuple[Flavour, str, str]:
        flavour = SMP1
        if len(segments) > 1 and segments[0] in BY_PREFIX:
            flavour, segments = BY_PREFIX[segments[0]], segments[1:]
        if len(segments) == 1 and segments[0]:
            participant = _participant(segments[0])
            return flavour, service_group_key(participant), f"participant {participant}"
        if len(segments) == 3 and segments[1] == "services" and segments[0] and segments[2]:
            participant = _participant(segments[0])
            try:
                text = _decode(segments[2], "documentIdentifier")
                document = DocumentTypeId.parse(text, self.settings.identifier_policy)
            except IdentifierError as error:
                raise _BadRequest("documentIdentifier", str(error)) from None
            what = f"document type {document} of participant {participant}"
            return flavour, service_metadata_key(participant, document), what
        raise _NotHere("no SMP resource has this path: use /{participant} or /{participant}/services/{document}")

    def _load(self, flavour: Flavour, key: str) -> tuple[CachedDocument | None, int | None]:
        with self.engine.connect() as connection:
            generation, body, etag, published_at = connection.execute(
                _LOOKUP, {"flavour": flavour.name, "path_key": key}
            ).one()
        if body is None:
            return None, generation
        body = bytes(body)
        last_modified = format_datetime(published_at, usegmt=True)
        headers = (
            ("Content-Type", flavour.content_type),
            ("Content-Length", str(len(body))),
            ("ETag", etag),
            ("Last-Modified", last_modified),
            ("Cache-Control", self.cache_control),
            ("X-Content-Type-Options", "nosniff"),
        )
        return CachedDocument(body, etag, last_modified, headers), generation

    def answer(
        self, relative_path: str, *, if_none_match: str | None = None, if_modified_since: str | None = None
    ) -> Answer:
        """``relative_path`` is the raw path below ``SDK_SMP_PATH``, percent-encoding intact, no query."""
        document = self.cache.get(relative_path)
        if document is False:
            try:
                flavour, key, what = self._locate(relative_path.split("/"))
            except _BadRequest as error:
                detail = f"{error.field}: {error.reason}"
                errors = [{"field": error.field, "reason": error.reason}]
                return _problem("400 Bad Request", "invalid-identifier", "Bad Request", detail, errors)
            except _NotHere as error:
                return _problem("404 Not Found", "not-found", "Not Found", str(error))
            document, generation = self._load(flavour, key)
            self.cache.put(relative_path, document, generation)
            if document is None:
                return _problem("404 Not Found", "not-found", "Not Found", f"{what} is not published here")
        elif document is None:
            return _problem("404 Not Found", "not-found", "Not Found", "this SMP resource is not published here")
        if _not_modified(document, if_none_match, if_modified_since):
            kept = [(n, v) for n, v in document.headers if n in ("ETag", "Last-Modified", "Cache-Control")]
            return Answer("304 Not Modified", kept, b"")
        return Answer("200 OK", list(document.headers), document.body)


def _not_modified(document: CachedDocument, if_none_match: str | None, if_modified_since: str | None) -> bool:
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or document.etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
            modified = parsedate_to_datetime(document.last_modified)
        except (TypeError, ValueError):
            return False
        return isinstance(since, datetime) and since.tzinfo is not None and modified <= since
    return False
