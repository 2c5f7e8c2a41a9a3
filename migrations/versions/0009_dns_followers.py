"""dns followers: each embedded DNS server's own position in the outbox

Embedded mode used to mark outbox rows applied, one flag for every server: a second server (one per
replica) overwrote the first's progress, and a server that loaded the zone at start never marked the
changes its snapshot already held, so they looked pending forever. Each server now keeps its own row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:41:49
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dns_followers",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dns_followers")),
    )


def downgrade() -> None:
    op.drop_table("dns_followers")
