"""Belgian holidays without typing them: national days from the holidays package, community days per line.

Through the signed webhook on the fictional targets of tests/data/holidays/helplines.yaml
(national holidays for every line, 11 July for the Dutch-language line, 27 September for the
French-language one, 24 December 2026 as an extra date), and errors through ``ivr validate``.
The expected dates are written out here, not worked out: Easter was on 20 April 2025, is on
5 April 2026 and 28 March 2027.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.app import create_app
from ivr.cli import main
from ivr.hours import at_brussels
from ivr.settings import Settings
from ivr.simulate import Ring
from support import DATA, TwilioClient, TwiML

FIRST, HOLIDAY_HOURS, FRENCH = "+3290000001", "+3290000002", "+3290000003"


def holidays_config(tmp_path: Path, edit: Callable[[str], str] = lambda text: text) -> Path:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    text = (DATA / "holidays" / "helplines.yaml").read_text(encoding="utf-8")
    (config / "helplines.yaml").write_text(edit(text), encoding="utf-8")
    return config


Dialled = Callable[[str, date, time], list[str]]


@pytest.fixture
def call_at_config(settings: Settings, tmp_path: Path, valid_twiml: Callable[[TwiML], TwiML]) -> Callable[..., Dialled]:
    """A service on the holiday fixture (edited by ``edit``), and how to call it at a Brussels day and hour."""

    def service(edit: Callable[[str], str] = lambda text: text) -> Dialled:
        moment: list[datetime] = []
        config = holidays_config(tmp_path, edit)
        app = create_app(replace(settings, config_dir=config, flows_dir=DATA / "flows"), clock=lambda: moment[0])
        twilio = TwilioClient(app.test_client())

        def dialled(language_key: str, day: date, clock: time) -> list[str]:
            """The targets rung, in turn, for a caller of one language who presses 0 at once."""
            moment[:] = [at_brussels(day, clock)]
            welcome = valid_twiml(twilio.post("/voice"))
            menu = valid_twiml(twilio.follow(welcome.gather_action(), language_key))
            answer = valid_twiml(twilio.follow(menu.gather_action(), "0"))
            rung: list[str] = []
            while (ring := answer.read.first(Ring)) is not None and ring.action and len(rung) < 5:
                rung.extend(ring.numbers)  # each open target in turn, each busy
                answer = valid_twiml(twilio.follow(ring.action, DialCallStatus="busy"))
            return rung

        return dialled

    return service


@pytest.fixture
def call_at(call_at_config: Callable[..., Dialled]) -> Dialled:
    return call_at_config()


DUTCH, FRENCH_KEY = "1", "2"
NOON, EVENING = time(12, 0), time(18, 0)


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 4, 21),  # Easter Monday
        date(2026, 4, 6),
        date(2027, 3, 29),
        date(2025, 5, 29),  # Ascension
        date(2026, 5, 14),
        date(2027, 5, 6),
        date(2025, 6, 9),  # Whit Monday
        date(2026, 5, 25),
        date(2027, 5, 17),
        date(2026, 1, 1),
        date(2026, 5, 1),
        date(2026, 7, 21),
        date(2026, 8, 15),
        date(2026, 11, 1),
        date(2026, 11, 11),
        date(2026, 12, 25),
        date(2026, 12, 24),  # the extra date in config
    ],
)
def test_a_national_holiday_keeps_its_holiday_hours_for_every_line(call_at, day: date) -> None:
    assert call_at(DUTCH, day, NOON) == [HOLIDAY_HOURS]  # the first target is closed, the second keeps 10:00-16:00
    assert call_at(DUTCH, day, EVENING) == []  # after its holiday hours: the number is said
    assert call_at(FRENCH_KEY, day, NOON) == []


@pytest.mark.parametrize("day", [date(2025, 4, 22), date(2026, 4, 7), date(2027, 3, 30), date(2026, 5, 15), date(2027, 5, 18)])
def test_the_day_after_is_an_ordinary_day(call_at, day: date) -> None:
    assert call_at(DUTCH, day, NOON) == [FIRST, HOLIDAY_HOURS]
    assert call_at(DUTCH, day, EVENING) == [FIRST, HOLIDAY_HOURS]
    assert call_at(FRENCH_KEY, day, NOON) == [FRENCH]


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_11_july_only_for_the_line_that_chose_it_and_27_september_for_the_other(call_at, year: int) -> None:
    flemish, french = date(year, 7, 11), date(year, 9, 27)
    assert call_at(DUTCH, flemish, NOON) == [HOLIDAY_HOURS]
    assert call_at(FRENCH_KEY, flemish, NOON) == [FRENCH]
    assert call_at(DUTCH, french, NOON) == [FIRST, HOLIDAY_HOURS]
    assert call_at(FRENCH_KEY, french, NOON) == []
    # 15 November is no line's day here (the German-speaking Community's)
    assert call_at(DUTCH, date(year, 11, 15), NOON) == [FIRST, HOLIDAY_HOURS]


def test_only_the_public_category_counts(call_at) -> None:
    # Good Friday, Boxing Day and the Friday after Ascension are bank holidays, not public ones; the package's
    # "community" subdivisions would have closed all of July and August (school holidays).
    for day in (date(2026, 4, 3), date(2026, 12, 26), date(2026, 5, 15), date(2026, 7, 15), date(2026, 8, 3)):
        assert call_at(DUTCH, day, NOON) == [FIRST, HOLIDAY_HOURS], day


def test_holiday_hours_open_and_close_on_the_minute(call_at) -> None:
    easter_monday = date(2026, 4, 6)
    assert call_at(DUTCH, easter_monday, time(9, 59)) == []  # before its holiday hours
    assert call_at(DUTCH, easter_monday, time(10, 0)) == [HOLIDAY_HOURS]
    assert call_at(DUTCH, easter_monday, time(15, 59)) == [HOLIDAY_HOURS]
    assert call_at(DUTCH, easter_monday, time(16, 0)) == []
    assert call_at(DUTCH, date(2026, 4, 5), time(21, 59)) == []  # Easter Sunday is a public holiday too
    assert call_at(DUTCH, date(2026, 4, 4), time(21, 59)) == [FIRST, HOLIDAY_HOURS]


# --- the config -------------------------------------------------------------------------------------


def validate(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", "--config", str(config), "--flows", str(DATA / "flows")])
    return result.exit_code, result.output


def test_the_shipped_form_and_the_fixture_load(tmp_path: Path) -> None:
    assert validate(holidays_config(tmp_path))[0] == 0
    old_form = holidays_config(tmp_path / "old", lambda text: text.replace("holidays:\n  national: true\n  dates:", "holidays:"))
    assert "holidays: [" in (old_form / "helplines.yaml").read_text(encoding="utf-8")
    assert validate(old_form)[0] == 0


def test_a_line_may_list_dates_of_its_own(call_at_config) -> None:
    dialled = call_at_config(lambda text: text.replace("    holidays: {community: flemish}\n", '    holidays: ["2026-08-14"]\n'))
    assert dialled(DUTCH, date(2026, 8, 14), NOON) == [HOLIDAY_HOURS]
    assert dialled(FRENCH_KEY, date(2026, 8, 14), NOON) == [FRENCH]
    assert dialled(DUTCH, date(2026, 7, 11), NOON) == [FIRST, HOLIDAY_HOURS]  # no longer the Flemish Community's day
    assert dialled(DUTCH, date(2026, 12, 25), NOON) == [HOLIDAY_HOURS]  # and still every line's holidays


def located(text: str, needle: str, column_of: str) -> str:
    """``helplines.yaml:LINE:COLUMN`` where ``column_of`` starts, on the first line holding ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return f"helplines.yaml:{number}:{line.index(column_of) + 1}"
    raise AssertionError(needle)


