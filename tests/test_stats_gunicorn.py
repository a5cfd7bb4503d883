"""The Procfile's server with two workers: /metrics and the statistics count every worker's requests."""

from __future__ import annotations

import base64
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.security import sign
from ivr.stats.store import migrate
from support import CALL, free_port, procfile_env, procfile_web

pytestmark = pytest.mark.serving

CALLS = 60


def test_two_workers_count_as_one_service(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    metrics_folder = tmp_path / "metrics"
    env = procfile_env(
        free_port(),
        TWILIO_AUTH_TOKEN="procfile-token",
        IVR_ADMIN_PASSWORD="admin-password",
        DATABASE_URL=url,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_folder),
        WEB_CONCURRENCY="2",
    )
    with procfile_web(env, tmp_path / "output.log") as base:

        def call(n: int) -> int:
            form = {**CALL, "CallSid": f"CA{n:032x}"}
            request = urllib.request.Request(
                base + "/voice",
                data=urlencode(form).encode(),
                method="POST",
                headers={"X-Twilio-Signature": sign("procfile-token", base + "/voice", form)},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                return response.status

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(call, range(CALLS))) == {200}
        # Both workers answered (each writes its own file of counts; the master, which loads the app
        # before it forks them, may have one too, with no requests in it) ...
        assert len({re.sub(r"\D", "", f.name) for f in metrics_folder.glob("counter_*.db")}) >= 2
        # ... and whichever answers /metrics adds up both.
        auth = {"Authorization": "Basic " + base64.b64encode(b"ops:admin-password").decode()}
        for _ in range(4):
            with urllib.request.urlopen(urllib.request.Request(base + "/metrics", headers=auth), timeout=10) as response:
                body = response.read().decode()
            assert f'ivr_turns_total{{outcome="start",route="start"}} {CALLS}.0' in body
        deadline_report = ""
        for _ in range(50):  # each worker writes its batch within a second
            deadline_report = CliRunner().invoke(main, ["stats", "--days", "1"], env={"DATABASE_URL": url}).output
            if f"{CALLS} of them still in progress" in deadline_report:
                break
            import time

            time.sleep(0.2)
        assert f"{CALLS} of them still in progress" in deadline_report, deadline_report


ROTATED = "alert: the fallback URL is called without a valid signature while calls are refused for theirs"


def test_unsigned_fallback_hits_are_counted_apart_and_page_only_with_refused_calls(tmp_path: Path) -> None:
    """Anyone can call the fallback URL (it must answer them): 25 such hits page nobody, and the dashboard
    does not count them as Twilio's; with a call refused for its signature, they are a rotated token: a page."""
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    env = procfile_env(
        free_port(),
        TWILIO_AUTH_TOKEN="procfile-token",
        IVR_ADMIN_PASSWORD="admin-password",
        DATABASE_URL=url,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    output = tmp_path / "output.log"
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:admin-password").decode()}

    def get(path: str, headers: dict[str, str] | None = None) -> str:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers or {}), timeout=10) as response:
            return str(response.read().decode())

    def post(path: str, signature: str) -> int:
        form = urlencode(CALL).encode()
        request = urllib.request.Request(base + path, data=form, method="POST", headers={"X-Twilio-Signature": signature})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)

    with procfile_web(env, output) as base:
        for _ in range(25):
            assert "1 1 2" in get("/voice/fallback")
        metrics = get("/metrics", auth)
        assert 'ivr_fallback_hits_total{signed="false"} 25.0' in metrics and 'signed="true"' not in metrics
        csv = ""
        for _ in range(50):  # the worker writes its batch within a second
            csv = get("/admin/stats.csv?days=1", auth)
            if "fallback URL (unsigned),25" in csv:
                break
            time.sleep(0.2)
        assert "fallback URL (unsigned),25" in csv and "fallback URL,0" in csv, csv
        log = output.read_text(encoding="utf-8")
        assert log.count('"outcome":"fallback_unsigned"') == 25 and '"level":"error"' not in log
        assert post("/voice", "forged-by-a-rotated-token=") == 403
        log = output.read_text(encoding="utf-8")
        (alert,) = [line for line in log.splitlines() if ROTATED in line]
        assert '"level":"error"' in alert
        form = {**CALL}
        assert post("/voice/fallback", sign("procfile-token", base + "/voice/fallback", form)) == 200
        assert 'ivr_fallback_hits_total{signed="true"} 1.0' in get("/metrics", auth)


def test_calls_placed_to_the_end_leave_neither_their_key_nor_their_log_reference_in_the_sqlite_files(tmp_path: Path) -> None:
    """Through the Procfile's own process (two workers): while calls last, the SQLite files hold each call's
    statistics key and never the reference the logs give it; once they are over and summed up (30 s after
    Twilio's status callback, at the next sum-up), neither is anywhere in the files, write-ahead log included."""
    import json

    from ivr.stats.events import stats_call_key
    from support import TwiML

    database = tmp_path / "stats.sqlite3"
    migrate(f"sqlite:///{database}")
    env = procfile_env(
        free_port(),
        TWILIO_AUTH_TOKEN="procfile-token",
        IVR_LOG_KEY="procfile-log-key",
        DATABASE_URL=f"sqlite:///{database}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        WEB_CONCURRENCY="2",
    )
    output = tmp_path / "output.log"
    sids = [f"CA{n:032x}" for n in range(101, 107)]

    def stored() -> bytes:
        return b"".join(path.read_bytes() for path in sorted(tmp_path.glob("stats.sqlite3*")))

    def post(path: str, fields: dict[str, str]) -> TwiML:
        form = {**CALL, **fields}
        request = urllib.request.Request(
            base + path,
            data=urlencode(form).encode(),
            method="POST",
            headers={"X-Twilio-Signature": sign("procfile-token", base + path, form)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return TwiML(response.status, response.headers.get("Content-Type", ""), response.read().decode())

    with procfile_web(env, output) as base:
        started = time.time()
        for sid in sids:
            welcome = post("/voice", {"CallSid": sid})
            action = urlsplit(welcome.gather_action())
            assert post(f"{action.path}?{action.query}", {"CallSid": sid, "Digits": "1"}).status == 200
        keys = {stats_call_key(b"procfile-log-key", sid, started) for sid in sids}
        assert len(keys) == len(sids)
        deadline = time.monotonic() + 20
        while not all(key.encode() in stored() for key in keys):  # each worker writes its batch within a second
            assert time.monotonic() < deadline, "the calls in progress were not written"
            time.sleep(0.2)
        logged = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
        references = {line["call"] for line in logged if line.get("route") in ("start", "step")}
        assert len(references) == len(sids) and references.isdisjoint(keys)
        assert not any(reference.encode() in stored() for reference in references)
        for sid in sids:
            assert post("/voice/status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "40"}).status == 204
        deadline = time.monotonic() + 90  # 30 s of grace after the status callback, then the next sum-up
        while any(key.encode() in stored() for key in keys):
            assert time.monotonic() < deadline, "a summed-up call's key is still in the SQLite files"
            time.sleep(1)
        held = stored()
        assert not any(reference.encode() in held for reference in references)
        assert not any(sid.encode() in held for sid in sids)
        report = CliRunner().invoke(main, ["stats", "--days", "1"], env={"DATABASE_URL": f"sqlite:///{database}"}).output
        assert "0 of them still in progress" in report, report
