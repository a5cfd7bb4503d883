"""Small counts: "<5", keyed rounding to 5, and no hidden count worked out from a response; the CLI; the alert lines."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ivr.app import create_app
from ivr.cli import main
from ivr.settings import Settings
from ivr.stats import report
from ivr.stats import view as views
from ivr.stats.metrics import Alerts
from ivr.stats.report import midnight
from ivr.stats.shown import Published, Shown, rate, rounding_key, show
from ivr.stats.web import STATS
from support import TwilioClient

KEY = rounding_key(b"test key")


def test_counts_are_0_or_under_5_or_rounded_to_a_multiple_of_5_the_same_way_each_time() -> None:
    assert [show(n, KEY, "c").text for n in (0, 1, 4, 5, 10, 100)] == ["0", "<5", "<5", "5", "10", "100"]
    for n in range(5, 300):
        value = show(n, KEY, f"cell{n}").value
        assert value is not None and value % 5 == 0 and abs(value - n) < 5
        assert all(show(n, KEY, f"cell{n}") == show(n, KEY, f"cell{n}") for _ in range(3))  # repeated queries agree
    # Up or down is drawn per cell and key, in proportion: 7 is shown as 5 more often than as 10, never always.
    shown_7 = Counter(show(7, KEY, f"cell{i}").value for i in range(2000))
    assert set(shown_7) == {5, 10} and 1000 < shown_7[5] < 1400
    other = rounding_key(b"another installation")
    assert [show(13, KEY, f"c{i}").value for i in range(40)] != [show(13, other, f"c{i}").value for i in range(40)]


def test_a_total_adds_the_shown_figures_and_counts_the_ones_not_shown() -> None:
    table = Published(
        "Language",
        [("de", show(3, KEY, "de")), ("en", Shown(10)), ("fr", show(1, KEY, "fr")), ("nl", Shown(40))],
        ("calls/language",),
    )
    assert table.total() == "50 + those not shown"  # never the true 54: 54 - 10 - 40 would give de + fr = 4
    assert rate(show(3, KEY, "de"), Shown(55)) == "–"  # a hidden part has no rate
    assert rate(Shown(10), Shown(55)) == "18%"  # of the figures shown


# --- the small-count property, over every table of generated periods -------------------------------------


def reader_bounds(cell: Shown) -> tuple[int, int | None]:
    """What anyone reading the page can tell of a true count, from its text and flag (README: Small counts)."""
    if cell.text == "<5":
        return 1, 4
    if cell.why == "hidden":
        return 5, None  # only figures of 5 or more are hidden beside a "<5"
    if cell.value is None:
        return 0, None
    if cell.value == 0:
        return 0, 0
    return max(5, cell.value - 4), cell.value + 4


def possible_values(view: views.View, population: str, title: str, row: int) -> list[int]:
    """Every true count from 1 to 4 that the cell at (title, row) can have, given every partition of
    ``population`` in the same response, each partition's true counts adding up to the same total."""
    partitions: dict[str, list[tuple[str, int, Shown]]] = {}
    for table in view.tables:
        for part in table.parts:
            if part.split("/")[0] == population:
                partitions.setdefault(part, []).extend((table.title, r, c) for r, (_, c) in enumerate(table.rows))
        for r, parts in enumerate(table.row_parts):  # a line's row and its targets' rows: the line's attempts
            for part in parts:
                if part.split("/")[0] == population:
                    partitions.setdefault(part, []).append((table.title, r, table.rows[r][1]))
    found = []
    for value in range(1, 5):
        low, high = 0, 10**9
        for cells in partitions.values():
            lo = hi = 0
            for t, r, c in cells:
                a, b = (value, value) if (t, r) == (title, row) else reader_bounds(c)
                lo, hi = lo + a, hi + (10**9 if b is None else b)
            low, high = max(low, lo), min(high, hi)
        if low <= high:
            found.append(value)
    return found


