"""Function address → the participant that receives for it, through the public directory (JSON:API)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from app.client.errors import NotRegistered, TechnicalFailure
from app.identifiers import IdentifierError, ParticipantId

MAX_DEPTH = 16


@dataclass(frozen=True)
class FunctionAddress:
    identifier: str
    name: str
    organisation: str
    participant: ParticipantId


def resolve(directory_url: str, identifier: str, *, timeout: float = 5.0) -> FunctionAddress:
    """The function address ``identifier`` and the participant organisation it belongs to."""
    base = directory_url.rstrip("/")
    query = urllib.parse.urlencode({"filter[identifier]": identifier, "include": "parent"})
    document = _get(f"{base}/addresses?{query}", timeout)
    if not document.get("data"):
        raise NotRegistered(f"no active function address {identifier!r} in the directory at {base}")
    address = document["data"][0]
    included = {(item["type"], item["id"]): item for item in document.get("included", [])}
    parent = (address.get("relationships", {}).get("parent") or {}).get("data")
    organisation = included.get((parent["type"], parent["id"])) if parent else None
    name = address.get("attributes", {}).get("name", "")
    for _ in range(MAX_DEPTH):
        if organisation is None:
            break
        attributes = organisation.get("attributes", {})
        if attributes.get("participantIdentifier"):
            try:
                participant = ParticipantId.parse(attributes["participantIdentifier"])
            except IdentifierError as error:
                raise TechnicalFailure(f"the directory gives an unusable participant id: {error}") from None
            return FunctionAddress(identifier, name, attributes.get("name", ""), participant)
        above = (organisation.get("relationships", {}).get("parent") or {}).get("data")
        organisation = _get(f"{base}/organizations/{above['id']}", timeout).get("data") if above else None
    raise NotRegistered(f"function address {identifier!r} belongs to no participant organisation in the directory")


def _get(url: str, timeout: float) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise TechnicalFailure(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.api+json"})  # noqa: S310 (checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (checked above)
            document: dict[str, Any] = json.loads(response.read(4 * 1024 * 1024))
            return document
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response's connection
        if error.code == 404:
            raise NotRegistered(f"the directory has no {url}") from None
        raise TechnicalFailure(f"the directory answered HTTP {error.code} for {url}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise TechnicalFailure(
            f"the directory at {url} could not be asked: {getattr(error, 'reason', error)}"
        ) from None
    except ValueError:
        raise TechnicalFailure(f"the directory answered something that is not JSON for {url}") from None
