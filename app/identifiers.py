"""Identifier rules of the federation: pure functions and immutable values, no Flask, no database.

Identifier *schemes* are case-insensitive (OASIS SMP 1.0 §2.4.6.3, SMP 2.0 §3.5) and always folded to
lower case. Participant values (``iso6523-actorid-upis::{icd}:{id}``) are case-insensitive too. Document
and process *values* follow a per-scheme policy (:class:`IdentifierPolicy`, as DomiSMP's
``identifiersBehaviour.caseSensitive.*``): kept as written under a case-sensitive scheme (Peppol's
``busdox-docid-qns``, ``cenbii-procid-ubl``, the SDK's process scheme by default), folded to lower case
under any other, as OASIS SMP says unless the scheme defines otherwise. Parsing applies the policy, so
the stored, hashed, routed and echoed form is always the canonical one.

``scheme::value`` is split at the *first* ``::`` only (SMP 2.0 §3.7.3): a value may itself contain ``::``.
URL path segments are split first and percent-decoded afterwards (SMP 2.0 §3.3), so ``%2F`` inside an
identifier never splits a path; :func:`url_segment` emits ``quote(s, safe='')``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import idna

PARTICIPANT_SCHEME = "iso6523-actorid-upis"
DOCUMENT_SCHEME = "busdox-docid-qns"
PROCESS_SCHEME = "urn:fdc:digg.se:edelivery:process"
NO_PROCESS = "bdx:noprocess"

ICD_DOMAIN_NAME = "0203"
ICD_SWEDISH_ORGANISATION_NUMBER = "0007"
ICD_GLN = "0088"

MAX_PARTICIPANT_VALUE = 135  # 4-digit ICD, ':' and 130 characters (Peppol policy for identifiers 4.4)
MAX_DOCUMENT_VALUE = 500
MAX_PROCESS_VALUE = 200
MAX_SCHEME = 100
MAX_FUNCTION_ADDRESS_IDENTIFIER = 256

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._\-]|:(?!:))*")
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
_FUNCTION_ADDRESS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._:\-@+/]*[A-Za-z0-9])?")
_GENERIC_PARTICIPANT_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._:\-@+]*)")


#: Digg's CertPub extension of SMP: the participant's own signing and encryption certificates.
CERTPUB_EXTENSION_ID = "urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0"
CERTPUB_TYPE_CODES = {
    "signing": "urn:fdc:digg.se:edelivery:certpub:signing-cert",
    "encryption": "urn:fdc:digg.se:edelivery:certpub:encryption-cert",
}


class IdentifierError(ValueError):
    """An identifier that does not follow the federation's rules; the message says which rule."""


#: Schemes whose values are matched exactly (the rest are folded to lower case); ``*`` names every scheme.
CASE_SENSITIVE_DOCUMENT_SCHEMES = frozenset({DOCUMENT_SCHEME, "peppol-doctype-wildcard"})
CASE_SENSITIVE_PROCESS_SCHEMES = frozenset({PROCESS_SCHEME, "cenbii-procid-ubl"})
EVERY_SCHEME = "*"


@dataclass(frozen=True)
class IdentifierPolicy:
    """The parts of the identifier rules that the federation chooses by setting."""

    participant_icds: frozenset[str] = field(default_factory=lambda: frozenset({ICD_DOMAIN_NAME}))
    case_sensitive_document_schemes: frozenset[str] = CASE_SENSITIVE_DOCUMENT_SCHEMES
    case_sensitive_process_schemes: frozenset[str] = CASE_SENSITIVE_PROCESS_SCHEMES


def canonical_value(scheme: str, value: str, case_sensitive_schemes: frozenset[str]) -> str:
    """A document or process value under ``scheme`` (already lower case) as it is stored and matched."""
    if scheme in case_sensitive_schemes or EVERY_SCHEME in case_sensitive_schemes:
        return value
    return value.lower()


DEFAULT_POLICY = IdentifierPolicy()
# Reading (SMP lookups, the discovery client, published data) accepts every ICD whose syntax we know,
# so that a narrowed setting never makes already-published participants unreadable.
LENIENT_POLICY = IdentifierPolicy(
    participant_icds=frozenset({ICD_DOMAIN_NAME, ICD_SWEDISH_ORGANISATION_NUMBER, ICD_GLN})
)


