"""The statistics tables (SQLAlchemy Core), and how batches are written and calls summed up.

SQLite by default, PostgreSQL when ``DATABASE_URL`` is set; the schema is made by Alembic
(``ivr stats migrate``, :mod:`ivr.stats.migrations`). Stored, for good (until pruned):
hourly counts only. For a call in progress, under the statistics' own key for the call: one
row, a running summary in typed columns (when it started and in which flow, its latest node
and language, the seconds of audio so far, when it reached the line, its end once Twilio
says so; each write joins its batch's summary to the row's, see :func:`joined`), deleted
when the call is summed up into the hourly counts, at most an hour later.

(Over 400 lines: the tables, their migrations' entry points and every statement that
writes or deletes rows are kept together, so that what is stored can be read in one place.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    create_engine,
    delete,
    event,
    false,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from ivr.stats.batch import TRANSFER_KEY, Batch, Segment, Tally
from ivr.stats.events import NO_LANGUAGE, hour_of, whole_seconds

VERSION_TABLE = "stats_version"
HEAD = "0004"  # the latest migration in ivr/stats/migrations/versions (a test checks that they agree)
# A call still in a menu sends a request at least every minute or two; one silent for this long is over.
IDLE_SECONDS = 15 * 60
LONGEST_CALL_SECONDS = 3600  # a transfer can last; after an hour nothing about the call is kept
# Requests of one call can be written by several workers, each a second or so apart: a call
# is summed up this long after Twilio said it ended.
END_GRACE_SECONDS = 30
BUSY_SECONDS = 5  # SQLite: how long a statement waits for another connection's lock
FINISHED_AT_ONCE = 100  # calls summed up per statement (see finish_calls)

metadata = MetaData()


def _key(name: str, length: int = 40) -> Column[str]:
    return Column(name, String(length), primary_key=True)


turns = Table(
    "stats_turns",
    metadata,
    Column("hour", BigInteger, primary_key=True),
    _key("flow"),
    _key("node"),
    _key("lang", 8),
    _key("outcome", 24),
    Column("count", Integer, nullable=False),
)
transfers = Table(
    "stats_transfers",
    metadata,
    Column("hour", BigInteger, primary_key=True),
    _key("flow"),
    _key("lang", 8),
    _key("result", 16),
    _key("line"),  # a result's line id and its target's position in transfer_to (never the number); "-", -1: none
    Column("target", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
)
calls = Table(
    "stats_calls",
    metadata,
    Column("hour", BigInteger, primary_key=True),  # the hour the call started
    _key("flow"),
    _key("lang", 8),
    Column("reached", Boolean, primary_key=True),
    _key("last_node"),
    _key("end_status", 16),
    _key("duration", 16),
    Column("count", Integer, nullable=False),
)
time_to_line = Table(
    "stats_time_to_line",
    metadata,
    Column("hour", BigInteger, primary_key=True),
    _key("flow"),
    _key("lang", 8),
    Column("seconds", Integer, primary_key=True),  # whole seconds, rounded up
    Column("count", Integer, nullable=False),
)
live_calls = Table(
    "stats_live_calls",
    metadata,
    Column("call", String(16), primary_key=True),
    Column("last_at", Float, nullable=False, index=True),  # the server's time of the call's latest turn (or its end)
    Column("dialling", Boolean, nullable=False),  # that turn started a transfer, which can last
    Column("ended_at", Float, index=True),  # when Twilio's status callback said the call was over
    Column("status", String(16)),
    Column("duration", String(16)),
    # The running summary of the turns written so far (batch.Segment; all empty when only the end is known).
    Column("first_at", Float),
    Column("flow", String(40)),
    Column("started", Boolean, nullable=False, server_default=false()),
    Column("last_node", String(40)),
    Column("lang", String(8)),
    Column("lang_at", Float),
    Column("seconds", Float, nullable=False, server_default=text("0")),
    Column("line_after", Float),
    Column("dial_after", Float),
    Column("connected_first", Boolean, nullable=False, server_default=false()),
)
AGGREGATES = (turns, transfers, calls, time_to_line)


class StatsNotMigrated(Exception):
    """The database has no statistics tables, or older ones; the message says how to migrate."""


def database_url(url: str) -> str:
    """``url`` for SQLAlchemy: the ``postgres://`` of PaaS add-ons is PostgreSQL through psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine that fails fast (a refused or silent server must not hold the writer for long).

    One connection is kept per engine (a recorder makes its engine after any fork, and disposes of it
    when it goes). PostgreSQL: the kept connection is checked before each use (SQLAlchemy's
    pessimistic disconnect handling, ``pool_pre_ping``), so a server that restarted costs a ping, not
    a batch, and a write every half second does not open a connection (a server process) each time.
    SQLite: in write-ahead-log mode, whose commits need no flush to disk and let ``ivr stats`` and
    /admin read while workers write; a power cut may lose the last half-second of counts, never the file.
    """
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS})
        event.listen(engine, "connect", _sqlite_write_ahead_log)
        return engine
    # A host that vanished mid-write (no reset) is noticed within seconds, not at TCP's retransmission limit.
    tcp = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2, "tcp_user_timeout": 10_000}
    return create_engine(url, pool_size=1, max_overflow=1, pool_pre_ping=True, connect_args={"connect_timeout": 3, **tcp})


def _sqlite_write_ahead_log(connection: Any, _record: object) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A deleted row's bytes are overwritten, not left in a free page of the file (see checkpoint).
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


CHECKPOINT_TRIES = 5


def checkpoint(engine: Engine) -> bool:
    """SQLite: copy the write-ahead log into the database and empty it (TRUNCATE), so that the rows a sum-up
    deleted (each call in progress, under its key) are not left readable in the log file. Retried a few times
    while another connection reads or writes; returns whether it went through (PostgreSQL: nothing to do).

    Without SQLite's busy wait: a TRUNCATE checkpoint waits for every reader's snapshot, so a reader that keeps
    one open would hold the writer BUSY_SECONDS a try, and the batches behind it would be lost; the recorder
    tries again at its next write instead."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            for attempt in range(CHECKPOINT_TRIES):
                if not conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar():
                    return True
                time.sleep(0.05 * (attempt + 1))
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
    return False


