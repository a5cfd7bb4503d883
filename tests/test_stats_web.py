"""/voice/status (signed, 204, never the rescue, fuzzed as every webhook is), /metrics and /admin access."""

from __future__ import annotations

import base64
import csv
import io
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from ivr.app import create_app
from ivr.security import sign
from ivr.settings import Settings
from ivr.stats import report, store
from ivr.stats.store import migrate
from ivr.stats.web import STATS
from support import CALL, PUBLIC, TOKEN, TwilioClient, shipped_settings
from support.stats_week import week_of_calls

STATUSES = ("queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled")


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def status_client(tmp_path_factory: pytest.TempPathFactory) -> TwilioClient:
    folder: Path = tmp_path_factory.mktemp("status")
    url = f"sqlite:///{folder / 'stats.sqlite3'}"
    migrate(url)
    settings = replace(
        shipped_settings(folder),
        log_key=b"status-key",
        database_url=url,
        admin_password="admin-password",
        metrics_token="metrics-token",
    )
    return TwilioClient(create_app(settings).test_client())


def test_a_signed_status_callback_gets_204_and_an_unsigned_one_403(status_client: TwilioClient) -> None:
    ended = status_client.post("/voice/status", {"CallStatus": "completed", "CallDuration": "75"})
    assert (ended.status, ended.body) == (204, "")
    forged = status_client.post("/voice/status", {"CallStatus": "completed"}, signature="bad")
    assert forged.status == 403
    assert status_client.client.get("/voice/status").status_code == 405


text = st.text(st.characters(codec="utf-8"), max_size=40)


@pytest.mark.slow
@given(
    status=st.one_of(st.sampled_from(STATUSES), text),
    duration=st.one_of(st.integers(-5, 10**9).map(str), text),
    sid=st.one_of(st.just(CALL["CallSid"]), text),
    extra=st.dictionaries(st.text("abcdefXYZ", min_size=1, max_size=8), text, max_size=3),
    drop=st.sets(st.sampled_from(sorted(CALL))),
    signed=st.booleans(),
)
def test_any_status_callback_is_204_or_403_never_an_error(
    status_client: TwilioClient, status: str, duration: str, sid: str, extra: dict[str, str], drop: set[str], signed: bool
) -> None:
    form = {
        k: v
        for k, v in {**CALL, **extra, "CallStatus": status, "CallDuration": duration, "CallSid": sid}.items()
        if k not in drop
    }
    signature = sign(TOKEN, PUBLIC + "/voice/status", form) if signed else "x" + sign(TOKEN, PUBLIC + "/voice/status", form)
    response = status_client.client.post("/voice/status", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == (204 if signed else 403)
    assert b"<Response" not in response.data  # never the rescue: Twilio ignores this answer


def test_metrics_need_the_token_or_the_admin_password(status_client: TwilioClient, settings: Settings) -> None:
    client = status_client.client
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=basic("wrong")).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    by_token = client.get("/metrics", headers={"Authorization": "Bearer metrics-token"})
    assert by_token.status_code == 200 and by_token.content_type.startswith("text/plain")
    body = client.get("/metrics", headers=basic("admin-password")).get_data(as_text=True)
    for name in (
        "ivr_turns_total",
        "ivr_request_seconds_bucket",
        "ivr_fallback_hits_total",
        "ivr_rescues_total",
        "ivr_refused_signatures_total",
        "ivr_transfer_failures_total",
        "ivr_statistics_dropped_total",
    ):
        assert f"# TYPE {name.removesuffix('_bucket').removesuffix('_total')}" in body
    # Without a password or a token there is no /metrics (and no /admin) at all.
    bare = create_app(settings).test_client()
    assert bare.get("/metrics").status_code == 404 and bare.get("/admin").status_code == 404