def split_scheme(text: str) -> tuple[str, str]:
    """Split ``scheme::value`` at the first ``::``; surrounding white space is dropped."""
    scheme, separator, value = text.strip().partition("::")
    if not separator:
        raise IdentifierError(f"{_show(text)} has no '::' between scheme and value")
    return scheme.strip(), value.strip()


def _show(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _check_text(kind: str, value: str, limit: int) -> None:
    if not value:
        raise IdentifierError(f"{kind} value is empty")
    if len(value) > limit:
        raise IdentifierError(f"{kind} value is longer than {limit} characters")
    if _CONTROL.search(value):
        raise IdentifierError(f"{kind} value contains a control character")


def check_scheme(kind: str, scheme: str) -> None:
    if not scheme:
        raise IdentifierError(f"{kind} scheme is empty")
    if len(scheme) > MAX_SCHEME or not _SCHEME.fullmatch(scheme):
        raise IdentifierError(f"{kind} scheme {_show(scheme)} is not a valid identifier scheme")


@dataclass(frozen=True, order=True)
class ParticipantId:
    """``iso6523-actorid-upis::{icd}:{id}``, always in canonical (lower-case) form."""

    scheme: str
    value: str

    @classmethod
    def parse(cls, text: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> ParticipantId:
        """Parse ``scheme::icd:id``; a bare ``icd:id`` gets the default scheme."""
        if "::" in text:
            scheme, value = split_scheme(text)
        else:
            scheme, value = PARTICIPANT_SCHEME, text.strip()
        return cls.of(scheme, value, policy)

    @classmethod
    def of(cls, scheme: str, value: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> ParticipantId:
        scheme = scheme.strip().lower()
        if scheme != PARTICIPANT_SCHEME:
            raise IdentifierError(f"participant scheme must be {PARTICIPANT_SCHEME}, got {_show(scheme)}")
        return cls(scheme, canonical_participant_value(value, policy))

    @property
    def icd(self) -> str:
        return self.value[:4]

    def __str__(self) -> str:
        return f"{self.scheme}::{self.value}"


@dataclass(frozen=True)
class WrittenParticipant:
    """A participant identifier as a caller wrote it (a scheme attribute and the text), before it is parsed:
    what error messages echo, so that a caller recognises its own words."""

    scheme: str | None
    value: str

    def __str__(self) -> str:
        return f"{self.scheme or ''}::{self.value}"


def canonical_participant_value(value: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> str:
    """Validate ``{icd}:{id}`` under ``iso6523-actorid-upis`` and return its canonical form."""
    value = value.strip()
    _check_text("participant", value, MAX_PARTICIPANT_VALUE)
    icd, separator, local = value.partition(":")
    if not separator or not re.fullmatch(r"\d{4}", icd):
        raise IdentifierError(
            f"participant value {_show(value)} must be ICD:ID with a four-digit ICD, e.g. 0203:exempel.se"
        )
    if icd not in policy.participant_icds:
        allowed = ", ".join(sorted(policy.participant_icds))
        raise IdentifierError(f"ICD {icd} is not allowed in this federation (allowed: {allowed})")
    if icd == ICD_DOMAIN_NAME:
        local = validate_domain_name(local)
    elif icd == ICD_SWEDISH_ORGANISATION_NUMBER:
        local = normalise_organisation_number(local)
    elif icd == ICD_GLN:
        local = validate_gln(local)
    else:
        if not _GENERIC_PARTICIPANT_ID.fullmatch(local):
            raise IdentifierError(f"participant identifier {_show(local)} contains characters not allowed")
        local = local.lower()
    return f"{icd}:{local}"


def validate_domain_name(name: str, *, min_labels: int = 2) -> str:
    """Return the lower-case A-label form of an internet domain name, or raise :class:`IdentifierError`.

    Unicode names (``höganäs.se``) are accepted and converted with IDNA 2008 + UTS 46 mapping, so both
    spellings name the same participant; the ASCII form is what is stored, hashed and published.
    """
    if not name:
        raise IdentifierError("domain name is empty")
    if name.endswith(".") or ".." in name or name.startswith("."):
        raise IdentifierError(f"domain name {_show(name)} has an empty label")
    if name.isascii():
        ascii_name = name.lower()
    else:
        try:
            ascii_name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as error:
            raise IdentifierError(f"domain name {_show(name)} is not a valid IDNA name: {error}") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253:
        raise IdentifierError("domain name is longer than 253 characters")
    if len(labels) < min_labels:
        raise IdentifierError(f"domain name {_show(name)} needs a top domain and at least one sub-domain")
    for label in labels:
        if len(label) > 63:
            raise IdentifierError(f"domain label {_show(label)} is longer than 63 characters")
        if not _LDH_LABEL.fullmatch(label):
            raise IdentifierError(f"domain label {_show(label)} may hold only letters, digits and inner hyphens")
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError):
                raise IdentifierError(f"domain label {_show(label)} is not a valid IDNA A-label") from None
        elif label[2:4] == "--":
            raise IdentifierError(f"domain label {_show(label)} has '--' in positions 3-4 (reserved)")
    if labels[-1].isdigit():
        raise IdentifierError(f"top domain {_show(labels[-1])} cannot be all digits")
    return ascii_name


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def normalise_organisation_number(text: str) -> str:
    """A Swedish organisation number as ten digits (``NNNNNN-NNNN`` is accepted), Luhn-checked."""
    digits = text.strip().replace("-", "", 1) if re.fullmatch(r"\s*\d{6}-\d{4}\s*", text) else text.strip()
    if not re.fullmatch(r"\d{10}", digits):
        raise IdentifierError(f"organisation number {_show(text)} must be ten digits (NNNNNN-NNNN)")
    if not luhn_valid(digits):
        raise IdentifierError(f"organisation number {_show(text)} has a wrong check digit")
    return digits


def gln_check_digit(first_twelve: str) -> int:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return (10 - total % 10) % 10


def validate_gln(text: str) -> str:
    """A GS1 Global Location Number: 13 digits with the GS1 mod-10 check digit."""
    if not re.fullmatch(r"\d{13}", text):
        raise IdentifierError(f"GLN {_show(text)} must be 13 digits")
    if gln_check_digit(text[:12]) != int(text[12]):
        raise IdentifierError(f"GLN {_show(text)} has a wrong check digit")
    return text


@dataclass(frozen=True, order=True)
class DocumentTypeId:
    """``busdox-docid-qns::{root namespace}::{local name}##{subtype}``; the scheme lower case, the value per policy."""

    scheme: str
    value: str

    @classmethod
    def parse(cls, text: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> DocumentTypeId:
        scheme, value = split_scheme(text)
        return cls.of(scheme, value, policy)

    @classmethod
    def of(cls, scheme: str, value: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> DocumentTypeId:
        scheme, value = scheme.strip().lower(), value.strip()
        check_scheme("document type", scheme)
        _check_text("document type", value, MAX_DOCUMENT_VALUE)
        return cls(scheme, canonical_value(scheme, value, policy.case_sensitive_document_schemes))

    @classmethod
    def canonical(cls, scheme: str, value: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> DocumentTypeId:
        """A stored identifier (validated when it was written) in the canonical form of ``policy``."""
        scheme = scheme.lower()
        return cls(scheme, canonical_value(scheme, value, policy.case_sensitive_document_schemes))

    def __str__(self) -> str:
        return f"{self.scheme}::{self.value}"


@dataclass(frozen=True, order=True)
class ProcessId:
    """``urn:fdc:digg.se:edelivery:process::bdx:noprocess`` and the like; scheme lower case, value per policy."""

    scheme: str
    value: str

    @classmethod
    def parse(cls, text: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> ProcessId:
        scheme, value = split_scheme(text)
        return cls.of(scheme, value, policy)

    @classmethod
    def of(cls, scheme: str, value: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> ProcessId:
        scheme, value = scheme.strip().lower(), value.strip()
        check_scheme("process", scheme)
        _check_text("process", value, MAX_PROCESS_VALUE)
        return cls(scheme, canonical_value(scheme, value, policy.case_sensitive_process_schemes))

    @classmethod
    def canonical(cls, scheme: str, value: str, policy: IdentifierPolicy = DEFAULT_POLICY) -> ProcessId:
        """A stored identifier (validated when it was written) in the canonical form of ``policy``."""
        scheme = scheme.lower()
        return cls(scheme, canonical_value(scheme, value, policy.case_sensitive_process_schemes))

    def __str__(self) -> str:
        return f"{self.scheme}::{self.value}"


NO_PROCESS_ID = ProcessId(PROCESS_SCHEME, NO_PROCESS)


def url_segment(identifier: ParticipantId | DocumentTypeId | ProcessId | str) -> str:
    """Percent-encode one path segment exactly as SMP 1.0 §2.4 shows: every reserved character escaped."""
    return quote(str(identifier), safe="")


def decode_url_segment(segment: str) -> str:
    """Percent-decode one already split path segment; any hex case, raw ``:`` accepted."""
    try:
        return unquote(segment, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise IdentifierError("path segment is not valid percent-encoded UTF-8") from None


def validate_function_address_identifier(text: str) -> str:
    """A function address identifier such as ``sdk:inkorg:0203:exempel.se``; case is kept as given."""
    identifier = text.strip()
    if not identifier:
        raise IdentifierError("function address identifier is empty")
    if len(identifier) > MAX_FUNCTION_ADDRESS_IDENTIFIER:
        raise IdentifierError(
            f"function address identifier is longer than {MAX_FUNCTION_ADDRESS_IDENTIFIER} characters"
        )
    if not _FUNCTION_ADDRESS.fullmatch(identifier):
        raise IdentifierError(
            "function address identifier may hold letters a-z, digits and . _ : - @ + / "
            "and must start and end with a letter or digit"
        )
    return identifier


def fold(text: str) -> str:
    """The case-insensitive key under which identifiers are kept unique."""
    return text.lower()


MAX_SMP_ID = 63
MAX_NAPTR_SERVICE = 64
_SMP_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*")
_NAPTR_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+\-.:#_]*")
#: What BDMSL (and peppol-commons' ``CSMLDefault``) accept as a migration key: 8 to 24 characters, at least
#: two each of upper-case letters, lower-case letters, digits and these, no white space.
MIGRATION_KEY_SPECIALS = "@#$%()[]{}*^_-!~|+="


def validate_smp_id(text: str) -> str:
    """An SMP's id in the SML (ServiceMetadataPublisherID): DNS labels, as it names ``{id}.publisher.{zone}``.

    Letters, digits and inner hyphens, labels joined by dots (``test-smp.difi.no`` is a real one), at most
    63 characters; kept as given (it is matched case-insensitively).
    """
    smp_id = text.strip()
    if not smp_id:
        raise IdentifierError("SMP id is empty")
    if len(smp_id) > MAX_SMP_ID:
        raise IdentifierError(f"SMP id is longer than {MAX_SMP_ID} characters")
    if not _SMP_ID.fullmatch(smp_id):
        raise IdentifierError(
            f"SMP id {_show(smp_id)} may hold only letters, digits, inner hyphens and dots between them"
        )
    return smp_id


def validate_naptr_service(text: str) -> str:
    """A NAPTR service field (``Meta:SMP``, ``meta:cppa3``, ``oasis-bdxr-smp-2#dbnalliance-1.1``)."""
    service = text.strip()
    if not service or len(service) > MAX_NAPTR_SERVICE or not _NAPTR_SERVICE.fullmatch(service):
        raise IdentifierError(
            f"NAPTR service {_show(service)} must be 1 to {MAX_NAPTR_SERVICE} letters, digits and + - . : # _"
        )
    return service


def validate_migration_key(key: str) -> str:
    """A migration key as BDMSL accepts it (see :data:`MIGRATION_KEY_SPECIALS`); the message says what is missing."""
    if not 8 <= len(key) <= 24:
        raise IdentifierError("migration key must be 8 to 24 characters long")
    if not all(33 <= ord(c) <= 126 for c in key):
        raise IdentifierError("migration key may hold only printable ASCII characters, no white space")
    counts = {
        "upper-case letters": sum(c.isupper() for c in key),
        "lower-case letters": sum(c.islower() for c in key),
        "digits": sum(c.isdigit() for c in key),
        f"of {MIGRATION_KEY_SPECIALS}": sum(c in MIGRATION_KEY_SPECIALS for c in key),
    }
    missing = [kind for kind, count in counts.items() if count < 2]
    if missing:
        raise IdentifierError(f"migration key needs at least two {', two '.join(missing)}")
    return key
