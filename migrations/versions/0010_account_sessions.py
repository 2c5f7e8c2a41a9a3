"""accounts: sessions valid from (logout ends every session of the account on the server)

Console sessions are signed cookies; before this, a cookie copied before logout kept working until it
expired (8 hours). Each request now compares the session's start with this column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:58:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sessions_valid_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("sessions_valid_from")
