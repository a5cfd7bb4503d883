"""Events kept in memory between two writes to the database.

On the request path a batch only takes the event as it is (an append under the recorder's
lock). The writer counts the batch up off the request path, when it takes it: hourly
counters (bounded by flows × nodes × languages × outcomes per hour), and for each call in
progress a running summary of the batch's turns of that call (a :class:`Segment`, merged by the
store into the call's row, kept under the call's own key only until the call is over, see
:mod:`ivr.stats.store`), so that the store writes one row per call, however many turns the
batch holds of it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from ivr.stats.events import NO_LANGUAGE, NO_LINE, NO_TARGET, CallEnd, TurnEvent, hour_of

# Events a batch may hold before new ones are dropped (and counted): several seconds of a
# very busy line between two writes; a database that keeps failing cannot grow memory.
MAX_EVENTS = 20_000

TurnKey = tuple[int, str, str, str, str]  # hour, flow, node, lang, outcome
# hour, flow, lang, result ("started" or a dial result), and for a result the line and the target's position in it
TransferKey = tuple[int, str, str, str, str, int]
TRANSFER_KEY = ("hour", "flow", "lang", "result", "line", "target")  # its columns in stats_transfers


class CallTurn(NamedTuple):
    """One turn of a call in progress: where it is, and the engine's seconds of audio."""

    at: float
    flow: str
    node: str
    lang: str
    started: bool  # the call's first turn
    seconds: float
    line_at: float | None
    dial_at: float | None
    connected: bool


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive turns of one call, summed up so that two segments can be joined without their turns
    (the store joins them in SQL, :func:`ivr.stats.store.joined`). Times "after" count seconds of audio
    from the segment's first turn. The line is reached when a listening line's number has been said, or
    when a transfer connects (then: when that transfer started ringing)."""

    first_at: float  # the server's time of the first turn
    flow: str  # the first turn's
    started: bool  # holds the call's first turn
    last_at: float
    last_node: str
    dialling: bool  # the last turn started a transfer, which can last
    lang: str | None  # the last language chosen in the segment, and when (None: none chosen)
    lang_at: float | None
    seconds: float  # audio of all the turns
    line_after: float | None  # when the line was reached, had no transfer been ringing before the segment
    dial_after: float | None  # when the segment's last transfer started ringing
    connected_first: bool  # a transfer connected before the segment started one: it reached the line, if one rang before

    @classmethod
    def of(cls, turns: list[CallTurn]) -> Segment:
        """``turns`` (at least one), in the order they were answered."""
        ordered = sorted(turns, key=lambda t: t.at)
        elapsed = 0.0
        line_after: float | None = None
        dial_after: float | None = None
        connected_first = False
        for turn in ordered:
            if line_after is None:
                if turn.connected and dial_after is not None:
                    line_after = dial_after
                elif turn.connected:
                    connected_first = True
                if line_after is None and turn.line_at is not None:
                    line_after = elapsed + turn.line_at
            if turn.dial_at is not None:
                dial_after = elapsed + turn.dial_at
            elapsed += turn.seconds
        first, last = ordered[0], ordered[-1]
        chosen = [t for t in ordered if t.lang != NO_LANGUAGE]
        return cls(
            first_at=first.at,
            flow=first.flow,
            started=any(t.started for t in ordered),
            last_at=last.at,
            last_node=last.node,
            dialling=last.dial_at is not None,
            lang=chosen[-1].lang if chosen else None,
            lang_at=chosen[-1].at if chosen else None,
            seconds=elapsed,
            line_after=line_after,
            dial_after=dial_after,
            connected_first=connected_first,
        )


@dataclass
class CallPart:
    """A call's turns in one batch."""

    turns: list[CallTurn] = field(default_factory=list)
    before: str = "-"  # the call's key the day before: the store joins the turns to its row when there is one

    @property
    def started(self) -> bool:
        return any(turn.started for turn in self.turns)

    @property
    def segment(self) -> Segment:
        return Segment.of(self.turns)


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
                transfers[(hour, event.flow, event.lang, "started", NO_LINE, NO_TARGET)] += facts.transfers
            if event.dial is not None:
                transfers[(hour, event.flow, event.lang, event.dial, event.line, event.target)] += 1
            if event.call == "-":
                continue
            part = calls.get(event.call)
            if part is None:
                part = calls[event.call] = CallPart(before=event.before)
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
        for call, part in list(calls.items()):  # turns after UTC midnight of a call the batch holds from before it
            if part.before in calls:
                calls[part.before].turns.extend(calls.pop(call).turns)
        return tally
