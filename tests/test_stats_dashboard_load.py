"""The dashboard never delays a call: a year of statistics, eight dashboards loading it at once, and signed
calls alongside, against the Procfile's own process (two workers, as deployed)."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest

from ivr.app import create_app
from ivr.security import sign
from ivr.settings import Settings
from ivr.stats.report import period
from ivr.stats.store import migrate
from support import CALL, ROOT, free_port, procfile_env, procfile_web

TOKEN = "dashboard-token"
PASSWORD = "dashboard-password-0123"
DASHBOARDS = 8
TWILIO_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A year of statistics (364k turn rows, 94k call rows), made by the benchmark's own script."""
    database = tmp_path_factory.mktemp("year") / "year.sqlite3"
    made = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "year_of_stats.py"), f"sqlite:///{database}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    assert "stats_turns=364000 stats_calls=94000" in made.stdout
    return database


def signed_call(base: str) -> float:
    """Seconds until a signed call's first answer; TWILIO_TIMEOUT when there was none in that time."""
    request = urllib.request.Request(
        base + "/voice", data=urlencode(CALL).encode(), headers={"X-Twilio-Signature": sign(TOKEN, base + "/voice", CALL)}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TWILIO_TIMEOUT) as response:
            assert response.status == 200 and b"<Gather" in response.read()
    except (TimeoutError, urllib.error.URLError):  # no answer in time (URLError: while connecting)
        return TWILIO_TIMEOUT
    return time.monotonic() - started


@pytest.mark.slow
def test_eight_dashboards_of_a_year_never_keep_a_call_waiting(year: Path, tmp_path: Path) -> None:
    env = procfile_env(
        free_port(), TWILIO_AUTH_TOKEN=TOKEN, IVR_ADMIN_PASSWORD=PASSWORD, IVR_STATS_DB=str(year), WEB_CONCURRENCY="2"
    )
    auth = {"Authorization": "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}
    with procfile_web(env, tmp_path / "output.log") as base:
        signed_call(base)
        pages: list[tuple[int, float, bytes]] = []

        def dashboard() -> None:
            started = time.monotonic()
            # Ten years asked: the period is cut to the 400 days the statistics keep.
            request = urllib.request.Request(base + "/admin?days=3660", headers=auth)
            try:
                with urllib.request.urlopen(request, timeout=240) as response:
                    pages.append((response.status, time.monotonic() - started, response.read()))
            except urllib.error.HTTPError as failed:
                pages.append((failed.code, time.monotonic() - started, failed.read()))
            except OSError as failed:  # no answer at all
                pages.append((0, time.monotonic() - started, repr(failed).encode()))

        loads = [threading.Thread(target=dashboard) for _ in range(DASHBOARDS)]
        for load in loads:
            load.start()
        calls: list[float] = []
        while any(load.is_alive() for load in loads):
            calls.append(signed_call(base))
            time.sleep(0.05)
        for load in loads:
            load.join()
    calls.sort()
    p99 = calls[max(0, int(len(calls) * 0.99) - 1)]
    slowest = max(seconds for _, seconds, _ in pages) if pages else 0.0
    print(f"\n{len(calls)} calls during {DASHBOARDS} dashboards of a year (slowest {slowest:.1f} s): p99 {p99:.3f} s")
    assert len(calls) >= 10 and calls[-1] < TWILIO_TIMEOUT, calls[-10:]
    assert [status for status, _, _ in pages] == [200] * DASHBOARDS, [body[-300:] for _, _, body in pages]
    assert all(b"Calls per day" in body for _, _, body in pages)


def test_the_period_asked_is_cut_to_the_days_the_statistics_keep(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    app = create_app(replace(settings, admin_password=PASSWORD, database_url=url, stats_retention_days=30))
    auth = {"Authorization": "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}
    exported = app.test_client().get("/admin/stats.csv?days=3660", headers=auth)
    start, end = period(30)
    assert exported.status_code == 200
    assert f"helpline-stats-{start.isoformat()}-{end.isoformat()}.csv" in exported.headers["Content-Disposition"]
    page = app.test_client().get("/admin?days=3660", headers=auth).get_data(as_text=True)
    assert "days=30" in page and "days=3660" not in page
    assert len(app.test_client().get("/admin/stats.csv?days=7", headers=auth).get_data(as_text=True)) < len(exported.data)
