"""``/addressbook/api/v1/``: organizations, addresses and codesystems as JSON:API (read-only, anonymous).

Attribute names follow the Swedish directory (sdk-domain.md §4.1): ``participantIdentifier``, ``name``,
``identifier``, ``relationships.parent``; paging by ``links.next``. No CORS headers are ever set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from app.directory import jsonapi, queries, search, text
from app.directory.jsonapi import BadParameter, Query
from app.directory.ratelimit import RateLimiter, retry_after
from app.directory.resources import (
    PREFIX,
    TYPES,
    render,
)
from app.extensions import current_database
from app.settings import Settings

LIMITER_KEY = "sdk.directory_rate_limiter"
blp = Blueprint("directory", __name__, url_prefix=PREFIX)


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


def _render(entry, query: Query) -> dict:
    return render(entry.kind, entry.id, entry.attributes or {}, entry.parent_id, query)


def _included(session, query: Query, parents: set) -> list[dict]:
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
        return jsonapi.error(404, "Not Found", f"no resource type {kind!r}; there are {', '.join(COLLECTIONS)}")
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
    return jsonapi.respond(request, document)


def _search_page(session, kind: str, spec: Collection, query: Query, document: dict) -> set:
    """``q=``: the best matches first; paged by position, to at most search.MAX_RESULTS."""
    unsupported = set(query.filters) - spec.search_filters
    if unsupported:
        name = f"filter[{sorted(unsupported)[0]}]"
        raise BadParameter(name, f"cannot be combined with q; with q: {', '.join(sorted(spec.search_filters))}")
    offset = jsonapi.offset_after(query.after)
    size = min(query.page_size, max(search.MAX_RESULTS - offset, 0))
    conditions = queries.conditions(kind, query.filters)
    try:
        found = search.search(session, kind, query.text or "", conditions, offset=offset, size=size)
    except text.QueryError as error:
        raise BadParameter("q", str(error)) from None
    document["data"] = [_render(entry, query) for entry in found.entries]
    corrections = {term.word: list(term.alternatives) for term in found.terms if term.alternatives}
    document["meta"]["search"] = {"words": [term.word for term in found.terms], "corrections": corrections}
    if found.more and offset + size < search.MAX_RESULTS:
        document["links"]["next"] = _next_link(kind, jsonapi.offset_cursor(offset + size))
    return {e.parent_id for e in found.entries}


def _changes_page(session, kind: str, query: Query, document: dict) -> set:
    """``filter[updatedSince]``: every change in change order, removed resources as tombstones.

    The last page carries ``meta.resume``: request it later to get only what changed since.
    """
    others = set(query.filters) - {UPDATED_SINCE}
    if others:
        raise BadParameter(f"filter[{sorted(others)[0]}]", "cannot be combined with filter[updatedSince]")
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


def _timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadParameter(
            f"filter[{UPDATED_SINCE}]", "must be an ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise BadParameter(f"filter[{UPDATED_SINCE}]", "must carry a time zone (Z or +01:00)")
    return moment.astimezone(UTC)


@blp.get("/<kind>/<ident>")
def single(kind: str, ident: str) -> Response:
    spec = COLLECTIONS.get(kind)
    if spec is None:
        return jsonapi.error(404, "Not Found", f"no resource type {kind!r}; there are {', '.join(COLLECTIONS)}")
    query = jsonapi.parse_query(request.args, includes=spec.includes, types=TYPES, collection=False)
    with current_database().reader() as session:
        entry = queries.one(session, kind, ident)
        if entry is None:
            return jsonapi.error(404, "Not Found", f"no {kind} resource {ident}")
        document: dict[str, Any] = {"data": _render(entry, query), "links": {"self": f"{PREFIX}/{kind}/{ident}"}}
        included = _included(session, query, {entry.parent_id})
    if included:
        document["included"] = included
    return jsonapi.respond(request, document)


@blp.route("/", defaults={"rest": ""}, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
@blp.route("/<path:rest>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        return jsonapi.error(405, "Method Not Allowed", "the directory is read-only")
    if rest == "":
        document = {"links": {kind: f"{PREFIX}/{kind}" for kind in COLLECTIONS}, "jsonapi": {"version": "1.1"}}
        return jsonapi.respond(request, document)
    return jsonapi.error(404, "Not Found", f"no such resource: {PREFIX}/{rest}")


@blp.errorhandler(BadParameter)
def bad_parameter(error: BadParameter) -> Response:
    return jsonapi.error(400, "Bad Request", f"{error.parameter}: {error.detail}", parameter=error.parameter)


@blp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    return jsonapi.error(error.code or 500, error.name, error.description or error.name)


@blp.before_request
def limit_rate() -> Response | None:
    limiter: RateLimiter | None = current_app.extensions.get(LIMITER_KEY)
    if limiter is None:
        return None
    wait = limiter.acquire(request.remote_addr or "unknown")
    if wait == 0.0:
        return None
    response = jsonapi.error(429, "Too Many Requests", "too many requests from this address; slow down")
    response.headers["Retry-After"] = retry_after(wait)
    return response


def init_app(app: Flask, settings: Settings) -> None:
    if settings.directory_rate_limit:
        app.extensions[LIMITER_KEY] = RateLimiter(settings.directory_rate_limit)
    app.register_blueprint(blp)
