"""sml registry: SMPs, their participants, migration keys, the SML client's outbox; DNS records owned by registrations

The zone used to hold only the service's own participants, each record owned by its organisation. The
service is now the SML of many SMPs: a record belongs to a registered participant (``sml_participants``,
whichever SMP registered it) or to an external SMP (its ``{smp id}.publisher.{zone}`` record). The
service's own participants become registrations of its local SMP, with the same records.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:12:21
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sml_client_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("operation", sa.String(length=8), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("operation IN ('create', 'delete')", name=op.f("ck_sml_client_changes_operation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sml_client_changes")),
    )
    with op.batch_alter_table("sml_client_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sml_client_changes_applied_at_id"), ["applied_at", "id"], unique=False)

    op.create_table(
        "sml_client_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_sml_client_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sml_client_state")),
    )
    smps = op.create_table(
        "smps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("smp_id", sa.String(length=63), nullable=False),
        sa.Column("smp_id_folded", sa.String(length=63), nullable=False),
        sa.Column("local", sa.Boolean(), nullable=False),
        sa.Column("logical_address", sa.String(length=2048), nullable=False),
        sa.Column("physical_address", sa.String(length=45), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=1024), nullable=True),
        sa.Column("issuer", sa.String(length=1024), nullable=True),
        sa.Column("serial_number", sa.String(length=64), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_certificate_pem", sa.Text(), nullable=True),
        sa.Column("next_certificate_sha256", sa.String(length=64), nullable=True),
        sa.Column("next_certificate_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smps")),
        sa.UniqueConstraint("certificate_sha256", name=op.f("uq_smps_certificate_sha256")),
        sa.UniqueConstraint("smp_id_folded", name=op.f("uq_smps_smp_id_folded")),
    )
    with op.batch_alter_table("smps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_smps_next_certificate_sha256"), ["next_certificate_sha256"], unique=False)

    participants = op.create_table(
        "sml_participants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("smp_id", sa.Uuid(), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["smp_id"], ["smps.id"], name=op.f("fk_sml_participants_smp_id"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sml_participants")),
        sa.UniqueConstraint("scheme", "value", name=op.f("uq_sml_participants_scheme_value")),
    )
    with op.batch_alter_table("sml_participants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sml_participants_smp_id_scheme_value"), ["smp_id", "scheme", "value"], unique=False
        )

    op.create_table(
        "sml_migrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("smp_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["sml_participants.id"],
            name=op.f("fk_sml_migrations_participant_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["smp_id"], ["smps.id"], name=op.f("fk_sml_migrations_smp_id"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sml_migrations")),
        sa.UniqueConstraint("participant_id", name=op.f("uq_sml_migrations_participant_id")),
    )
    with op.batch_alter_table("sml_migrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sml_migrations_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sml_migrations_smp_id"), ["smp_id"], unique=False)

    with op.batch_alter_table("dns_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("participant_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("smp_id", sa.Uuid(), nullable=True))

    _records_to_registrations(smps, participants)

    with op.batch_alter_table("dns_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dns_records_organisation_id"))
        batch_op.drop_constraint(batch_op.f("fk_dns_records_organisation_id"), type_="foreignkey")
        batch_op.drop_column("organisation_id")
        batch_op.create_index(batch_op.f("ix_dns_records_participant_id"), ["participant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dns_records_smp_id"), ["smp_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_dns_records_participant_id"),
            "sml_participants",
            ["participant_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_dns_records_smp_id"), "smps", ["smp_id"], ["id"], ondelete="RESTRICT"
        )
        batch_op.create_check_constraint("one_owner", "(participant_id IS NULL) <> (smp_id IS NULL)")


def _records_to_registrations(smps: sa.Table, participants: sa.Table) -> None:
    """Every organisation with records becomes a registration of the local SMP, which now owns its records.

    The local SMP's id and address are placeholders here: the service sets them from its settings
    (``SDK_SML_SMP_ID``, ``SDK_PUBLIC_URL``) the first time it registers or lists.
    """
    connection = op.get_bind()
    organisations = sa.table(
        "organisations",
        sa.column("id", sa.Uuid()),
        sa.column("participant_scheme", sa.String()),
        sa.column("participant_value", sa.String()),
    )
    dns_records = sa.table(
        "dns_records", sa.column("organisation_id", sa.Uuid()), sa.column("participant_id", sa.Uuid())
    )
    owners = connection.execute(
        sa.select(organisations.c.id, organisations.c.participant_scheme, organisations.c.participant_value).where(
            organisations.c.id.in_(sa.select(dns_records.c.organisation_id))
        )
    ).all()
    if not owners:
        return
    now = datetime.now(UTC)
    local = uuid.uuid4()
    connection.execute(
        smps.insert().values(
            id=local,
            smp_id="sdk-addressbook",
            smp_id_folded="sdk-addressbook",
            local=True,
            logical_address="",
            physical_address="127.0.0.1",
            created_at=now,
            updated_at=now,
            version=1,
        )
    )
    for organisation_id, scheme, value in owners:
        registration = uuid.uuid4()
        connection.execute(
            participants.insert().values(
                id=registration,
                smp_id=local,
                scheme=scheme,
                value=value,
                service="Meta:SMP",
                created_at=now,
                updated_at=now,
            )
        )
        connection.execute(
            dns_records.update()
            .where(dns_records.c.organisation_id == organisation_id)
            .values(participant_id=registration)
        )


def downgrade() -> None:
    # Records go back to their organisations; those of external SMPs have no organisation and go.
    with op.batch_alter_table("dns_records", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_dns_records_one_owner"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_dns_records_smp_id"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_dns_records_participant_id"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_dns_records_smp_id"))
        batch_op.drop_index(batch_op.f("ix_dns_records_participant_id"))
        batch_op.add_column(sa.Column("organisation_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE dns_records SET organisation_id = (SELECT o.id FROM organisations o JOIN sml_participants p"
        " ON p.scheme = o.participant_scheme AND p.value = o.participant_value"
        " WHERE p.id = dns_records.participant_id)"
    )
    op.execute("DELETE FROM dns_records WHERE organisation_id IS NULL")
    with op.batch_alter_table("dns_records", schema=None) as batch_op:
        batch_op.drop_column("smp_id")
        batch_op.drop_column("participant_id")
        batch_op.alter_column("organisation_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_index(batch_op.f("ix_dns_records_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_dns_records_organisation_id"),
            "organisations",
            ["organisation_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("sml_migrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sml_migrations_smp_id"))
        batch_op.drop_index(batch_op.f("ix_sml_migrations_expires_at"))
    op.drop_table("sml_migrations")
    with op.batch_alter_table("sml_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sml_participants_smp_id_scheme_value"))
    op.drop_table("sml_participants")
    with op.batch_alter_table("smps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smps_next_certificate_sha256"))
    op.drop_table("smps")
    op.drop_table("sml_client_state")
    with op.batch_alter_table("sml_client_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sml_client_changes_applied_at_id"))
    op.drop_table("sml_client_changes")
