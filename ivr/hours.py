"""Opening hours in Europe/Brussels: when a line or a transfer target takes calls.

Pure: a :class:`Schedule` answers ``is_open(instant)`` for an aware datetime, by its wall-clock
time in Brussels. Working on the wall clock of a real instant is what makes the two DST changes
safe: 02:30 on the last Sunday of March never happens, so no instant falls into a gap, and the
hour 02:00-03:00 of the last Sunday of October happens twice, both times inside a window that
covers 02:xx. ``zoneinfo`` takes the rules from the ``tzdata`` package where the system has none.

On a holiday (:mod:`ivr.belgian_holidays`) the schedule's holiday windows replace its windows
for that calendar day, 00:00 to 24:00; with none, it is closed all that day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.belgian_holidays import Holidays

BRUSSELS = ZoneInfo("Europe/Brussels")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW_HELP = 'write a window as "DAYS HH:MM-HH:MM", e.g. "mon-fri 09:00-17:00", "sat,sun 10:00-14:00" or "sun 18:00-24:00"'
HOLIDAY_WINDOW_HELP = 'write a holiday window as "HH:MM-HH:MM" within the day, e.g. "10:00-16:00" or "20:00-24:00"'
HOLIDAY_WINDOW = re.compile(r"(?P<start>[0-9]{2}:[0-9]{2})-(?P<end>[0-9]{2}:[0-9]{2})")
WINDOW = re.compile(
    r"(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*) (?P<start>[0-9]{2}:[0-9]{2})-(?P<end>[0-9]{2}:[0-9]{2})"
)


class HoursError(ValueError):
    """A window that cannot be read; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class OpeningWindow:
    """Open on ``days`` (0 = Monday) from ``start`` to ``end`` minutes after midnight; ``end`` may be 1440 (24:00)."""

    days: frozenset[int]
    start: int
    end: int
    text: str

    def covers(self, weekday: int, minute: int) -> bool:
        if self.end > self.start:
            return weekday in self.days and self.start <= minute < self.end
        # Past midnight ("fri 22:00-02:00"): from start on the day, and until end the next morning.
        return (weekday in self.days and minute >= self.start) or ((weekday - 1) % 7 in self.days and minute < self.end)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When something is open: its windows, and on its holidays its holiday windows (none: closed).

    No windows: always open, holidays or not (the loader gives a schedule with only holiday
    windows the whole week as its ordinary hours).
    """

    windows: tuple[OpeningWindow, ...] = ()
    holidays: Holidays = Holidays()
    on_holidays: tuple[OpeningWindow, ...] = ()

    @property
    def always(self) -> bool:
        return not self.windows

    def is_open(self, instant: datetime) -> bool:
        if self.always:
            return True
        local = instant.astimezone(BRUSSELS)
        windows = self.on_holidays if local.date() in self.holidays else self.windows
        minute = local.hour * 60 + local.minute
        return any(window.covers(local.weekday(), minute) for window in windows)

    def describe(self) -> str:
        if self.always:
            return "always"
        text = "; ".join(w.text for w in self.windows)
        if not self.holidays:
            return text
        if not self.on_holidays:
            return text + ", closed on holidays"
        return text + ", on holidays " + ", ".join(w.text for w in self.on_holidays)


def _minutes(text: str, *, end: bool) -> int:
    hours, minutes = int(text[:2]), int(text[3:])
    if (hours, minutes) == (24, 0) and end:
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise HoursError(f"{text} is not a time of day (00:00 to 23:59, or 24:00 as an end)")
    return hours * 60 + minutes


def _days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        for name in (first, last or first):
            if name not in DAYS:
                raise HoursError(f"{name!r} is not a day: use {', '.join(DAYS)}")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.update(DAYS.index(day) % 7 for day in (DAYS[start : end + 1] if start <= end else DAYS[start:] + DAYS[: end + 1]))
    return frozenset(days)


def parse_window(text: str) -> OpeningWindow:
    """``"mon-fri 09:00-17:00"`` → a :class:`OpeningWindow`; raises :class:`HoursError` with what is wrong."""
    m = WINDOW.fullmatch(text.strip())
    if m is None:
        raise HoursError(f"{text!r} is not an opening window")
    start, end = _minutes(m["start"], end=False), _minutes(m["end"], end=True)
    if start == end:
        raise HoursError(f"{text!r} opens and closes at the same time")
    return OpeningWindow(_days(m["days"]), start, end, text.strip())


def parse_holiday_window(text: str) -> OpeningWindow:
    """``"10:00-16:00"`` → a :class:`OpeningWindow` on every day, within it; raises :class:`HoursError` with what is wrong."""
    m = HOLIDAY_WINDOW.fullmatch(text.strip())
    if m is None:
        raise HoursError(f"{text!r} is not a holiday window")
    start, end = _minutes(m["start"], end=False), _minutes(m["end"], end=True)
    if end <= start:
        # A holiday's hours end with its day: after midnight, the next day's own hours apply.
        raise HoursError(f"{text!r} does not end after it starts on the same day")
    return OpeningWindow(frozenset(range(7)), start, end, text.strip())


ALL_WEEK = OpeningWindow(frozenset(range(7)), 0, 24 * 60, "mon-sun 00:00-24:00")


def parse_date(text: str) -> date:
    """``"2026-12-25"`` → a date; raises :class:`HoursError` otherwise."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise HoursError(f"{text!r} is not a date written as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise HoursError(f"{text!r} is not a date: {exc}") from None


