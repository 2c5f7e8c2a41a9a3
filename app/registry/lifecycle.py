"""The participant lifecycle as a pure state machine (no database, no Flask).

``pending → approved | rejected``; ``approved → suspended | deregistered``; ``suspended → approved
(reinstate) | deregistered``; ``rejected → pending`` (resubmitted after a fix). Only ``approved``
organisations are published in SMP and DNS.
"""

from __future__ import annotations

from enum import StrEnum

from app.registry.errors import InvalidTransition


class FederationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    DEREGISTERED = "deregistered"


class Transition(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    DEREGISTER = "deregister"
    RESUBMIT = "resubmit"


_ALLOWED: dict[Transition, tuple[frozenset[FederationStatus], FederationStatus]] = {
    Transition.APPROVE: (frozenset({FederationStatus.PENDING}), FederationStatus.APPROVED),
    Transition.REJECT: (frozenset({FederationStatus.PENDING}), FederationStatus.REJECTED),
    Transition.SUSPEND: (frozenset({FederationStatus.APPROVED}), FederationStatus.SUSPENDED),
    Transition.REINSTATE: (frozenset({FederationStatus.SUSPENDED}), FederationStatus.APPROVED),
    Transition.DEREGISTER: (
        frozenset({FederationStatus.APPROVED, FederationStatus.SUSPENDED}),
        FederationStatus.DEREGISTERED,
    ),
    Transition.RESUBMIT: (frozenset({FederationStatus.REJECTED}), FederationStatus.PENDING),
}


def next_status(current: FederationStatus | str, transition: Transition | str) -> FederationStatus:
    """The status after ``transition``, or :class:`InvalidTransition` saying why it is not allowed."""
    current = FederationStatus(current)
    transition = Transition(transition)
    sources, target = _ALLOWED[transition]
    if current not in sources:
        allowed_from = " or ".join(sorted(sources))
        raise InvalidTransition(
            f"cannot {transition} an organisation that is {current}; only one that is {allowed_from}"
        )
    return target


def is_published(status: FederationStatus | str | None) -> bool:
    return status == FederationStatus.APPROVED


def allowed_transitions(current: FederationStatus | str) -> list[Transition]:
    current = FederationStatus(current)
    return [t for t, (sources, _target) in _ALLOWED.items() if current in sources]
