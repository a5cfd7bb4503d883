"""Events kept in memory between two writes to the database.

On the request path a batch only takes the event as it is (an append under the recorder's
lock): the tally, hourly counters (bounded by flows × nodes × languages × outcomes per hour)
and, for the calls in progress, one small record per turn under the call's keyed hash (kept by
the store only until the call is over, see :mod:`ivr.stats.store`), is made by the writer,
off the request path, when it takes the batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from ivr.stats.events import CallEnd, TurnEvent, hour_of

# Events a batch may hold before new ones are dropped (and counted): several seconds of a
# very busy line between two writes; a database that keeps failing cannot grow memory.
MAX_EVENTS = 20_000

TurnKey = tuple[int, str, str, str, str]  # hour, flow, node, lang, outcome
TransferKey = tuple[int, str, str, str]  # hour, flow, lang, result ("started" or a dial result)


@dataclass(frozen=True, slots=True)
class CallTurn:
    """One turn of a call in progress: where it is, and the engine's seconds of audio."""

    call: str
    at: float
    flow: str
    node: str
    lang: str
    started: bool  # the call's first turn
    seconds: float
    line_at: float | None
    dial_at: float | None
    connected: bool


@dataclass
class Tally:
    """A batch counted up: what the store writes."""

    turns: Counter[TurnKey] = field(default_factory=Counter)
    transfers: Counter[TransferKey] = field(default_factory=Counter)
    call_turns: list[CallTurn] = field(default_factory=list)
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
        for event in self.added:
            if isinstance(event, CallEnd):
                if event.call != "-":
                    tally.ends.append(event)
                continue
            hour = hour_of(event.at)
            tally.turns[(hour, event.flow, event.node, event.lang, event.outcome)] += 1
            facts = event.facts
            if facts.transfers:
                tally.transfers[(hour, event.flow, event.lang, "started")] += facts.transfers
            if event.dial is not None:
                tally.transfers[(hour, event.flow, event.lang, event.dial)] += 1
            if event.call != "-":
                tally.call_turns.append(
                    CallTurn(
                        event.call,
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
        return tally
