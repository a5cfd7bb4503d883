"""Under gevent (gunicorn's gevent workers patch the whole process), a hanging database write runs in a
real OS thread: other greenlets, the requests of every caller, go on meanwhile."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ivr.stats.store import migrate
from stats_db import Postgres
from support import ROOT

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import json, sys, time
    sys.path.insert(0, "tests")
    from dataclasses import replace
    import gevent
    from support import PUBLIC, ROOT, SHIPPED_CONFIG, SHIPPED_FLOWS, TOKEN, TwilioClient
    from ivr.app import create_app
    from ivr.settings import Settings
    from ivr.stats.web import STATS

    settings = Settings(auth_token=TOKEN, public_url=PUBLIC, config_dir=SHIPPED_CONFIG, flows_dir=SHIPPED_FLOWS,
                        audio_dir=ROOT / "no-audio-here", log_key=b"k", database_url=sys.argv[1])
    app = create_app(settings)
    recorder = app.extensions[STATS].recorder
    recorder.config = replace(recorder.config, write_timeout=1.5, interval=3600)
    client = TwilioClient(app.test_client())
    gaps, answers = [], []

    def ticker():
        last = time.perf_counter()
        for _ in range(150):
            gevent.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    def caller():
        for n in range(20):
            answers.append(client.post("/voice", {"CallSid": f"CA{n:032x}"}).status)
            gevent.sleep(0.05)

    client.post("/voice")
    tick, calls = gevent.spawn(ticker), gevent.spawn(caller)
    written = recorder.flush()  # connects to the paused server: hangs until write_timeout
    gevent.joinall([tick, calls])
    print(json.dumps({"written": written, "longest_gap": max(gaps), "answers": answers,
                      "gevent_pool": recorder._offloop._gevent}))
    """
)


def run(url: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    assert result["gevent_pool"] is True
    assert result["written"] is False  # the write timed out; its batch was dropped
    assert result["answers"] == [200] * 20
    return result


@pytest.mark.slow
def test_a_locked_sqlite_database_never_blocks_other_greenlets(tmp_path: Path) -> None:
    """SQLite waits for a lock inside its C library, which no monkey-patching reaches."""
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    holder = sqlite3.connect(tmp_path / "stats.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database for longer than the write may take
    try:
        result = run(url)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The event loop kept turning while the write waited (a blocking call would stop it for 1.5 s).
    assert isinstance(result["longest_gap"], float) and result["longest_gap"] < 0.5, result


@pytest.mark.postgres
def test_a_paused_postgresql_never_blocks_other_greenlets(own_postgres: Postgres) -> None:
    url = own_postgres.new_database()
    migrate(url)
    own_postgres.signal_all(signal.SIGSTOP)
    try:
        result = run(url)
    finally:
        own_postgres.signal_all(signal.SIGCONT)
    assert isinstance(result["longest_gap"], float) and result["longest_gap"] < 0.5, result