@pytest.mark.parametrize(
    ("old", "new", "mark", "path", "message", "fix"),
    [
        (
            "{community: flemish}",
            "{community: flemmish}",
            "flemmish",
            "helplines.tele_onthaal.holidays.community",
            "'flemmish' is not a community with a day of its own",
            "did you mean 'flemish'? (flemish: Day of the Flemish Community, 11 July; french",
        ),
        (
            "community: [french]",
            "community: [french, walloon]",
            "walloon",
            "helplines.tele_accueil.holidays.community[1]",
            "'walloon' is not a community with a day of its own",
            "german: Day of the German-speaking Community, 15 November)",
        ),
        (
            'hours_on_holidays: ["10:00-16:00"]',
            'hours_on_holidays: ["22:00-02:00"]',
            '"22:00',
            "helplines.tele_onthaal.transfer_to[1].hours_on_holidays[0]",
            "'22:00-02:00' does not end after it starts on the same day",
            'write a holiday window as "HH:MM-HH:MM" within the day',
        ),
        (
            'hours_on_holidays: ["10:00-16:00"]',
            'hours_on_holidays: ["sun 10:00-16:00"]',
            '"sun',
            "helplines.tele_onthaal.transfer_to[1].hours_on_holidays[0]",
            "'sun 10:00-16:00' is not a holiday window",
            'e.g. "10:00-16:00"',
        ),
        ("national: true", "national: yes", "yes", "holidays.national", "'yes' is not true or false", "write true or false"),
        ("national: true", "nationl: true", "nationl", "holidays.nationl", "unknown key 'nationl'", "did you mean 'national'?"),
        (
            '"2026-12-24"',
            '"24/12/2026"',
            '"24/12',
            "holidays.dates[0]",
            "'24/12/2026' is not a date written as YYYY-MM-DD",
            "write each holiday as YYYY-MM-DD",
        ),
    ],
)
def test_a_holiday_that_cannot_be_read_is_a_located_error(
    tmp_path: Path, old: str, new: str, mark: str, path: str, message: str, fix: str
) -> None:
    config = holidays_config(tmp_path, lambda text: text.replace(old, new, 1))
    text = (config / "helplines.yaml").read_text(encoding="utf-8")
    code, output = validate(config)
    assert code == 1
    assert f"{located(text, new, mark)}: {path}: {message}" in output, output
    assert fix in output, output


def test_hours_on_holidays_without_any_holiday_is_refused(tmp_path: Path) -> None:
    def no_holidays(text: str) -> str:
        text = text.replace('holidays:\n  national: true\n  dates: ["2026-12-24"]\n', "")
        return text.replace("    holidays: {community: flemish}\n", "")

    config = holidays_config(tmp_path, no_holidays)
    text = (config / "helplines.yaml").read_text(encoding="utf-8")
    code, output = validate(config)
    assert code == 1
    where = located(text, 'hours_on_holidays: ["10:00-16:00"]', "[")
    assert (
        f"{where}: helplines.tele_onthaal.transfer_to[1].hours_on_holidays: hours on holidays, but this line has no holidays"
        in output
    )
    assert "add national: true under the top-level holidays:" in output
