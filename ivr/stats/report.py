"""Reports: what the stored counts say about a period, with small counts protected.

**Small counts, by rounding.** Every count a person sees (terminal, dashboard, CSV) goes
through :func:`shown`: 0 stays 0, 1 to 4 become "<5", and 5 or more are rounded to the
nearest multiple of 5. A table's total is never the true total: it is the sum of the
figures shown in that table (a "<5" counting as nothing, and the total saying how many
"<5" it leaves out), so subtracting shown figures gives back nothing that is not shown.
Rates and shares are worked out from shown figures, and percentiles of time to the line
only from 10 calls or more. The same rules apply to every output.

Calls in progress are summed up from their rows at read time (nothing is stored for it),
so a call shows up a second after its first turn.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, select

from ivr.stats import store
from ivr.stats.events import HOUR, NO_LANGUAGE, whole_seconds

SMALL = 5
PERCENTILE_MINIMUM = 10


def shown(count: int) -> str:
    """A count as anyone may see it: "0", "<5", or a multiple of 5."""
    if count <= 0:
        return "0"
    if count < SMALL:
        return "<5"
    return str(int((count + 2.5) // 5 * 5))


def shown_value(count: int) -> int:
    """The number :func:`shown` shows (0 for "<5"), for totals, rates and charts."""
    text = shown(count)
    return 0 if text == "<5" else int(text)


@dataclass(frozen=True)
class Table:
    """Rows of (label, true count); only ever displayed through :func:`shown`."""

    title: str
    rows: tuple[tuple[str, int], ...]

    def cells(self) -> list[tuple[str, str]]:
        return [(label, shown(count)) for label, count in self.rows]

    def total(self) -> str:
        """The sum of the shown figures, and how many "<5" it leaves out."""
        value = sum(shown_value(count) for _, count in self.rows)
        small = sum(1 for _, count in self.rows if 0 < count < SMALL)
        return f"{value}" + (f" + {small}×<5" if small else "")


def rate(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage of the shown figures ("–" when either is hidden or 0)."""
    p, w = shown_value(part), shown_value(whole)
    if w == 0 or (part > 0 and p == 0):
        return "–"
    return f"{round(100 * p / w)}%"


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
    start: date
    end: date  # inclusive
    per_day: Counter[date] = field(default_factory=Counter)
    per_hour: Counter[int] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    reached: Counter[str] = field(default_factory=Counter)  # per language
    chose: int = 0
    drop_off: Counter[str] = field(default_factory=Counter)  # last node of calls that did not reach a line
    to_line: Counter[int] = field(default_factory=Counter)  # seconds -> calls
    to_line_by_lang: dict[str, Counter[int]] = field(default_factory=dict)
    transfers: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # turns by outcome
    durations: Counter[str] = field(default_factory=Counter)
    in_progress: int = 0

    @property
    def calls(self) -> int:
        return sum(self.languages.values())

    def tables(self) -> list[Table]:
        days = [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]
        return [
            Table("Calls per day", tuple((d.isoformat(), self.per_day[d]) for d in days)),
            Table("Language", tuple(sorted(self.languages.items()))),
            Table("Reached the line, per language", tuple(sorted(self.reached.items()))),
            Table("Where callers hung up before reaching a line (last node)", tuple(self.drop_off.most_common())),
            Table("Transfers", tuple(sorted(self.transfers.items()))),
            Table(
                "Fallback and rescue",
                (
                    ("fallback URL", self.outcomes["fallback"]),
                    ("fallback URL (unsigned)", self.outcomes["fallback_unsigned"]),  # anyone's, or a rotated token
                    ("rescue", self.outcomes["rescue"]),
                ),
            ),
            Table("Call length", tuple(sorted(self.durations.items()))),
        ]


def _day(hour: int) -> date:
    return datetime.fromtimestamp(hour, UTC).date()


def period(days: int, until: date | None = None) -> tuple[date, date]:
    end = until or datetime.now(UTC).date()
    return end - timedelta(days=days - 1), end