def test_metrics_count_turns_refusals_fallbacks_and_rescues(status_client: TwilioClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def value(name: str) -> float:
        body = status_client.client.get("/metrics", headers=basic("admin-password")).get_data(as_text=True)
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name))

    before = {n: value(n) for n in ("ivr_turns_total", "ivr_refused", "ivr_fallback_hits_total", "ivr_rescues_total")}
    status_client.post("/voice")
    status_client.post("/voice", signature="forged")
    status_client.post("/voice/fallback")
    from ivr.engine import Engine

    def broken(self: Engine, called: str) -> None:
        raise RuntimeError("engine broke")

    monkeypatch.setattr(Engine, "start", broken)
    rescued = status_client.post("/voice")
    assert rescued.status == 200 and "<Say" in rescued.body
    assert value("ivr_turns_total") == before["ivr_turns_total"] + 3  # the turn, the fallback, the rescue
    assert value("ivr_refused") == before["ivr_refused"] + 1
    assert value("ivr_fallback_hits_total") == before["ivr_fallback_hits_total"] + 1
    assert value("ivr_rescues_total") == before["ivr_rescues_total"] + 1


def test_admin_needs_the_password(status_client: TwilioClient) -> None:
    assert status_client.client.get("/admin").status_code == 401
    assert status_client.client.get("/admin", headers=basic("nope")).status_code == 401
    page = status_client.client.get("/admin", headers=basic("admin-password"))
    assert page.status_code == 200 and b"<svg" in page.data and b"https://" not in page.data.split(b"<body>")[0]
    csv = status_client.client.get("/admin/stats.csv?days=30", headers=basic("admin-password"))
    assert csv.status_code == 200 and csv.data.startswith(b"table,label,count")


def test_admin_says_when_the_database_was_never_migrated(settings: Settings, tmp_path: Path) -> None:
    app = create_app(replace(settings, database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}", admin_password="pw"))
    page = app.test_client().get("/admin", headers=basic("pw"))
    assert page.status_code == 503 and b"ivr stats migrate" in page.data


def test_the_example_alert_rules_use_metrics_the_service_exports(status_client: TwilioClient) -> None:
    import re

    import yaml

    from support import ROOT

    rules = yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text(encoding="utf-8"))["groups"][0]["rules"]
    status_client.post("/voice/fallback")
    status_client.post("/voice/fallback", signature="forged")
    status_client.post("/voice", signature="forged")
    body = status_client.client.get("/metrics", headers=basic("admin-password")).get_data(as_text=True)
    exported = set(re.findall(r"^# TYPE (\w+) counter$", body, re.M))
    series = set(re.findall(r"^(ivr_\w+_total)\{(.*)\} ", body, re.M))
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in rules}
    assert severity.items() >= {
        ("FallbackUrlCalled", "page"),
        ("FallbackUnsignedWhileCallsRefused", "page"),
        ("FallbackUrlCalledUnsigned", "warning"),
        ("RescueAnswered", "page"),
        ("TransfersFailing", "page"),
        ("RefusedSignaturesBurst", "warning"),
    }
    for rule in rules:
        for name in re.findall(r"\bivr_\w+_total\b", rule["expr"]):
            assert name in exported, (rule["alert"], name)
        # Each label a rule selects on is one the service writes, with a value it writes.
        for name, selector in re.findall(r"\b(ivr_\w+_total)\{([^}]*)\}", rule["expr"]):
            for label, op, value in re.findall(r'(\w+)(=~|=)"([^"]*)"', selector):
                pattern = value if op == "=~" else re.escape(value)
                written = [
                    v
                    for metric, labels in series
                    if metric == name
                    for k, v in re.findall(r'(\w+)="([^"]*)"', labels)
                    if k == label
                ]
                assert any(re.fullmatch(pattern, v) for v in written), (rule["alert"], label, written)
    paging = [
        rule["expr"] for rule in rules if rule["labels"]["severity"] == "page" and "ivr_fallback_hits_total" in rule["expr"]
    ]
    assert all('signed="true"' in expr or "ivr_refused_signatures_total" in expr for expr in paging), paging


def test_calls_made_in_the_simulator_show_up_in_ivr_stats_and_on_admin(settings: Settings, database_url: str) -> None:
    """As after `make run`: development mode (the simulator and /admin open), a few calls in /simulator."""
    from click.testing import CliRunner

    from ivr.cli import main
    from ivr.stats.web import STATS

    app = create_app(replace(settings, dev_mode=True, public_url=None, database_url=database_url))
    client = app.test_client()
    for keys in (("2", "0"), ("1", "0"), ("4",)):
        answer = client.post("/simulator/api/call", json={}).get_json()
        for key in keys:
            action = next(verb for verb in answer["verbs"] if verb["verb"] == "gather")["action"]
            answer = client.post("/simulator/api/step", json={"call": answer["call"], "url": action, "digits": key}).get_json()
    recorder = app.extensions[STATS].recorder
    assert recorder is not None and recorder.flush()
    text = CliRunner().invoke(main, ["stats", "--days", "1"], env={"DATABASE_URL": database_url}).output
    assert "Calls per day" in text and "<5 of them still in progress" in text
    assert "Reached the line: <5 of <5 calls" in text
    page = client.get("/admin?days=1").get_data(as_text=True)
    assert '<b id="calls">&lt;5</b>' in page


