"""ORM models: every entity of the federation, with its invariants in the database too.

Every mutable row has ``created_at``, ``updated_at`` and ``version``; ``version`` is SQLAlchemy's
``version_id_col``, so an UPDATE that races another writer fails instead of silently overwriting it.
Identifiers that are unique case-insensitively keep a ``*_folded`` twin column with the unique
constraint (portable across SQLite and PostgreSQL, and visible to Alembic's autogenerate).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from app.dns.naming import SMP1_SERVICE
from app.identifiers import ParticipantId
from app.registry.columns import UtcDateTime, utcnow
from app.registry.lifecycle import FederationStatus

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

NAME_MAX = 256
DESCRIPTION_MAX = 1024
URL_MAX = 2048

ORGANISATION_TYPES = ("o", "ou")
FUNCTION_ADDRESS_STATUSES = ("active", "inactive")
CERTIFICATE_USAGES = ("signing", "encryption")
TRUST_PURPOSES = ("access-point", "o2o", "smp")
ROLES = ("operator", "ap_operator", "org_admin")
PENDING_CHANGE_KINDS = ("add_service", "add_certificate", "replace_certificate", "remove_certificate")
PENDING_CHANGE_STATUSES = ("pending", "approved", "rejected", "withdrawn")
PUBLICATION_FLAVOURS = ("smp1", "smp2", "peppol")
DNS_OPERATIONS = ("upsert", "delete")
DIRECTORY_KINDS = ("organizations", "addresses", "codesystems")
SML_CLIENT_OPERATIONS = ("create", "delete")
#: The NAPTR service of a participant registered without one (BDXL U-NAPTR for SMP metadata).
SMP_SERVICE = SMP1_SERVICE


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Versioned:
    """``created_at``/``updated_at`` stamps and the optimistic-locking ``version`` counter."""

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]  # a mixin of mapped classes


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class AccessPointOperator(Versioned, Base):
    """A company that runs access points and registers the participants it serves."""

    __tablename__ = "ap_operators"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    organisation_number: Mapped[str | None] = mapped_column(String(10))
    contact_email: Mapped[str | None] = mapped_column(String(320))

    access_points: Mapped[list[AccessPoint]] = relationship(back_populates="ap_operator")


class CertificateColumns:
    """What is kept of a certificate: the PEM and the facts read from it (:func:`app.trust.certificates.describe`)."""

    certificate_pem: Mapped[str] = mapped_column(Text)
    certificate_sha256: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(1024))
    issuer: Mapped[str] = mapped_column(String(1024))
    serial_number: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    def take_certificate(self, facts: Any) -> None:
        """Store the certificate ``facts`` (a :class:`~app.trust.certificates.CertificateFacts`) describe."""
        self.certificate_pem, self.certificate_sha256 = facts.pem, facts.sha256
        self.subject, self.issuer, self.serial_number = facts.subject, facts.issuer, facts.serial_number
        self.not_before, self.not_after = facts.not_before, facts.not_after


class AccessPoint(CertificateColumns, Versioned, Base):
    """An AS4 access point; its id is the CN of its federation-issued certificate (e.g. AP0001-SDK-QA)."""

    __tablename__ = "access_points"

    id: Mapped[uuid.UUID] = _uuid_pk()
    ap_operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ap_operators.id", ondelete="RESTRICT"), index=True)
    ap_id: Mapped[str] = mapped_column(String(64), unique=True)

    ap_operator: Mapped[AccessPointOperator] = relationship(back_populates="access_points")
    endpoint_configurations: Mapped[list[EndpointConfiguration]] = relationship(back_populates="access_point")


class EndpointConfiguration(Versioned, Base):
    """Where and how an access point receives: shared by many participant services."""

    __tablename__ = "endpoint_configurations"
    __table_args__ = (
        CheckConstraint(
            "activation_date IS NULL OR expiration_date IS NULL OR activation_date < expiration_date",
            name="activation_before_expiration",
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    access_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_points.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    transport_profile: Mapped[str] = mapped_column(String(255))
    endpoint_url: Mapped[str] = mapped_column(String(URL_MAX))
    technical_contact_url: Mapped[str] = mapped_column(String(URL_MAX))
    technical_information_url: Mapped[str | None] = mapped_column(String(URL_MAX))
    description: Mapped[str] = mapped_column(String(DESCRIPTION_MAX))
    activation_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expiration_date: Mapped[datetime | None] = mapped_column(UtcDateTime)

    access_point: Mapped[AccessPoint] = relationship(back_populates="endpoint_configurations")
    services: Mapped[list[ParticipantService]] = relationship(back_populates="endpoint_configuration")


class Organisation(Versioned, Base):
    """A participant organisation (``o``, with a participant id) or a sub-organisation (``ou``)."""

    __tablename__ = "organisations"
    __table_args__ = (
        UniqueConstraint("participant_scheme", "participant_value"),
        CheckConstraint(_in("type", ORGANISATION_TYPES), name="type"),
        CheckConstraint(_in("federation_status", tuple(s.value for s in FederationStatus)), name="federation_status"),
        CheckConstraint(
            "(type = 'o' AND participant_value IS NOT NULL AND participant_scheme IS NOT NULL"
            " AND parent_id IS NULL AND federation_status IS NOT NULL)"
            " OR (type = 'ou' AND participant_value IS NULL AND participant_scheme IS NULL"
            " AND parent_id IS NOT NULL AND federation_status IS NULL)",
            name="shape_by_type",
        ),
        CheckConstraint("country_code IS NULL OR length(country_code) = 2", name="country_code"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    type: Mapped[str] = mapped_column(String(2))
    participant_scheme: Mapped[str | None] = mapped_column(String(64))
    participant_value: Mapped[str | None] = mapped_column(String(135))
    organisation_number: Mapped[str | None] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    alternate_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    country_code: Mapped[str | None] = mapped_column(String(2))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    ap_operator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ap_operators.id", ondelete="RESTRICT"), index=True
    )
    federation_status: Mapped[str | None] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organisation]] = relationship(back_populates="parent")
    ap_operator: Mapped[AccessPointOperator | None] = relationship()
    function_addresses: Mapped[list[FunctionAddress]] = relationship(back_populates="organisation")
    services: Mapped[list[ParticipantService]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )
    certificates: Mapped[list[ParticipantCertificate]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )

    @property
    def participant_id(self) -> ParticipantId | None:
        """The participant identifier (``None`` for an ``ou``): the one place it is built from the columns."""
        if self.participant_scheme is None or self.participant_value is None:
            return None
        return ParticipantId(self.participant_scheme, self.participant_value)

    @property
    def participant_identifier(self) -> str | None:
        participant = self.participant_id
        return None if participant is None else str(participant)

    @property
    def participant_organisation(self) -> Organisation:
        """The ``o`` this organisation belongs to (itself for an ``o``)."""
        return self if self.parent is None else self.parent.participant_organisation


class CodeSystem(Versioned, Base):
    """A kodverk: the code list that categorises function addresses."""

    __tablename__ = "code_systems"

    id: Mapped[uuid.UUID] = _uuid_pk()
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    code_system_version: Mapped[str | None] = mapped_column(String(64))

    codes: Mapped[list[Code]] = relationship(back_populates="code_system", cascade="all, delete-orphan")


class Code(Versioned, Base):
    __tablename__ = "codes"
    __table_args__ = (UniqueConstraint("code_system_id", "code"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    code_system_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("code_systems.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))

    code_system: Mapped[CodeSystem] = relationship(back_populates="codes")


function_address_categories = Table(
    "function_address_categories",
    Base.metadata,
    Column(
        "function_address_id",
        Uuid,
        ForeignKey("function_addresses.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("code_id", Uuid, ForeignKey("codes.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class FunctionAddress(Versioned, Base):
    """A function mailbox inside an organisation ("Registrator"); in the directory, never in SMP/DNS."""

    __tablename__ = "function_addresses"
    __table_args__ = (CheckConstraint(_in("status", FUNCTION_ADDRESS_STATUSES), name="status"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    identifier: Mapped[str] = mapped_column(String(256))
    identifier_folded: Mapped[str] = mapped_column(String(256), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)

    organisation: Mapped[Organisation] = relationship(back_populates="function_addresses")
    categories: Mapped[list[Code]] = relationship(secondary=function_address_categories, order_by=Code.code)


class ParticipantService(Versioned, Base):
    """One document type (and process) an organisation receives, at an endpoint configuration."""

    __tablename__ = "participant_services"
    __table_args__ = (
        UniqueConstraint("organisation_id", "document_scheme", "document_value", "process_scheme", "process_value"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    document_scheme: Mapped[str] = mapped_column(String(100))
    document_value: Mapped[str] = mapped_column(String(500))
    process_scheme: Mapped[str] = mapped_column(String(100))
    process_value: Mapped[str] = mapped_column(String(200))
    endpoint_configuration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("endpoint_configurations.id", ondelete="RESTRICT"), index=True
    )

    organisation: Mapped[Organisation] = relationship(back_populates="services")
    endpoint_configuration: Mapped[EndpointConfiguration] = relationship(back_populates="services")

    @property
    def document_identifier(self) -> str:
        return f"{self.document_scheme}::{self.document_value}"

    @property
    def process_identifier(self) -> str:
        return f"{self.process_scheme}::{self.process_value}"


class ParticipantCertificate(CertificateColumns, Versioned, Base):
    """An organisation-to-organisation (O2O) certificate, published in SMP as the CertPub extension."""

    __tablename__ = "participant_certificates"
    __table_args__ = (
        UniqueConstraint("organisation_id", "usage", "certificate_sha256"),
        CheckConstraint(_in("usage", CERTIFICATE_USAGES), name="usage"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    usage: Mapped[str] = mapped_column(String(16))

    organisation: Mapped[Organisation] = relationship(back_populates="certificates")


class TrustAnchor(Versioned, Base):
    """A CA certificate the federation operator added through the API (besides those named by settings)."""

    __tablename__ = "trust_anchors"
    __table_args__ = (
        UniqueConstraint("purpose", "certificate_sha256"),
        CheckConstraint(_in("purpose", TRUST_PURPOSES), name="purpose"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    purpose: Mapped[str] = mapped_column(String(16), index=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    certificate_sha256: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(1024))
    not_after: Mapped[datetime] = mapped_column(UtcDateTime)


class PendingChange(Versioned, Base):
    """A gated change (new document type, new O2O certificate) waiting for the federation operator."""

    __tablename__ = "pending_changes"
    __table_args__ = (
        CheckConstraint(_in("kind", PENDING_CHANGE_KINDS), name="kind"),
        CheckConstraint(_in("status", PENDING_CHANGE_STATUSES), name="status"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    requested_by: Mapped[str] = mapped_column(String(NAME_MAX))
    decided_by: Mapped[str | None] = mapped_column(String(NAME_MAX))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    organisation: Mapped[Organisation] = relationship()


class Credential(Versioned, Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once, at creation."""

    __tablename__ = "credentials"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint(
            "(role = 'operator' AND scope_id IS NULL) OR (role <> 'operator' AND scope_id IS NOT NULL)",
            name="scope_by_role",
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    role: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(NAME_MAX))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Account(Versioned, Base):
    """A person who logs in to the web console: a password (argon2), optionally TOTP, a role and scope."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("role = 'operator' OR scope_id IS NOT NULL", name="scoped"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    username: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    #: Base32 TOTP secret; when set, a login needs the current code too.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Console sessions started before this moment are over (logout, a new password, another role, the
    #: account disabled): checked on every request.
    sessions_valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: A disabled account logs in no more (kept, with its history); enabled again by clearing it.
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEvent(Base):
    """Append-only audit trail; each event carries the hash of the one before it (tamper evidence)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(NAME_MAX), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    # Everyone else the event concerns (the other side of a move, the AP operator of an access point):
    # their scopes read it too. Loaded with the events, in one query per batch.
    extra_scopes: Mapped[list[AuditEventScope]] = relationship(
        lazy="selectin", order_by="AuditEventScope.scope_id", cascade="all, delete-orphan"
    )

    @property
    def also_visible_to(self) -> list[uuid.UUID]:
        return [scope.scope_id for scope in self.extra_scopes]