def at_brussels(day: date, clock: time) -> datetime:
    """The instant a Brussels wall clock shows ``clock`` on ``day`` (for tests and reports)."""
    return datetime.combine(day, clock, BRUSSELS)


MOMENT = re.compile(r"(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2})[ T](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})")


def brussels_moment(text: str) -> tuple[datetime, str]:
    """``"2026-12-25 03:00"`` on a Brussels wall clock → that instant (UTC), and a note ("" if none).

    An hour that happens twice (the night the clocks go back) is taken the first time, and the
    note says so; raises :class:`HoursError` for other text, and for a time the clocks skip.
    """
    m = MOMENT.fullmatch(text.strip())
    if m is None:
        raise HoursError(f"{text!r} is not a Brussels date and time written as YYYY-MM-DD HH:MM, e.g. 2026-12-25 03:00")
    day, hour, minute = parse_date(m["day"]), int(m["hour"]), int(m["minute"])
    if hour > 23 or minute > 59:
        raise HoursError(f"{m['hour']}:{m['minute']} is not a time of day (00:00 to 23:59)")
    if not 2000 <= day.year <= 2099:  # far from now, the time zone rules and holidays are not known
        raise HoursError(f"{day.year} is not a year from 2000 to 2099")
    wall = datetime.combine(day, time(hour, minute))
    # zoneinfo reads a skipped or repeated wall time both ways: fold=0 with the offset before the change, fold=1 after.
    first, second = wall.replace(tzinfo=BRUSSELS, fold=0), wall.replace(tzinfo=BRUSSELS, fold=1)
    if first.astimezone(UTC).astimezone(BRUSSELS).replace(tzinfo=None) != wall:
        before, after = second.astimezone(UTC).astimezone(BRUSSELS), first.astimezone(UTC).astimezone(BRUSSELS)
        raise HoursError(
            f"{day} {hour:02}:{minute:02} does not exist in Brussels: the clocks go forward an hour that night;"
            f" choose a time outside the hour they skip, e.g. {before:%H:%M} {before:%Z} or {after:%H:%M} {after:%Z}"
        )
    note = ""
    if first.utcoffset() != second.utcoffset():
        note = (
            f"{day} {hour:02}:{minute:02} happens twice in Brussels (the clocks go back an hour that night):"
            f" taking the first, {describe_moment(first)}; the second would be {describe_moment(second)}"
        )
    return first.astimezone(UTC), note


def describe_moment(instant: datetime) -> str:
    """``"Friday 25 December 2026, 03:00 CET (UTC+1)"``: the Brussels wall clock, for people."""
    local = instant.astimezone(BRUSSELS)
    hours = int((local.utcoffset() or timedelta()).total_seconds() // 3600)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M %Z} (UTC{hours:+d})"
