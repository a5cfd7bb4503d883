"""Opening hours in Brussels, across both DST changes, midnight and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from ivr.belgian_holidays import Holidays
from ivr.hours import BRUSSELS, HoursError, Schedule, at_brussels, parse_date, parse_window

# 2026: summer time starts on Sunday 29 March (02:00 -> 03:00), ends on Sunday 25 October (03:00 -> 02:00).
SPRING = date(2026, 3, 29)
AUTUMN = date(2026, 10, 25)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_dst_dates_are_the_last_sundays_of_march_and_october() -> None:
    assert SPRING.weekday() == AUTUMN.weekday() == 6
    assert (SPRING + timedelta(days=7)).month == 4 and (AUTUMN + timedelta(days=7)).month == 11
    assert utc(2026, 3, 29, 0, 59).astimezone(BRUSSELS).hour == 1  # 01:59 CET
    assert utc(2026, 3, 29, 1, 0).astimezone(BRUSSELS).hour == 3  # then 03:00 CEST: 02:xx never happens
    assert utc(2026, 10, 25, 0, 30).astimezone(BRUSSELS).hour == 2  # 02:30 CEST
    assert utc(2026, 10, 25, 1, 30).astimezone(BRUSSELS).hour == 2  # 02:30 CET, the second time


def test_a_window_spanning_the_spring_change() -> None:
    night = Schedule((parse_window("sun 01:00-04:00"),))
    assert not night.is_open(utc(2026, 3, 28, 23, 59))  # 00:59 CET: before
    assert night.is_open(utc(2026, 3, 29, 0, 30))  # 01:30 CET
    assert night.is_open(utc(2026, 3, 29, 1, 30))  # 03:30 CEST: an hour later in UTC, still inside
    assert not night.is_open(utc(2026, 3, 29, 2, 0))  # 04:00 CEST: closed
    # a window in the hour that does not exist that night is never open then, and open the week after
    gap = Schedule((parse_window("sun 02:00-03:00"),))
    assert not any(gap.is_open(utc(2026, 3, 28, 22) + timedelta(minutes=m)) for m in range(0, 6 * 60, 5))
    assert gap.is_open(at_brussels(SPRING + timedelta(days=7), time(2, 30)))


def test_a_window_spanning_the_autumn_change() -> None:
    night = Schedule((parse_window("sun 01:00-04:00"),))
    assert night.is_open(utc(2026, 10, 24, 23, 30))  # 01:30 CEST
    assert night.is_open(utc(2026, 10, 25, 0, 30))  # 02:30 CEST, the first time
    assert night.is_open(utc(2026, 10, 25, 1, 30))  # 02:30 CET, the second time
    assert night.is_open(utc(2026, 10, 25, 2, 59))  # 03:59 CET
    assert not night.is_open(utc(2026, 10, 25, 3, 0))  # 04:00 CET: closed; four hours of wall clock, five real ones
    open_minutes = sum(night.is_open(utc(2026, 10, 24, 22) + timedelta(minutes=m)) for m in range(0, 8 * 60))
    assert open_minutes == 4 * 60  # 01:00 CEST to 04:00 CET


def test_a_target_that_closes_at_midnight() -> None:
    evening = Schedule((parse_window("mon-fri 18:00-24:00"),))
    friday = date(2026, 11, 27)
    assert evening.is_open(at_brussels(friday, time(23, 59)))
    assert not evening.is_open(at_brussels(friday + timedelta(days=1), time(0, 0)))  # Saturday 00:00
    assert not evening.is_open(at_brussels(friday, time(17, 59)))


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    late = Schedule((parse_window("fri 22:00-02:00"),))
    friday = date(2026, 11, 27)
    assert late.is_open(at_brussels(friday, time(23, 0)))
    assert late.is_open(at_brussels(friday + timedelta(days=1), time(1, 59)))
    assert not late.is_open(at_brussels(friday + timedelta(days=1), time(2, 0)))
    assert not late.is_open(at_brussels(friday - timedelta(days=1), time(1, 0)))  # Thursday 01:00


def test_holidays_close_a_schedule_but_not_an_always_open_line() -> None:
    christmas = date(2026, 12, 25)
    daytime = Schedule((parse_window("mon-sun 09:00-17:00"),), Holidays(dates=frozenset({christmas})))
    assert not daytime.is_open(at_brussels(christmas, time(12, 0)))
    assert daytime.is_open(at_brussels(christmas + timedelta(days=1), time(12, 0)))
    assert Schedule(holidays=Holidays(dates=frozenset({christmas}))).is_open(at_brussels(christmas, time(12, 0)))


def test_a_holiday_is_a_brussels_calendar_day_not_a_utc_one() -> None:
    all_day = Schedule((parse_window("mon-sun 00:00-24:00"),), Holidays(national=True))
    assert not all_day.is_open(utc(2026, 4, 30, 22, 30))  # 00:30 on 1 May in Brussels (CEST): Labour Day
    assert all_day.is_open(utc(2026, 4, 30, 21, 59))  # 23:59 on 30 April
    assert all_day.is_open(utc(2026, 5, 1, 22, 30))  # 00:30 on 2 May, though still 1 May in UTC


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("mon-fri 9:00-17:00", "not an opening window"),
        ("mon 25:00-26:00", "not a time of day"),
        ("mun 09:00-10:00", "'mun' is not a day"),
        ("mon 09:00-09:00", "same time"),
        ("mon 24:00-02:00", "not a time of day"),
    ],
)
def test_a_window_that_cannot_be_read_says_why(text: str, fragment: str) -> None:
    with pytest.raises(HoursError, match=fragment):
        parse_window(text)


def test_dates_are_iso_only() -> None:
    assert parse_date("2026-12-25") == date(2026, 12, 25)
    for text in ("25/12/2026", "2026-02-30", "２０２６-12-25"):
        with pytest.raises(HoursError):
            parse_date(text)


def test_day_ranges_wrap_round_the_week() -> None:
    weekend_nights = parse_window("fri-mon 20:00-23:00")
    assert weekend_nights.days == frozenset({4, 5, 6, 0})
