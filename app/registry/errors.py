"""Typed domain errors. The HTTP layer maps each to problem+json with a stable ``type`` in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar


class RegistryError(Exception):
    """Base of every error a use case raises on purpose."""

    #: Stable, machine-readable error kind (the tail of the problem ``type`` URI).
    kind = "error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.kind).strip())


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str
    #: A rule the OpenAPI document states (type, presence, length, characters, enum): a client that
    #: follows the document never breaks it. Other rules (check digits, references to stored
    #: resources, certificate contents, the lifecycle) are the domain's and need the stored state.
    declared: bool = False


class ValidationFailed(RegistryError):
    """The input breaks a rule; ``errors`` names each field and the reason.

    Its problem type is ``validation`` when a rule the OpenAPI document declares is broken, and
    ``domain-rule`` when the input is as documented but the domain refuses it.
    """

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in self.errors))

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "validation" if any(error.declared for error in self.errors) else "domain-rule"


class NotFound(RegistryError):
    """No such resource."""

    kind = "not-found"


class Conflict(RegistryError):
    """The change conflicts with data already stored (for example a duplicate identifier)."""

    kind = "conflict"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidTransition(RegistryError):
    """The lifecycle does not allow this change from the current state."""

    kind = "invalid-transition"


class VersionMismatch(RegistryError):
    """The resource changed since the client read it (optimistic locking)."""

    kind = "version-mismatch"


class InUse(RegistryError):
    """The resource cannot be removed while other data refers to it."""

    kind = "in-use"


T = TypeVar("T")


def present(value: T | None) -> T:
    """A value the data guarantees, or one a :class:`~app.operations.checks.Checker` vouched for (after its
    ``done()``): there, for the type checker; an internal error otherwise."""
    if value is None:
        raise RuntimeError("a checked value is missing after Checker.done()")
    return value
