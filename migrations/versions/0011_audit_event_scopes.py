"""audit_event_scopes: the other scopes an audit event concerns (both sides of a move, an AP's operator)

Before this, an event was readable only through its one organisation: a sub-organisation moved by the
federation operator from one participant to another showed in the new owner's history only, and an AP
operator could not read the history of its own access points.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event_scopes",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_events.id"], name=op.f("fk_audit_event_scopes_event_id"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("event_id", "scope_id", name=op.f("pk_audit_event_scopes")),
    )
    op.create_index(op.f("ix_audit_event_scopes_scope_id"), "audit_event_scopes", ["scope_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_event_scopes_scope_id"), table_name="audit_event_scopes")
    op.drop_table("audit_event_scopes")
