"""The statistics store, against SQLite and a real PostgreSQL: migrations, batches, calls summed up, pruning."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from ivr.stats import report, store
from ivr.stats.batch import Batch
from ivr.stats.events import HOUR, CallEnd
from ivr.stats.recorder import Recorder, RecorderConfig
from stats_db import NOW, rows, turn, write


def test_the_migrations_make_exactly_the_tables_the_code_uses(database_url: str) -> None:
    engine = store.make_engine(database_url)
    with engine.connect() as conn:
        store.check_migrated(conn, database_url)
        context = MigrationContext.configure(conn, opts={"version_table": store.VERSION_TABLE})
        differences = compare_metadata(context, store.metadata)
    engine.dispose()
    assert differences == []


def test_a_database_never_migrated_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    engine = store.make_engine(url)
    with engine.connect() as conn, pytest.raises(store.StatsNotMigrated, match=r"never migrated: run `ivr stats migrate`"):
        store.check_migrated(conn, url)
    engine.dispose()
    assert store.migrate(url) == (None, store.head_revision())
    assert store.migrate(url) == (store.head_revision(), store.head_revision())


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_calls_in_progress_keep_their_turns_through_the_migration_to_one_row_per_call(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}" if dialect == "sqlite" else request.getfixturevalue("postgres").new_database()
    config = store._alembic_config(url)
    command.upgrade(config, "0001")  # the schema with a row per turn, and a call in progress in it
    engine = store.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO stats_live_calls (call, last_at, dialling) VALUES ('c1', :at, false)"), {"at": NOW + 20})
        insert = text(
            "INSERT INTO stats_live_turns (call, at, flow, node, lang, started, seconds, line_at, dial_at, connected) "
            "VALUES ('c1', :at, 'helpline', :node, :lang, :started, :seconds, :line_at, NULL, false)"
        )
        turn_rows = [
            {"at": NOW + 20, "node": "listening_line", "lang": "fr", "started": False, "seconds": 25.0, "line_at": 6.4},
            {"at": NOW + 1, "node": "welcome", "lang": "-", "started": True, "seconds": 10.2, "line_at": None},
        ]
        conn.execute(insert, turn_rows)  # written in another order than they were answered
    engine.dispose()
    assert store.migrate(url) == ("0001", store.HEAD)
    [kept] = rows(url, store.live_calls)
    assert (kept["first_at"], kept["started"], kept["last_node"], kept["lang"]) == (NOW + 1, True, "listening_line", "fr")
    assert kept["line_after"] == pytest.approx(10.2 + 6.4)
    batch = Batch()
    batch.add_end(CallEnd(NOW + 30, "c1", "completed", "30s-1m"))
    assert write(url, batch, now=NOW + 30 + store.END_GRACE_SECONDS + 1) == 1
    assert rows(url, store.time_to_line) == [dict(hour=NOW, flow="helpline", lang="fr", seconds=17, count=1)]
    # And back: a call in progress is a row of turns again, one that sums up the same (tests/test_stats_migrations.py).
    write(url, _one_call_in_progress())
    command.downgrade(config, "0001")
    engine = store.make_engine(url)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT call, at, node, seconds FROM stats_live_turns ORDER BY at")).all()
        assert back == [("c2", NOW + 100, "main", 20.0)]
    engine.dispose()


def _one_call_in_progress() -> Batch:
    batch = Batch()
    batch.add_turn(turn("c2", NOW + 100, "welcome", "start", lang="-"))
    batch.add_turn(turn("c2", NOW + 110, "main", "option"))
    return batch


def test_batches_add_up_and_a_call_is_summed_up_after_its_end(database_url: str) -> None:
    first = Batch()
    first.add_turn(turn("c1", NOW + 1, "welcome", "start", lang="-", seconds=10.2))
    first.add_turn(turn("c1", NOW + 12, "first_menu", "language", seconds=30.0))
    assert write(database_url, first) == 0
    second = Batch()  # another worker's batch: the number said, then the status callback
    second.add_turn(turn("c1", NOW + 20, "listening_line", "talk_now", seconds=25.0, line_at=6.4))
    second.add_turn(turn("c2", NOW + 21, "welcome", "start", lang="-"))
    second.add_end(CallEnd(NOW + 40, "c1", "completed", "30s-1m"))
    assert write(database_url, second, now=NOW + 41) == 0  # ended, but not END_GRACE_SECONDS ago
    assert write(database_url, Batch(), now=NOW + 40 + store.END_GRACE_SECONDS + 1) == 1
    assert rows(database_url, store.calls) == [
        dict(
            hour=NOW,
            flow="helpline",
            lang="fr",
            reached=True,
            last_node="listening_line",
            end_status="completed",
            duration="30s-1m",
            count=1,
        )
    ]
    assert rows(database_url, store.time_to_line) == [dict(hour=NOW, flow="helpline", lang="fr", seconds=47, count=1)]
    [kept] = rows(database_url, store.live_calls)  # c2 is still in progress: one row, its turn summed up in it
    assert (kept["call"], kept["ended_at"], kept["started"], kept["last_node"], kept["seconds"]) == (
        "c2",
        None,
        True,
        "welcome",
        10,
    )
    counted = {(r["node"], r["outcome"]): r["count"] for r in rows(database_url, store.turns)}
    assert counted == {("welcome", "start"): 2, ("first_menu", "language"): 1, ("listening_line", "talk_now"): 1}


def test_an_end_written_before_the_calls_turns_still_sums_the_call_up(database_url: str) -> None:
    ended = Batch()  # one worker answered the status callback, and wrote first
    ended.add_end(CallEnd(NOW + 40, "c1", "completed", "30s-1m"))
    assert write(database_url, ended, now=NOW + 41) == 0
    turns = Batch()  # another worker's batch: the call's turns
    turns.add_turn(turn("c1", NOW + 1, "welcome", "start", lang="-", seconds=10.2))
    turns.add_turn(turn("c1", NOW + 20, "listening_line", "talk_now", seconds=25.0, line_at=6.4))
    assert write(database_url, turns, now=NOW + 41) == 0
    assert write(database_url, Batch(), now=NOW + 40 + store.END_GRACE_SECONDS + 1) == 1
    [summed] = rows(database_url, store.calls)
    assert (summed["reached"], summed["end_status"], summed["last_node"]) == (True, "completed", "listening_line")


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 2, 1)])
def test_each_batch_of_a_call_joins_its_row_before_or_after_what_is_there(database_url: str, order: tuple[int, ...]) -> None:
    """Workers write a call's turns in any order, one batch each: a batch all before or all after what is written
    joins it exactly (the first three orders; the last writes the middle batch last: joined after both)."""
    batches = [
        [turn("c1", NOW + 1, "welcome", "start", lang="-", seconds=8.0), turn("c1", NOW + 9, "first_menu", "language")],
        [turn("c1", NOW + 20, "main", "option", lang="nl", seconds=5.0)],
        [
            turn("c1", NOW + 26, "listening_line", "talk_now", lang="nl", seconds=6.0, dial_at=4.0),
            turn("c1", NOW + 40, "listening_line", "transfer_done", lang="nl", seconds=0.0, dial="connected"),
        ],
    ]
    for index in order:
        batch = Batch()
        for event in batches[index]:
            batch.add_turn(event)
        write(database_url, batch)
    [kept] = rows(database_url, store.live_calls)
    assert (kept["first_at"], kept["flow"], kept["last_node"], kept["lang"], kept["seconds"]) == (
        NOW + 1,
        "helpline",
        "listening_line",
        "nl",
        29,
    )
    exact = order != (0, 2, 1)
    assert (kept["line_after"] == 8 + 10 + 5 + 4) is exact  # a transfer that connected: when it started ringing


def test_a_time_to_the_line_is_one_whole_second_in_progress_and_summed_up(tmp_path: Path) -> None:
    """12.0001 s of audio to the line: the same second while the call is in progress and once it is summed up,
    written by the real recorder and read by the real report."""
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    store.migrate(url)
    now = [NOW + 30]
    recorder = Recorder(RecorderConfig(url), lambda count, reason: pytest.fail(reason), clock=lambda: now[0])
    recorder.turn(turn("c1", NOW + 1, "welcome", "start", lang="-", seconds=10.0))
    recorder.turn(turn("c1", NOW + 11, "listening_line", "talk_now", lang="nl", seconds=20.0, line_at=2.0001))
    assert recorder.flush()
    engine = store.make_engine(url)
    day = date(2027, 1, 15)
    with engine.connect() as conn:
        live = report.load(conn, day, day)
    assert (live.in_progress, dict(live.to_line)) == (1, {12: 1})
    recorder.end(CallEnd(NOW + 40, "c1", "completed", "30s-1m"))
    now[0] = NOW + 40 + store.END_GRACE_SECONDS + 1
    assert recorder.flush()
    with engine.connect() as conn:
        summed = report.load(conn, day, day)
    assert (summed.in_progress, dict(summed.to_line), summed.reached["nl"]) == (0, {12: 1}, 1)
    recorder.close()
    engine.dispose()


def test_a_silent_call_is_summed_up_after_the_idle_time_and_a_transfer_after_an_hour(database_url: str) -> None:
    batch = Batch()
    batch.add_turn(turn("quiet", NOW, "welcome", "start", lang="-"))
    batch.add_turn(turn("quiet", NOW + 10, "breathing", "option"))
    batch.add_turn(turn("ringing", NOW, "welcome", "start", lang="-", seconds=8))
    batch.add_turn(turn("ringing", NOW + 10, "listening_line", "talk_now", seconds=3, dial_at=3.0))
    assert write(database_url, batch, now=NOW + 10 + store.IDLE_SECONDS + 1) == 1
    assert [(r["last_node"], r["reached"]) for r in rows(database_url, store.calls)] == [("breathing", False)]
    connected = Batch()
    connected.add_turn(turn("ringing", NOW + 1800, "listening_line", "transfer_done", seconds=0, dial="connected"))
    assert write(database_url, connected, now=NOW + 1800 + store.IDLE_SECONDS + 1) == 1
    reached = [r for r in rows(database_url, store.calls) if r["reached"]]
    assert [(r["last_node"], r["end_status"]) for r in reached] == [("listening_line", "unknown")]
    assert rows(database_url, store.time_to_line)[0]["seconds"] == 11  # 8 s of welcome, 3 s before the <Dial>


def test_turns_written_after_a_call_was_summed_up_are_not_a_new_call(database_url: str) -> None:
    late = Batch()
    late.add_turn(turn("gone", NOW, "main", "option"))
    assert write(database_url, late, now=NOW + store.IDLE_SECONDS + 1) == 0
    assert rows(database_url, store.calls) == [] and rows(database_url, store.live_calls) == []


def test_prune_keeps_the_retention_period(database_url: str) -> None:
    batch = Batch()
    batch.add_turn(turn("-", NOW - 401 * 86400, "welcome", "start"))
    batch.add_turn(turn("-", NOW - 399 * 86400, "welcome", "start"))
    write(database_url, batch)
    engine = store.make_engine(database_url)
    with engine.begin() as conn:
        assert store.prune(conn, NOW, 400) == 1
    engine.dispose()
    assert [r["hour"] for r in rows(database_url, store.turns)] == [NOW - 399 * 86400]
    assert HOUR == 3600


def test_paas_urls_use_psycopg() -> None:
    assert store.database_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert store.shown_url("postgres://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"


def test_the_latest_revision_the_service_expects_is_alembics_head() -> None:
    assert store.HEAD == store.head_revision()


def test_sqlite_is_written_ahead_so_reports_read_while_a_worker_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    store.migrate(url)
    writer = store.make_engine(url)
    reader = store.make_engine(url)
    with writer.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with writer.begin() as conn:
        batch = Batch()
        batch.add_turn(turn("c1", NOW, "welcome", "start"))
        store.write_batch(conn, batch)
        # A write is open: a report still reads, at once, what was there before it.
        with reader.connect() as report:
            assert report.execute(select(store.live_calls)).all() == []
    with reader.connect() as report:
        assert [row.call for row in report.execute(select(store.live_calls))] == ["c1"]
    writer.dispose()
    reader.dispose()
