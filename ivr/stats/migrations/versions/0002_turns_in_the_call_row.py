"""A call in progress is one row: its turns are kept in the call's row (a line of JSON per write),
not a row each.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TURN_FIELDS = ("at", "flow", "node", "lang", "started", "seconds", "line_at", "dial_at", "connected")


def upgrade() -> None:
    op.add_column("stats_live_calls", sa.Column("turns", sa.Text, nullable=False, server_default=""))
    # The calls in progress keep their turns: each call's rows become its row's first line.
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT call, {', '.join(TURN_FIELDS)} FROM stats_live_turns ORDER BY at, id")).all()
    by_call: dict[str, list[list[object]]] = {}
    for row in rows:
        record = [row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], row[8], bool(row[9])]
        by_call.setdefault(row[0], []).append(record)
    for call, turns in sorted(by_call.items()):
        conn.execute(
            sa.text("UPDATE stats_live_calls SET turns = :turns WHERE call = :call"),
            {"turns": json.dumps(turns, separators=(",", ":")), "call": call},
        )
    op.drop_index("ix_stats_live_turns_call", table_name="stats_live_turns")
    op.drop_table("stats_live_turns")


def downgrade() -> None:
    live_turns = op.create_table(
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
    conn = op.get_bind()
    rows: list[dict[str, object]] = []
    for call, text in conn.execute(sa.text("SELECT call, turns FROM stats_live_calls")).all():
        for line in text.splitlines():
            # An empty line: the call's end was written before its first turn. Any other line this revision did
            # not write is skipped too: the row is the database's, and a downgrade never fails on it.
            try:
                records = [dict(zip(TURN_FIELDS, record, strict=True)) for record in json.loads(line)]
            except (ValueError, TypeError):
                continue
            rows.extend({"call": call, **record} for record in records)
    if rows:
        op.bulk_insert(live_turns, rows)
    with op.batch_alter_table("stats_live_calls") as batch:
        batch.drop_column("turns")