def load(conn: Connection, start: date, end: date, now: float | None = None) -> Report:
    """Everything stored about calls that started between ``start`` and ``end`` (UTC days, inclusive)."""
    lo = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    hi = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()) + 86400
    report = Report(start, end)
    t = store.calls
    for row in conn.execute(select(t).where(t.c.hour >= lo, t.c.hour < hi)).mappings():
        _add_call(report, row["hour"], row["lang"], row["reached"], row["last_node"], row["duration"], row["count"])
    tl = store.time_to_line
    for row in conn.execute(select(tl).where(tl.c.hour >= lo, tl.c.hour < hi)).mappings():
        report.to_line[row["seconds"]] += row["count"]
        report.to_line_by_lang.setdefault(row["lang"], Counter())[row["seconds"]] += row["count"]
    tr = store.transfers
    for row in conn.execute(select(tr).where(tr.c.hour >= lo, tr.c.hour < hi)).mappings():
        report.transfers[row["result"]] += row["count"]
    tu = store.turns
    for row in conn.execute(select(tu).where(tu.c.hour >= lo, tu.c.hour < hi)).mappings():
        report.outcomes[row["outcome"]] += row["count"]
    _add_in_progress(conn, report, lo, hi)
    return report


def _add_call(report: Report, hour: int, lang: str, reached: bool, last_node: str, duration: str, count: int) -> None:
    report.per_day[_day(hour)] += count
    report.per_hour[hour] += count
    report.languages[lang] += count
    if lang != NO_LANGUAGE:
        report.chose += count
    if reached:
        report.reached[lang] += count
    else:
        report.drop_off[last_node] += count
    report.durations[duration] += count


def _add_in_progress(conn: Connection, report: Report, lo: int, hi: int) -> None:
    """Calls not over yet, summed up here and now (nothing more is stored)."""
    for summary in store.calls_in_progress(conn, lo, hi):
        report.in_progress += 1
        _add_call(report, summary.hour, summary.lang, summary.reached, summary.last_node, "in progress", 1)
        if summary.to_line is not None:
            seconds = whole_seconds(summary.to_line)
            report.to_line[seconds] += 1
            report.to_line_by_lang.setdefault(summary.lang, Counter())[seconds] += 1


# --- the terminal ---------------------------------------------------------------------------------------


def _seconds(value: int | None) -> str:
    return "too few calls" if value is None else f"{value} s"


def text(report: Report) -> str:
    """The report for a terminal."""
    lines = [
        f"Calls from {report.start.isoformat()} to {report.end.isoformat()} (UTC), "
        f"{shown(report.in_progress)} of them still in progress",
        "Counts below 5 are shown as <5 and others rounded to 5; totals add up the figures shown.",
        "",
    ]
    calls = report.calls
    reached = sum(report.reached.values())
    lines.append(f"Reached the line: {shown(reached)} of {shown(calls)} calls ({rate(reached, calls)})")
    lines.append(
        f"Time to the line (seconds of audio): p50 {_seconds(percentile(report.to_line, 0.5))}, "
        f"p90 {_seconds(percentile(report.to_line, 0.9))}"
    )
    for table in report.tables():
        lines += ["", table.title]
        cells = table.cells()
        if not cells:
            lines.append("  (none)")
            continue
        width = max(len(label) for label, _ in cells)
        for label, value in cells:
            extra = ""
            if table.title == "Language":
                extra = f"   reached the line: {rate(report.reached[label], report.languages[label])}"
            lines.append(f"  {label.ljust(width)}  {value:>6}{extra}")
        lines.append(f"  {'total'.ljust(width)}  {table.total():>6}")
    return "\n".join(lines) + "\n"


def csv_text(report: Report) -> str:
    """Every table of the report as CSV rows (table, label, count), under the same rules."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "label", "count"])
    for table in report.tables():
        for label, value in table.cells():
            writer.writerow([table.title, label, value])
        writer.writerow([table.title, "total", table.total()])
    writer.writerow(["Time to the line", "p50 seconds", percentile(report.to_line, 0.5) or ""])
    writer.writerow(["Time to the line", "p90 seconds", percentile(report.to_line, 0.9) or ""])
    return out.getvalue()


def hours(report: Report) -> Iterable[tuple[int, int]]:
    """(hour, calls) for every hour of the period, for charts."""
    first = int(datetime(report.start.year, report.start.month, report.start.day, tzinfo=UTC).timestamp())
    last = first + ((report.end - report.start).days + 1) * 86400
    now = time.time()
    for hour in range(first, min(last, int(now) + HOUR), HOUR):
        yield hour, report.per_hour[hour]
