"""``/addressbook/api/v1/``: organizations, addresses and codesystems as JSON:API (read-only, anonymous).

Attribute names follow the Swedish directory (sdk-domain.md §4.1): ``participantIdentifier``, ``name``,
``identifier``, ``relationships.parent``; paging by ``links.next``. No CORS headers are ever set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from app.directory import jsonapi, queries
from app.directory.jsonapi import BadParameter, Query
from app.directory.ratelimit import RateLimiter, retry_after
from app.extensions import current_database
from app.registry.models import CodeSystem, FunctionAddress, Organisation
from app.settings import Settings

PREFIX = "/addressbook/api/v1"
LIMITER_KEY = "sdk.directory_rate_limiter"
blp = Blueprint("directory", __name__, url_prefix=PREFIX)

ORGANISATION_FIELDS = frozenset(
    {
        "participantIdentifier",
        "name",
        "alternateName",
        "description",
        "organizationNumber",
        "countryCode",
        "type",
        "parent",
    }
)
ADDRESS_FIELDS = frozenset({"identifier", "name", "description", "keywords", "categories", "parent"})
CODE_SYSTEM_FIELDS = frozenset({"identifier", "name", "description", "version", "codes"})
TYPES = {"organizations": ORGANISATION_FIELDS, "addresses": ADDRESS_FIELDS, "codesystems": CODE_SYSTEM_FIELDS}


def _parent(parent_id) -> dict[str, Any]:
    data = None if parent_id is None else {"type": "organizations", "id": str(parent_id)}
    return {"parent": {"data": data}}


def organisation_resource(organisation: Organisation, query: Query) -> dict:
    attributes = {
        "participantIdentifier": organisation.participant_identifier,
        "name": organisation.name,
        "alternateName": organisation.alternate_name,
        "description": organisation.description,
        "organizationNumber": organisation.organisation_number,
        "countryCode": organisation.country_code,
        "type": organisation.type,
    }
    body = jsonapi.resource("organizations", organisation.id, attributes, _parent(organisation.parent_id), query)
    body["links"] = {"self": f"{PREFIX}/organizations/{organisation.id}"}
    return body


def address_resource(address: FunctionAddress, query: Query) -> dict:
    attributes = {
        "identifier": address.identifier,
        "name": address.name,
        "description": address.description,
        "keywords": list(address.keywords or []),
        "categories": [
            {"codeSystem": code.code_system.identifier, "code": code.code, "displayName": code.display_name}
            for code in address.categories
        ],
    }
    body = jsonapi.resource("addresses", address.id, attributes, _parent(address.organisation_id), query)
    body["links"] = {"self": f"{PREFIX}/addresses/{address.id}"}
    return body


def code_system_resource(system: CodeSystem, query: Query) -> dict:
    attributes = {
        "identifier": system.identifier,
        "name": system.name,
        "description": system.description,
        "version": system.code_system_version,
        "codes": [
            {"code": c.code, "displayName": c.display_name, "description": c.description}
            for c in sorted(system.codes, key=lambda c: c.code)
        ],
    }
    body = jsonapi.resource("codesystems", system.id, attributes, {}, query)
    body["links"] = {"self": f"{PREFIX}/codesystems/{system.id}"}
    return body


@dataclass(frozen=True)
class Collection:
    """One resource type: its filters, what it can include, and how to read and render it."""

    filters: frozenset[str]
    includes: frozenset[str]
    page: Callable
    one: Callable
    render: Callable
    parent_of: Callable[[Any], uuid.UUID | None] = lambda item: None


COLLECTIONS = {
    "organizations": Collection(
        frozenset({"participantIdentifier", "organizationNumber", "type", "parent"}),
        frozenset({"parent"}),
        queries.organisations,
        queries.organisation,
        organisation_resource,
        lambda organisation: organisation.parent_id,
    ),
    "addresses": Collection(
        frozenset({"organization", "identifier", "category"}),
        frozenset({"parent"}),
        queries.addresses,
        queries.address,
        address_resource,
        lambda address: address.organisation_id,
    ),
    "codesystems": Collection(
        frozenset({"identifier"}), frozenset(), queries.code_systems, queries.code_system, code_system_resource
    ),
}


def _included(session, spec: Collection, query: Query, items: list) -> list[dict]:
    if "parent" not in query.include:
        return []
    parents = {spec.parent_of(item) for item in items} - {None}
    return [organisation_resource(o, query) for o in queries.organisations_by_id(session, parents)]


@blp.get("/<kind>")
def collection(kind: str) -> Response:
    spec = COLLECTIONS.get(kind)
    if spec is None:
        return jsonapi.error(404, "Not Found", f"no resource type {kind!r}; there are {', '.join(COLLECTIONS)}")
    query = jsonapi.parse_query(
        request.args, filters=spec.filters, includes=spec.includes, types=TYPES, collection=True
    )
    with current_database().reader() as session:
        items, last = spec.page(session, query.filters, query.page_size, query.after)
        document: dict[str, Any] = {
            "data": [spec.render(item, query) for item in items],
            "links": {"self": request.full_path.rstrip("?")},
            "meta": {"pageSize": query.page_size},
        }
        included = _included(session, spec, query, items)
    if included:
        document["included"] = included
    if last is not None:
        args = {k: v for k, v in request.args.items() if k != "page[after]"}
        args["page[after]"] = jsonapi.encode_cursor(last)
        document["links"]["next"] = f"{PREFIX}/{kind}?{urlencode(args)}"
    return jsonapi.respond(request, document)


@blp.get("/<kind>/<ident>")
def single(kind: str, ident: str) -> Response:
    spec = COLLECTIONS.get(kind)
    if spec is None:
        return jsonapi.error(404, "Not Found", f"no resource type {kind!r}; there are {', '.join(COLLECTIONS)}")
    query = jsonapi.parse_query(request.args, includes=spec.includes, types=TYPES, collection=False)
    with current_database().reader() as session:
        item = spec.one(session, ident)
        if item is None:
            return jsonapi.error(404, "Not Found", f"no {kind} resource {ident}")
        document: dict[str, Any] = {"data": spec.render(item, query), "links": {"self": f"{PREFIX}/{kind}/{ident}"}}
        included = _included(session, spec, query, [item])
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
