"""publication source hash

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 02:55:43.873755
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get an empty hash, which never matches: the next republish signs them again.
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_hash", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.alter_column("source_hash", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_column("source_hash")