class AuditEventScope(Base):
    """One more scope (an organisation's or an AP operator's id) that may read an audit event."""

    __tablename__ = "audit_event_scopes"

    event_id: Mapped[int] = mapped_column(AutoId, ForeignKey("audit_events.id", ondelete="RESTRICT"), primary_key=True)
    scope_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)


class Publication(Base):
    """A signed SMP document exactly as served: the read path is one indexed lookup of this row."""

    __tablename__ = "publications"
    __table_args__ = (
        UniqueConstraint("flavour", "path_key"),
        CheckConstraint(_in("flavour", PUBLICATION_FLAVOURS), name="flavour"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    flavour: Mapped[str] = mapped_column(String(8))
    path_key: Mapped[str] = mapped_column(String(1024))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(80))
    #: SHA-256 of the unsigned document and the signing certificate: unchanged content is never re-signed.
    source_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PublicationState(Base):
    """One row: a counter every change of publications moves, so each worker knows when its cache is stale."""

    __tablename__ = "publication_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DirectoryEntry(Base):
    """What the public directory shows of one resource, as it shows it: the source of search and the change feed.

    Kept in step with the registry inside the same transaction (``app.directory.sync``). A resource that
    leaves the directory keeps its row as a tombstone (``removed``); ``seq`` orders every change.
    """

    __tablename__ = "directory_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", DIRECTORY_KINDS), name="kind"),
        Index(None, "kind", "seq", "id"),
        Index(None, "kind", "id"),
    )

    #: SQLite's full-text table is keyed by this number (its rowid).
    number: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: The organisation a resource belongs to (an address's organisation, an ``ou``'s parent); no foreign
    #: key, because a tombstone outlives it.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    organisation_type: Mapped[str | None] = mapped_column(String(2))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    #: Search text by weight: names (A), other names, keywords and categories (B), descriptions (C).
    names: Mapped[str] = mapped_column(Text, default="")
    terms: Mapped[str] = mapped_column(Text, default="")
    descriptions: Mapped[str] = mapped_column(Text, default="")