DAY = date(2026, 12, 1)
HOURS = st.integers(0, 24 * 7 - 1).map(lambda h: midnight(DAY) + h * 3600)
CALL = st.tuples(
    HOURS,
    st.sampled_from(["helpline", "other"]),
    st.sampled_from(["nl", "fr", "de", "en", "-"]),
    st.booleans(),
    st.sampled_from(["welcome", "first_menu", "kinds_of_help", "breathing"]),
    st.sampled_from(["<30s", "30s-1m", "1-2m", "2-5m", "unknown"]),
    st.integers(1, 50),
)


# A transfer attempt: the caller's language (its line), the target's place in the line's list, answered or not.
ATTEMPT = st.tuples(st.sampled_from(["nl", "fr"]), st.integers(0, 3), st.booleans())
LINE_OF = {"nl": "tele_onthaal", "fr": "tele_accueil"}


@pytest.fixture(scope="module")
def transfer_names(tmp_path_factory: pytest.TempPathFactory) -> views.Names:
    """Names from the config with transfer targets: a line's rows and its targets' rows are told apart by line."""
    from ivr.loader import load_catalog
    from support.config import DATA
    from support.transfers import transfers_config

    return views.Names(load_catalog(transfers_config(tmp_path_factory.mktemp("targets")), DATA / "flows"))


def period_of(
    calls: list[tuple[int, str, str, bool, str, str, int]],
    extra: dict[str, int],
    attempts: list[tuple[str, int, bool]] = [],  # noqa: B006 - never changed
) -> report.Report:
    result = report.Report(DAY, DAY + timedelta(days=6))
    for lang, target, answered in attempts:
        result.transfer_turns[("mini", "line", lang, "transfer_done" if answered else "transfer_failed")] += 1
        result.per_target[(LINE_OF[lang], target, answered)] += 1
    for hour, flow, lang, reached, node, duration, seconds in calls:
        report._add_call(result, hour, flow, lang, reached, node, duration, 1)
        if reached:
            result.to_line[seconds] += 1
    for name, n in extra.items():
        if name in ("fallback", "rescue"):
            result.outcomes[name] += n
        else:
            result.transfers[name] += n
    return result


@pytest.mark.slow
@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.lists(CALL, max_size=60),
    st.dictionaries(st.sampled_from(["started", "connected", "busy", "fallback", "rescue"]), st.integers(0, 12)),
    st.binary(min_size=1, max_size=8),
    st.lists(ATTEMPT, max_size=30),
)
# Four targets of one line answered once each, "<5" beside the line's "<5"; the other line's attempts keep the totals
# of all lines from telling it.
@example([], {}, b"k", [("nl", target, True) for target in range(4)] + [("fr", 0, True)] * 12)
def test_no_count_under_5_can_be_worked_out_from_the_response(
    transfer_names: views.Names,
    calls: list[tuple[int, str, str, bool, str, str, int]],
    extra: dict[str, int],
    secret: bytes,
    attempts: list[tuple[str, int, bool]],
) -> None:
    key = rounding_key(secret)
    result = period_of(calls, extra, attempts)
    view = views.build(result, key, transfer_names, now=midnight(DAY) + 8 * 86400)
    for table in view.tables:
        for population in {part.split("/")[0] for part in (*table.parts, *(p for row in table.row_parts for p in row))}:
            for r, (label, cell) in enumerate(table.rows):
                if cell.text == "<5":
                    assert len(possible_values(view, population, table.title, r)) > 1, (table.title, label)
                assert cell.value is None or cell.value == 0 or cell.value >= 5
    again = views.build(period_of(calls, extra, attempts), key, transfer_names, now=midnight(DAY) + 8 * 86400)
    assert views.csv_text(again) == views.csv_text(view)  # the same query, the same figures


def test_four_days_of_one_call_beside_one_language_give_nothing_away() -> None:
    """Read together, days shown as "<5" and one language shown as "<5" would say exactly how many calls each had."""
    calls = [(midnight(DAY) + day * 86400 + 20 * 3600, "helpline", "nl", True, "x", "<30s", 20) for day in range(4)]
    view = views.build(period_of(calls, {}), KEY, now=midnight(DAY) + 8 * 86400)
    days = view.table(views.PER_DAY)
    assert [c.text for _, c in days.rows] == ["<5"] * 4 + ["0"] * 3
    for r in range(4):
        assert possible_values(view, "calls", views.PER_DAY, r) != [1]
    assert view.table(views.LANGUAGE).withheld or view.table(views.REACHED_LANGUAGE).withheld


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


