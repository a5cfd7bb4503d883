"""What people see of a report: its tables with every count made safe, in words, as text or CSV.

Every count leaves here as a :class:`~ivr.stats.shown.Shown` (the terminal, ``/admin`` and the
CSV are made from a :class:`View` only), after :func:`~ivr.stats.shown.protect` has checked the
tables of the response together. Places, languages, called numbers and lines are named in words
from the catalog when there is one.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from ivr.model import EVERY_LINE, LANGUAGE_LINE, Catalog, GoodbyeNode, LanguageNode, MenuNode, MessageNode, TransferNode
from ivr.stats.events import DURATION_BUCKETS, LONGEST_BUCKET, NO_LANGUAGE
from ivr.stats.report import Report, hours, local, percentile
from ivr.stats.shown import Published, Shown, protect, rate, show, total

HOURLY_DAYS = 3  # periods this short get a chart and a table per hour
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DURATION_ORDER = (*(name for _, name in DURATION_BUCKETS), LONGEST_BUCKET, "unknown", "in progress")
RESULT_ORDER = ("connected", "busy", "no-answer", "failed", "canceled", "other")
BUCKET = 15  # seconds per bar of time to the line

CALLS = "Calls"
REACHED = "Reached the line"
IN_PROGRESS = "Calls still in progress"
PER_DAY = "Calls per day"
PER_HOUR = "Calls per hour"
WEEK = "Calls per weekday and hour"
LANGUAGE = "Language"
REACHED_LANGUAGE = "Reached the line, per language"
DROP_OFF = "Where callers hung up before reaching a line"
TO_LINE = "Time to the line (seconds of audio)"
PER_NUMBER = "Calls per called number"
REACHED_NUMBER = "Reached the line, per called number"
RESULTS = "Transfer results"
STARTED = "Transfers started"
ANSWERED_LINE = "Transfers answered, per line"
UNANSWERED_LINE = "Transfers not answered, per line"
ANSWERED_TARGET = "Transfers answered, per target"
UNANSWERED_TARGET = "Transfers not answered, per target"
FALLBACK = "Fallback and rescue"
LENGTH = "Call length"


class Names:
    """Words for what the statistics keep as ids; the ids themselves without a catalog (``ivr stats``)."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog

    def language(self, code: str) -> str:
        if code == NO_LANGUAGE:
            return "no language chosen"
        found = self.catalog.settings.languages.get(code) if self.catalog else None
        return f"{found.name} ({code})" if found else code

    def place(self, node_id: str) -> str:
        """A node's title: what it is, in words."""
        if node_id == "rescue":
            return "the rescue (something went wrong)"
        words = node_id.replace("_", " ")
        for flow in self.catalog.flows.values() if self.catalog else ():
            node = flow.nodes.get(node_id)
            if isinstance(node, LanguageNode):
                return f"the welcome, choosing a language ({words})"
            if isinstance(node, MenuNode):
                return f"menu: {words}"
            if isinstance(node, MessageNode):
                return f"message: {words}"
            if isinstance(node, GoodbyeNode):
                return f"goodbye ({words})"
            if isinstance(node, TransferNode):
                return f"every line's number ({words})" if node.helpline == EVERY_LINE else f"the line ({words})"
        return words

    def number(self, flow: str) -> str:
        """A flow by the called numbers that serve it."""
        if self.catalog is None:
            return flow
        settings = self.catalog.settings
        numbers = sorted(n for n, served in settings.called_numbers.items() if served.flow == flow)
        if flow == settings.default_flow:
            numbers.append("any other number" if numbers else "every number")
        return f"{', '.join(numbers) or 'no number'} ({flow})"

    def line(self, flow: str, node_id: str, lang: str) -> str:
        """The line a transfer node dials, for a caller of ``lang``."""
        if self.catalog is None or flow not in self.catalog.flows:
            return f"{node_id} ({lang})"
        node = self.catalog.flows[flow].nodes.get(node_id)
        if not isinstance(node, TransferNode):
            return f"{node_id} ({lang})"
        if node.helpline == LANGUAGE_LINE and lang in self.catalog.settings.languages:
            return self.catalog.line_for(lang).name
        found = self.catalog.helplines.get(node.helpline)
        return found.name if found else node_id

    def line_named(self, line_id: str) -> str:
        """A line by its name, as the tables per line name it."""
        found = self.catalog.helplines.get(line_id) if self.catalog else None
        return found.name if found else line_id

    def target(self, line_id: str, position: int) -> str:
        """A line's transfer target by its place in the line's order and masked as operator pages show it
        (ivr status, the Live now panel): "Tele-Onthaal, target 2 (…01)"."""
        line = self.catalog.helplines.get(line_id) if self.catalog else None
        if line is None:
            return f"{line_id}, target {position + 1}"
        if position >= len(line.transfer_to):
            return f"{line.name}, target {position + 1} (no longer in its list)"
        return f"{line.name}, target {position + 1} ({line.transfer_to[position].masked})"


