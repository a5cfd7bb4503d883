"""What is live now, for ``ivr status`` and the panel on ``/admin``: the same sections, worded once.

Pure: given the catalog, an instant, the announcement and what the service says it serves, it
returns lines of text. Transfer targets are masked (last two characters, never a SIP username):
the panel is an operator page, and its text may be pasted anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ivr.announcements import Announcement
from ivr.hours import BRUSSELS, Schedule, at_brussels
from ivr.model import Catalog, Helpline, Target
from ivr.startup import Loaded

HOLIDAY_DAYS = 30  # holidays shown ahead
LOOK_AHEAD_DAYS = 8  # a change further than a week ahead is "for the coming week"


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    lines: tuple[str, ...]


def when(instant: datetime) -> str:
    """``"Fri 25 Dec 2026 17:00"`` on the Brussels wall clock."""
    return f"{instant.astimezone(BRUSSELS):%a %d %b %Y %H:%M}"


def _boundaries(schedules: tuple[Schedule, ...], now: datetime) -> list[datetime]:
    """Every instant within the look-ahead at which one of ``schedules`` may open or close, in order."""
    minutes = {0}
    for schedule in schedules:
        for window in (*schedule.windows, *schedule.on_holidays):
            minutes.update({window.start, window.end % (24 * 60)})
    today = now.astimezone(BRUSSELS).date()
    found = {at_brussels(today + timedelta(days=n), time(m // 60, m % 60)) for n in range(LOOK_AHEAD_DAYS + 1) for m in minutes}
    return sorted(instant for instant in found if instant > now)


def state(schedules: tuple[Schedule, ...], now: datetime) -> str:
    """``"open now, until …"`` or ``"closed now, opens …"``: open when every one of ``schedules`` is."""

    def is_open(instant: datetime) -> bool:
        return all(schedule.is_open(instant) for schedule in schedules)

    if all(schedule.always for schedule in schedules):
        return "open at all hours"
    open_now = is_open(now)
    change = next((t for t in _boundaries(schedules, now) if is_open(t) != open_now), None)
    if open_now:
        return "open now, " + (f"until {when(change)}" if change else "all of the coming week")
    return "closed now, " + (f"opens {when(change)}" if change else "not open in the coming week")


def _line_lines(line: Helpline, now: datetime) -> list[str]:
    if not line.transfer_to:
        return [f"{line.id}: no transfer targets (its number is said at any hour)"]
    found = [f"{line.id}: transfers {state((line.hours_open,), now)}"]
    found += [
        f"  {_target(n, target)}: {state((line.hours_open, target.hours), now)}" for n, target in enumerate(line.transfer_to, 1)
    ]
    return found


def _target(n: int, target: Target) -> str:
    """``"target 2 (…01)"``: its place in the line's order tells apart two that end alike."""
    return f"target {n} ({target.masked})"


def _holidays(catalog: Catalog, now: datetime) -> list[str]:
    """Each holiday in the next ``HOLIDAY_DAYS`` days, with the lines and targets whose hours it changes."""
    owners: list[tuple[str, Schedule]] = []
    for line in catalog.helplines.values():
        owners.append((line.id, line.hours_open))
        owners += [(f"{line.id} {_target(n, target)}", target.hours) for n, target in enumerate(line.transfer_to, 1)]
    today = now.astimezone(BRUSSELS).date()
    found = []
    for day in (today + timedelta(days=n) for n in range(HOLIDAY_DAYS)):
        names: dict[str, list[str]] = {}
        for owner, schedule in owners:
            name = schedule.holidays.name(day) if schedule.windows else None  # always open: holidays change nothing
            if name:
                names.setdefault(name, []).append(owner)
        found += [f"{_day(day)}: {name} ({', '.join(who)})" for name, who in names.items()]
    return found or [f"none in the next {HOLIDAY_DAYS} days for the lines' and targets' hours"]


def _day(day: date) -> str:
    return f"{day:%a %d %b %Y}"


def _announcement(found: Announcement | None, warning: str | None, now: datetime) -> list[str]:
    if warning:
        return [f"{warning}; callers hear no announcement"]
    if found is None:
        return ["none"]
    if found.active(now):
        head = f"on now, until {when(found.end)}"
    elif now < found.start:
        head = f"not on yet: from {when(found.start)} until {when(found.end)}"
    else:
        head = f"ended {when(found.end)} (clear it with `ivr announce clear`)"
    return [head, *(f"  {lang}: {text}" for lang, text in found.text.items())]


def _flows(served: Loaded | None, on_disk: str, problem: str | None) -> list[str]:
    if served is None:
        return [f"on disk: {on_disk}", f"served: unknown ({problem or 'the service was not reached'})"]
    lines = [f"served: {served.content}, loaded {when(served.loaded_at)}"]
    if served.content == on_disk:
        lines.append(f"on disk: {on_disk}, the same")
    else:
        lines.append(f"on disk: {on_disk}, not served yet: check it with `ivr validate`, then `ivr reload PID`")
    if served.refused_at is None:
        lines.append("no reload refused since it started")
    else:
        lines.append(f"last refused reload: {when(served.refused_at)}: {served.refused_reason or '(reason not shown here)'}")
    return lines


def sections(
    catalog: Catalog,
    now: datetime,
    announcement: tuple[Announcement | None, str | None],
    served: Loaded | None,
    on_disk: str,
    problem: str | None = None,
) -> list[Section]:
    """What is live at ``now``; ``served`` is what the service says it serves (None: not reached, ``problem`` says why)."""
    lines = [text for line in catalog.helplines.values() for text in _line_lines(line, now)]
    return [
        Section("Flows and config", tuple(_flows(served, on_disk, problem))),
        Section(f"Lines and transfer targets at {when(now)} (Brussels)", tuple(lines)),
        Section(f"Holidays in the next {HOLIDAY_DAYS} days", tuple(_holidays(catalog, now))),
        Section("Announcement", tuple(_announcement(*announcement, now))),
    ]


def text(found: list[Section]) -> str:
    return "\n".join(f"{section.title}\n" + "\n".join(f"  {line}" for line in section.lines) for section in found)
