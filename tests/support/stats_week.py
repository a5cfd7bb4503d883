"""A week of calls through the signed webhook, for the dashboard's browser test and its screenshot."""

from __future__ import annotations

import random
import time
from dataclasses import replace

from flask import Flask

from ivr.app import create_app
from ivr.settings import Settings
from ivr.stats import report
from ivr.stats.store import IDLE_SECONDS, migrate
from ivr.stats.web import STATS
from support import TwilioClient

# Keys, and how often: mostly a language then 0; some hang up in a menu, after a message or at the welcome.
WEEK_JOURNEYS = (
    (("1", "0"), 30),
    (("2", "0"), 22),
    (("3", "0"), 3),
    (("4", "0"), 6),
    (("1",), 8),
    (("2", "7"), 6),
    (("1", "5"), 5),
    (("0",), 4),
    (("4", "6"), 2),
    ((), 4),  # hangs up during the welcome, before any line is said
)


def week_of_calls(settings: Settings, url: str, calls: int = 600, seed: int = 7, empty_day: int | None = None) -> Flask:
    """An app on ``url`` (migrated here) that answered ``calls`` calls over the six days before today (Brussels days);
    with ``empty_day`` (0 to 5), none on that one, as when the number was down."""
    migrate(url)
    app = create_app(replace(settings, database_url=url))
    stats = app.extensions[STATS]
    first_day = report.period(7)[0]
    now = [float(report.midnight(first_day))]
    stats.clock = lambda: now[0]
    client = TwilioClient(app.test_client())
    rng = random.Random(seed)
    keys = [k for k, _ in WEEK_JOURNEYS]
    weights = [w for _, w in WEEK_JOURNEYS]
    start = now[0]
    for n in range(calls):
        # More calls in the evening, as helplines see.
        day = rng.randrange(6)  # the six days before today: every call is over
        if day == empty_day:
            day = (day + 1) % 6
        hour = rng.choice([9, 12, 15, 18, 19, 20, 21, 21, 22, 22, 23, 23, 0, 1])
        now[0] = start + day * 86400 + hour * 3600 + rng.uniform(0, 3000)
        sid = f"CA{n:032x}"
        answer = client.post("/voice", {"CallSid": sid})
        for key in rng.choices(keys, weights)[0]:
            now[0] += 8
            answer = client.follow(answer.gather_action(), key, CallSid=sid)
        client.post("/voice/status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": str(rng.randint(15, 200))})
    recorder = stats.recorder
    assert recorder is not None
    recorder.clock = lambda: now[0]
    assert recorder.flush()
    now[0] = time.time() + IDLE_SECONDS + 60
    assert recorder.flush()
    stats.clock = time.time
    recorder.clock = time.time
    return app