def test_a_call_made_with_ivr_simulate_in_a_terminal_shows_up_in_ivr_stats(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    env: dict[str, str | None] = {"IVR_STATS_DB": str(tmp_path / "stats.sqlite3"), "DATABASE_URL": None, "IVR_STATISTICS": None}
    assert CliRunner().invoke(main, ["stats", "migrate"], env=env).exit_code == 0
    called = CliRunner().invoke(main, ["simulate", "--keys", "1,0"], env=env)
    assert called.exit_code == 0, called.output
    text = CliRunner().invoke(main, ["stats", "--days", "1"], env=env).output
    assert "<5 of them still in progress" in text and "Reached the line: <5 of <5 calls" in text, text


def test_a_volunteers_whisper_is_not_counted_as_a_rescue(status_client: TwilioClient) -> None:
    def rescues() -> float:
        body = status_client.client.get("/metrics", headers=basic("admin-password")).get_data(as_text=True)
        return sum(float(line.split()[-1]) for line in body.splitlines() if line.startswith("ivr_rescues_total"))

    before = rescues()
    assert status_client.post("/voice/whisper?line=tele_onthaal").status == 200
    assert rescues() == before


# --- the dashboard's figures ------------------------------------------------------------------------------


class Texts(HTMLParser):
    """Every piece of text a page shows, SVG labels and tooltips included."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


# A bare count: a lone digit 1 to 4, not part of a date, an hour ("01h"), seconds ("2 s"), a percentage or a transfer
# target's place in its line's order ("target 2", as the Live now panel and the answer rates name targets).
BARE = re.compile(r"(?<![\w.:/–-])(?<!target )[1-4](?![\w.:/%–-]| s\b)")


def bare_counts(page: str) -> list[str]:
    parser = Texts()
    parser.feed(page.split("</style>", 1)[1])
    return [text for text in parser.texts if BARE.search(text)]


def test_admin_and_its_csv_show_no_count_from_1_to_4(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    app = week_of_calls(replace(settings, admin_password="pw"), url, calls=45)
    engine = store.make_engine(url)
    with engine.connect() as conn:
        true = report.load(conn, *report.period(7))
    engine.dispose()
    small = [
        n for counter in (true.languages, true.reached, true.drop_off, true.per_day, true.durations) for n in counter.values()
    ]
    assert any(1 <= n <= 4 for n in small)  # the period has small counts to hide
    client = app.test_client()
    page = client.get("/admin?days=7", headers=basic("pw")).get_data(as_text=True)
    assert "&lt;5" in page and bare_counts(page) == []
    assert bare_counts(page.replace('<td class="n">&lt;5</td>', '<td class="n">3</td>', 1)) != []  # the scan sees one
    rows = list(csv.reader(io.StringIO(client.get("/admin/stats.csv?days=7", headers=basic("pw")).get_data(as_text=True))))
    assert rows[0] == ["table", "label", "count", "flag"]
    counts = [row for row in rows[1:] if not row[1].endswith(" seconds")]
    assert {row[3] for row in counts if row[2] == ""} <= {"<5", "hidden", "withheld"}
    assert any(row[3] == "<5" for row in counts)
    assert all(int(row[2]) % 5 == 0 for row in counts if row[2])  # numbers a spreadsheet adds up, none from 1 to 4


def test_the_dashboard_speaks_in_words_and_orders_what_has_an_order(settings: Settings, tmp_path: Path) -> None:
    app = week_of_calls(replace(settings, admin_password="pw"), f"sqlite:///{tmp_path / 'stats.sqlite3'}", calls=120)
    client = app.test_client()
    rows = list(csv.reader(io.StringIO(client.get("/admin/stats.csv?days=7", headers=basic("pw")).get_data(as_text=True))))

    def labels(table: str) -> list[str]:
        return [row[1] for row in rows if row[0] == table]

    assert labels("Call length") == ["<30s", "30s-1m", "1-2m", "2-5m", "5-10m", "10m+", "unknown", "total"]
    assert labels("Transfer results") == ["connected", "busy", "no-answer", "failed", "canceled", "other", "total"]
    assert labels("Transfers started") == ["Transfers started"]  # never added into the results' total
    places = labels("Where callers hung up before reaching a line")
    assert places == ["the welcome, choosing a language (welcome)"]  # its title, not the node id "welcome"
    assert "no language chosen" in labels("Language") and "-" not in labels("Language")
    assert labels("Calls per called number") == ["every number (helpline)"]
    assert len(labels("Calls per weekday and hour")) == 7 * 24 + 1  # and its total
    page = client.get("/admin?days=7", headers=basic("pw")).get_data(as_text=True)
    assert "Calls per weekday and hour" in page and "Per called number" in page and "Nederlands (nl)" in page


def calls_at(app: Flask, times: list[float]) -> None:
    """One call (Dutch, then the talk-now key) at each time, through the signed webhook, summed up."""
    stats = app.extensions[STATS]
    now = [times[0]]
    stats.clock = lambda: now[0]
    client = TwilioClient(app.test_client())
    for n, at in enumerate(times):
        now[0] = at
        sid = f"CA{n:032x}"
        answer = client.post("/voice", {"CallSid": sid})
        for key in ("1", "0"):
            answer = client.follow(answer.gather_action(), key, CallSid=sid)
        client.post("/voice/status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "40"})
    stats.recorder.clock = lambda: now[0]
    assert stats.recorder.flush()
    now[0] = max(times) + store.IDLE_SECONDS + 60
    assert stats.recorder.flush()
    stats.clock = stats.recorder.clock = time.time


def test_days_are_brussels_days_a_chosen_range_stays_in_the_url_and_empty_days_are_zero(
    settings: Settings, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    app = create_app(replace(settings, database_url=url, admin_password="pw", stats_retention_days=30))
    day = report.today() - timedelta(days=3)
    at = report.midnight(day) + 30 * 60  # 00:30 in Brussels: the day before in UTC
    assert datetime.fromtimestamp(at, UTC).date() == day - timedelta(days=1)
    calls_at(app, [at + n for n in range(5)])
    client = app.test_client()
    since, until = (day - timedelta(days=2)).isoformat(), day.isoformat()
    rows = list(
        csv.reader(
            io.StringIO(client.get(f"/admin/stats.csv?since={since}&until={until}", headers=basic("pw")).get_data(as_text=True))
        )
    )
    per_day = [(row[1], row[2]) for row in rows if row[0] == "Calls per day"]
    assert per_day == [
        (f"{day - timedelta(days=2):%a} {since}", "0"),
        (f"{day - timedelta(days=1):%a} {(day - timedelta(days=1)).isoformat()}", "0"),
        (f"{day:%a} {until}", "5"),
        ("total", "5"),
    ]
    week = {row[1]: row[2] for row in rows if row[0] == "Calls per weekday and hour"}
    assert week[f"{day:%a} 00h"] == "5" and week[f"{day - timedelta(days=1):%a} 23h"] == "0"
    page = client.get(f"/admin?since={since}&until={until}", headers=basic("pw")).get_data(as_text=True)
    assert f"{since} to {until} (Brussels days)" in page
    assert f"/admin/stats.csv?since={since}&amp;until={until}" in page  # the export keeps the range
    assert f'value="{since}"' in page and f'value="{until}"' in page
    assert f"<title>{day - timedelta(days=1):%d %b} 12h: 0</title>" in page  # three days: drawn per hour, empty ones as 0
    week_page = client.get("/admin?days=7", headers=basic("pw")).get_data(as_text=True)
    assert f"<title>{(day + timedelta(days=1)).isoformat()}: 0</title>" in week_page  # an empty day is drawn, as 0
    # Older than the statistics keep: from the first day kept; a range backwards is turned round; nonsense is ignored.
    first = (report.today() - timedelta(days=29)).isoformat()
    assert f"{first} to " in client.get("/admin?since=2000-01-01", headers=basic("pw")).get_data(as_text=True)
    turned = client.get(f"/admin?since={until}&until={since}", headers=basic("pw")).get_data(as_text=True)
    assert f"{since} to {until}" in turned
    assert client.get("/admin?since=yesterday&until=%00&days=x", headers=basic("pw")).status_code == 200


def test_transfers_are_answered_or_not_per_line_and_started_is_not_in_their_total(settings: Settings, tmp_path: Path) -> None:
    from support.transfers import app_at, transfers_config

    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    app = app_at(settings, transfers_config(tmp_path), database_url=url, admin_password="pw")
    app.extensions["ivr"].engine.clock = lambda: datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # one target open: busy means no other
    twilio = TwilioClient(app.test_client())
    for n in range(10):
        sid = f"CA{n:032x}"
        menu = twilio.follow(twilio.post("/voice", {"CallSid": sid}).gather_action(), "1", CallSid=sid)
        dialling = twilio.follow(menu.gather_action(), "0", CallSid=sid)
        action = dialling.root.find("Dial").attrib["action"]  # type: ignore[union-attr]
        twilio.follow(action, CallSid=sid, DialCallStatus="completed" if n < 5 else "busy")
    assert app.extensions[STATS].recorder.flush()
    client = app.test_client()
    rows = {
        (row[0], row[1]): row[2]
        for row in csv.reader(io.StringIO(client.get("/admin/stats.csv?days=1", headers=basic("pw")).get_data(as_text=True)))
    }
    assert rows[("Transfers answered, per line", "Tele-Onthaal")] == "5"
    assert rows[("Transfers not answered, per line", "Tele-Onthaal")] == "5"
    assert rows[("Transfer results", "connected")] == rows[("Transfer results", "busy")] == "5"
    assert rows[("Transfers started", "Transfers started")] == "10"
    assert rows[("Transfer results", "total")] == "10"  # the attempts' results; the 10 started are not added in
    page = client.get("/admin?days=1", headers=basic("pw")).get_data(as_text=True)
    assert re.search(r"<td>Tele-Onthaal</td><td class=\"n\">5</td><td class=\"n\">5</td><td class=\"n\">50%</td>", page)


@pytest.mark.slow
@given(since=text, until=text, days=text)
def test_any_period_asked_gets_a_page_never_an_error(status_client: TwilioClient, since: str, until: str, days: str) -> None:
    query = {"since": since, "until": until, "days": days}
    for path in ("/admin", "/admin/stats.csv"):
        assert status_client.client.get(path, query_string=query, headers=basic("admin-password")).status_code == 200


def test_what_the_period_asks_never_comes_back_as_markup(status_client: TwilioClient) -> None:
    """The range in the address is kept in the page's links and form: only as dates the page itself wrote."""
    hostile = '"><script>alert(1)</script>'
    query = {"since": hostile, "until": "2026-01-01" + hostile, "days": "7" + hostile}
    page = status_client.client.get("/admin", query_string=query, headers=basic("admin-password")).get_data(as_text=True)
    assert "<script>alert" not in page and "alert(1)" not in page
    assert "<script" not in status_client.client.get(
        "/admin/stats.csv", query_string=query, headers=basic("admin-password")
    ).get_data(as_text=True)


def test_each_transfer_target_has_its_answer_rate_masked_on_admin_in_the_csv_and_in_ivr_stats(
    settings: Settings, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from ivr.cli import main
    from stats_db import rows
    from support.config import DATA
    from support.transfers import app_at, transfers_config

    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    config = transfers_config(tmp_path)
    app = app_at(settings, config, database_url=url, admin_password="pw")
    # Saturday 20:00 in Brussels: Tele-Onthaal's number (target 2) and its day PBX (target 3) are open, the night one not.
    app.extensions["ivr"].engine.clock = lambda: datetime(2026, 3, 28, 19, 0, tzinfo=UTC)
    twilio = TwilioClient(app.test_client())
    for n in range(10):
        sid = f"CA{n:032x}"
        menu = twilio.follow(twilio.post("/voice", {"CallSid": sid}).gather_action(), "1", CallSid=sid)
        first = twilio.follow(menu.gather_action(), "0", CallSid=sid)
        assert first.root.findtext("Dial/Number") == "+3290000001"
        second = twilio.follow(first.root.find("Dial").attrib["action"], CallSid=sid, DialCallStatus="busy")  # type: ignore[union-attr]
        assert (second.root.findtext("Dial/Sip") or "").strip() == "sip:dag@pbx.tele-onthaal.example"
        action = second.root.find("Dial").attrib["action"]  # type: ignore[union-attr]
        twilio.follow(action, CallSid=sid, DialCallStatus="completed" if n < 5 else "no-answer")
    assert app.extensions[STATS].recorder.flush()
    stored = {(r["line"], r["target"], r["result"]): r["count"] for r in rows(url, store.transfers) if r["line"] != "-"}
    assert stored == {("tele_onthaal", 1, "busy"): 10, ("tele_onthaal", 2, "connected"): 5, ("tele_onthaal", 2, "no-answer"): 5}

    client = app.test_client()
    csv_body = client.get("/admin/stats.csv?days=1", headers=basic("pw")).get_data(as_text=True)
    found = {(row[0], row[1]): row[2] for row in csv.reader(io.StringIO(csv_body))}
    number, pbx = "Tele-Onthaal, target 2 (…01)", "Tele-Onthaal, target 3 (sip:…le)"
    assert found[("Transfers answered, per target", number)] == "0"
    assert found[("Transfers not answered, per target", number)] == "10"
    assert found[("Transfers answered, per target", pbx)] == found[("Transfers not answered, per target", pbx)] == "5"
    assert found[("Transfers answered, per line", "Tele-Onthaal")] == "5"
    assert found[("Transfers not answered, per line", "Tele-Onthaal")] == "15"
    page = client.get("/admin?days=1", headers=basic("pw")).get_data(as_text=True)
    cells = '<td class="n">{}</td><td class="n">{}</td><td class="n">{}</td>'
    assert f"<td>{number}</td>" + cells.format(0, 10, "0%") in page
    assert f"<td>{pbx}</td>" + cells.format(5, 5, "50%") in page
    for body in (csv_body, page):
        assert "90000001" not in body and "dag@" not in body  # the targets only masked

    env = {"DATABASE_URL": url, "IVR_CONFIG": str(config), "IVR_FLOWS": str(DATA / "flows"), "IVR_LOG_KEY": "test-log-key"}
    printed = CliRunner().invoke(
        main, ["stats", "--days", "1"], env={**env, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_PUBLIC_URL": PUBLIC}
    )
    assert printed.exit_code == 0, printed.output
    assert re.search(rf"Transfers not answered, per target\n(.*\n)*  {re.escape(pbx)} +5\n", printed.output), printed.output
    assert "90000001" not in printed.output


def test_a_targets_small_counts_leave_only_as_under_5_and_its_rate_tells_none_of_them(settings: Settings, tmp_path: Path) -> None:
    from support.transfers import app_at, transfers_config

    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    app = app_at(settings, transfers_config(tmp_path), database_url=url, admin_password="pw")
    app.extensions["ivr"].engine.clock = lambda: datetime(2026, 3, 28, 19, 0, tzinfo=UTC)  # targets 2 and 3 open
    twilio = TwilioClient(app.test_client())
    for n in range(3):
        sid = f"CA{n:032x}"
        menu = twilio.follow(twilio.post("/voice", {"CallSid": sid}).gather_action(), "1", CallSid=sid)
        first = twilio.follow(menu.gather_action(), "0", CallSid=sid)
        second = twilio.follow(first.root.find("Dial").attrib["action"], CallSid=sid, DialCallStatus="busy")  # type: ignore[union-attr]
        twilio.follow(second.root.find("Dial").attrib["action"], CallSid=sid, DialCallStatus="completed")  # type: ignore[union-attr]
    assert app.extensions[STATS].recorder.flush()
    client = app.test_client()
    page = client.get("/admin?days=1", headers=basic("pw")).get_data(as_text=True)
    small = '<td class="n">&lt;5</td>'
    assert f'<td>Tele-Onthaal, target 2 (…01)</td><td class="n">0</td>{small}<td class="n">–</td>' in page
    assert f'<td>Tele-Onthaal, target 3 (sip:…le)</td>{small}<td class="n">0</td><td class="n">–</td>' in page
    assert bare_counts(page) == []
    found = list(csv.reader(io.StringIO(client.get("/admin/stats.csv?days=1", headers=basic("pw")).get_data(as_text=True))))
    per_target = [row for row in found if row[0].endswith("per target") and row[1] != "total"]
    assert sorted((row[2], row[3]) for row in per_target) == [("", "<5"), ("", "<5"), ("0", ""), ("0", "")]
