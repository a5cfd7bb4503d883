"""Reports: what the stored counts say about a period of Brussels days.

This module reads true counts; nobody sees them. :mod:`ivr.stats.view` turns a report into the
tables people see, every count through the small-count rule of :mod:`ivr.stats.shown`.

Calls in progress are summed up from their rows at read time (nothing is stored for it),
so a call shows up a second after its first turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, select

from ivr.hours import BRUSSELS
from ivr.stats import store
from ivr.stats.events import HOUR, NO_LINE, whole_seconds

PERCENTILE_MINIMUM = 10
TRANSFER_OUTCOMES = ("transfer_done", "transfer_failed")  # turns at a transfer node after Twilio's dial result


def percentile(histogram: Mapping[int, int], fraction: float) -> int | None:
    """The ``fraction`` percentile of whole seconds, or None below PERCENTILE_MINIMUM values."""
    total = sum(histogram.values())
    if total < PERCENTILE_MINIMUM:
        return None
    rank = fraction * total
    seen = 0
    for seconds in sorted(histogram):
        seen += histogram[seconds]
        if seen >= rank:
            return seconds
    return max(histogram)


@dataclass
class Report:
    """True counts of the calls that started between ``start`` and ``end`` (Brussels days, inclusive)."""

    start: date
    end: date  # inclusive
    per_day: Counter[date] = field(default_factory=Counter)  # Brussels days
    per_hour: Counter[int] = field(default_factory=Counter)  # UTC hour (epoch seconds) the calls started in
    languages: Counter[str] = field(default_factory=Counter)
    reached: Counter[str] = field(default_factory=Counter)  # per language
    flows: Counter[str] = field(default_factory=Counter)  # calls per flow served (the called number's)
    reached_flows: Counter[str] = field(default_factory=Counter)
    drop_off: Counter[str] = field(default_factory=Counter)  # last node of calls that did not reach a line
    to_line: Counter[int] = field(default_factory=Counter)  # seconds -> calls
    to_line_by_lang: dict[str, Counter[int]] = field(default_factory=dict)
    transfers: Counter[str] = field(default_factory=Counter)
    transfer_turns: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # flow, node, lang, outcome
    per_target: Counter[tuple[str, int, bool]] = field(default_factory=Counter)  # line, target's position, answered
    outcomes: Counter[str] = field(default_factory=Counter)  # turns by outcome
    durations: Counter[str] = field(default_factory=Counter)
    in_progress: int = 0

    @property
    def calls(self) -> int:
        return sum(self.languages.values())

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[int, int]:
        """The period as [first second, last second + 1) since 1970."""
        return midnight(self.start), midnight(self.end + timedelta(days=1))


def midnight(day: date) -> int:
    """The start of a Brussels day, in seconds since 1970 (a day lasts 23, 24 or 25 hours)."""
    return int(datetime.combine(day, time(), BRUSSELS).timestamp())


def local(hour: int) -> datetime:
    """A UTC hour as the time in Brussels (offsets are whole hours, so an hour stays whole)."""
    return datetime.fromtimestamp(hour, UTC).astimezone(BRUSSELS)


def today() -> date:
    return datetime.now(BRUSSELS).date()


def period(days: int, until: date | None = None) -> tuple[date, date]:
    """The last ``days`` Brussels days up to ``until`` (today), inclusive."""
    end = until or today()
    return end - timedelta(days=days - 1), end


def load(conn: Connection, start: date, end: date, now: float | None = None) -> Report:
    """Everything stored about calls that started between ``start`` and ``end`` (Brussels days, inclusive)."""
    report = Report(start, end)
    lo, hi = report.bounds()
    t = store.calls
    for row in conn.execute(select(t).where(t.c.hour >= lo, t.c.hour < hi)).mappings():
        _add_call(report, row["hour"], row["flow"], row["lang"], row["reached"], row["last_node"], row["duration"], row["count"])
    tl = store.time_to_line
    for row in conn.execute(select(tl).where(tl.c.hour >= lo, tl.c.hour < hi)).mappings():
        report.to_line[row["seconds"]] += row["count"]
        report.to_line_by_lang.setdefault(row["lang"], Counter())[row["seconds"]] += row["count"]
    tr = store.transfers
    for row in conn.execute(select(tr).where(tr.c.hour >= lo, tr.c.hour < hi)).mappings():
        report.transfers[row["result"]] += row["count"]
        if row["line"] != NO_LINE:
            report.per_target[(row["line"], row["target"], row["result"] == "connected")] += row["count"]
    tu = store.turns
    for row in conn.execute(select(tu).where(tu.c.hour >= lo, tu.c.hour < hi)).mappings():
        report.outcomes[row["outcome"]] += row["count"]
        if row["outcome"] in TRANSFER_OUTCOMES:
            report.transfer_turns[(row["flow"], row["node"], row["lang"], row["outcome"])] += row["count"]
    _add_in_progress(conn, report, lo, hi)
    return report


def _add_call(report: Report, hour: int, flow: str, lang: str, reached: bool, last_node: str, duration: str, count: int) -> None:
    report.per_day[local(hour).date()] += count
    report.per_hour[hour] += count
    report.languages[lang] += count
    report.flows[flow] += count
    if reached:
        report.reached[lang] += count
        report.reached_flows[flow] += count
    else:
        report.drop_off[last_node] += count
    report.durations[duration] += count


def _add_in_progress(conn: Connection, report: Report, lo: int, hi: int) -> None:
    """Calls not over yet, summed up here and now (nothing more is stored)."""
    for summary in store.calls_in_progress(conn, lo, hi):
        report.in_progress += 1
        _add_call(report, summary.hour, summary.flow, summary.lang, summary.reached, summary.last_node, "in progress", 1)
        if summary.to_line is not None:
            seconds = whole_seconds(summary.to_line)
            report.to_line[seconds] += 1
            report.to_line_by_lang.setdefault(summary.lang, Counter())[seconds] += 1


def hours(report: Report, now: float) -> Iterable[int]:
    """Every UTC hour of the period up to ``now``, for charts (zeros included)."""
    lo, hi = report.bounds()
    yield from range(lo, min(hi, int(now) + HOUR), HOUR)
