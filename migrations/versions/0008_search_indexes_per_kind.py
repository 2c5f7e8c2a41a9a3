"""search indexes per kind, and finer statistics of the search vectors (PostgreSQL only)

At a million addresses one GIN index over every kind made the planner AND it with the kind index
(reading 200,000 organisation ids for every organisation search) or read 120,000 organisations whose
names matched before finding 1,000 addresses. A partial index per kind holds only what a search of
that kind can return, so neither happens.

With the default statistics (1,000 most common lexemes) every rarer word was estimated to match 1-3%
of the entries, so for a misspelt name the planner chose to scan the table "until 1,000 matches" and
read all 1.2 million rows. 10,000 as the statistics target brings the estimates of rare words down to
what they are. SQLite's FTS5 tables are unchanged.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("organizations", "addresses", "codesystems")
VECTORS = ("search_vector", "names_vector")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for vector in VECTORS:
        for kind in KINDS:
            # The predicate is written as the search renders it, so the planner can prove it applies.
            op.execute(
                f"CREATE INDEX ix_directory_entries_{vector}_{kind} ON directory_entries USING gin ({vector})"
                f" WHERE kind = '{kind}' AND removed IS FALSE"
            )
        op.execute(f"DROP INDEX ix_directory_entries_{vector}")
        op.execute(f"ALTER TABLE directory_entries ALTER COLUMN {vector} SET STATISTICS 10000")
    op.execute("ANALYZE directory_entries")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for vector in VECTORS:
        op.execute(f"ALTER TABLE directory_entries ALTER COLUMN {vector} SET STATISTICS -1")
        op.execute(f"CREATE INDEX ix_directory_entries_{vector} ON directory_entries USING gin ({vector})")
        for kind in KINDS:
            op.execute(f"DROP INDEX ix_directory_entries_{vector}_{kind}")
