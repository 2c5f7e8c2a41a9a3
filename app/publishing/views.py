"""The SMP read path: ``GET``/``HEAD`` of stored publications, one indexed lookup, never signing.

Paths are split on the raw request URI before percent-decoding (SMP 2.0 §3.3), so an encoded ``%2F``
inside an identifier stays inside it. Identifiers are parsed leniently (any case, raw or encoded ``:``,
hex in either case) and looked up in canonical form, which is also what the documents carry.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, request
from sqlalchemy import bindparam, select

from app.extensions import Database
from app.identifiers import LENIENT_POLICY, PARTICIPANT_SCHEME, DocumentTypeId, IdentifierError, ParticipantId
from app.problems import problem
from app.publishing.cache import MISSING, CachedDocument, PublicationCache
from app.publishing.flavours import BY_PREFIX, SMP1, Flavour
from app.publishing.paths import service_group_key, service_metadata_key
from app.publishing.publisher import CHANGED_KEY, SESSION_KEY, Publisher
from app.registry.models import Publication
from app.settings import Settings

_LOOKUP = select(Publication.document, Publication.etag, Publication.published_at).where(
    Publication.flavour == bindparam("flavour"), Publication.path_key == bindparam("path_key")
)


class _BadRequest(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class _NotHere(Exception):
    """A well-formed identifier this SMP does not publish."""


def _raw_path() -> str:
    """The request path as the client sent it (percent-encoding intact) when the server tells us."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return environ.get("PATH_INFO", "")  # already decoded: %2F cannot be told from '/' here
    path = raw.split("?", 1)[0]
    if "://" in path[:12]:  # absolute-form request target (RFC 9112 §3.2.2)
        path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
    return path


def _decode(segment: str, field: str) -> str:
    # WSGI hands the raw URI over as latin-1; the bytes behind percent escapes are UTF-8.
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


def _document(segment: str, settings: Settings) -> DocumentTypeId:
    try:
        return DocumentTypeId.parse(_decode(segment, "documentIdentifier"), settings.identifier_policy)
    except IdentifierError as error:
        raise _BadRequest("documentIdentifier", str(error)) from None


class SmpReader:
    """Looks publications up (cache first) and answers with the stored bytes and cache validators."""

    def __init__(self, settings: Settings, database: Database, cache: PublicationCache) -> None:
        self.settings = settings
        self.database = database
        self.cache = cache
        self.prefix = settings.smp_path
        self.cache_control = f"public, max-age={settings.smp_cache_max_age}"

    def _fetch(self, flavour: Flavour, key: str) -> CachedDocument | None:
        cache_key = (flavour.name, key)
        cached = self.cache.get(cache_key)
        if cached is not MISSING:
            return cached  # type: ignore[return-value]
        with self.database.engine.connect() as connection:
            row = connection.execute(_LOOKUP, {"flavour": flavour.name, "path_key": key}).first()
        document = None
        if row is not None:
            body, etag, published_at = row
            document = CachedDocument(
                bytes(body), etag, format_datetime(published_at, usegmt=True), flavour.content_type
            )
        self.cache.put(cache_key, document)
        return document

    def _locate(self, segments: list[str]) -> tuple[Flavour, str, str]:
        flavour = SMP1
        if len(segments) > 1 and segments[0] in BY_PREFIX:
            flavour, segments = BY_PREFIX[segments[0]], segments[1:]
        if len(segments) == 1 and segments[0]:
            participant = _participant(segments[0])
            return flavour, service_group_key(participant), f"participant {participant}"
        if len(segments) == 3 and segments[1] == "services" and segments[0] and segments[2]:
            participant = _participant(segments[0])
            document = _document(segments[2], self.settings)
            what = f"document type {document} of participant {participant}"
            return flavour, service_metadata_key(participant, document), what
        raise _NotHere("no SMP resource has this path: use /{participant} or /{participant}/services/{document}")

    def respond(self) -> Response:
        path = _raw_path()
        root = request.script_root + self.prefix + "/"
        if not path.startswith(root):
            return problem(404, "not-found", "Not Found", "no SMP resource has this path")
        try:
            flavour, key, what = self._locate(path[len(root) :].split("/"))
        except _BadRequest as error:
            return problem(
                400, "invalid-identifier", "Bad Request", f"{error.field}: {error.reason}",
                errors=[{"field": error.field, "reason": error.reason}],
            )  # fmt: skip
        except _NotHere as error:
            return problem(404, "not-found", "Not Found", str(error))
        document = self._fetch(flavour, key)
        if document is None:
            return problem(404, "not-found", "Not Found", f"{what} is not published here")
        headers = {
            "ETag": document.etag,
            "Last-Modified": document.last_modified,
            "Cache-Control": self.cache_control,
        }
        if _not_modified(document):
            return Response(status=304, headers=headers)
        response = Response(document.body, status=200, headers=headers, content_type=document.content_type)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _not_modified(document: CachedDocument) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or document.etag in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
            modified = parsedate_to_datetime(document.last_modified)
        except (TypeError, ValueError):
            return False
        return isinstance(since, datetime) and since.tzinfo is not None and modified <= since
    return False


def init_app(app: Flask, settings: Settings, database: Database) -> None:
    publisher = Publisher(settings)
    cache = PublicationCache(settings.smp_memory_cache_seconds)
    database.session_info[SESSION_KEY] = publisher
    app.extensions["sdk.publisher"] = publisher
    app.extensions["sdk.publication_cache"] = cache

    def clear_after_change(session) -> None:
        if session.info.pop(CHANGED_KEY, False):
            cache.clear()

    database.on_commit(clear_after_change)
    reader = SmpReader(settings, database, cache)
    app.add_url_rule(
        f"{settings.smp_path}/<path:_rest>", "smp", lambda _rest: reader.respond(), methods=["GET", "HEAD"]
    )


def current_publisher(app: Flask) -> Publisher:
    return app.extensions["sdk.publisher"]
