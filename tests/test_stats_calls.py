"""Calls through the real webhook (signed, in-process) into the statistics, and the report they give.

A simulated day of calls goes in; the report's numbers are checked against what was sent. A
privacy check dumps every table, during and after calls: no phone number, CallSid, digit
string or speech.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.app import create_app
from ivr.settings import Settings
from ivr.stats import report, store
from ivr.stats import view as views
from ivr.stats.recorder import Recorder
from ivr.stats.shown import rounding_key
from ivr.stats.web import STATS, Stats
from support import CALL, TwilioClient, TwiML

DAY_START = 1_800_057_600.0  # 2027-01-16 00:00 UTC
# Keys a caller presses, what the caller's language is, whether the line's number was said, where it ended.
JOURNEYS = {
    "nl, then 0": (("1", "0"), "nl", True, "listening_line"),
    "fr, then 0": (("2", "0"), "fr", True, "listening_line"),
    "de, then 0": (("3", "0"), "de", True, "listening_line"),
    "en, then 0": (("4", "0"), "en", True, "listening_line"),
    # The first menu says the line's number itself: a caller who hears it has reached the line.
    "fr, hangs up at the menu": (("2",), "fr", True, "first_menu"),
    "nl, breathing": (("1", "7"), "nl", True, "breathing"),
    "0 at the welcome": (("0",), "-", True, "every_line"),
    "en, first step": (("4", "6"), "en", True, "first_step"),
}


class Day:
    """An app whose statistics run on a clock the test moves."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.now = DAY_START
        self.app: Flask = create_app(replace(settings, database_url=url))
        self.client = TwilioClient(self.app.test_client())
        self.stats: Stats = self.app.extensions[STATS]
        self.stats.clock = lambda: self.now
        self.url = url
        self.calls = 0

    @property
    def recorder(self) -> Recorder:
        assert self.stats.recorder is not None
        return self.stats.recorder

    def call(self, keys: tuple[str, ...], *, ended: bool = True, **fields: str) -> TwiML:
        self.calls += 1
        sid = f"CA{self.calls:032x}"
        answer = self.client.post("/voice", {"CallSid": sid})
        for key in keys:
            self.now += 7
            answer = self.client.follow(answer.gather_action(), key, CallSid=sid, **fields)
        assert answer.status == 200
        if ended:
            self.status(sid, "completed", str(20 + 7 * len(keys)))
        return answer

    def status(self, sid: str, status: str, duration: str) -> int:
        response = self.client.post("/voice/status", {"CallSid": sid, "CallStatus": status, "CallDuration": duration})
        return response.status

    def settle(self) -> None:
        """Write everything, then sum up every call as the writer would once they are over."""
        self.recorder.clock = lambda: self.now
        self.now = max(self.now, DAY_START + 86400)
        assert self.recorder.flush()
        self.now += store.IDLE_SECONDS + 1
        assert self.recorder.flush()

    def report(self) -> report.Report:
        engine = store.make_engine(self.url)
        with engine.connect() as conn:
            day = datetime.fromtimestamp(DAY_START, UTC).date()
            result = report.load(conn, day, day)
        engine.dispose()
        return result

    def dump_rows(self, table: store.Table) -> list[dict[str, object]]:
        engine = store.make_engine(self.url)
        with engine.connect() as conn:
            found = [dict(row) for row in conn.execute(select(table)).mappings()]
        engine.dispose()
        return found

    def dump(self) -> str:
        engine = store.make_engine(self.url)
        with engine.connect() as conn:
            text = "\n".join(str(row) for table in store.metadata.sorted_tables for row in conn.execute(select(table)))
        engine.dispose()
        return text


@pytest.mark.slow
def test_a_simulated_day_of_calls_gives_the_report_of_what_was_sent(settings: Settings, database_url: str) -> None:
    day = Day(settings, database_url)
    rng = random.Random(17)
    sent: Counter[str] = Counter()
    for _ in range(2000):
        name = rng.choice(list(JOURNEYS))
        sent[name] += 1
        day.now = DAY_START + rng.uniform(0, 86400 - 3600)
        day.call(JOURNEYS[name][0])
        if day.calls % 250 == 0:
            day.recorder.flush()
    day.settle()
    result = day.report()

    assert result.calls == 2000
    assert sum(result.per_hour.values()) == 2000 and len(result.per_hour) == 23
    languages: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    drop_off: Counter[str] = Counter()
    for name, n in sent.items():
        _, lang, reaches, last = JOURNEYS[name]
        languages[lang] += n
        if reaches:
            reached[lang] += n
        else:
            drop_off[last] += n
    assert result.languages == languages
    assert result.reached == reached
    assert result.drop_off == drop_off
    assert result.durations == Counter(
        {
            "<30s": sent["0 at the welcome"] + sent["fr, hangs up at the menu"],
            "30s-1m": 2000 - sent["0 at the welcome"] - sent["fr, hangs up at the menu"],
        }
    )
    assert sum(result.to_line.values()) == sum(reached.values())
    assert result.in_progress == 0
    # What a person sees: the same figures through the rules for small counts.
    seen = views.build(result, rounding_key(b"test"), now=DAY_START + 86400)
    text = views.text(seen)
    assert f"Reached the line: {seen.headline(views.REACHED)} of 2000 calls" in text
    assert re.search(rf"^  fr +{seen.cell(views.LANGUAGE, 'fr').text}   reached the line", text, re.M)
    de = seen.cell(views.LANGUAGE, "de")
    assert f"Language,de,{de.value if de.value is not None else ''},{de.why}" in views.csv_text(seen)


