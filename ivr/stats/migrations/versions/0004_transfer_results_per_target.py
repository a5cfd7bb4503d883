"""A transfer's result is counted per target: the line and the target's position in its transfer_to (never the number).

The key of stats_transfers grows, so the table is made anew and its rows copied: counts of before this revision
keep no target ("-", -1). Down again, the counts of a line's targets are added up into the result's one row.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "stats_transfers"
NEXT = "stats_transfers_next"
KEY = ("hour", "flow", "lang", "result")


def _table(name: str, *, per_target: bool) -> None:
    def key(column: str, length: int = 40) -> sa.Column[str]:
        return sa.Column(column, sa.String(length), primary_key=True)

    targets = (key("line"), sa.Column("target", sa.Integer, primary_key=True)) if per_target else ()
    op.create_table(
        name,
        sa.Column("hour", sa.BigInteger, primary_key=True),
        key("flow"),
        key("lang", 8),
        key("result", 16),
        *targets,
        sa.Column("count", sa.Integer, nullable=False),
    )


def _replace(select: str, *, per_target: bool) -> None:
    """stats_transfers made anew (per target or not) from ``select`` over the old one; on PostgreSQL its key keeps
    the name it had (a table's primary key is named after the table when it is made)."""
    _table(NEXT, per_target=per_target)
    columns = ", ".join((*KEY, "line", "target", "count") if per_target else (*KEY, "count"))
    op.execute(f"INSERT INTO {NEXT} ({columns}) {select}")
    op.drop_table(TABLE)
    op.rename_table(NEXT, TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {TABLE} RENAME CONSTRAINT {NEXT}_pkey TO {TABLE}_pkey")


def upgrade() -> None:
    _replace(f"SELECT {', '.join(KEY)}, '-', -1, count FROM {TABLE}", per_target=True)


def downgrade() -> None:
    key = ", ".join(KEY)
    _replace(f"SELECT {key}, SUM(count) FROM {TABLE} GROUP BY {key}", per_target=False)
