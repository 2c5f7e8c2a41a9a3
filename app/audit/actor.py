"""Who is acting: carried from the request (or the CLI) down to every audit event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    scope_id: uuid.UUID | None = None
    request_id: str | None = None


#: Changes made from the command line (init, seed-demo) by whoever runs the service.
SYSTEM_ACTOR = Actor(name="system", role="system")