@dataclass
class View:
    start: date
    end: date
    tables: list[Published]
    p50: int | None
    p90: int | None
    hourly: bool

    def table(self, title: str) -> Published:
        return next(t for t in self.tables if t.title == title)

    def cell(self, title: str, label: str) -> Shown:
        return dict(self.table(title).rows).get(label, Shown(0))

    def headline(self, title: str) -> Shown:
        return self.table(title).rows[0][1]

    def language_rates(self) -> list[tuple[str, Shown, Shown, str]]:
        """(language, chose it, reached the line, rate) for every language chosen."""
        found = []
        for label, calls in self.table(LANGUAGE).rows:
            if label != NO_LANGUAGE_LABEL:
                reached = self.cell(REACHED_LANGUAGE, label)
                found.append((label, calls, reached, rate(reached, calls)))
        return found

    def number_rates(self) -> list[tuple[str, Shown, Shown, str]]:
        return [
            (label, calls, self.cell(REACHED_NUMBER, label), rate(self.cell(REACHED_NUMBER, label), calls))
            for label, calls in self.table(PER_NUMBER).rows
        ]

    def line_rates(self) -> list[tuple[str, Shown, Shown, str]]:
        """(line, answered, not answered, answer rate) for every line a transfer went to."""
        return self._rates(ANSWERED_LINE, UNANSWERED_LINE)

    def target_rates(self) -> list[tuple[str, Shown, Shown, str]]:
        """(line and masked target, answered, not answered, answer rate) for every target a transfer went to."""
        return self._rates(ANSWERED_TARGET, UNANSWERED_TARGET)

    def _rates(self, answered: str, unanswered: str) -> list[tuple[str, Shown, Shown, str]]:
        # A rate of figures shown only: with either count not shown, "–" (a rate would tell the hidden one).
        found = []
        for label, done in self.table(answered).rows:
            failed = self.cell(unanswered, label)
            attempts = Shown(None) if done.value is None or failed.value is None else Shown(done.value + failed.value)
            found.append((label, done, failed, rate(done, attempts)))
        return found


NO_LANGUAGE_LABEL = Names().language(NO_LANGUAGE)


def _rows(prefix: str, key: bytes, counts: Iterable[tuple[str, str, int]]) -> list[tuple[str, Shown]]:
    """(label, Shown) from (label, cell id, true count): the cell id names the quantity, whatever the period."""
    return [(label, show(count, key, f"{prefix}:{cell}")) for label, cell, count in counts]


def _bucket(seconds: int) -> int:
    return 0 if seconds <= 0 else (seconds - 1) // BUCKET * BUCKET


def _bucket_label(start: int) -> str:
    return f"{start}–{start + BUCKET} s"


