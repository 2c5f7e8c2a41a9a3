"""What every management resource shares: schemas in camelCase, paging, ETags and If-Match."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from webargs.flaskparser import FlaskParser

from app.registry import text_rules
from app.registry.models import DESCRIPTION_MAX


class _BodyParser(FlaskParser):
    """webargs' parser, with every body JSON cannot hold as a 400 (not only syntax errors): nesting deeper
    than the interpreter recurses, integers of more digits than Python converts."""

    def _raw_load_json(self, req: Any) -> Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", doc="(body)", pos=0) from None
        except ValueError as error:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
            raise json.JSONDecodeError(str(error), doc="(body)", pos=0) from None


class Blueprint(flask_smorest.Blueprint):
    """The management API's blueprints: flask-smorest's, with the body parser above."""

    ARGUMENTS_PARSER = _BodyParser()


class Schema(ma.Schema):
    """Unknown fields are refused (a typo must not be silently ignored)."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


class PreconditionRequired(Exception):
    """PUT, PATCH and DELETE need If-Match."""


class PreconditionFailed(Exception):
    """If-Match names a version that is no longer current."""


class MalformedIfMatch(Exception):
    """If-Match is neither ``*`` nor an ETag (400: the request is malformed, there is nothing to compare)."""


def text(maximum: int, *, nonblank: bool, multiline: bool = False, **options: Any) -> ma.fields.String:
    """A human-readable text field, declared as the use cases check it (:mod:`app.registry.text_rules`):
    at most ``maximum`` characters, nothing invisible; ``nonblank``: whitespace alone counts as missing."""
    metadata = {
        "maxLength": maximum,
        "pattern": text_rules.pattern(required=nonblank, multiline=multiline),
        **options.pop("metadata", {}),
    }
    return ma.fields.String(metadata=metadata, **options)


def identifier(**options: Any) -> ma.fields.String:
    """An identifier field: declared as text that is not blank; its syntax and length are domain rules
    (:mod:`app.identifiers`, answered with 422 ``domain-rule``)."""
    metadata = {"pattern": r"\S", **options.pop("metadata", {})}
    return ma.fields.String(metadata=metadata, **options)


class NoBodySchema(Schema):
    """An action that takes nothing: no body, or ``{}``."""


class RejectionSchema(Schema):
    reason = text(
        DESCRIPTION_MAX,
        nonblank=True,
        multiline=True,
        required=True,
        metadata={"description": "why, for the applicant"},
    )


def etag(entity: Any) -> str:
    return f'"{entity.version}"'


#: What ``If-Match`` may hold: ``*`` or the ETag read (``"3"``, also weak ``W/"3"``); a list counts by its first.
IF_MATCH_PATTERN = r'^\s*(?:\*|(?:W/)?"[0-9]{1,18}")\s*(?:,.*)?$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "description": 'the ETag read before (e.g. `"3"`), or `*` to change whatever version is stored',
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "example": '"1"'},
}


def expected_version() -> int | None:
    """The version the client last saw, from ``If-Match``; ``None`` for ``*`` (any version)."""
    header = request.headers.get("If-Match")
    if header is None:
        raise PreconditionRequired("send If-Match with the ETag you read (or * to overwrite whatever is there)")
    if not _IF_MATCH.match(header):
        raise MalformedIfMatch('If-Match must be * or an ETag of this resource, such as "3"')
    tag = header.split(",")[0].strip()
    if tag == "*":
        return None
    return int(tag.removeprefix("W/").strip('"'))


class PageArgs(Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    page_size = ma.fields.Integer(data_key="pageSize", load_default=50, validate=ma.validate.Range(min=1, max=500))


def sort_field(*keys: str) -> ma.fields.String:
    """``sort``: one of the keys, ``-`` in front for descending (documented as an enum)."""
    choices = [option for key in keys for option in (key, f"-{key}")]
    return ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(choices),
        metadata={"description": "a field name, '-' in front for descending"},
    )


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    return type(
        name,
        (Schema,),
        {
            "items": ma.fields.List(ma.fields.Nested(item), required=True),
            "page": ma.fields.Integer(required=True),
            "page_size": ma.fields.Integer(data_key="pageSize", required=True),
            "total": ma.fields.Integer(required=True),
            "pages": ma.fields.Integer(required=True),
        },
    )


def paginate(
    session: Session, query: Select[Any], args: dict[str, Any], sortable: dict[str, Any], default: Any
) -> dict[str, Any]:
    sort = args.get("sort")
    if sort:
        key = sort.removeprefix("-")
        if key not in sortable:
            from app.registry.errors import FieldError, ValidationFailed

            raise ValidationFailed(
                FieldError("sort", f"must be one of {', '.join(sorted(sortable))}, '-' for descending")
            )
        column = sortable[key]
        order = [column.desc() if sort.startswith("-") else column.asc()]
    else:
        order = [default]
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    size = args["page_size"]
    items = list(session.scalars(query.order_by(*order).limit(size).offset((args["page"] - 1) * size)))
    return {"items": items, "page": args["page"], "page_size": size, "total": total, "pages": math.ceil(total / size)}