def shown_url(url: str) -> str:
    """``url`` without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(database_url(url)).render_as_string(hide_password=True)


# --- migrations ---------------------------------------------------------------------------------


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("ivr.stats") / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The schema's revision, None when it was never migrated.

    Read with plain SQL, so that the service's workers never import Alembic (it costs memory);
    ``migrate`` and ``ivr stats`` use Alembic itself."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def migrate(url: str) -> tuple[str | None, str]:
    """Bring the database at ``url`` to the latest schema; returns (revision before, revision now)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            before = current_revision(conn)
    finally:
        engine.dispose()
    command.upgrade(_alembic_config(url), "head")
    return before, head_revision()


def check_migrated(conn: Connection, url: str) -> None:
    """Raises StatsNotMigrated unless the database has the latest statistics schema."""
    revision = current_revision(conn)
    head = HEAD
    if revision == head:
        return
    where = shown_url(url)
    if revision is None:
        raise StatsNotMigrated(
            f"the statistics database {where} was never migrated: run `ivr stats migrate` "
            "(the Procfile's release step and `make run` do)"
        )
    raise StatsNotMigrated(f"the statistics database {where} is at revision {revision}, not {head}: run `ivr stats migrate`")


# --- writing -----------------------------------------------------------------------------------


def _adding(dialect: str, table: Table) -> Executable:
    """Insert a count, or add it to the row's when the row is there."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    keys = [c.name for c in table.primary_key.columns]
    return statement.on_conflict_do_update(index_elements=keys, set_={"count": table.c["count"] + statement.excluded["count"]})


def joined(a: Any, b: Any) -> dict[str, ColumnElement[Any]]:
    """The running summary of segment ``a`` followed by segment ``b`` (each the stored row's columns or the
    written ones), column by column: the same walk as batch.Segment.of, over two summaries instead of turns.
    The row without turns (only the call's end) has no line, no transfer and 0 seconds, so it joins as nothing."""
    return {
        "first_at": a.first_at,
        "flow": a.flow,
        "started": or_(a.started, b.started),
        "seconds": a.seconds + b.seconds,
        "line_after": case(
            (a.line_after.is_not(None), a.line_after),
            (and_(b.connected_first, a.dial_after.is_not(None)), a.dial_after),
            else_=a.seconds + b.line_after,
        ),
        "dial_after": case((b.dial_after.is_not(None), a.seconds + b.dial_after), else_=a.dial_after),
        "connected_first": or_(a.connected_first, and_(a.line_after.is_(None), a.dial_after.is_(None), b.connected_first)),
    }


def _turns_added(dialect: str) -> Executable:
    """A call's row: the batch's summary joined to it, before or after what is there (by the first turn's time);
    its latest turn and language, whichever writer brings them first. Exact when each write's turns come all
    before or all after those written; turns written after a later and an earlier one of the call (two workers
    answering within a batch's interval, writing in the other order) are joined after both: the call's time to
    the line may then be off by their seconds, nothing else."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(live_calls)
    row, new = live_calls.c, statement.excluded
    before = or_(row.first_at.is_(None), new.first_at < row.first_at)
    earlier, later = joined(new, row), joined(row, new)
    newer = or_(row.last_node.is_(None), new.last_at >= row.last_at)
    language = and_(new.lang_at.is_not(None), or_(row.lang_at.is_(None), new.lang_at >= row.lang_at))
    return statement.on_conflict_do_update(
        index_elements=["call"],
        set_={
            **{name: case((before, earlier[name]), else_=later[name]) for name in earlier},
            **{name: case((newer, new[name]), else_=row[name]) for name in ("last_at", "last_node", "dialling")},
            **{name: case((language, new[name]), else_=row[name]) for name in ("lang", "lang_at")},
        },
    )


def _ended(dialect: str) -> Executable:
    """A call's row: its end, as Twilio's status callback said."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(live_calls)
    return statement.on_conflict_do_update(
        index_elements=["call"],
        set_={
            "ended_at": statement.excluded.ended_at,
            "status": statement.excluded.status,
            "duration": statement.excluded.duration,
        },
    )


def _upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Add ``rows``' counts to the table's, inserting the rows that are not there yet."""
    if rows:
        conn.execute(_adding(conn.dialect.name, table), list(rows))


def write_batch(conn: Connection, batch: Batch) -> None:
    """Everything in ``batch``, in the caller's transaction."""
    tally = batch.tally
    _upsert(
        conn,
        turns,
        [dict(hour=k[0], flow=k[1], node=k[2], lang=k[3], outcome=k[4], count=n) for k, n in sorted(tally.turns.items())],
    )
    _upsert(conn, transfers, [dict(zip(TRANSFER_KEY, k, strict=True), count=n) for k, n in sorted(tally.transfers.items())])
    _touch_calls(conn, tally)


def _touch_calls(conn: Connection, tally: Tally) -> None:
    """One row per call in progress: the running summary of its turns, and its end. A call keeps the key of the day
    it started (events.stats_call_keys): after UTC midnight, its row under the day before's key when there is one."""
    asked = sorted(({p.before for p in tally.calls.values() if not p.started} | {e.before for e in tally.ends}) - {"-"})
    kept = set(tally.calls).union(
        conn.execute(select(live_calls.c.call).where(live_calls.c.call.in_(asked))).scalars() if asked else ()
    )
    if tally.calls:
        parts = {(part.before if part.before in kept else call): part for call, part in tally.calls.items()}
        rows = [dict(call=call, **_columns(part.segment)) for call, part in sorted(parts.items())]
        conn.execute(_turns_added(conn.dialect.name), rows)
    if tally.ends:
        ends = {(e.before if e.before in kept else e.call): e for e in tally.ends}  # one end per call
        conn.execute(
            _ended(conn.dialect.name),
            [
                dict(call=call, last_at=e.at, dialling=False, ended_at=e.at, status=e.status, duration=e.duration, **NO_TURNS)
                for call, e in sorted(ends.items())
            ],
        )


# --- calls summed up ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallSummary:
    hour: int
    flow: str
    lang: str
    reached: bool
    to_line: float | None  # seconds of audio until the line's number was said or a transfer connected
    last_node: str
    end_status: str
    duration: str


def _columns(segment: Segment) -> dict[str, object]:
    return {name: getattr(segment, name) for name in Segment.__slots__}


# An end written before any turn of its call: a row that joins as nothing (see joined).
NO_TURNS: dict[str, object] = dict.fromkeys(("first_at", "flow", "last_node", "lang", "lang_at", "line_after", "dial_after")) | {
    "started": False,
    "seconds": 0.0,
    "connected_first": False,
}


def summary_of(row: Mapping[Any, Any], *, ended: bool) -> CallSummary | None:
    """One call from its row; None for a fragment without its start (turns written after the call was summed up)."""
    if not row["started"] or row["first_at"] is None:
        return None
    return CallSummary(
        hour=hour_of(row["first_at"]),
        flow=row["flow"],
        lang=row["lang"] or NO_LANGUAGE,
        reached=row["line_after"] is not None,
        to_line=row["line_after"],
        last_node=row["last_node"],
        end_status=row["status"] if ended and row["ended_at"] is not None else "unknown",
        duration=row["duration"] if ended and row["ended_at"] is not None else "unknown",
    )


def calls_in_progress(conn: Connection, lo: int, hi: int) -> list[CallSummary]:
    """The calls not summed up yet that started between ``lo`` and ``hi`` (epoch seconds), as they are now."""
    c = live_calls.c
    found = conn.execute(select(live_calls).where(c.started.is_(True), c.first_at >= lo, c.first_at < hi)).mappings()
    return [s for s in (summary_of(row, ended=False) for row in found) if s is not None]


def calls_over(conn: Connection, now: float) -> list[str]:
    """The calls in progress that are over: END_GRACE_SECONDS after Twilio's status callback, or silent
    for IDLE_SECONDS (LONGEST_CALL_SECONDS when the last turn started a transfer, which can last)."""
    c = live_calls.c
    over = select(c.call).where(
        or_(
            c.ended_at < now - END_GRACE_SECONDS,
            and_(c.dialling.is_(False), c.last_at < now - IDLE_SECONDS),
            c.last_at < now - LONGEST_CALL_SECONDS,
        )
    )
    return sorted(conn.execute(over).scalars())


def finish_calls(conn: Connection, now: float) -> int:
    """Sum up the calls that are over (see calls_over) into the hourly counts, and delete what was kept
    about them. Rows are claimed with DELETE … RETURNING, so that two writers never count a call twice.
    Returns the calls summed up."""
    chosen = calls_over(conn, now)
    finished = 0
    # A hundred calls at a time, each hundred added up at once: a worker that sums up a busy
    # minute's calls never holds more than a hundred calls' rows.
    for start in range(0, len(chosen), FINISHED_AT_ONCE):
        some = chosen[start : start + FINISHED_AT_ONCE]
        summaries: list[CallSummary] = []
        claimed = conn.execute(delete(live_calls).where(live_calls.c.call.in_(some)).returning(*live_calls.c)).mappings().all()
        if not claimed:
            continue
        for row in claimed:
            summary = summary_of(row, ended=True)
            if summary is not None:
                summaries.append(summary)
        _add_summaries(conn, summaries)
        finished += len(summaries)
    return finished


def _add_summaries(conn: Connection, summaries: list[CallSummary]) -> None:
    call_counts: dict[tuple[Any, ...], int] = {}
    line_counts: dict[tuple[Any, ...], int] = {}
    for s in summaries:
        key = (s.hour, s.flow, s.lang, s.reached, s.last_node, s.end_status, s.duration)
        call_counts[key] = call_counts.get(key, 0) + 1
        if s.to_line is not None:
            line_key = (s.hour, s.flow, s.lang, whole_seconds(s.to_line))
            line_counts[line_key] = line_counts.get(line_key, 0) + 1
    _upsert(
        conn,
        calls,
        [
            dict(hour=k[0], flow=k[1], lang=k[2], reached=k[3], last_node=k[4], end_status=k[5], duration=k[6], count=n)
            for k, n in sorted(call_counts.items())
        ],
    )
    _upsert(
        conn,
        time_to_line,
        [dict(hour=k[0], flow=k[1], lang=k[2], seconds=k[3], count=n) for k, n in sorted(line_counts.items())],
    )


def prune(conn: Connection, now: float, retention_days: int) -> int:
    """Delete hourly counts older than ``retention_days``; returns the rows deleted."""
    cutoff = hour_of(now) - retention_days * 86400
    return sum(conn.execute(delete(table).where(table.c.hour < cutoff)).rowcount or 0 for table in AGGREGATES)