class DirectoryTerm(Base):
    """A word that occurs in the directory: what a misspelt query word is corrected towards."""

    __tablename__ = "directory_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)


class DirectoryBacklog(Base):
    """A function address a bulk import committed whose directory entry the worker has yet to write.

    Large imports (``SDK_DIRECTORY_INLINE_IMPORT_ROWS``) leave the entries to the worker
    (:mod:`app.directory.backlog`), so the import itself stays fast; the age of the oldest row is the
    directory's lag (``/api/v1/status``, ``/metrics``).
    """

    __tablename__ = "directory_backlog"

    function_address_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("function_addresses.id", ondelete="CASCADE"), primary_key=True
    )
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class DirectoryState(Base):
    """One row: the last change number of the directory; taking the next one orders writers by commit."""

    __tablename__ = "directory_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)


class Smp(Versioned, Base):
    """An SMP registered in the SML: its id, where it is, and the client certificate it authenticates with.

    One row is this service's own SMP (``local``): its participants are the published organisations, its
    address comes from the settings, and it has no certificate (it is not a client of itself). Every
    other row is an external SMP (phoss-SMP, DomiSMP, …) that manages its participants over SOAP.
    """

    __tablename__ = "smps"

    id: Mapped[uuid.UUID] = _uuid_pk()
    #: The ServiceMetadataPublisherID, as the SMP spells it; ``smp_id_folded`` keeps it unique in any case.
    smp_id: Mapped[str] = mapped_column(String(63))
    smp_id_folded: Mapped[str] = mapped_column(String(63), unique=True)
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    logical_address: Mapped[str] = mapped_column(String(URL_MAX))
    physical_address: Mapped[str] = mapped_column(String(45))
    #: The client certificate (none for the local SMP); its SHA-256 finds the SMP of a SOAP caller.
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    certificate_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    subject: Mapped[str | None] = mapped_column(String(1024))
    issuer: Mapped[str | None] = mapped_column(String(1024))
    serial_number: Mapped[str | None] = mapped_column(String(64))
    not_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: A certificate announced with BDMSL's PrepareChangeCertificate, in force from ``next_certificate_from``.
    next_certificate_pem: Mapped[str | None] = mapped_column(Text)
    next_certificate_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    next_certificate_from: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def take_certificate(self, facts: Any) -> None:
        """The client certificate ``facts`` (a :class:`~app.trust.certificates.CertificateFacts`) describe."""
        self.certificate_pem, self.certificate_sha256 = facts.pem, facts.sha256
        self.subject, self.issuer, self.serial_number = facts.subject, facts.issuer, facts.serial_number
        self.not_after = facts.not_after
        self.next_certificate_pem = self.next_certificate_sha256 = None
        self.next_certificate_from = None


