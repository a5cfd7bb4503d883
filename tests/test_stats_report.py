"""Small counts: "<5", rounding to 5, and totals that give nothing away; the CLI; the alert lines."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from ivr.app import create_app
from ivr.cli import main
from ivr.settings import Settings
from ivr.stats import report
from ivr.stats.metrics import Alerts
from ivr.stats.web import STATS
from support import TwilioClient


def test_counts_are_shown_as_0_under_5_or_rounded_to_5() -> None:
    assert [report.shown(n) for n in (0, 1, 2, 4, 5, 7, 8, 12, 13, 102, 103)] == [
        "0", "<5", "<5", "<5", "5", "5", "10", "10", "15", "100", "105",
    ]  # fmt: skip


def alternatives(count: int) -> list[int]:
    """Every true count that shows as ``count`` does."""
    return [n for n in range(0, count + 5) if report.shown(n) == report.shown(count)]


@pytest.mark.slow
@given(st.lists(st.integers(0, 60), min_size=1, max_size=8), st.data())
def test_nothing_shown_changes_when_a_hidden_count_does(counts: list[int], data: st.DataObject) -> None:
    """Cells, total and rates are the same for every table whose cells show the same: so no hidden count
    (nor any rounded one) can be worked out from what is shown, by subtraction or otherwise."""
    table = report.Table("t", tuple((f"row{i}", n) for i, n in enumerate(counts)))
    other = tuple((label, data.draw(st.sampled_from(alternatives(n)))) for label, n in table.rows)
    twin = report.Table("t", other)
    assert twin.cells() == table.cells()
    assert twin.total() == table.total()
    whole = sum(counts)
    for (_, n), (_, m) in zip(table.rows, other, strict=True):
        if report.shown(whole) == report.shown(sum(c for _, c in other)):
            assert report.rate(n, whole) == report.rate(m, sum(c for _, c in other))
    assert "<5" not in table.total().split(" + ")[0]


def test_a_total_adds_the_shown_figures_and_counts_the_hidden_ones() -> None:
    table = report.Table("Language", (("de", 3), ("en", 12), ("fr", 1), ("nl", 41)))
    assert table.cells() == [("de", "<5"), ("en", "10"), ("fr", "<5"), ("nl", "40")]
    assert table.total() == "50 + 2×<5"  # not 57: 57 - 10 - 40 would give de + fr = 7
    assert report.rate(3, 57) == "–"  # a hidden part has no rate
    assert report.rate(12, 57) == "18%"  # 10 of 55, the figures shown


def test_percentiles_need_ten_calls() -> None:
    assert report.percentile({30: 9}, 0.5) is None
    assert report.percentile({20: 5, 30: 4, 90: 1}, 0.5) == 20
    assert report.percentile({20: 5, 30: 4, 90: 1}, 0.9) == 30


# --- ivr stats ----------------------------------------------------------------------------------------


def test_ivr_stats_refuses_a_database_never_migrated_and_says_how(tmp_path: Path) -> None:
    env = {"IVR_STATS_DB": str(tmp_path / "s.sqlite3")}
    result = CliRunner().invoke(main, ["stats"], env=env)
    assert result.exit_code == 1
    assert "was never migrated: run `ivr stats migrate`" in result.output
    assert "migrated from nothing to revision" in CliRunner().invoke(main, ["stats", "migrate"], env=env).output
    assert CliRunner().invoke(main, ["stats", "--days", "3"], env=env).exit_code == 0


def test_ivr_stats_reports_calls_made_through_the_webhook(settings: Settings, tmp_path: Path) -> None:
    env = {"IVR_STATS_DB": str(tmp_path / "s.sqlite3"), "IVR_STATS_RETENTION_DAYS": "30"}
    assert CliRunner().invoke(main, ["stats", "migrate"], env=env).exit_code == 0
    app = create_app(replace(settings, database_url=f"sqlite:///{env['IVR_STATS_DB']}"))
    client = TwilioClient(app.test_client())
    for n in range(7):
        sid = f"CA{n:032x}"
        answer = client.post("/voice", {"CallSid": sid})
        if n < 6:  # the last one hangs up during the welcome
            answer = client.follow(answer.gather_action(), "2", CallSid=sid)
            client.follow(answer.gather_action(), "0", CallSid=sid)
    assert app.extensions[STATS].recorder.flush()
    text = CliRunner().invoke(main, ["stats", "--days", "1"], env=env).output
    assert "Reached the line: 5 of 5 calls (100%)" in text  # 6 of 7, shown rounded
    assert "5 of them still in progress" in text
    assert "  fr       5" in text
    assert "  welcome      <5" in text  # the one who hung up during the welcome
    csv = CliRunner().invoke(main, ["stats", "--days", "1", "--csv"], env=env).output
    assert "Language,fr,5" in csv and "Where callers hung up before reaching a line (last node),welcome,<5" in csv
    pruned = CliRunner().invoke(main, ["stats", "prune"], env=env)
    assert pruned.exit_code == 0 and "older than 30 days" in pruned.output
    bad = CliRunner().invoke(main, ["stats"], env={**env, "IVR_STATS_RETENTION_DAYS": "a year"})
    assert bad.exit_code == 2 and "IVR_STATS_RETENTION_DAYS" in bad.output


# --- the alert conditions as warning lines ----------------------------------------------------------


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_alert_conditions_are_warning_lines_once_per_quiet_period(json_log: io.StringIO) -> None:
    now = [0.0]
    alerts = Alerts(clock=lambda: now[0])
    for failed in (False, True, False):
        alerts.transfer(failed)
    assert lines(json_log) == []  # 3 attempts: too few to judge
    alerts.transfer(True)  # 2 of 4 failed
    alerts.transfer(True)
    for _ in range(25):
        alerts.forbidden("start")
    alerts.dropped(12, "database error: OperationalError")
    events = [(line["level"], line["event"]) for line in lines(json_log)]
    assert events == [
        ("warning", "alert: transfers are failing: 2 of the last 4 attempts in 15 minutes"),
        ("warning", "alert: a burst of requests refused for their signature"),
        ("warning", "alert: statistics dropped; calls are not affected"),
    ]
    now[0] += 301
    alerts.dropped(1, "x")
    assert len(lines(json_log)) == 4


ROTATED = "alert: the fallback URL is called without a valid signature while calls are refused for theirs"


def test_unsigned_fallback_hits_page_only_with_refused_signatures_on_a_calls_webhooks(json_log: io.StringIO) -> None:
    now = [0.0]
    alerts = Alerts(clock=lambda: now[0])
    for _ in range(50):
        alerts.fallback(signed=False)  # anyone can send these: their own warning lines are enough
    alerts.fallback(signed=True)  # Twilio's: its own line ("fallback URL called") is the page
    for route in ("status", "whisper"):
        alerts.forbidden(route)  # not a caller's request
    assert lines(json_log) == []
    now[0] += 599
    alerts.forbidden("start")  # within 10 minutes of the last unsigned hit: a rotated token
    assert [(line["level"], line["event"].startswith(ROTATED), line["count"]) for line in lines(json_log)] == [
        ("error", True, 50)
    ]
    now[0] += 301  # another quiet period, but the hits are now older than 10 minutes
    alerts.forbidden("step")
    assert len(lines(json_log)) == 1
    alerts.fallback(signed=False)  # the other order: refused first, then the unsigned hit
    assert len(lines(json_log)) == 2 and lines(json_log)[-1]["level"] == "error"
