"""``ivr test``: each scenario of scenarios.yaml played as a call through the real webhook, engine and TwiML.

A scenario's caller presses its keys (or says its words) as soon as a menu has been said, stays silent for the
menu's whole wait on an empty key, and hangs up when its keys run out. Time is the call's: every prompt at its
length (the built audio's, else the estimate), and each silence as the wait the menu gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask

from ivr.loading.scenarios_file import Expected, Scenario
from ivr.simulate.caller import SAY, Answer, InProcessCaller, run_call
from ivr.simulate.reading import Listen, Ring, Said, SimulationError
from ivr.timing import says_number, word_count


@dataclass
class ScenarioCaller:
    """Plays a scenario's part, and notes when each thing was said and each transfer rang."""

    keys: list[str]
    dial_status: str
    seconds: float = 0.0
    heard: list[tuple[float, Said]] = field(default_factory=list)  # each with the second it started
    rang: list[tuple[float, Ring]] = field(default_factory=list)

    def hear(self, heard: Said, answer: Answer) -> None:
        self.heard.append((self.seconds, heard))
        self.seconds += heard.seconds

    def key(self, listen: Listen, answer: Answer) -> str | None:
        if not self.keys:
            return None
        key = self.keys.pop(0)
        if key.startswith(SAY) and not listen.speech:
            key = ""  # this menu listens for keys only: the words are not heard, the caller waits
        if not key:
            self.seconds += listen.timeout
        return key

    def ring(self, ring: Ring, answer: Answer) -> str:
        self.rang.append((self.seconds, ring))
        return self.dial_status


def said_at(expected: Expected, start: float, heard: Said) -> float | None:
    """The second of the call by which ``heard`` has said ``expected`` (None: it does not)."""
    text = heard.text
    if expected.is_number:
        if not says_number(text, expected.spoken):
            return None
        end = text.find(expected.spoken) + len(expected.spoken)
    else:
        end = text.casefold().find(expected.text.casefold())
        if end < 0:
            return None
        end += len(expected.text)
    return round(start + heard.seconds * word_count(text[:end]) / max(word_count(text), 1), 1)


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: Scenario
    failures: tuple[str, ...]
    transcript: tuple[str, ...]  # what the caller heard and what rang, each with its second

    @property
    def passed(self) -> bool:
        return not self.failures


def _met(expected: Expected, caller: ScenarioCaller, dial: bool) -> float | None:
    if dial:
        return next((second for second, ring in caller.rang if expected.text in ring.numbers), None)
    return next((at for start, heard in caller.heard if (at := said_at(expected, start, heard)) is not None), None)


def play(scenario: Scenario, app_at: Callable[[datetime | None], Flask]) -> Outcome:
    """Call the app (``app_at`` gives it for the scenario's moment) as the scenario's caller; what was not met."""
    caller = ScenarioCaller(list(scenario.keys), scenario.dial_status)
    failures = []
    try:
        run_call(InProcessCaller(app_at(scenario.at), called=scenario.called), caller)
    except SimulationError as exc:
        failures.append(f"the call could not be followed: {exc}")
    for dial, items in ((False, scenario.hear), (True, scenario.dial)):
        for expected in items:
            shown = expected.text if expected.spoken == expected.text else f"{expected.text} (said “{expected.spoken}”)"
            where = f"{expected.mark.file}:{expected.mark.line}:{expected.mark.column}"
            verb = "ring" if dial else "hear"
            second = _met(expected, caller, dial)
            if second is None:
                failures.append(f"{where}: expected to {verb} {shown}, but never did")
            elif scenario.within is not None and second > scenario.within:
                late = f"within {scenario.within:g} s, but only at {second:.1f} s"
                failures.append(f"{where}: expected to {verb} {shown} {late}")
    transcript = [f"{start:6.1f} s  {heard.lang or '--'}  {heard.text}" for start, heard in caller.heard if heard.text]
    transcript += [f"{second:6.1f} s  rings {ring.number}" for second, ring in caller.rang]
    return Outcome(scenario, tuple(failures), tuple(sorted(transcript, key=lambda line: float(line.split(" s ")[0]))))
