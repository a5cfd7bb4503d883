"""Belgium's holidays: the national public ones from the ``holidays`` package, and the three community days.

The only import of ``holidays``. The national days (New Year, Easter Monday, Labour Day,
Ascension, Whit Monday, 21 July, 15 August, 1 and 11 November, Christmas; Easter and Whit
Sunday too) are its ``public`` category, so the days that move with Easter need no typing.
The package knows the community days only inside whole school calendars (its subdivisions
close weeks of school holidays), so the three days are the small table below, chosen per line.
"""

from __future__ import annotations

import functools
from calendar import month_name
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

import holidays

# The communities' own days, the same date every year: days off for that community's services,
# not public holidays of the whole country. (month, day, name) by the name a line chooses in config.
COMMUNITY_DAYS: Mapping[str, tuple[int, int, str]] = MappingProxyType(
    {
        "flemish": (7, 11, "Day of the Flemish Community"),
        "french": (9, 27, "Day of the French Community"),
        "german": (11, 15, "Day of the German-speaking Community"),
    }
)
COMMUNITY_HELP = "; ".join(f"{key}: {text}, {dom} {month_name[month]}" for key, (month, dom, text) in COMMUNITY_DAYS.items())


@functools.lru_cache(maxsize=64)
def national(year: int) -> Mapping[date, str]:
    """Belgium's public holidays in ``year``, with their English names (worked out once per year)."""
    found = holidays.country_holidays("BE", years=year, categories=(holidays.PUBLIC,), language="en_US")
    return MappingProxyType({day: str(name) for day, name in found.items()})


def prepare() -> None:
    """Work out this year's days at load: the package's first calendar takes a quarter of a second, not for a caller."""
    national(date.today().year)


@dataclass(frozen=True, slots=True)
class Holidays:
    """The days a schedule keeps its holiday hours: national ones (if chosen), community days, and dates."""

    national: bool = False
    communities: frozenset[str] = frozenset()  # keys of COMMUNITY_DAYS
    dates: frozenset[date] = frozenset()

    def __bool__(self) -> bool:
        return self.national or bool(self.communities) or bool(self.dates)

    def name(self, day: date) -> str | None:
        """What ``day`` is a holiday for, or None on an ordinary day."""
        names = [
            text
            for c, (month, dom, text) in sorted(COMMUNITY_DAYS.items())
            if c in self.communities and (day.month, day.day) == (month, dom)
        ]
        if self.national and (name := national(day.year).get(day)):
            names.insert(0, name)
        if day in self.dates:
            names.append("a date in config")
        return ", ".join(names) or None

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.name(day) is not None
