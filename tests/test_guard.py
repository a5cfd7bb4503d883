"""One guard for /admin, /metrics and /simulator: wrong attempts counted per client and kind of
credential, slowed and refused past a limit, the right password never refused; and log lines that
summarise refusals (wrong passwords, missing Twilio signatures) instead of one per request."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.app import create_app
from ivr.guard import GUARD, Guard, Limits
from ivr.settings import Settings
from ivr.stats.store import migrate
from support import CALL, free_port, procfile_env, procfile_web

PASSWORD = "correct horse battery staple"
TOKEN = "metrics-token-0123"
LIMITS = Limits(failures=3, window=60.0, delay=0.5, summary=0.5)
OTHER = {"REMOTE_ADDR": "192.0.2.7"}


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def guarded_app(settings: Settings, limits: Limits = LIMITS, **changes: Any) -> Flask:
    url = f"sqlite:///{settings.audio_dir.parent / 'guarded.sqlite3'}"
    migrate(url)
    app = create_app(replace(settings, admin_password=PASSWORD, metrics_token=TOKEN, database_url=url, **changes))
    app.extensions[GUARD] = Guard(app.extensions[GUARD].settings, limits)
    return app


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    return guarded_app(settings).test_client()


def lines(log: io.StringIO) -> list[dict[str, Any]]:
    """The lines about refused requests (not the app's start-up lines, nor the alert on a burst of them)."""
    return [
        line
        for line in map(json.loads, log.getvalue().splitlines())
        if ("refused" in line["event"] or "wrong" in line["event"]) and not line["event"].startswith("alert:")
    ]


def test_wrong_passwords_on_any_operator_page_count_against_one_limit(client: FlaskClient) -> None:
    pages = ["/admin", "/metrics", "/simulator"]
    assert [client.get(page, headers=basic("guess")).status_code for page in pages] == [401, 401, 401]
    for page in pages:  # past the limit, wherever the guess goes
        refused = client.get(page, headers=basic("guess"))
        assert refused.status_code == 429 and 55 <= int(refused.headers["Retry-After"]) <= 60
    # Another address is not held back by this one.
    assert client.get("/admin", headers=basic("guess"), environ_base=OTHER).status_code == 401


def test_the_right_password_is_never_refused_only_slowed_like_a_guess(client: FlaskClient) -> None:
    for _ in range(LIMITS.failures + 1):
        client.get("/admin", headers=basic("guess"))
    for page in ("/admin", "/metrics", "/simulator"):
        started = time.monotonic()
        assert client.get(page, headers=basic(PASSWORD)).status_code == 200
        took = time.monotonic() - started
        started = time.monotonic()
        assert client.get(page, headers=basic("guess")).status_code == 429
        # Both wait the delay before they are compared: how fast the answer comes says nothing.
        assert took >= LIMITS.delay and time.monotonic() - started >= LIMITS.delay
    # A client under the limit is not slowed.
    started = time.monotonic()
    assert client.get("/metrics", headers=basic(PASSWORD), environ_base=OTHER).status_code == 200
    assert time.monotonic() - started < LIMITS.delay


def test_the_metrics_token_has_a_bucket_of_its_own(client: FlaskClient) -> None:
    for _ in range(LIMITS.failures + 2):
        client.get("/metrics", headers=basic("guess"))
    started = time.monotonic()
    assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 200
    assert time.monotonic() - started < LIMITS.delay  # guesses at the password do not slow the scraper
    guesses = [client.get("/metrics", headers=bearer(f"guess{i}")).status_code for i in range(LIMITS.failures + 1)]
    assert guesses == [401] * LIMITS.failures + [429]
    assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 200  # still never refused
    assert client.get("/admin", headers=bearer(TOKEN)).status_code == 401  # the token opens /metrics only


def test_asking_for_the_password_is_not_a_guess(client: FlaskClient, json_log: io.StringIO) -> None:
    for _ in range(3 * LIMITS.failures):  # a browser's first request carries no password
        asked = client.get("/admin")
        assert asked.status_code == 401 and "WWW-Authenticate" in asked.headers
    started = time.monotonic()
    assert client.get("/metrics", headers=basic(PASSWORD)).status_code == 200
    assert time.monotonic() - started < LIMITS.delay
    assert client.get("/admin", headers=basic(PASSWORD)).status_code == 200
    assert lines(json_log) == []


@pytest.mark.parametrize("trust_proxy", [True, False])
def test_behind_a_trusted_proxy_the_client_is_the_address_it_forwarded(settings: Settings, trust_proxy: bool) -> None:
    client = guarded_app(settings, trust_proxy=trust_proxy).test_client()

    def guess(forwarded: str) -> int:
        return client.get("/admin", headers={**basic("guess"), "X-Forwarded-For": forwarded}).status_code

    # The client may write anything before the address our proxy appends: it does not escape the limit.
    assert [guess(f"198.51.100.{i}, 203.0.113.9") for i in range(LIMITS.failures + 1)] == [401] * LIMITS.failures + [429]
    # Another address as seen by the proxy is another client, but only when the proxy is trusted.
    assert guess("203.0.113.10") == (401 if trust_proxy else 429)


def test_a_client_gets_its_free_attempts_back_when_its_window_is_over(settings: Settings) -> None:
    app = guarded_app(settings)
    now = [1000.0]
    app.extensions[GUARD].clock = lambda: now[0]
    client = app.test_client()
    assert [client.get("/admin", headers=basic("guess")).status_code for _ in range(4)] == [401, 401, 401, 429]
    now[0] += 45
    assert client.get("/admin", headers=basic("guess")).headers["Retry-After"] == "15"
    now[0] += 15
    assert client.get("/admin", headers=basic("guess")).status_code == 401


def wait_for(log: io.StringIO, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 8
    while len(lines(log)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines(log)


@pytest.mark.slow
def test_guesses_are_logged_as_one_line_then_one_summary_per_window(settings: Settings, json_log: io.StringIO) -> None:
    client = guarded_app(settings, Limits(failures=3, delay=0.0, summary=4.0)).test_client()
    for page in ("/admin", "/metrics", "/simulator") * 30:
        client.get(page, headers=basic("guess"))
    client.get("/metrics", headers=bearer("guess"))
    [first] = lines(json_log)  # at once: the first wrong attempt, without the address or the guess
    assert first["status"] == 401 and first["route"] == "/admin" and "wrong password" in first["event"]
    [_, summary] = wait_for(json_log, 2)  # at the window's end: the counts
    assert (summary["count"], summary["failed"], summary["refused"], summary["clients"]) == (92, 4, 87, 1)
    assert "guess" not in json_log.getvalue() and "127.0.0.1" not in json_log.getvalue()


@pytest.mark.slow
def test_refused_signatures_are_logged_as_one_line_then_one_summary_per_window(settings: Settings, json_log: io.StringIO) -> None:
    app = guarded_app(settings, Limits(summary=4.0))
    client = app.test_client()
    for path in ("/voice", "/voice/status", "/voice/step") * 50:
        assert client.post(path, data=CALL, headers={"X-Twilio-Signature": "forged"}).status_code == 403
    [first] = lines(json_log)  # with why, as before
    assert (first["route"], first["outcome"], first["status"]) == ("start", "forbidden", 403)
    assert "does not match" in first["error"]
    [_, summary] = wait_for(json_log, 2)
    assert (summary["count"], summary["refused"]) == (150, 150)
    assert "forged" not in json_log.getvalue() and CALL["From"] not in json_log.getvalue()


# --- the Procfile's process ---------------------------------------------------------------------------

GUESSES = 2000


def status_of(url: str, headers: dict[str, str], data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


@pytest.mark.slow
def test_thousands_of_guesses_on_admin_leave_the_right_password_working_and_a_short_log(tmp_path: Path) -> None:
    """2,000 wrong passwords on /admin from one address, and 2,000 unsigned status callbacks: the right
    password still opens /admin, and the log holds a handful of lines, not thousands."""
    output = tmp_path / "output.log"
    env = procfile_env(free_port(), TWILIO_AUTH_TOKEN="serving-token", IVR_ADMIN_PASSWORD=PASSWORD, IVR_METRICS_TOKEN=TOKEN)
    migrate(f"sqlite:///{env['IVR_STATS_DB']}")
    with procfile_web(env, output) as base:
        statuses: list[int] = []
        lock = threading.Lock()

        def guesses(n: int) -> None:
            for i in range(n):
                status = status_of(base + "/admin?days=1", basic(f"guess-{i}"))
                with lock:
                    statuses.append(status)

        # Past the limit each guess waits a second before it is compared: the guesser needs many connections.
        with ThreadPoolExecutor(max_workers=200) as pool:
            list(pool.map(guesses, [GUESSES // 200] * 200))
        assert sorted(set(statuses)) == [401, 429] and statuses.count(401) == Limits().failures
        unsigned = [status_of(base + "/voice/status", {"X-Twilio-Signature": "forged"}, b"CallStatus=completed")]
        unsigned += [status_of(base + "/voice/status", {}, b"CallStatus=completed") for _ in range(GUESSES - 1)]
        assert set(unsigned) == {403}
        started = time.monotonic()
        assert status_of(base + "/admin?days=1", basic(PASSWORD)) == 200
        assert time.monotonic() - started < 5
        assert status_of(base + "/metrics", bearer(TOKEN)) == 200
    logged = [json.loads(line) for line in output.read_text().splitlines() if line.startswith("{")]
    refusals = [line for line in logged if line.get("status") in (401, 403, 429) or "refused" in line or "failed" in line]
    # The first of each kind at once; the counts when the worker stopped (its windows were still open).
    assert len(refusals) == 4, refusals
    summaries = {line["event"].split(" ")[0]: line for line in refusals if "count" in line}
    assert summaries["operator"]["count"] == GUESSES + 1 and summaries["operator"]["refused"] == GUESSES - Limits().failures
    assert summaries["requests"]["count"] == GUESSES
    assert PASSWORD not in output.read_text() and "guess-" not in output.read_text()


def test_guesses_from_many_addresses_keep_a_bounded_count(settings: Settings) -> None:
    app = guarded_app(settings, Limits(failures=3, delay=0.0, clients=50))
    client = app.test_client()
    for i in range(500):
        assert (
            client.get("/admin", headers=basic("guess"), environ_base={"REMOTE_ADDR": f"10.0.{i // 250}.{i % 250}"}).status_code
            == 401
        )
    assert len(app.extensions[GUARD].windows) <= 50
    assert client.get("/admin", headers=basic(PASSWORD)).status_code == 200


@pytest.mark.slow
def test_guesses_on_the_simulator_and_the_metrics_token_leave_both_open_to_the_right_ones(tmp_path: Path) -> None:
    """The review's guessing on /simulator and /metrics, against the Procfile's process: a thousand wrong
    passwords on /simulator and a thousand wrong tokens on /metrics at once, from one address. No guess is let
    in, each page refuses past its limit, and the right password and the right token still open them at once."""
    env = procfile_env(free_port(), TWILIO_AUTH_TOKEN="serving-token", IVR_ADMIN_PASSWORD=PASSWORD, IVR_METRICS_TOKEN=TOKEN)
    migrate(f"sqlite:///{env['IVR_STATS_DB']}")
    with procfile_web(env, tmp_path / "output.log") as base:
        statuses: dict[str, list[int]] = {"/simulator": [], "/metrics": []}
        lock = threading.Lock()

        def guesses(page: str) -> None:
            for i in range(GUESSES // 200):
                headers = basic(f"guess-{i}") if page == "/simulator" else bearer(f"guess-{i}")
                status = status_of(base + page, headers)
                with lock:
                    statuses[page].append(status)

        with ThreadPoolExecutor(max_workers=200) as pool:
            list(pool.map(guesses, ["/simulator", "/metrics"] * 100))
        for page, seen in statuses.items():
            assert len(seen) == GUESSES // 2 and 200 not in seen, page
            assert 429 in seen and set(seen) <= {401, 429}, (page, sorted(set(seen)))
        started = time.monotonic()
        assert status_of(base + "/simulator", basic(PASSWORD)) == 200
        assert status_of(base + "/metrics", bearer(TOKEN)) == 200
        assert time.monotonic() - started < 5