def _per_line(title: str, cell: str, part: str, counts: Mapping[str, int], line: Callable[[str], str], key: bytes) -> Published:
    """A table of transfer attempts per line or per target. A line's row and its targets' rows split the same
    attempts (population "answered:LINE"): no "<5" of them may be worked out from the others."""
    rows = _rows(cell, key, sorted((label, label, n) for label, n in counts.items()))
    population, _, partition = part.partition("/")
    # "/" ends a population's name (shown.Published.parts): a line named with one is kept whole.
    row_parts = tuple((f"{population}:{line(label).replace('/', ' ')}/{partition}",) for label, _ in rows)
    return Published(title, rows, (part,), row_parts)


def build(report: Report, key: bytes, names: Names | None = None, *, now: float) -> View:
    """The tables of ``report`` as anyone may see them, checked together."""
    names = names or Names()
    hourly = (report.end - report.start).days + 1 <= HOURLY_DAYS

    def one(title: str, part: str, count: int) -> Published:
        return Published(title, [(title, show(count, key, part))], (f"{part}/headline",))

    def sorted_by(counter: Mapping[str, int], label: object) -> list[tuple[str, str, int]]:
        return sorted(((label(k), k, n) for k, n in counter.items()), key=lambda row: row[0])  # type: ignore[operator]

    week: Counter[tuple[int, int]] = Counter()
    for hour, n in report.per_hour.items():
        at = local(hour)
        week[(at.weekday(), at.hour)] += n
    lines: dict[str, Counter[str]] = {"transfer_done": Counter(), "transfer_failed": Counter()}
    for (flow, node, lang, outcome), n in report.transfer_turns.items():
        lines[outcome][names.line(flow, node, lang)] += n
    for name in set(lines["transfer_done"]) | set(lines["transfer_failed"]):
        for counter in lines.values():
            counter[name] += 0
    targets: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    line_of: dict[str, str] = {}  # a target's label -> its line's, as the tables per line name it
    for (line_id, position, answered), n in sorted(report.per_target.items()):
        label = names.target(line_id, position)
        line_of[label] = names.line_named(line_id)
        targets[answered][label] += n
        targets[not answered][label] += 0  # both tables list every target tried

    buckets: Counter[int] = Counter()
    for seconds, n in report.to_line.items():
        buckets[_bucket(seconds)] += n
    durations = [d for d in DURATION_ORDER if d != "in progress" or report.durations[d]]
    durations += sorted(set(report.durations) - set(DURATION_ORDER))
    tables = [
        one(CALLS, "calls", report.calls),
        one(REACHED, "reached", sum(report.reached.values())),
        one(IN_PROGRESS, "in_progress", report.in_progress),
        Published(
            PER_DAY,
            _rows("day", key, ((f"{d:%a} {d.isoformat()}", d.isoformat(), report.per_day[d]) for d in report.days())),
            ("calls/day",),
        ),
        Published(
            WEEK,
            _rows("week", key, ((f"{WEEKDAYS[d]} {h:02d}h", f"{d}:{h}", week[(d, h)]) for d in range(7) for h in range(24))),
            ("calls/week",),
        ),
        Published(LANGUAGE, _rows("lang", key, sorted_by(report.languages, names.language)), ("calls/language",)),
        Published(
            REACHED_LANGUAGE,
            _rows("reached", key, sorted_by(report.reached, names.language)),
            ("reached/language", "calls/ended"),
        ),
        Published(
            DROP_OFF,
            _rows("drop_off", key, sorted(((names.place(k), k, n) for k, n in report.drop_off.items()), key=lambda r: -r[2])),
            ("calls/ended",),
        ),
        Published(
            TO_LINE, _rows("to_line", key, ((_bucket_label(b), str(b), buckets[b]) for b in sorted(buckets))), ("reached/time",)
        ),
        Published(PER_NUMBER, _rows("number", key, sorted_by(report.flows, names.number)), ("calls/number",)),
        Published(
            REACHED_NUMBER, _rows("number_reached", key, sorted_by(report.reached_flows, names.number)), ("reached/number",)
        ),
        Published(RESULTS, _rows("result", key, ((r, r, report.transfers[r]) for r in RESULT_ORDER)), ("transfers/result",)),
        one(STARTED, "started", report.transfers["started"]),
        _per_line(ANSWERED_LINE, "answered", "answered/line", lines["transfer_done"], str, key),
        _per_line(UNANSWERED_LINE, "unanswered", "unanswered/line", lines["transfer_failed"], str, key),
        # The same attempts as the tables per line, told apart by target.
        _per_line(ANSWERED_TARGET, "answered_target", "answered/target", targets[True], line_of.__getitem__, key),
        _per_line(UNANSWERED_TARGET, "unanswered_target", "unanswered/target", targets[False], line_of.__getitem__, key),
        Published(
            FALLBACK,
            _rows(
                "outcome",
                key,
                (
                    ("fallback URL", "fallback", report.outcomes["fallback"]),
                    ("fallback URL (unsigned)", "fallback_unsigned", report.outcomes["fallback_unsigned"]),
                    ("rescue", "rescue", report.outcomes["rescue"]),
                ),
            ),
            ("outcomes/fallback",),
        ),
        Published(LENGTH, _rows("length", key, ((d, d, report.durations[d]) for d in durations)), ("calls/length",)),
    ]
    if hourly:
        rows = ((f"{local(h):%a %d %b %Hh}", str(h), report.per_hour[h]) for h in hours(report, now))
        tables.insert(4, Published(PER_HOUR, _rows("hour", key, rows), ("calls/hour",)))
    protect(tables)
    return View(report.start, report.end, tables, percentile(report.to_line, 0.5), percentile(report.to_line, 0.9), hourly)


