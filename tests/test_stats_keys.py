"""Nothing the statistics store can be linked to the logs: a call in progress is kept under a key of its own,
rotated each day, and once summed up nothing of it is left in the SQLite files, write-ahead log included."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from ivr.app import create_app
from ivr.cli import main
from ivr.logs import call_ref
from ivr.settings import Settings
from ivr.stats.events import BEFORE_KEY_SECONDS, stats_call_key, stats_call_keys
from ivr.stats.store import IDLE_SECONDS, LONGEST_CALL_SECONDS
from ivr.stats.web import STATS
from support import TwilioClient
from support.docs_pages import section

SIDS = [f"CA{n:032x}" for n in range(1, 4)]


def stored_bytes(database: Path) -> bytes:
    """Every file SQLite keeps for the database: the file itself, its write-ahead log and its shared memory."""
    return b"".join(path.read_bytes() for path in sorted(database.parent.glob(database.name + "*")))


def test_a_summed_up_call_leaves_neither_its_key_nor_its_log_reference_in_the_sqlite_files(
    settings: Settings, tmp_path: Path
) -> None:
    database = tmp_path / "stats.sqlite3"
    env = {"IVR_STATS_DB": str(database)}
    assert CliRunner().invoke(main, ["stats", "migrate"], env=env).exit_code == 0
    app = create_app(replace(settings, database_url=f"sqlite:///{database}"))
    twilio = TwilioClient(app.test_client())
    recorder = app.extensions[STATS].recorder
    for sid in SIDS:
        welcome = twilio.post("/voice", {"CallSid": sid})
        twilio.follow(welcome.gather_action(), "1", CallSid=sid)
    assert recorder.flush()
    now = time.time()
    keys = {sid: stats_call_key(settings.log_key, sid, now) for sid in SIDS}
    logged = {sid: call_ref(settings.log_key, sid) for sid in SIDS}
    held = stored_bytes(database)
    # While the calls last, they are kept under the statistics' own keys, never the logs' references.
    assert all(key.encode() in held for key in keys.values())
    assert not any(ref.encode() in held for ref in logged.values())
    assert set(keys.values()).isdisjoint(logged.values())
    for sid in SIDS:
        assert twilio.post("/voice/status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "40"}).status == 204
    recorder.clock = lambda: time.time() + 60  # past the grace Twilio's status callback is given: the calls are summed up
    assert recorder.flush()
    after = stored_bytes(database)
    for sid in SIDS:
        assert keys[sid].encode() not in after, "a summed-up call's key is still in the files"
        assert logged[sid].encode() not in after and sid.encode() not in after
    assert not (tmp_path / "stats.sqlite3-wal").exists() or (tmp_path / "stats.sqlite3-wal").stat().st_size == 0


def test_a_call_across_utc_midnight_is_stored_under_the_key_of_the_day_it_started_only(
    settings: Settings, tmp_path: Path
) -> None:
    database = tmp_path / "stats.sqlite3"
    assert CliRunner().invoke(main, ["stats", "migrate"], env={"IVR_STATS_DB": str(database)}).exit_code == 0
    app = create_app(replace(settings, database_url=f"sqlite:///{database}"))
    twilio = TwilioClient(app.test_client())
    midnight = 1_800_057_600.0  # 2027-01-16 00:00 UTC
    now = [midnight - 5]
    app.extensions[STATS].clock = lambda: now[0]
    recorder = app.extensions[STATS].recorder
    recorder.clock = lambda: now[0]
    sid = SIDS[0]
    welcome = twilio.post("/voice", {"CallSid": sid})
    assert recorder.flush()
    now[0] = midnight + 5
    twilio.follow(welcome.gather_action(), "1", CallSid=sid)
    assert twilio.post("/voice/status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "12"}).status == 204
    assert recorder.flush()
    started, after = stats_call_key(settings.log_key, sid, midnight - 5), stats_call_key(settings.log_key, sid, midnight + 5)
    held = stored_bytes(database)
    assert started.encode() in held and after.encode() not in held  # one key, the first day's
    now[0] += 60  # past the status callback's grace: summed up
    assert recorder.flush()
    assert started.encode() not in stored_bytes(database)


def test_the_key_of_a_call_changes_each_day_and_is_never_the_logs_reference() -> None:
    secret = b"a deployment's secret"
    monday, tuesday = 1_796_000_000.0, 1_796_000_000.0 + 86_400
    assert stats_call_key(secret, SIDS[0], monday) == stats_call_key(secret, SIDS[0], monday + 60)
    assert stats_call_key(secret, SIDS[0], monday) != stats_call_key(secret, SIDS[0], tuesday)
    assert stats_call_key(secret, SIDS[0], monday) != call_ref(secret, SIDS[0])
    assert stats_call_key(secret, None, monday) == "-"


def test_the_day_befores_key_is_worked_out_only_while_a_call_of_that_day_can_still_be_in_progress() -> None:
    secret, midnight = b"a deployment's secret", 1_796_083_200.0  # 2026-12-01 00:00 UTC
    assert midnight % 86_400 == 0 and BEFORE_KEY_SECONDS > LONGEST_CALL_SECONDS + IDLE_SECONDS
    yesterday = stats_call_key(secret, SIDS[0], midnight - 10)
    assert stats_call_keys(secret, SIDS[0], midnight + 3_000) == (stats_call_key(secret, SIDS[0], midnight), yesterday)
    # Past it, every row of the day before has been summed up: no second HMAC on each request.
    assert stats_call_keys(secret, SIDS[0], midnight + BEFORE_KEY_SECONDS)[1] == "-"


def started(metrics: str) -> float:
    line = next(line for line in metrics.splitlines() if line.startswith("ivr_turns_total{") and 'outcome="start"' in line)
    return float(line.rsplit(" ", 1)[1])


def test_metrics_are_an_exact_feed_for_the_operators_with_no_callers_data_as_the_docs_say(settings: Settings) -> None:
    app = create_app(replace(settings, metrics_token="metrics-token"))
    twilio = TwilioClient(app.test_client())
    token = {"Authorization": "Bearer metrics-token"}
    before = started(twilio.client.get("/metrics", headers=token).get_data(as_text=True))
    for sid in SIDS:  # three calls: fewer than the dashboard would show
        twilio.post("/voice", {"CallSid": sid})
    body = twilio.client.get("/metrics", headers=token).get_data(as_text=True)
    assert started(body) - before == 3  # exact, not "<5"
    labels = {
        label.split("=")[0] for line in body.splitlines() if "{" in line for label in line[line.index("{") + 1 :].split(",")
    }
    assert labels <= {"route", "outcome", "signed", "result", "le"}, labels  # per route and outcome: no call, language or hour
    assert twilio.client.get("/metrics").status_code == 401
    said = section("operating.md", "Metrics and alerts")
    assert "`/metrics` is an exact feed for the operators' monitoring only" in said


def test_a_checkpoint_held_up_by_a_reader_is_done_at_a_later_write_and_never_holds_the_writer(tmp_path: Path) -> None:
    """A reader with an open snapshot (``ivr stats``, a sqlite3 shell) keeps the write-ahead log from being emptied:
    the sum-up's checkpoint does not wait for it (a write that waits loses the batches behind it), and is done at
    the next write once the reader is gone."""
    import sqlite3

    import pytest

    from ivr.stats import store
    from ivr.stats.events import CallEnd
    from ivr.stats.recorder import Recorder, RecorderConfig
    from stats_db import NOW, turn

    database = tmp_path / "stats.sqlite3"
    store.migrate(f"sqlite:///{database}")
    now = [NOW]
    config = RecorderConfig(f"sqlite:///{database}")
    recorder = Recorder(config, lambda count, reason: pytest.fail(reason), clock=lambda: now[0])
    key = stats_call_key(b"secret", SIDS[0], NOW)
    recorder.turn(turn(key, NOW, "welcome", "start"))
    recorder.end(CallEnd(NOW + 5, key, "completed", "<30s"))
    assert recorder.flush()
    reader = sqlite3.connect(database, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM stats_live_calls").fetchall()  # a snapshot with the call in it
    now[0] = NOW + 5 + store.END_GRACE_SECONDS + 1
    started = time.monotonic()
    assert recorder.flush()  # summed up, written, and not held up by the reader
    assert time.monotonic() - started < config.write_timeout
    assert key.encode() in stored_bytes(database)  # still in the log: the reader holds it
    reader.execute("COMMIT")
    reader.close()
    assert recorder.flush(finish=False)  # the next write, with nothing to sum up
    assert key.encode() not in stored_bytes(database)
    assert (tmp_path / "stats.sqlite3-wal").stat().st_size == 0
    recorder.close()