def shows(figure: int, count: int) -> bool:
    """Whether ``figure`` is how a count of ``count`` (5 or more) may be shown: a multiple of 5 within 4 of it."""
    return figure % 5 == 0 and abs(figure - count) < 5


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
    reached, calls = map(int, re.findall(r"Reached the line: (\d+) of (\d+) calls", text)[0])
    assert shows(reached, 6) and shows(calls, 7)  # rounded to 5 or 10, never the true 6 of 7
    assert shows(int(re.findall(r"(\d+) of them still in progress", text)[0]), 7)
    assert shows(int(re.findall(r"^  fr +(\d+)$", text, re.M)[0]), 6)
    assert re.search(r"^  welcome +<5$", text, re.M)  # the one who hung up during the welcome
    csv = CliRunner().invoke(main, ["stats", "--days", "1", "--csv"], env=env).output
    assert shows(int(re.findall(r"^Language,fr,(\d+),$", csv, re.M)[0]), 6)
    assert "Where callers hung up before reaching a line,welcome,,<5" in csv.splitlines()
    # With the service's environment, the terminal names places and languages in words, as /admin does.
    worded = CliRunner().invoke(main, ["stats", "--days", "1"], env={**env, "IVR_DEV_MODE": "1"}).output
    assert re.search(r"^  the welcome, choosing a language \(welcome\) +<5$", worded, re.M), worded
    assert re.search(r"^  Français \(fr\) +\d+   reached the line: ", worded, re.M), worded
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


def test_a_lines_targets_shown_as_under_5_never_add_up_to_its_own_row(tmp_path: Path) -> None:
    """Tele-Onthaal's four targets each answered once, "<5" each, beside the line's row "<5": read together they
    would say 1 each. Another line's large counts keep the tables' totals from telling it: the line's own rows must."""
    from ivr.loader import load_catalog
    from support.config import DATA
    from support.transfers import transfers_config

    config = transfers_config(tmp_path)
    lines = config / "helplines.yaml"
    day_pbx = '      - "sip:dag@pbx.tele-onthaal.example"\n'
    lines.write_text(lines.read_text().replace(day_pbx, day_pbx + '      - "+3290000009"\n'))
    catalog = load_catalog(config, DATA / "flows")
    result = report.Report(DAY, DAY + timedelta(days=6))
    result.transfer_turns[("mini", "line", "nl", "transfer_done")] = 4
    result.transfer_turns[("mini", "line", "fr", "transfer_done")] = 40
    for target in range(4):
        result.per_target[("tele_onthaal", target, True)] = 1
    result.per_target[("tele_accueil", 0, True)] = result.per_target[("tele_accueil", 1, True)] = 20
    view = views.build(result, KEY, views.Names(catalog), now=midnight(DAY) + 8 * 86400)

    line = view.cell(views.ANSWERED_LINE, "Tele-Onthaal")
    targets = [cell for label, cell in view.table(views.ANSWERED_TARGET).rows if label.startswith("Tele-Onthaal, ")]
    assert len(targets) == 4 and sum(cell.text == "<5" for cell in [line, *targets]) >= 3  # hidden only what it must
    big = 10**9

    def high(cell: Shown) -> int:
        return reader_bounds(cell)[1] or big

    for n, cell in enumerate([line, *targets]):
        if cell.text != "<5":
            continue
        # What it can be, the line's row being the sum of its targets' rows.
        others = [c for c in targets if c is not cell]
        lo, hi = sum(reader_bounds(c)[0] for c in others), sum(high(c) for c in others)
        if n == 0:
            fits = [v for v in range(1, 5) if lo <= v <= hi]
        else:
            fits = [v for v in range(1, 5) if v + lo <= high(line) and v + hi >= reader_bounds(line)[0]]
        assert len(fits) > 1, (n, fits)
    assert [label for label, *_ in view.target_rates()][:2] == [
        "Tele-Onthaal, target 1 (sip:…le)",
        "Tele-Onthaal, target 2 (…01)",
    ]
