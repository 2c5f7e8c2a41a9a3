"""directory_backlog: function addresses of a large import whose directory entries the worker writes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_backlog",
        sa.Column("function_address_id", sa.Uuid(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["function_address_id"],
            ["function_addresses.id"],
            name=op.f("fk_directory_backlog_function_address_id_function_addresses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("function_address_id", name=op.f("pk_directory_backlog")),
    )
    with op.batch_alter_table("directory_backlog", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_directory_backlog_queued_at"), ["queued_at"], unique=False)


def downgrade() -> None:
    op.drop_table("directory_backlog")
