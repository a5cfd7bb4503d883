"""Events kept in memory between two writes to the database.

On the request path a batch only takes the event as it is (an append under the recorder's
lock). The writer counts the batch up off the request path, when it takes it: hourly
counters (bounded by flows × nodes × languages × outcomes per hour), and for each call in
progress the batch's turns of that call, packed together (kept by the store under the call's
keyed hash only until the call is over, see :mod:`ivr.stats.store`), so that the store writes
one row per call, however many turns the batch holds of it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from ivr.stats.events import CallEnd, TurnEvent, hour_of

# Events a batch may hold before new ones are dropped (and counted): several seconds of a
# very busy line between two writes; a database that keeps failing cannot grow memory.
MAX_EVENTS = 20_000

TurnKey = tuple[int, str, str, str, str]  # hour, flow, node, lang, outcome
TransferKey = tuple[int, str, str, str]  # hour, flow, lang, result ("started" or a dial result)


class CallTurn(NamedTuple):
    """One turn of a call in progress: where it is, and the engine's seconds of audio. Kept as a JSON
    array (a named tuple is one), in the order of these fields."""

    at: float
    flow: str
    node: str
    lang: str
    started: bool  # the call's first turn
    seconds: float
    line_at: float | None
    dial_at: float | None
    connected: bool


def pack(turns: list[CallTurn]) -> str:
    """Turns of one call, as one line of text (JSON): what the store keeps while the call lasts."""
    return json.dumps(turns, separators=(",", ":"))


def unpack(text: str) -> list[CallTurn]:
    """The turns packed by :func:`pack`, one line per write, in the order they were written. A line
    that is not what pack() writes is skipped: the row is the database's, and a report never fails on it."""
    turns: list[CallTurn] = []
    for line in text.splitlines():
        if not line:  # the row was made by the call's end, before any turn: it starts with an empty line
            continue
        try:
            turns += [CallTurn(*record) for record in json.loads(line)]
        except (ValueError, TypeError):
            continue
    return turns


@dataclass
class CallPart:
    """A call's turns in one batch."""

    turns: list[CallTurn] = field(default_factory=list)
    last_at: float = 0.0  # the latest of these turns (server time)
    dialling: bool = False  # that turn started a transfer, which can last


@dataclass
class Tally:
    """A batch counted up: what the store writes."""

    turns: Counter[TurnKey] = field(default_factory=Counter)
    transfers: Counter[TransferKey] = field(default_factory=Counter)
    calls: dict[str, CallPart] = field(default_factory=dict)
    ends: list[CallEnd] = field(default_factory=list)


@dataclass
class Batch:
    added: list[TurnEvent | CallEnd] = field(default_factory=list)
    overflow: int = 0  # events refused because the batch was full

    def add_turn(self, event: TurnEvent) -> None:
        self._add(event)

    def add_end(self, end: CallEnd) -> None:
        self._add(end)

    def _add(self, event: TurnEvent | CallEnd) -> None:
        if len(self.added) >= MAX_EVENTS:
            self.overflow += 1
        else:
            self.added.append(event)

    @property
    def events(self) -> int:
        """The events a lost batch loses (the overflow is counted when the batch is taken)."""
        return len(self.added)

    def __bool__(self) -> bool:
        return bool(self.added)

    @cached_property
    def tally(self) -> Tally:
        """The batch counted up, once (the writer takes a batch after the request path is done with it)."""
        tally = Tally()
        turns, transfers, calls = tally.turns, tally.transfers, tally.calls
        for event in self.added:
            if isinstance(event, CallEnd):
                if event.call != "-":
                    tally.ends.append(event)
                continue
            hour = hour_of(event.at)
            turns[(hour, event.flow, event.node, event.lang, event.outcome)] += 1
            facts = event.facts
            if facts.transfers:
                transfers[(hour, event.flow, event.lang, "started")] += facts.transfers
            if event.dial is not None:
                transfers[(hour, event.flow, event.lang, event.dial)] += 1
            if event.call == "-":
                continue
            part = calls.get(event.call)
            if part is None:
                part = calls[event.call] = CallPart()
            part.turns.append(
                CallTurn(
                    event.at,
                    event.flow,
                    event.node,
                    event.lang,
                    event.outcome == "start",
                    facts.seconds,
                    facts.line_at,
                    facts.dial_at,
                    event.dial == "connected",
                )
            )
            if event.at >= part.last_at:
                part.last_at, part.dialling = event.at, facts.dial_at is not None
        return tally
