"""``ivr simulate --at`` and /simulator's picker: a call at a chosen Brussels date and time (hours, holidays, announcement).

Through the real CLI, on the fictional targets of tests/data/transfers (24 hours a day, a number
open 18:00-24:00, 25 December 2026 a holiday) and tests/data/holidays (Belgium's national holidays).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect

from ivr.app import create_app
from ivr.cli import main
from ivr.model import masked_address
from ivr.settings import Settings
from support import DATA, serving

NIGHT, NUMBER, DAY = "sip:nacht@pbx.tele-onthaal.example", "+3290000001", "sip:dag@pbx.tele-onthaal.example"


def config_with(tmp_path: Path, helplines: str) -> Path:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    shutil.copy(DATA / helplines / "helplines.yaml", config / "helplines.yaml")
    return config


@pytest.fixture(autouse=True)
def _night_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_SIP_TO_NIGHT_USERNAME", "nacht-user")
    monkeypatch.setenv("IVR_SIP_TO_NIGHT_PASSWORD", "nacht-password")


def simulate_at(tmp_path: Path, helplines: str, at: str, keys: str = "1,0") -> Result:
    config = config_with(tmp_path, helplines)
    args = [
        "simulate",
        "--at",
        at,
        "--keys",
        keys,
        "--dial-status",
        "busy",
        "--config",
        str(config),
        "--flows",
        str(DATA / "flows"),
    ]
    return CliRunner().invoke(main, args)


def rung(result: Result) -> list[str]:
    return [line.split()[1] for line in result.output.splitlines() if line.startswith("  ringing ")]


def test_on_a_holiday_the_target_is_closed_and_the_next_open_one_rings(tmp_path: Path) -> None:
    result = simulate_at(tmp_path, "transfers", "2026-12-25 20:00")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "At Friday 25 December 2026, 20:00 CET (UTC+1), Brussels time."
    assert f"  Tele-Onthaal (a holiday: a date in config): {NIGHT} closed, {NUMBER} closed, {DAY} open" in lines
    assert rung(result) == [DAY]


def test_at_an_open_hour_the_target_is_dialled(tmp_path: Path) -> None:
    result = simulate_at(tmp_path, "transfers", "2026-12-24 20:00")
    assert result.exit_code == 0, result.output
    assert f"  Tele-Onthaal: {NIGHT} closed, {NUMBER} open, {DAY} open" in result.output.splitlines()
    assert rung(result) == [NUMBER, DAY]  # both busy, in order
    before = simulate_at(tmp_path / "before", "transfers", "2026-12-24 17:59")
    assert rung(before) == [DAY]


def test_easter_monday_from_the_package_and_the_holiday_hours(tmp_path: Path) -> None:
    evening = simulate_at(tmp_path, "holidays", "2026-04-06 18:00")
    assert evening.exit_code == 0, evening.output
    assert "  Tele-Onthaal (a holiday: Easter Monday): +3290000001 closed, +3290000002 closed" in evening.output
    assert rung(evening) == []
    assert "Bel Tele-Onthaal: 1 0 6." in evening.output  # nothing open: the number is said
    noon = simulate_at(tmp_path / "noon", "holidays", "2026-04-06 12:00")
    assert "  Tele-Onthaal (a holiday: Easter Monday): +3290000001 closed, +3290000002 open" in noon.output
    assert rung(noon) == ["+3290000002"]
    french = simulate_at(tmp_path / "french", "holidays", "2026-07-11 12:00", keys="2,0")
    assert "  Télé-Accueil: +3290000003 open" in french.output  # 11 July is the Flemish line's day only
    assert "  Tele-Onthaal (a holiday: Day of the Flemish Community): +3290000001 closed, +3290000002 open" in french.output
    assert rung(french) == ["+3290000003"]


def test_a_time_the_clocks_skip_is_refused(tmp_path: Path) -> None:
    result = simulate_at(tmp_path, "transfers", "2026-03-29 02:30")
    assert result.exit_code == 2
    assert "error: --at: 2026-03-29 02:30 does not exist in Brussels: the clocks go forward an hour that night" in result.output
    assert "e.g. 01:30 CET or 03:30 CEST" in result.output
    assert "Calling in-process" not in result.output


@pytest.mark.parametrize(
    "text", ["25/12/2026 20:00", "2026-12-25", "2026-12-25 24:00", "2026-12-25T20:00+01:00", "0001-01-01 00:10"]
)
def test_a_time_that_cannot_be_read_is_refused(tmp_path: Path, text: str) -> None:
    result = simulate_at(tmp_path, "transfers", text)
    assert result.exit_code == 2
    assert result.output.startswith("error: --at: ")
    assert "Calling in-process" not in result.output


def test_an_hour_that_happens_twice_is_taken_the_first_time_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The announcement ends at 02:45 summer time: on at the first 02:30 (CEST), over at the second (CET).
    announcement = {
        "text": {"nl": "Vannacht is het erg druk."},
        "start": "2026-10-24T20:00+02:00",
        "end": "2026-10-25T02:45+02:00",
    }
    monkeypatch.setenv("IVR_ANNOUNCEMENT", json.dumps(announcement))
    result = simulate_at(tmp_path, "transfers", "2026-10-25 02:30")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "At Sunday 25 October 2026, 02:30 CEST (UTC+2), Brussels time."
    assert lines[1] == (
        "Note: 2026-10-25 02:30 happens twice in Brussels (the clocks go back an hour that night): taking the first,"
        " Sunday 25 October 2026, 02:30 CEST (UTC+2); the second would be Sunday 25 October 2026, 02:30 CET (UTC+1)."
    )
    assert "Vannacht is het erg druk." in result.output
    assert rung(result)[0] == NIGHT  # Sunday 01:00-04:00 on the night PBX
    later = simulate_at(tmp_path / "later", "transfers", "2026-10-25 03:30")
    assert "Vannacht is het erg druk." not in later.output


# --- /simulator's picker ----------------------------------------------------------------------------


@pytest.fixture
def simulator(settings: Settings, tmp_path: Path) -> Flask:
    credentials = {"TO_NIGHT": ("nacht-user", "nacht-password")}
    config = config_with(tmp_path, "transfers")
    return create_app(replace(settings, config_dir=config, flows_dir=DATA / "flows", dev_mode=True, sip_credentials=credentials))


def api(client: FlaskClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = client.post(f"/simulator/api/{path}", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def dialled_in_browser(client: FlaskClient, at: str) -> tuple[dict[str, Any], str]:
    """The page's requests for Dutch, then 0, each carrying the chosen moment; the first answer and the number rung."""
    first = answer = api(client, "call", {"at": at})
    for key in ("1", "0"):
        action = next(verb["action"] for verb in answer["verbs"] if verb["verb"] == "gather")
        answer = api(client, "step", {"call": answer["call"], "url": action, "digits": key, "at": at})
    return first, next(verb["number"] for verb in answer["verbs"] if verb["verb"] == "dial")