# --- the terminal and the CSV ---------------------------------------------------------------------------


RULE = (
    "Counts below 5 are shown as <5 and others rounded to a multiple of 5 (the same way each time); "
    "a few more may be hidden so that no <5 can be worked out; totals add up the figures shown."
)


def _seconds(value: int | None) -> str:
    return "too few calls" if value is None else f"{value} s"


def text(view: View) -> str:
    """The view for a terminal."""
    calls, reached = view.headline(CALLS), view.headline(REACHED)
    lines = [
        f"Calls from {view.start.isoformat()} to {view.end.isoformat()} (Brussels days), "
        f"{view.headline(IN_PROGRESS)} of them still in progress",
        RULE,
        "",
        f"Reached the line: {reached} of {calls} calls ({rate(reached, calls)})",
        f"Time to the line (seconds of audio): p50 {_seconds(view.p50)}, p90 {_seconds(view.p90)}",
    ]
    rates = {label: share for label, _, _, share in view.language_rates()}
    for table in view.tables:
        if len(table.rows) == 1 and table.rows[0][0] == table.title:
            continue  # a headline, said above
        lines += ["", table.title]
        if not table.rows:
            lines.append("  (none)")
            continue
        width = max(len(label) for label, _ in table.rows)
        for label, value in table.rows:
            extra = f"   reached the line: {rates[label]}" if table.title == LANGUAGE and label in rates else ""
            lines.append(f"  {label.ljust(width)}  {value.text:>6}{extra}")
        lines.append(f"  {'total'.ljust(width)}  {table.total():>6}")
    return "\n".join(lines) + "\n"


def csv_text(view: View) -> str:
    """Every table as numbers a spreadsheet can add up: (table, label, count, flag). A count not shown is
    empty, its flag saying why ("<5", "hidden", "withheld"); a total row adds up the counts shown, its
    flag saying how many it leaves out."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["table", "label", "count", "flag"])
    for table in view.tables:
        for label, value in table.rows:
            writer.writerow([table.title, label, "" if value.value is None else value.value, value.why])
        if len(table.rows) > 1:
            added, left_out = total(table.cells)
            flag = f"total of the counts shown; {left_out} not shown" if left_out else "total"
            writer.writerow([table.title, "total", added, flag])
    for name, seconds in (("p50", view.p50), ("p90", view.p90)):
        missing = seconds is None
        writer.writerow([TO_LINE, f"{name} seconds", "" if missing else seconds, "too few calls" if missing else ""])
    return out.getvalue()
