"""participant_services: identifier schemes in lower case (schemes are case-insensitive, OASIS SMP §2.4.6.3)

Document and process identifier schemes were stored as written; they are now folded to lower case when
parsed, so stored rows are folded too. Two services of one organisation that differ only in the case of
a scheme would become one: the migration stops and names them instead of choosing.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLASHES = sa.text(
    "SELECT organisation_id, lower(document_scheme), document_value, lower(process_scheme), process_value"
    " FROM participant_services"
    " GROUP BY organisation_id, lower(document_scheme), document_value, lower(process_scheme), process_value"
    " HAVING count(*) > 1"
)


def upgrade() -> None:
    connection = op.get_bind()
    clashes = connection.execute(_CLASHES).all()
    if clashes:
        named = "; ".join(f"organisation {row[0]}: {row[1]}::{row[2]} / {row[3]}::{row[4]}" for row in clashes[:5])
        raise RuntimeError(
            f"{len(clashes)} services differ only in the case of an identifier scheme ({named}): "
            "delete one of each pair, then upgrade again"
        )
    connection.execute(
        sa.text(
            "UPDATE participant_services SET document_scheme = lower(document_scheme),"
            " process_scheme = lower(process_scheme)"
            " WHERE document_scheme <> lower(document_scheme) OR process_scheme <> lower(process_scheme)"
        )
    )


def downgrade() -> None:
    """Nothing to undo: lower-case schemes were valid before."""