def test_the_simulator_calls_at_the_chosen_moment(simulator: Flask) -> None:
    client = simulator.test_client()
    first, number = dialled_in_browser(client, "2026-12-25T20:00")  # as the page's datetime-local field sends it
    # Operator pages show a target masked: its last two characters
    assert (first["at"], first["note"], number) == ("Friday 25 December 2026, 20:00 CET (UTC+1)", "", masked_address(DAY))
    assert dialled_in_browser(client, "2026-12-24T20:00")[1] == masked_address(NUMBER)
    # Empty: now. The moment was the simulator's requests' only: the service's own clock is the real one again.
    assert api(client, "call", {"at": ""})["at"] is None
    assert abs((simulator.extensions["ivr"].engine.clock() - datetime.now(UTC)).total_seconds()) < 60


def test_the_simulator_refuses_a_time_the_clocks_skip_and_notes_one_that_happens_twice(simulator: Flask) -> None:
    client = simulator.test_client()
    refused = api(client, "call", {"at": "2026-03-29T02:30"}, status=400)
    assert refused["error"].startswith("'at': 2026-03-29 02:30 does not exist in Brussels")
    assert api(client, "call", {"at": 20261225}, status=400)["error"].startswith("'at' must be")
    assert api(client, "call", {"at": "0001-01-01T00:10"}, status=400)["error"] == "'at': 1 is not a year from 2000 to 2099"
    twice = api(client, "call", {"at": "2026-10-25T02:30"})
    assert twice["at"] == "Sunday 25 October 2026, 02:30 CEST (UTC+2)"
    assert "happens twice in Brussels" in twice["note"] and "taking the first" in twice["note"]


def test_the_page_has_the_picker(simulator: Flask) -> None:
    html = simulator.test_client().get("/simulator").get_data(as_text=True)
    assert '<input id="at" type="datetime-local">' in html and "Call at (Brussels time; empty: now)" in html


def test_the_picker_in_the_browser(browser: Browser, simulator: Flask) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with serving(simulator) as base:
        page.goto(f"{base}/simulator")
        page.get_by_label("Call at (Brussels time; empty: now)").fill("2026-12-25T20:00")
        page.get_by_role("button", name="Call").click()
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text("At Friday 25 December 2026, 20:00 CET (UTC+1), Brussels time.")
        page.get_by_role("button", name="key 1").click()
        expect(transcript).to_contain_text("You pressed 1")
        page.get_by_role("button", name="key 0").click()
        expect(page.locator("#ringing-number")).to_have_text(masked_address(DAY))  # the holiday closed +3290000001
    context.close()
    assert not errors, errors