def test_time_to_the_line_is_the_engines_seconds_of_audio(settings: Settings, database_url: str) -> None:
    """The same figure `ivr simulate` prints for the same keys (every prompt to its end)."""
    from ivr.simulate import Caller, InProcessCaller, run_call

    day = Day(settings, database_url)
    for _ in range(10):
        day.call(("2", "0"))
    day.settle()
    seconds = set(day.report().to_line)

    class Keys(Caller):
        def __init__(self) -> None:
            self.keys = iter(["2", "0"])

        def key(self, listen: object, answer: object) -> str | None:
            return next(self.keys, None)

    app = create_app(settings)
    simulated = run_call(InProcessCaller(app), Keys())
    assert simulated.to_human is not None
    assert seconds == {int(-(-simulated.to_human // 1))}


def test_no_phone_number_callsid_digits_or_speech_is_stored(settings: Settings, database_url: str) -> None:
    day = Day(settings, database_url)
    secrets = {
        CALL["From"],
        CALL["To"],
        CALL["From"].lstrip("+"),
        "0470123456",
        "8675309",
        "mijn naam is Jan",
    }
    sids = []
    for keys in (("2", "0"), ("1", "8675309"), ("1", "0470123456"), ("4",)):
        day.calls += 1
        sid = f"CA{day.calls:032x}"
        sids.append(sid)
        answer = day.client.post("/voice", {"CallSid": sid, "SpeechResult": "mijn naam is Jan"})
        for key in keys:
            answer = day.client.follow(answer.gather_action(), key, CallSid=sid, SpeechResult="mijn naam is Jan")
    day.recorder.flush()
    during = day.dump()  # calls in progress: rows under the call's keyed hash
    assert len(day.dump_rows(store.live_calls)) == len(sids)  # one row per call in progress
    day.status(sids[0], "completed", "61")
    day.settle()
    after = day.dump()
    for text in (during, after):
        for secret in secrets | set(sids) | {sid.lower() for sid in sids}:
            assert secret not in text
    assert "stats_live" not in after
    engine = store.make_engine(day.url)
    with engine.connect() as conn:
        assert conn.execute(select(store.live_calls)).all() == []
    engine.dispose()


@pytest.mark.parametrize("status", ["queued", "ringing", "in-progress", "", "completed\x00"])
def test_a_status_that_is_not_an_end_records_nothing(settings: Settings, database_url: str, status: str) -> None:
    day = Day(settings, database_url)
    day.call(("2",), ended=False)
    assert day.status(f"CA{day.calls:032x}", status, "30") == 204
    day.recorder.flush()
    engine = store.make_engine(day.url)
    with engine.connect() as conn:
        assert [row.ended_at for row in conn.execute(select(store.live_calls))] == [None]
    engine.dispose()


def test_the_retention_is_applied_when_a_service_starts_writing(settings: Settings, database_url: str) -> None:
    from ivr.stats.batch import Batch
    from ivr.stats.events import TurnEvent, TurnFacts

    old = Batch()
    old.add_turn(TurnEvent(DAY_START - 500 * 86400, "-", "helpline", "welcome", "-", "start", TurnFacts(1.0, None, None, 0)))
    engine = store.make_engine(database_url)
    with engine.begin() as conn:
        store.write_batch(conn, old)
    engine.dispose()
    day = Day(settings, database_url)
    day.call(("2",))
    assert day.recorder.flush()  # the first write of a process prunes, with the default 400 days
    hours = {row["hour"] for row in day.dump_rows(store.turns)}
    assert hours == {int(DAY_START)}


@pytest.mark.parametrize("batches", ["one batch", "a batch a turn"])
def test_a_call_across_utc_midnight_is_one_call_with_its_time_to_the_line_and_its_end(
    settings: Settings, database_url: str, batches: str
) -> None:
    """Its statistics key is derived per UTC day: the turns after midnight, and its end, still join the row of the
    day it started, whether they are written with its first turns or after them."""
    day = Day(settings, database_url)
    day.now = DAY_START + 12 * 3600  # the same journey at noon, for the time to the line it takes
    day.call(("1", "0"))
    day.now = DAY_START - 5  # 23:59:55 UTC: the welcome before midnight, the language chosen after it
    sid = "CA" + "f" * 32
    answer = day.client.post("/voice", {"CallSid": sid})
    for key in ("1", "0"):
        if batches == "a batch a turn":
            assert day.recorder.flush()
        day.now += 7
        answer = day.client.follow(answer.gather_action(), key, CallSid=sid)
    assert answer.status == 200
    day.now += 20
    assert day.status(sid, "completed", "34") == 204
    day.settle()
    result = day.report()

    assert result.calls == 2
    assert result.reached == Counter({"nl": 2})
    assert len(result.to_line) == 1 and sum(result.to_line.values()) == 2  # both took the same seconds of audio
    assert result.durations == Counter({"30s-1m": 2})  # its end joined it: not "unknown"
    assert result.per_hour[int(DAY_START) - 3600] == 1  # counted in the hour it started
