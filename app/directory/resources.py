"""The directory's resources: which attributes each type shows, and the JSON:API resource object around them.

Attribute names follow the Swedish directory (sdk-domain.md §4.1). The same functions feed the live
collections and the stored entries of search and the change feed, so both show the same thing.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.directory import jsonapi
from app.directory.jsonapi import Query
from app.registry.models import CodeSystem, Organisation
from app.settings import DIRECTORY_PATH

PREFIX = DIRECTORY_PATH

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
#: Resource types that belong to an organisation (``relationships.parent``).
HAS_PARENT = frozenset({"organizations", "addresses"})


def organisation_attributes(organisation: Organisation) -> dict[str, Any]:
    return {
        "participantIdentifier": organisation.participant_identifier,
        "name": organisation.name,
        "alternateName": organisation.alternate_name,
        "description": organisation.description,
        "organizationNumber": organisation.organisation_number,
        "countryCode": organisation.country_code,
        "type": organisation.type,
    }


def address_attributes(address: Any) -> dict[str, Any]:
    """``address``: a :class:`app.directory.sync.AddressRow` (plain values, categories as tuples)."""
    return {
        "identifier": address.identifier,
        "name": address.name,
        "description": address.description,
        "keywords": list(address.keywords or []),
        "categories": [
            {"codeSystem": system, "code": code, "displayName": display_name}
            for system, code, display_name in address.categories
        ],
    }


def code_system_attributes(system: CodeSystem) -> dict[str, Any]:
    return {
        "identifier": system.identifier,
        "name": system.name,
        "description": system.description,
        "version": system.code_system_version,
        "codes": [
            {"code": c.code, "displayName": c.display_name, "description": c.description}
            for c in sorted(system.codes, key=lambda c: c.code)
        ],
    }


def render(
    kind: str, ident: uuid.UUID, attributes: dict[str, Any], parent_id: uuid.UUID | None, query: Query
) -> dict[str, Any]:
    relationships: dict[str, Any] = {}
    if kind in HAS_PARENT:
        data = None if parent_id is None else {"type": "organizations", "id": str(parent_id)}
        relationships["parent"] = {"data": data}
    body = jsonapi.resource(kind, ident, attributes, relationships, query)
    body["links"] = {"self": f"{PREFIX}/{kind}/{ident}"}
    return body
