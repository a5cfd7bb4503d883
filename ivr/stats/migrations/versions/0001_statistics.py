"""The statistics tables: hourly counts, and the rows kept about calls in progress.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _key(name: str, length: int = 40) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "stats_turns",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        _key("flow"),
        _key("node"),
        _key("lang", 8),
        _key("outcome", 24),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "stats_transfers",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        _key("flow"),
        _key("lang", 8),
        _key("result", 16),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "stats_calls",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        _key("flow"),
        _key("lang", 8),
        sa.Column("reached", sa.Boolean, primary_key=True),
        _key("last_node"),
        _key("end_status", 16),
        _key("duration", 16),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "stats_time_to_line",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        _key("flow"),
        _key("lang", 8),
        sa.Column("seconds", sa.Integer, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "stats_live_turns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("call", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("flow", sa.String(40), nullable=False),
        sa.Column("node", sa.String(40), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("started", sa.Boolean, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("line_at", sa.Float),
        sa.Column("dial_at", sa.Float),
        sa.Column("connected", sa.Boolean, nullable=False),
    )
    op.create_index("ix_stats_live_turns_call", "stats_live_turns", ["call"])
    op.create_table(
        "stats_live_calls",
        sa.Column("call", sa.String(16), primary_key=True),
        sa.Column("last_at", sa.Float, nullable=False),
        sa.Column("dialling", sa.Boolean, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("status", sa.String(16)),
        sa.Column("duration", sa.String(16)),
    )
    op.create_index("ix_stats_live_calls_last_at", "stats_live_calls", ["last_at"])
    op.create_index("ix_stats_live_calls_ended_at", "stats_live_calls", ["ended_at"])


def downgrade() -> None:
    for table in ("stats_live_calls", "stats_live_turns", "stats_time_to_line", "stats_calls", "stats_transfers", "stats_turns"):
        op.drop_table(table)
