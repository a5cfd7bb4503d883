"""Every statistics migration, up and down, with data in it, on SQLite and on a real PostgreSQL: hourly counts
kept as they are, and each call in progress kept well enough to be summed up the same way afterwards, including
a call whose end was written before its first turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from ivr.stats import store
from ivr.stats.batch import Batch
from ivr.stats.events import CallEnd
from stats_db import NOW, rows, turn, write

AGGREGATE_ROWS = {
    "stats_turns": "INSERT INTO stats_turns VALUES (:hour, 'helpline', 'welcome', '-', 'start', 7)",
    "stats_transfers": "INSERT INTO stats_transfers VALUES (:hour, 'helpline', 'nl', 'connected', 6)",
    "stats_calls": "INSERT INTO stats_calls VALUES (:hour, 'helpline', 'nl', true, 'listening_line', 'completed', '1-2m', 5)",
    "stats_time_to_line": "INSERT INTO stats_time_to_line VALUES (:hour, 'helpline', 'nl', 23, 8)",
}
HOUR_BEFORE = NOW - 3600


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    url: str = request.getfixturevalue("postgres").new_database()
    return url


def _run(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine: Engine = store.make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        engine.dispose()


# stats_transfers as 0001 to 0003 keep it: 0004 tells a result's targets apart, and adds them up on its way down.
TRANSFERS_BEFORE_0004 = "SELECT hour, flow, lang, result, SUM(count) FROM stats_transfers GROUP BY hour, flow, lang, result"


def _aggregates(url: str) -> dict[str, list[tuple[object, ...]]]:
    def select(table: str) -> str:
        return TRANSFERS_BEFORE_0004 if table == "stats_transfers" else f"SELECT * FROM {table}"

    return {table: sorted(tuple(r) for r in _run(url, select(table))) for table in AGGREGATE_ROWS}


def _live_turns(url: str) -> list[tuple[object, ...]]:
    return _run(url, "SELECT call, node, started, line_at FROM stats_live_turns ORDER BY call, at")


def _kept_turns(url: str) -> dict[str, list[list[object]]]:
    """0002's column, each non-empty line read as JSON (so the test fails if a migration writes anything else)."""
    found = _run(url, "SELECT call, turns FROM stats_live_calls")
    return {str(call): [t for line in str(text_).splitlines() if line for t in json.loads(line)] for call, text_ in found}


def _summaries(url: str) -> dict[str, store.CallSummary | None]:
    engine = store.make_engine(url)
    with engine.connect() as conn:
        found = {str(r["call"]): store.summary_of(r, ended=True) for r in conn.execute(store.live_calls.select()).mappings()}
    engine.dispose()
    return found


