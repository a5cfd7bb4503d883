"""Events counted in memory, between two writes to the database.

A batch holds hourly counters (bounded by flows × nodes × languages × outcomes per
hour) and, for the calls in progress, one small record per turn under the call's keyed
hash, which the store keeps only until the call is over (see :mod:`ivr.stats.store`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ivr.stats.events import CallEnd, TurnEvent, hour_of

# Per-call records a batch may hold before new ones are dropped (and counted): about
# ten seconds of a very busy line; a database that keeps failing cannot grow memory.
MAX_CALL_RECORDS = 20_000

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
class Batch:
    turns: Counter[TurnKey] = field(default_factory=Counter)
    transfers: Counter[TransferKey] = field(default_factory=Counter)
    call_turns: list[CallTurn] = field(default_factory=list)
    ends: list[CallEnd] = field(default_factory=list)
    events: int = 0  # everything added, for the dropped counter when the batch is lost
    overflow: int = 0  # per-call records refused because the batch was full

    def add_turn(self, event: TurnEvent) -> None:
        hour = hour_of(event.at)
        self.events += 1
        self.turns[(hour, event.flow, event.node, event.lang, event.outcome)] += 1
        facts = event.facts
        if facts.transfers:
            self.transfers[(hour, event.flow, event.lang, "started")] += facts.transfers
        if event.dial is not None:
            self.transfers[(hour, event.flow, event.lang, event.dial)] += 1
        if event.call == "-":
            return
        if len(self.call_turns) + len(self.ends) >= MAX_CALL_RECORDS:
            self.overflow += 1
            return
        self.call_turns.append(
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

    def add_end(self, end: CallEnd) -> None:
        self.events += 1
        if end.call == "-":
            return
        if len(self.call_turns) + len(self.ends) >= MAX_CALL_RECORDS:
            self.overflow += 1
            return
        self.ends.append(end)

    def __bool__(self) -> bool:
        return self.events > 0
