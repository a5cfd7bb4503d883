"""A year of statistics, for the dashboard's benchmark and test: as many hourly rows as a busy line keeps.

    python bench/year_of_stats.py DATABASE_URL [--days 400] [--turn-rows 364000] [--call-rows 94000]

Migrates the database with the project's own migrations, then writes, spread evenly over the hours of the
last ``--days`` days (the default retention), ``--turn-rows`` rows of turns and ``--call-rows`` rows of
finished calls (and as many of time to the line, and a few of transfers), each row with its own key, as the
service's writer leaves them: through the store's own tables (:mod:`ivr.stats.store`), so the rows match
the current schema. The defaults are the volume of "a year" in the security review (364k turn rows, 94k
call rows). The counts are synthetic; what matters is how many rows a dashboard has to sum up.
Prints the rows written per table.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, func, insert, select  # noqa: E402 - after the path set-up

from ivr.stats import store  # noqa: E402
from ivr.stats.events import HOUR, NO_LANGUAGE, hour_of  # noqa: E402

LANGUAGES = ("nl", "fr", "de", "en")
NODES = ("welcome", "language", "main", "kinds_of_help", "talk_now", "line", "after_number", "goodbye")
OUTCOMES = ("start", "language", "option", "next", "repeat", "no_input", "wrong_key", "talk_now", "transfer_done")
STATUSES = ("completed", "busy", "no-answer")
DURATIONS = ("under 30 s", "30 s to 2 min", "2 to 5 min", "5 to 15 min", "over 15 min")
CHUNK = 20_000


def _spread(total: int, hours: int, index: int) -> int:
    """Rows of hour ``index`` when ``total`` rows are spread evenly over ``hours``."""
    return total * (index + 1) // hours - total * index // hours


def _turn_keys() -> list[dict[str, Any]]:
    return [
        {"flow": "helpline", "node": node, "lang": lang, "outcome": outcome}
        for node, lang, outcome in itertools.product(NODES, (*LANGUAGES, NO_LANGUAGE), OUTCOMES)
    ]


def _call_keys() -> list[dict[str, Any]]:
    return [
        {"flow": "helpline", "lang": lang, "reached": reached, "last_node": node, "end_status": status, "duration": duration}
        for lang, reached, node, status, duration in itertools.product(LANGUAGES, (True, False), NODES[:4], STATUSES, DURATIONS)
    ]


def rows(days: int, turn_rows: int, call_rows: int, now: float) -> Iterator[tuple[Table, dict[str, Any]]]:
    """Every row to write, table by table, hour by hour, ending with the hour before ``now``."""
    last = hour_of(now) - HOUR
    hours = days * 24
    turn_keys, call_keys = _turn_keys(), _call_keys()
    for index in range(hours):
        hour = last - (hours - 1 - index) * HOUR
        n = _spread(turn_rows, hours, index)
        for k in range(n):
            yield store.turns, turn_keys[(index * 7 + k) % len(turn_keys)] | {"hour": hour, "count": 1 + (index + k) % 9}
        n = _spread(call_rows, hours, index)
        for k in range(n):
            key = call_keys[(index * 5 + k) % len(call_keys)]
            yield store.calls, key | {"hour": hour, "count": 1 + (index + k) % 4}
            seconds = 20 + (index * 13 + k * 29) % 160
            yield store.time_to_line, {"hour": hour, "flow": "helpline", "lang": key["lang"], "seconds": seconds, "count": 1}
        for k, result in enumerate(("connected", "busy") if index % 2 else ("connected",)):
            lang = LANGUAGES[(index + k) % len(LANGUAGES)]
            target = {"line": "tele_onthaal", "target": index % 2}
            yield store.transfers, {"hour": hour, "flow": "helpline", "lang": lang, "result": result, "count": 1 + k} | target


def fill(url: str, days: int = 400, turn_rows: int = 364_000, call_rows: int = 94_000) -> dict[str, int]:
    """Migrate ``url`` and write a year of rows; the rows in each table afterwards."""
    store.migrate(url)
    engine = store.make_engine(url)
    try:
        pending: dict[Table, list[dict[str, Any]]] = {}
        with engine.begin() as conn:
            for table, row in rows(days, turn_rows, call_rows, time.time()):
                batch = pending.setdefault(table, [])
                batch.append(row)
                if len(batch) >= CHUNK:
                    conn.execute(insert(table), batch)
                    batch.clear()
            for table, batch in pending.items():
                if batch:
                    conn.execute(insert(table), batch)
        with engine.connect() as conn:
            tables = (store.turns, store.calls, store.time_to_line, store.transfers)
            return {table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one()) for table in tables}
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the statistics database, e.g. sqlite:///year.sqlite3")
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--turn-rows", type=int, default=364_000)
    parser.add_argument("--call-rows", type=int, default=94_000)
    args = parser.parse_args()
    started = time.monotonic()
    counts = fill(args.url, args.days, args.turn_rows, args.call_rows)
    print(" ".join(f"{name}={count}" for name, count in counts.items()), f"in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
