"""A statistics database that refuses connections or hangs never touches a call.

A real PostgreSQL server, stopped (connections refused) or with every one of its processes
paused with SIGSTOP (connections accepted, nothing answered): calls still get their TwiML at
once, and /metrics counts what the statistics lost.
"""

from __future__ import annotations

import base64
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from ivr.app import create_app
from ivr.settings import Settings
from ivr.stats.store import migrate
from ivr.stats.web import STATS
from stats_db import Postgres
from support import TwilioClient

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"ops:admin-password").decode()}
# Far below the writer's timeouts (3 s to connect, 1 s here for a write): a request that waited for
# the database at all would take longer than this.
NO_WAIT = 0.5


def dropped(client: TwilioClient) -> float:
    text = client.client.get("/metrics", headers=ADMIN).get_data(as_text=True)
    found = re.search(r"^ivr_statistics_dropped_total (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


def calls(client: TwilioClient, valid_twiml: object, n: int) -> float:
    """``n`` calls (start, French, 0); the slowest request's seconds."""
    slowest = 0.0
    for i in range(n):
        sid = f"CA{i:032x}"
        started = time.perf_counter()
        answer = client.post("/voice", {"CallSid": sid})
        answer = client.follow(answer.gather_action(), "2", CallSid=sid)
        answer = client.follow(answer.gather_action(), "0", CallSid=sid)
        slowest = max(slowest, (time.perf_counter() - started) / 3)
        valid_twiml(answer)  # type: ignore[operator]
        assert "1 0 7" in answer.spoken()
    return slowest


def app_on(settings: Settings, server: Postgres) -> tuple[Flask, TwilioClient]:
    url = server.new_database()
    migrate(url)
    app = create_app(replace(settings, database_url=url, admin_password="admin-password"))
    stats = app.extensions[STATS]
    assert stats.recorder is not None
    stats.recorder.config = replace(stats.recorder.config, write_timeout=1.0)
    return app, TwilioClient(app.test_client())


@pytest.mark.postgres
def test_a_refused_database_drops_statistics_not_calls(settings: Settings, own_postgres: Postgres, valid_twiml: object) -> None:
    app, client = app_on(settings, own_postgres)
    recorder = app.extensions[STATS].recorder
    calls(client, valid_twiml, 3)
    assert recorder.flush()  # written while the server runs
    own_postgres.stop()
    before = dropped(client)
    assert calls(client, valid_twiml, 20) < NO_WAIT
    assert not recorder.flush()
    assert dropped(client) >= before + 60  # 20 calls of 3 turns


@pytest.mark.postgres
def test_a_hanging_database_drops_statistics_not_calls(settings: Settings, own_postgres: Postgres, valid_twiml: object) -> None:
    app, client = app_on(settings, own_postgres)
    recorder = app.extensions[STATS].recorder
    calls(client, valid_twiml, 3)
    assert recorder.flush()
    own_postgres.signal_all(signal.SIGSTOP)
    try:
        before = dropped(client)
        assert calls(client, valid_twiml, 10) < NO_WAIT
        assert not recorder.flush()  # gave up after write_timeout; the write still hangs in its thread
        assert calls(client, valid_twiml, 10) < NO_WAIT  # while it hangs, as fast as ever
        assert not recorder.flush()  # dropped at once: the previous write has not returned
        assert dropped(client) >= before + 60
    finally:
        own_postgres.signal_all(signal.SIGCONT)
    deadline = time.monotonic() + 15
    calls(client, valid_twiml, 1)
    while not recorder.flush():  # the hung write returns (or times out), then writing resumes
        assert time.monotonic() < deadline, "statistics did not resume after the database did"
        time.sleep(0.2)


def test_a_database_that_keeps_failing_leaves_no_engine_behind(tmp_path: Path) -> None:
    """Each failed write closes its engine and forgets it: an outage of hours cannot grow a worker's memory."""
    import gc

    from sqlalchemy import Engine

    from ivr.stats.recorder import Recorder, RecorderConfig

    url = f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}"

    def engines() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, Engine) and str(o.url) == url)

    dropped: list[str] = []
    recorder = Recorder(RecorderConfig(url), lambda count, reason: dropped.append(reason))
    for _ in range(5):
        assert not recorder.flush()
    assert len(dropped) == 5 and "never migrated" in dropped[0]
    assert engines() == 0
    recorder.close()
