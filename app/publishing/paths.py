"""Publication keys: the canonical identifiers a document is stored and looked up under."""

from __future__ import annotations

from app.identifiers import DocumentTypeId, ParticipantId


def service_group_key(participant: ParticipantId) -> str:
    return str(participant)


def service_metadata_key(participant: ParticipantId, document: DocumentTypeId) -> str:
    # A participant identifier never contains '/', so this key cannot collide with another participant's.
    return f"{participant}/services/{document}"