def test_every_migration_goes_up_and_down_with_calls_in_progress_and_counts(empty_url: str) -> None:
    url, config = empty_url, store._alembic_config(empty_url)
    command.upgrade(config, "0001")
    for sql in AGGREGATE_ROWS.values():
        _run(url, sql, hour=HOUR_BEFORE)
    counts = _aggregates(url)
    # c1: two turns, written in another order than answered; e1: only its end is known so far.
    _run(url, "INSERT INTO stats_live_calls (call, last_at, dialling) VALUES ('c1', :at, false)", at=NOW + 20)
    _run(
        url,
        "INSERT INTO stats_live_calls (call, last_at, dialling, ended_at, status, duration) "
        "VALUES ('e1', :at, false, :at, 'completed', '<30s')",
        at=NOW + 5,
    )
    insert = (
        "INSERT INTO stats_live_turns (call, at, flow, node, lang, started, seconds, line_at, dial_at, connected) "
        "VALUES ('c1', :at, 'helpline', :node, :lang, :started, :seconds, :line_at, NULL, false)"
    )
    _run(url, insert, at=NOW + 20, node="listening_line", lang="fr", started=False, seconds=25.0, line_at=6.4)
    _run(url, insert, at=NOW + 1, node="welcome", lang="-", started=True, seconds=10.2, line_at=None)

    command.upgrade(config, "0002")
    assert _aggregates(url) == counts
    assert _kept_turns(url) == {
        "c1": [
            [NOW + 1, "helpline", "welcome", "-", True, 10.2, None, None, False],
            [NOW + 20, "helpline", "listening_line", "fr", False, 25.0, 6.4, None, False],
        ],
        "e1": [],
    }
    # e2 as 0002 stored it when the end came first and a turn then: the turns start with an empty line.
    first_turn = json.dumps([[NOW + 2, "helpline", "welcome", "-", True, 8.0, None, None, False]])
    _run(
        url,
        "INSERT INTO stats_live_calls (call, last_at, dialling, ended_at, status, duration, turns) "
        "VALUES ('e2', :at, false, :at, 'completed', '<30s', :turns)",
        at=NOW + 9,
        turns="\n" + first_turn,
    )

    command.downgrade(config, "0001")
    assert _aggregates(url) == counts
    assert _live_turns(url) == [
        ("c1", "welcome", True, None),
        ("c1", "listening_line", False, 6.4),
        ("e2", "welcome", True, None),
    ]

    command.upgrade(config, "0002")
    # e4 as e2, and a line 0002 never wrote: 0003 reads what it can.
    _run(
        url,
        "INSERT INTO stats_live_calls (call, last_at, dialling, ended_at, status, duration, turns) "
        "VALUES ('e4', :at, false, :at, 'completed', '<30s', :turns)",
        at=NOW + 9,
        turns="\n" + first_turn.replace("welcome", "main") + "\nnot json\n[1, 2]",
    )
    command.upgrade(config, "0003")
    assert _aggregates(url) == counts
    summaries = _summaries(url)
    assert summaries["e1"] is None  # an end without turns: nothing to count yet
    c1, e2, e4 = summaries["c1"], summaries["e2"], summaries["e4"]
    assert c1 is not None and e2 is not None and e4 is not None
    assert (e4.reached, e4.last_node, e4.end_status) == (False, "main", "completed")
    assert (c1.hour, c1.lang, c1.reached, c1.to_line, c1.last_node) == (NOW, "fr", True, pytest.approx(16.6), "listening_line")
    assert (e2.reached, e2.last_node, e2.end_status, e2.lang) == (False, "welcome", "completed", "-")

    # At the latest revision, through the store: a call's end written before its first turn, and a transfer still ringing.
    command.upgrade(config, "head")
    assert _aggregates(url) == counts
    end_first = Batch()
    end_first.add_end(CallEnd(NOW + 60, "e3", "completed", "1-2m"))
    write(url, end_first, now=NOW + 35)
    later = Batch()
    later.add_turn(turn("e3", NOW + 30, "welcome", "start", lang="-", seconds=9.0))
    later.add_turn(turn("e3", NOW + 40, "main", "option", lang="nl", seconds=4.0, line_at=2.5))
    later.add_turn(turn("r1", NOW + 50, "welcome", "start", lang="-", seconds=8.0))
    later.add_turn(turn("r1", NOW + 58, "listening_line", "talk_now", lang="nl", seconds=3.0, dial_at=3.0))
    write(url, later, now=NOW + 35)  # nothing is over yet
    before, counts = _summaries(url), _aggregates(url)
    assert set(before) == {"c1", "e1", "e2", "e3", "e4", "r1"}

    command.downgrade(config, "0002")
    assert _aggregates(url) == counts
    kept = _kept_turns(url)
    assert kept["e1"] == [] and len(kept["c1"]) == len(kept["e3"]) == len(kept["r1"]) == 1
    command.downgrade(config, "0001")
    assert _aggregates(url) == counts
    assert {call for call, *_ in _live_turns(url)} == {"c1", "e2", "e3", "e4", "r1"}
    command.downgrade(config, "base")
    assert _run(url, "SELECT count(*) FROM stats_version") == [(0,)]
    for table in [*AGGREGATE_ROWS, "stats_live_calls", "stats_live_turns"]:
        with pytest.raises(DBAPIError, match=table):
            _run(url, f"SELECT * FROM {table}")

    # Up again from nothing, then back down and up with the calls in it: each sums up as it did.
    command.upgrade(config, "0001")
    command.upgrade(config, "head")
    write(url, later, now=NOW + 61)
    write(url, end_first, now=NOW + 61)
    for step in ("0002", "0001", "head"):
        (command.downgrade if step != "head" else command.upgrade)(config, step)
    assert _summaries(url) == {call: before[call] for call in ("e3", "r1")}
    connected = Batch()
    connected.add_turn(turn("r1", NOW + 70, "listening_line", "transfer_done", lang="nl", seconds=0, dial="connected"))
    write(url, connected, now=NOW + 71)
    assert write(url, Batch(), now=NOW + 60 + store.END_GRACE_SECONDS + 1) == 1  # e3, summed up after its end
    assert write(url, Batch(), now=NOW + 70 + store.IDLE_SECONDS + 1) == 1  # r1, once silent
    assert sorted((r["lang"], r["seconds"]) for r in rows(url, store.time_to_line)) == [("nl", 11), ("nl", 12)]


def test_0004_counts_transfer_results_per_target_and_adds_them_up_on_its_way_down(empty_url: str) -> None:
    url, config = empty_url, store._alembic_config(empty_url)
    command.upgrade(config, "0003")
    _run(url, AGGREGATE_ROWS["stats_transfers"], hour=HOUR_BEFORE)
    command.upgrade(config, "0004")
    kept = "SELECT hour, flow, lang, result, line, target, count FROM stats_transfers ORDER BY hour, result, target"
    assert _run(url, kept) == [(HOUR_BEFORE, "helpline", "nl", "connected", "-", -1, 6)]  # a result of before: no target

    batch = Batch()
    for n, (status, line, target) in enumerate([("busy", "tele_onthaal", 1)] * 3 + [("connected", "tele_onthaal", 2)] * 2):
        batch.add_turn(
            turn(f"c{n}", NOW + n, "listening_line", "transfer_failed", lang="nl", dial=status, line=line, target=target)
        )
    write(url, batch)
    assert _run(url, kept) == [
        (HOUR_BEFORE, "helpline", "nl", "connected", "-", -1, 6),
        (NOW, "helpline", "nl", "busy", "tele_onthaal", 1, 3),
        (NOW, "helpline", "nl", "connected", "tele_onthaal", 2, 2),
    ]
    command.downgrade(config, "0003")
    before = "SELECT hour, flow, lang, result, count FROM stats_transfers ORDER BY hour, result"
    assert _run(url, before) == [
        (HOUR_BEFORE, "helpline", "nl", "connected", 6),
        (NOW, "helpline", "nl", "busy", 3),
        (NOW, "helpline", "nl", "connected", 2),
    ]
    command.upgrade(config, "0004")
    assert _run(url, kept)[-1] == (NOW, "helpline", "nl", "connected", "-", -1, 2)
    # The table's key is the code's: a result per target written again adds up, another target is a row of its own.
    write(url, batch)
    assert len(_run(url, kept)) == 5
