"""Moving a participant from one SMP to another (ManageParticipantIdentifier PrepareToMigrate and Migrate).

The SMP that holds a participant prepares a migration with a key and hands the key to the new SMP out of
band; the new SMP presents it and takes the participant over, its records leading to the new SMP in the
same transaction (one DNS change: the record is replaced, never absent). Keys expire after
``SDK_SML_MIGRATION_KEY_DAYS``; only their SHA-256 is kept; after :data:`MAX_FAILED_ATTEMPTS` wrong keys
the migration is cancelled. This service's own SMP migrates through the operator (CLI, API): the key of
a migration it prepares is made here and shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.audit import Action, Actor
from app.auth import rules
from app.database import settings_of
from app.identifiers import (
    MIGRATION_KEY_SPECIALS,
    IdentifierError,
    ParticipantId,
    WrittenParticipant,
    validate_migration_key,
)
from app.operations.checks import get_for_update
from app.operations.sml_participants import parse_all
from app.registry.columns import utcnow
from app.registry.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.registry.models import Organisation, Publication, SmlMigration, SmlParticipant, Smp
from app.sml import registrations

ENTITY = "sml_migration"
MAX_FAILED_ATTEMPTS = 5


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A random key BDMSL would accept (24 characters, every class it asks for, twice at least)."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, MIGRATION_KEY_SPECIALS)
    alphabet = "".join(classes)
    while True:
        key = "".join(secrets.choice(alphabet) for _ in range(24))
        try:
            return validate_migration_key(key)
        except IdentifierError:
            continue


def _registration(
    session: Session, requested: WrittenParticipant, *, for_update: bool = False
) -> tuple[ParticipantId, SmlParticipant]:
    [participant] = parse_all(session, [requested])
    row = registrations.find(session, participant, for_update=for_update)
    if row is None:
        raise NotFound(
            f"[ERR-100] The participant identifier '{requested.value}' doesn't exist for the scheme {requested.scheme}"
        )
    return participant, row


def prepare(
    session: Session, actor: Actor, smp: Smp, requested: WrittenParticipant, key: str | None = None
) -> tuple[SmlMigration, str]:
    """``smp`` (which holds the participant) lets another SMP take it over with ``key`` (made here when
    ``None``); an earlier key for the participant is replaced. The migration and the key."""
    rules.require_sml_write(actor, smp.id, f"SMP '{smp.smp_id}'")
    if key is None:
        key = new_key()
    else:
        try:
            key = validate_migration_key(key)
        except IdentifierError as error:
            raise ValidationFailed(FieldError("MigrationKey", str(error))) from None
    participant, row = _registration(session, requested, for_update=True)
    if row.smp_id != smp.id:
        raise rules.Forbidden(f"participant {participant} is registered by another SMP, not by '{smp.smp_id}'")
    existing = session.scalar(select(SmlMigration).where(SmlMigration.participant_id == row.id))
    if existing is not None:
        session.delete(existing)
        session.flush()
    now = utcnow()
    migration = SmlMigration(
        id=uuid.uuid4(),
        participant_id=row.id,
        smp_id=smp.id,
        key_hash=key_hash(key),
        expires_at=now + timedelta(days=settings_of(session).sml_migration_key_days),
        failed_attempts=0,
    )
    session.add(migration)
    session.flush()
    audit.record(
        session,
        actor,
        Action.SML_MIGRATION_PREPARE,
        ENTITY,
        migration.id,
        after={"participant": str(participant), "smp": smp.smp_id, "expiresAt": migration.expires_at},
    )
    return migration, key


def complete(session: Session, actor: Actor, smp: Smp, requested: WrittenParticipant, key: str) -> bool:
    """``smp`` takes the participant over with the key its holder prepared: True when it moved.

    False: the key is wrong (the attempt is counted and stays counted: commit, then refuse). An unknown
    participant, no prepared migration or an expired one raise :class:`NotFound`.
    """
    rules.require_sml_write(actor, smp.id, f"SMP '{smp.smp_id}'")
    participant, row = _registration(session, requested, for_update=True)
    if row.smp_id == smp.id:
        raise Conflict(
            f"participant {participant} is registered by SMP '{smp.smp_id}' already", field="ParticipantIdentifier"
        )
    if smp.local:
        _require_ready_here(session, participant)
    migration = session.scalar(select(SmlMigration).where(SmlMigration.participant_id == row.id))
    now = utcnow()
    if migration is None or migration.smp_id != row.smp_id or migration.expires_at <= now:
        raise NotFound(f"[ERR-100] No migration of participant {participant} is prepared, or its key expired")
    holder = row.smp
    if not hmac.compare_digest(migration.key_hash, key_hash(key if isinstance(key, str) else "")):
        migration.failed_attempts += 1
        cancelled = migration.failed_attempts >= MAX_FAILED_ATTEMPTS
        audit.record(
            session,
            actor,
            Action.SML_MIGRATION_REFUSE,
            ENTITY,
            migration.id,
            after={
                "participant": str(participant),
                "smp": smp.smp_id,
                "failedAttempts": migration.failed_attempts,
                "cancelled": cancelled,
            },
        )
        if cancelled:
            session.delete(migration)
        session.flush()
        return False
    migration_id = migration.id
    session.delete(migration)
    session.flush()
    registrations.move(session, row, smp)
    audit.record(
        session,
        actor,
        Action.SML_MIGRATION_COMPLETE,
        ENTITY,
        migration_id,
        before={"participant": str(participant), "smp": holder.smp_id},
        after={"participant": str(participant), "smp": smp.smp_id},
    )
    return True


def _require_ready_here(session: Session, participant: ParticipantId) -> None:
    """Before DNS leads to this service's SMP, the participant's documents must be there (approved, published)."""
    organisation = session.scalar(
        select(Organisation).where(
            Organisation.participant_scheme == participant.scheme, Organisation.participant_value == participant.value
        )
    )
    published = organisation is not None and session.scalar(
        select(Publication.id).where(Publication.organisation_id == organisation.id).limit(1)
    )
    if not published:
        raise Conflict(
            f"participant {participant} has no published SMP documents here: register and approve its organisation "
            "(with its services) first, so that DNS never leads to an SMP without them",
            field="ParticipantIdentifier",
        )


def cancel(
    session: Session, actor: Actor, migration_id: uuid.UUID | str, *, expected_version: int | None = None
) -> None:
    migration = get_for_update(session, SmlMigration, migration_id, "migration", expected_version)
    rules.require_sml_write(actor, migration.smp_id, "this migration")
    before = {"participant": str(migration.participant.participant_id), "smp": migration.smp.smp_id}
    session.delete(migration)
    session.flush()
    audit.record(session, actor, Action.SML_MIGRATION_CANCEL, ENTITY, migration_id, before=before)


def open_migrations(session: Session, smp: Smp | None = None) -> list[SmlMigration]:
    """Migrations prepared and not yet taken (expired ones too, marked by their time), oldest first."""
    query = select(SmlMigration).order_by(SmlMigration.created_at)
    if smp is not None:
        query = query.where(SmlMigration.smp_id == smp.id)
    return list(session.scalars(query))