class SmlParticipant(Base):
    """A participant registered in the SML, and the SMP that registered it (whose address DNS points at)."""

    __tablename__ = "sml_participants"
    __table_args__ = (UniqueConstraint("scheme", "value"), Index(None, "smp_id", "scheme", "value"))

    id: Mapped[uuid.UUID] = _uuid_pk()
    smp_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("smps.id", ondelete="RESTRICT"))
    #: Canonical (lower-case) identifier, as hashed into its DNS names.
    scheme: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(255))
    #: The NAPTR service field (BDMSL's CreateParticipantIdentifier may name another than Meta:SMP).
    service: Mapped[str] = mapped_column(String(64), default=SMP_SERVICE)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    smp: Mapped[Smp] = relationship()

    @property
    def participant_id(self) -> ParticipantId:
        return ParticipantId(self.scheme, self.value)


class SmlMigration(Versioned, Base):
    """A migration key the SMP owning a participant prepared (PrepareToMigrate): another SMP that presents it
    before ``expires_at`` takes the participant over (Migrate). Only its hash is kept."""

    __tablename__ = "sml_migrations"

    id: Mapped[uuid.UUID] = _uuid_pk()
    participant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sml_participants.id", ondelete="CASCADE"), unique=True
    )
    #: The SMP that prepared it (the owner then); a migration of another owner's is void.
    smp_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("smps.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    #: Wrong keys presented so far; too many and the migration is cancelled.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)

    participant: Mapped[SmlParticipant] = relationship()
    smp: Mapped[Smp] = relationship()


class Delivery:
    """What an outbox row keeps of its delivery: when it was queued, the tries, the last error, when the next
    try is due (back-off) and when it was applied."""

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SmlClientChange(Delivery, Base):
    """Outbox of this SMP's registrations for an external SML (``SDK_SML_URL``): create or delete one participant."""

    __tablename__ = "sml_client_changes"
    __table_args__ = (
        CheckConstraint(_in("operation", SML_CLIENT_OPERATIONS), name="operation"),
        Index(None, "applied_at", "id"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    operation: Mapped[str] = mapped_column(String(8))
    scheme: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(255))


class SmlClientState(Base):
    """One row: how the SML client fares (errors so far, the last one, when the SML last accepted a change)."""

    __tablename__ = "sml_client_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DnsRecord(Base):
    """A record as published in the SML zone (absolute lower-case name, presentation rdata).

    Its owner is a registered participant (NAPTR, CNAME) or, for the Peppol-style CNAMEs of an external SMP,
    that SMP (``{smp id}.publisher.{zone}``). Owners are deleted only after their records (RESTRICT), so
    every removal passes through the outbox.
    """

    __tablename__ = "dns_records"
    __table_args__ = (
        UniqueConstraint("name", "rtype"),
        CheckConstraint("(participant_id IS NULL) <> (smp_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    participant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sml_participants.id", ondelete="RESTRICT"), index=True
    )
    smp_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("smps.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    rtype: Mapped[str] = mapped_column(String(8))
    ttl: Mapped[int] = mapped_column(Integer)
    rdata: Mapped[str] = mapped_column(String(1024))


class DnsState(Base):
    """One row: the zone's SOA serial (moves with every record change) and the publisher's progress."""

    __tablename__ = "dns_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    serial: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    publish_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class DnsFollower(Base):
    """An embedded DNS server's own progress through the outbox (one row per server, by name).

    Each embedded server answers from memory and follows ``dns_changes`` by itself; a server that loaded
    the zone from ``dns_records`` has applied every change up to the id it read first. ``seen_at`` tells
    the live servers from those that stopped (whose rows say nothing about what is served now).
    """

    __tablename__ = "dns_followers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    serial: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DnsChange(Delivery, Base):
    """Outbox of DNS record changes: applied to the primary in RFC 2136 mode, followed by embedded servers."""

    __tablename__ = "dns_changes"
    __table_args__ = (
        CheckConstraint(_in("operation", DNS_OPERATIONS), name="operation"),
        Index(None, "applied_at", "id"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    operation: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    rtype: Mapped[str] = mapped_column(String(8))
    ttl: Mapped[int] = mapped_column(Integer)
    rdata: Mapped[list[str] | None] = mapped_column(JSON)
