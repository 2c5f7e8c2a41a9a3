"""The public directory in the service's OpenAPI document (anonymous, JSON:API, read-only).

The directory is plain Flask (JSON:API has its own query syntax, which flask-smorest's schemas do not
describe well), so its operations are described here by hand, from the same tables the views use.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from werkzeug.routing import Map, Rule

from app.directory import jsonapi, search
from app.directory.resources import PREFIX, TYPES
from app.directory.text import MAX_QUERY_LENGTH

MEDIA = jsonapi.MEDIA_TYPE
TAG = "Directory (JSON:API)"

_FILTERS = {
    "organizations": {
        "participantIdentifier": "participant identifier, any case, with or without the scheme",
        "organizationNumber": "Swedish organisation number (ten digits)",
        "type": "`o` (participant) or `ou` (sub-organisation)",
        "parent": "id of the parent organisation",
    },
    "addresses": {
        "organization": "id of the organisation the address belongs to",
        "identifier": "function address identifier, any case",
        "category": "a category code",
        "organizationType": "type of the owning organisation: `o` or `ou`",
    },
    "codesystems": {"identifier": "code system identifier"},
}
_SEARCHABLE = {"organizations", "addresses"}


def _parameter(name: str, description: str, *, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


#: What every filter value is: 1 to 256 characters, not only whitespace, no ``<`` or ``>``.
_FILTER_VALUE = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": r"^[^<>]*\S[^<>]*$"}
#: Filters that name a resource by its id.
_UUID_FILTERS = {"organization", "parent"}
_UUID_VALUE = {"type": "string", "format": "uuid"}


def _collection_parameters(kind: str) -> list[dict[str, Any]]:
    parameters = [
        _parameter(f"filter[{name}]", text, schema=_UUID_VALUE if name in _UUID_FILTERS else _FILTER_VALUE)
        for name, text in _FILTERS[kind].items()
    ]
    parameters.append(
        _parameter(
            "filter[updatedSince]",
            "change feed: every change at or after this ISO 8601 time (with a zone), in change order; removed "
            "resources come as `{type, id, meta: {removed: true}}`; the last page has `meta.resume` for the next "
            "sync. Cannot be combined with other filters or `q`.",
            schema={**_FILTER_VALUE, "format": "date-time", "pattern": f"^{jsonapi.DATE_TIME}$"},
        )
    )
    if kind in _SEARCHABLE:
        parameters.append(
            _parameter(
                "q",
                "free-text search (also `filter[q]`): every word must match in a name, other name, keyword, "
                "category or description; Swedish stems; the last word also as a prefix; misspelt words are "
                f"corrected (see `meta.search.corrections`); best first; at most {search.MAX_RESULTS} results.",
                schema={"type": "string", "maxLength": MAX_QUERY_LENGTH, "pattern": r"^[^<>]*\S[^<>]*$"},
            )
        )
    parameters += [
        _parameter(
            "page[size]",
            f"resources per page (default {jsonapi.DEFAULT_PAGE_SIZE})",
            schema={"type": "integer", "minimum": 1, "maximum": jsonapi.MAX_PAGE_SIZE},
        ),
        _parameter(
            "page[after]",
            "opaque cursor: follow `links.next` as it is (one that is not is refused with `code: domain-rule`)",
            schema={"type": "string", "pattern": f"^{jsonapi.CURSOR.pattern}$"},
        ),
    ]
    return parameters + _common_parameters(kind)


def _common_parameters(kind: str) -> list[dict[str, Any]]:
    parameters = [
        _parameter(
            f"fields[{name}]",
            f"sparse fieldset: {', '.join(sorted(fields))}",
            schema={"type": "string", "pattern": jsonapi.list_pattern(fields)},
        )
        for name, fields in TYPES.items()
    ]
    if kind != "codesystems":
        parameters.append(
            _parameter(
                "include",
                "`parent`: the parent organisations in `included`",
                schema={"type": "string", "pattern": jsonapi.list_pattern({"parent"})},
            )
        )
    return parameters


def _responses(document: str) -> dict[str, Any]:
    error = {"content": {MEDIA: {"schema": {"$ref": "#/components/schemas/JsonApiErrors"}}}}
    return {
        "200": {
            "description": "OK (with a strong ETag)",
            "content": {MEDIA: {"schema": {"$ref": f"#/components/schemas/{document}"}}},
        },
        "304": {"description": "Not Modified (If-None-Match matched the ETag)"},
        "400": {"description": "a parameter is unknown or malformed (`source.parameter` names it)", **error},
        "404": {"description": "no such resource type or resource", **error},
        "429": {"description": "over SDK_DIRECTORY_RATE_LIMIT; see Retry-After", **error},
    }


SCHEMAS: dict[str, Any] = {
    "JsonApiResource": {
        "type": "object",
        "required": ["type", "id"],
        "properties": {
            "type": {"type": "string", "enum": sorted(TYPES)},
            "id": {"type": "string", "format": "uuid"},
            "attributes": {"type": "object"},
            "relationships": {"type": "object"},
            "links": {"type": "object"},
            "meta": {"type": "object"},
        },
    },
    "JsonApiCollection": {
        "type": "object",
        "required": ["data", "links"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/JsonApiResource"}},
            "included": {"type": "array", "items": {"$ref": "#/components/schemas/JsonApiResource"}},
            "links": {"type": "object", "properties": {"self": {"type": "string"}, "next": {"type": "string"}}},
            "meta": {"type": "object"},
        },
    },
    "JsonApiDocument": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"$ref": "#/components/schemas/JsonApiResource"},
            "included": {"type": "array", "items": {"$ref": "#/components/schemas/JsonApiResource"}},
            "links": {"type": "object"},
        },
    },
    "JsonApiErrors": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string"},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                        "source": {"type": "object", "properties": {"parameter": {"type": "string"}}},
                    },
                },
            }
        },
    },
}


def _rule(path: str) -> Rule:
    """A werkzeug rule bound to a map, as the flask-smorest spec plugin reads paths and their parameters."""
    rule = Rule(path, defaults={})
    Map([rule])
    return rule


def document(spec: APISpec) -> None:
    """Add the directory's operations and schemas to ``spec``."""
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    spec.tag({"name": TAG, "description": "Public, anonymous, read-only directory for message clients."})
    for kind in TYPES:
        common = {"tags": [TAG], "security": []}
        listing, single = _rule(f"{PREFIX}/{kind}"), _rule(f"{PREFIX}/{kind}/<uuid:id>")
        spec.path(
            rule=listing,
            operations={
                "get": {
                    **common,
                    "summary": f"List, search or follow changes of {kind}",
                    "operationId": f"directory_list_{kind}",
                    "parameters": _collection_parameters(kind),
                    "responses": _responses("JsonApiCollection"),
                }
            },
        )
        spec.path(
            rule=single,
            operations={
                "get": {
                    **common,
                    "summary": f"One of the {kind}",
                    "operationId": f"directory_get_{kind}",
                    "parameters": _common_parameters(kind),
                    "responses": _responses("JsonApiDocument"),
                }
            },
        )
