"""Why a lookup failed, each with its own exit code for ``sdk-addressbook lookup``."""

from __future__ import annotations


class LookupFailure(Exception):
    exit_code = 1
    kind = "failure"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotRegistered(LookupFailure):
    """The participant has no record in DNS, or the function address is not in the directory."""

    exit_code = 3
    kind = "not-registered"


class NoSuchService(LookupFailure):
    """The SMP does not know the participant or the document type, or offers no usable endpoint."""

    exit_code = 4
    kind = "no-such-service"


class Untrusted(LookupFailure):
    """The answer's signature is invalid, its signer is not trusted, or it answers another question."""

    exit_code = 5
    kind = "untrusted"


class TechnicalFailure(LookupFailure):
    """Timeout, unreachable server, malformed DNS or XML answer, server error."""

    exit_code = 6
    kind = "technical"


class DnssecFailure(LookupFailure):
    """With a trust anchor: the DNS answer is unsigned, badly signed, expired, or its denial is unproven."""

    exit_code = 7
    kind = "dnssec"


class Revoked(LookupFailure):
    """An AP or CertPub certificate is revoked, or (``--revocation hard``) its status cannot be established."""

    exit_code = 8
    kind = "revoked"
