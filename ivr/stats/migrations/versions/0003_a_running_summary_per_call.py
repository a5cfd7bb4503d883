"""A call in progress is a running summary in typed columns (batch.Segment), not lines of JSON.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from ivr.stats.batch import CallTurn, Segment

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _summary() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("first_at", sa.Float),
        sa.Column("flow", sa.String(40)),
        sa.Column("started", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_node", sa.String(40)),
        sa.Column("lang", sa.String(8)),
        sa.Column("lang_at", sa.Float),
        sa.Column("seconds", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("line_after", sa.Float),
        sa.Column("dial_after", sa.Float),
        sa.Column("connected_first", sa.Boolean, nullable=False, server_default=sa.false()),
    )


SUMMED = tuple(c.name for c in _summary())


def _turns(text: str) -> list[CallTurn]:
    """0002's lines of JSON, one per write. An empty line (the call's end was written before its first turn)
    and any line 0002 did not write are skipped: the row is the database's, and a migration never fails on it."""
    turns: list[CallTurn] = []
    for line in text.splitlines():
        try:
            turns += [CallTurn(*record) for record in json.loads(line)]
        except (ValueError, TypeError):
            continue
    return turns


def upgrade() -> None:
    with op.batch_alter_table("stats_live_calls") as batch:
        for column in _summary():
            batch.add_column(column)
    conn = op.get_bind()
    for call, text in conn.execute(sa.text("SELECT call, turns FROM stats_live_calls ORDER BY call")).all():
        turns = _turns(text)
        if not turns:
            continue
        segment = Segment.of(turns)
        values = {name: getattr(segment, name) for name in SUMMED}
        assignments = ", ".join(f"{name} = :{name}" for name in SUMMED)
        conn.execute(
            sa.text(f"UPDATE stats_live_calls SET {assignments}, last_at = :last_at, dialling = :dialling WHERE call = :call"),
            {**values, "last_at": segment.last_at, "dialling": segment.dialling, "call": call},
        )
    with op.batch_alter_table("stats_live_calls") as batch:
        batch.drop_column("turns")


def downgrade() -> None:
    # 0002 keeps turns, which a summary no longer has: each call gets one turn that 0002 sums up the same way
    # (started then, in that flow, at its last node and language, with its seconds, its line and its transfer).
    with op.batch_alter_table("stats_live_calls") as batch:
        batch.add_column(sa.Column("turns", sa.Text, nullable=False, server_default=""))
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT call, {', '.join(SUMMED)} FROM stats_live_calls WHERE first_at IS NOT NULL")).mappings()
    for row in rows.all():
        turn = [
            row["first_at"],
            row["flow"],
            row["last_node"],
            row["lang"] or "-",
            bool(row["started"]),
            row["seconds"],
            row["line_after"],
            row["dial_after"],
            False,
        ]
        conn.execute(
            sa.text("UPDATE stats_live_calls SET turns = :turns WHERE call = :call"),
            {"turns": json.dumps([turn], separators=(",", ":")), "call": row["call"]},
        )
    with op.batch_alter_table("stats_live_calls") as batch:
        for name in SUMMED:
            batch.drop_column(name)
