"""``/addressbook/api/v1/``: organizations, addresses and codesystems as JSON:API (read-only, anonymous).

Attribute names follow the Swedish directory (sdk-domain.md §4.1): ``participantIdentifier``, ``name``,
``identifier``, ``relationships.parent``; paging by ``links.next``. No CORS headers are ever set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from app.directory import answers, jsonapi, queries, search, text
from app.directory.jsonapi import BadParameter, Query
from app.directory.ratelimit import Limiter, RateLimiter, SharedRateLimiter, retry_after
from app.directory.resources import (
    PREFIX,
    TYPES,
    render,
)
from app.extensions import current_database
from app.registry.models import DirectoryEntry
from app.settings import Settings

LIMITER_KEY = "sdk.directory_rate_limiter"
blp = Blueprint("directory", __name__, url_prefix=PREFIX)


class _AnyRest(PathConverter):
    """Whatever follows the prefix, line breaks included (``path`` stops at one, and the request would
    fall out of the directory into an answer that is not JSON:API)."""

    regex = "[^/][\\s\\S]*?"


@blp.record_once
def _register_converter(state: Any) -> None:
    state.app.url_map.converters.setdefault("any_rest", _AnyRest)


@dataclass(frozen=True)
class Collection:
    """One resource type: the filters it takes, what it can include, and which filters narrow a search."""

    filters: frozenset[str]
    includes: frozenset[str] = frozenset()
    #: Filters that may narrow a free-text search; empty: the type cannot be searched.
    search_filters: frozenset[str] = frozenset()


UPDATED_SINCE = "updatedSince"
COLLECTIONS = {
    "organizations": Collection(
        frozenset({"participantIdentifier", "organizationNumber", "type", "parent", UPDATED_SINCE}),
        frozenset({"parent"}),
        frozenset({"parent", "type"}),
    ),
    "addresses": Collection(
        frozenset({"organization", "identifier", "category", "organizationType", UPDATED_SINCE}),
        frozenset({"parent"}),
        frozenset({"organization", "category", "organizationType"}),
    ),
    "codesystems": Collection(frozenset({"identifier", UPDATED_SINCE})),
}


def _render(entry: DirectoryEntry, query: Query) -> dict[str, Any]:
    return render(entry.kind, entry.id, entry.attributes or {}, entry.parent_id, query)


def _included(session: Session, query: Query, parents: set[Any]) -> list[dict[str, Any]]:
    if "parent" not in query.include:
        return []
    return [_render(entry, query) for entry in queries.organisations_by_id(session, parents - {None})]


def _next_link(kind: str, cursor: str) -> str:
    args = {k: v for k, v in request.args.items() if k != "page[after]"}
    args["page[after]"] = cursor
    return f"{PREFIX}/{kind}?{urlencode(args)}"


@blp.get("/<kind>")
def collection(kind: str) -> Response:
    spec = COLLECTIONS.get(kind)
    if spec is None:
        return answers.error(404, "Not Found", f"no resource type {kind!r}; there are {', '.join(COLLECTIONS)}")
    query = jsonapi.parse_query(
        request.args,
        filters=spec.filters,
        includes=spec.includes,
        types=TYPES,
        collection=True,
        searchable=bool(spec.search_filters),
    )
    document: dict[str, Any] = {"links": {"self": request.full_path.rstrip("?")}, "meta": {"pageSize": query.page_size}}
    with current_database().reader() as session:
        if UPDATED_SINCE in query.filters:
            parents = _changes_page(session, kind, query, document)
        elif query.text is not None:
            parents = _search_page(session, kind, spec, query, document)
        else:
            entries, last = queries.page(
                session, kind, query.filters, query.page_size, jsonapi.keyset_after(query.after)
            )
            document["data"] = [_render(entry, query) for entry in entries]
            if last is not None:
                document["links"]["next"] = _next_link(kind, jsonapi.keyset_cursor(last))
            parents = {entry.parent_id for entry in entries}
        included = _included(session, query, parents)
    if included:
        document["included"] = included
    return answers.respond(request, document)


def _search_page(session: Session, kind: str, spec: Collection, query: Query, document: dict[str, Any]) -> set[Any]:
    """``q=``: the best matches first; paged by position, to at most search.MAX_RESULTS."""
    unsupported = set(query.filters) - spec.search_filters
    if unsupported:
        name = f"filter[{sorted(unsupported)[0]}]"
        raise BadParameter(
            name, f"cannot be combined with q; with q: {', '.join(sorted(spec.search_filters))}", declared=False
        )
    offset = jsonapi.offset_after(query.after)
    size = min(query.page_size, max(search.MAX_RESULTS - offset, 0))
    conditions = queries.conditions(kind, query.filters)
    try:
        found = search.search(session, kind, query.text or "", conditions, offset=offset, size=size)
    except text.QueryError as error:
        raise BadParameter("q", str(error), declared=False) from None
    document["data"] = [_render(entry, query) for entry in found.entries]
    corrections = {term.word: list(term.alternatives) for term in found.terms if term.alternatives}
    document["meta"]["search"] = {"words": [term.word for term in found.terms], "corrections": corrections}
    if found.more and offset + size < search.MAX_RESULTS:
        document["links"]["next"] = _next_link(kind, jsonapi.offset_cursor(offset + size))
    return {e.parent_id for e in found.entries}


def _changes_page(session: Session, kind: str, query: Query, document: dict[str, Any]) -> set[Any]:
    """``filter[updatedSince]``: every change in change order, removed resources as tombstones.

    The last page carries ``meta.resume``: request it later to get only what changed since.
    """
    others = set(query.filters) - {UPDATED_SINCE}
    if others:
        raise BadParameter(
            f"filter[{sorted(others)[0]}]", "cannot be combined with filter[updatedSince]", declared=False
        )
    since = _timestamp(query.filters[UPDATED_SINCE])
    after = jsonapi.change_after(query.after)
    entries, more = queries.changes(session, kind, since, query.page_size, after)
    data = []
    for entry in entries:
        meta = {"changedAt": entry.changed_at.isoformat().replace("+00:00", "Z")}
        if entry.removed:
            data.append({"type": kind, "id": str(entry.id), "meta": {"removed": True, **meta}})
        else:
            data.append({**_render(entry, query), "meta": meta})
    document["data"] = data
    cursor = jsonapi.change_cursor(entries[-1].seq, entries[-1].id) if entries else None
    if more and cursor:
        document["links"]["next"] = _next_link(kind, cursor)
    else:
        document["meta"]["resume"] = _next_link(kind, cursor) if cursor else document["links"]["self"]
    return {e.parent_id for e in entries if not e.removed}


_RFC3339 = re.compile(jsonapi.DATE_TIME)


def _timestamp(value: str) -> datetime:
    """An RFC 3339 date-time (as the document declares) in UTC; moments beyond Python's calendar (year 0,
    or 0001-01-01 in a zone east of UTC) are clamped to its ends, which is what they mean for a feed."""
    name = f"filter[{UPDATED_SINCE}]"
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise BadParameter(name, "must be an RFC 3339 date and time with a zone, e.g. 2026-01-31T12:00:00Z")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zulu, sign, zone_hours, zone_minutes = match.groups()[6:]
    try:
        microseconds = int((fraction or "0")[:6].ljust(6, "0"))
        local = datetime(max(year, 1), month, day, hour, minute, min(second, 59), microseconds, tzinfo=UTC)
        offset = timedelta(0) if zulu else timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
        if offset >= timedelta(hours=24):
            raise ValueError("offset")
    except ValueError:
        raise BadParameter(
            name, "is not a date and time that exists (a month, day, hour or zone out of range)"
        ) from None
    offset = -offset if sign == "-" else offset
    earliest, latest = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    if local - earliest < offset:
        return earliest
    if latest - local < -offset:
        return latest
    return local - offset


@blp.get("/<kind>/<ident>")
def single(kind: str, ident: str) -> Response:
    spec = COLLECTIONS.get(kind)
    if spec is None:
        return answers.error(404, "Not Found", f"no resource type {kind!r}; there are {', '.join(COLLECTIONS)}")
    query = jsonapi.parse_query(request.args, includes=spec.includes, types=TYPES, collection=False)
    with current_database().reader() as session:
        entry = queries.one(session, kind, ident)
        if entry is None:
            return answers.error(404, "Not Found", f"no {kind} resource {ident}")
        document: dict[str, Any] = {"data": _render(entry, query), "links": {"self": f"{PREFIX}/{kind}/{ident}"}}
        included = _included(session, query, {entry.parent_id})
    if included:
        document["included"] = included
    return answers.respond(request, document)


@blp.route("/", defaults={"rest": ""}, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
@blp.route("/<any_rest:rest>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        return answers.error(405, "Method Not Allowed", "the directory is read-only", headers={"Allow": ALLOW})
    if rest == "":
        document = {"links": {kind: f"{PREFIX}/{kind}" for kind in COLLECTIONS}, "jsonapi": {"version": "1.1"}}
        return answers.respond(request, document)
    return answers.error(404, "Not Found", f"no such resource: {PREFIX}/{rest}")


@blp.errorhandler(BadParameter)
def bad_parameter(error: BadParameter) -> Response:
    return answers.error(
        400,
        "Bad Request",
        f"{error.parameter}: {error.detail}",
        parameter=error.parameter,
        code=None if error.declared else jsonapi.DOMAIN_RULE,
    )


@blp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    return answers.error(error.code or 500, error.name, error.description or error.name)


#: What the directory answers to, everywhere (it is read-only).
ALLOW = "GET, HEAD, OPTIONS"


@blp.before_request
def answer_options() -> Response | None:
    """OPTIONS names only what the directory serves (Flask's own answer would list the catch-all's methods)."""
    if request.method != "OPTIONS":
        return None
    return Response(status=204, headers={"Allow": ALLOW, "Cache-Control": "no-store"})


@blp.before_request
def limit_rate() -> Response | None:
    limiter: Limiter | None = current_app.extensions.get(LIMITER_KEY)
    if limiter is None:
        return None
    wait = limiter.acquire(request.remote_addr or "unknown")
    if wait == 0.0:
        return None
    response = answers.error(429, "Too Many Requests", "too many requests from this address; slow down")
    response.headers["Retry-After"] = retry_after(wait)
    return response


def init_app(app: Flask, settings: Settings) -> None:
    if settings.directory_rate_limit and settings.redis_url:
        app.extensions[LIMITER_KEY] = SharedRateLimiter(
            settings.directory_rate_limit, settings.redis_url, scope="directory", key_prefix=settings.redis_key_prefix
        )
    elif settings.directory_rate_limit:
        app.extensions[LIMITER_KEY] = RateLimiter(settings.directory_rate_limit)
    app.register_blueprint(blp)
