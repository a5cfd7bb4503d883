"""What one answered request tells the statistics, worked out from the engine's own Turn.

Pure: no Flask, no database. The seconds a caller heard are the engine's timing
(:class:`ivr.timing.SpeechClock`: the audio manifest's durations, else words per second),
never a clock on the caller; a time bucket is the server's hour.
"""

from __future__ import annotations

import functools
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from ivr.engine import CONNECTED, Dial, Gather, Say, Turn
from ivr.model import EVERY_LINE, LANGUAGE_LINE, Catalog, Speech, TransferNode
from ivr.state import State
from ivr.timing import SpeechClock, says_number, word_count

CALL_KEY_LABEL = b"ivr statistics: a call in progress, "  # the day's key is derived from the secret with this and the date
DAY = 86400
# How long after UTC midnight a turn may belong to a call of the day before: the store sums a row up at the
# latest an hour after its last turn (store.LONGEST_CALL_SECONDS), and twice that leaves room for the sum-up's
# own pace. Past it, the day before's key is not worked out (an HMAC less on each request).
BEFORE_KEY_SECONDS = 2 * 3600


def _day_key(secret: bytes, day: int) -> bytes:
    """The key of one UTC day (days since 1970), derived from the secret."""
    date = datetime.fromtimestamp(day * DAY, UTC).date().isoformat().encode("ascii")
    return hmac.digest(secret, CALL_KEY_LABEL + date, "sha256")


def stats_call_key(secret: bytes, call_sid: str | None, at: float) -> str:
    """The statistics' own key for a call in progress: an HMAC of its CallSid under a key of its own, rotated each
    (UTC) day, so that no stored key is the reference the logs give the call, and a day's keys cannot be worked out
    from another day's. "-" without a CallSid."""
    if not call_sid:
        return "-"
    key = _day_key(secret, int(at // DAY))
    return hmac.digest(key, call_sid.encode("utf-8", "replace"), "sha256").hex()[:16]


def stats_call_keys(secret: bytes, call_sid: str | None, at: float) -> tuple[str, str]:
    """The call's key on the day of ``at``, and the key it had the day before ("-" past BEFORE_KEY_SECONDS).

    A call keeps the key of the day it started: the store writes a turn or an end under the day before's key
    when a row is there under it (a call that began before UTC midnight), else under the day's. Chosen over
    carrying the start day in the state URL: Twilio's status callback has no state URL, and the start day
    worked out from its Timestamp less CallDuration is on Twilio's clock, not the server's, so a call that
    starts seconds before midnight could be put on the wrong day; and state URLs that change at midnight would
    change every cached document and what the checker sees. Nothing is kept between requests, and only one key
    of a call is ever stored."""
    today = stats_call_key(secret, call_sid, at)
    if at % DAY >= BEFORE_KEY_SECONDS:
        return today, "-"  # no row of the day before can still be in progress
    return today, stats_call_key(secret, call_sid, at - DAY)


HOUR = 3600
NO_LANGUAGE = "-"  # a call that chose no language (the welcome, every_line)
DIAL_RESULTS = frozenset({"busy", "no-answer", "failed", "canceled"})
CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# Call durations as Twilio reports them at the end, in buckets (seconds, upper bounds).
DURATION_BUCKETS: tuple[tuple[int, str], ...] = (
    (30, "<30s"),
    (60, "30s-1m"),
    (120, "1-2m"),
    (300, "2-5m"),
    (600, "5-10m"),
)
LONGEST_BUCKET = "10m+"


def hour_of(epoch: float) -> int:
    """The start of the UTC hour holding ``epoch``, in seconds since 1970."""
    return int(epoch // HOUR) * HOUR


def whole_seconds(seconds: float) -> int:
    """A time to the line in whole seconds, rounded up, as every count and report has it: at the millisecond,
    so that a sum of audio lengths a hair over a whole second (12.0001: float noise) stays in its second."""
    return math.ceil(round(seconds, 3))


def duration_bucket(value: str | None) -> str:
    """Twilio's ``CallDuration`` (seconds, untrusted) as a bucket; "unknown" for anything odd."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 7:
        return "unknown"
    seconds = int(value)
    return next((name for bound, name in DURATION_BUCKETS if seconds < bound), LONGEST_BUCKET)


def dial_result(status: str | None) -> str:
    """Twilio's ``DialCallStatus`` in a fixed set: connected, busy, no-answer, failed, canceled, other."""
    if status in CONNECTED:
        return "connected"
    return status if status in DIAL_RESULTS else "other"


NO_LINE = "-"  # a transfer count without a target: the transfers started, and results of before targets were kept
NO_TARGET = -1


def dialled_target(catalog: Catalog, state: State | None) -> tuple[str, int] | None:
    """(line id, the target's position in its ``transfer_to``) of the transfer attempt whose result comes back
    for ``state`` (the state of a /voice/dial request): never the number itself. None when the state names no
    target of a line (a request of before a reload that changed the line, or one made up)."""
    if state is None or state.flow not in catalog.flows:
        return None
    node = catalog.flows[state.flow].nodes.get(state.node)
    if not isinstance(node, TransferNode) or node.helpline == EVERY_LINE:
        return None
    line = catalog.line_for(state.lang) if node.helpline == LANGUAGE_LINE else catalog.helplines.get(node.helpline)
    if line is None or not 0 <= state.target < len(line.transfer_to):
        return None
    return line.id, state.target


def call_status(status: str | None) -> str | None:
    """Twilio's final ``CallStatus``, or None when the call is not over (ringing, in-progress)."""
    return status if status in CALL_STATUSES else None


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What the statistics keep of one turn: no key, no number, no text of the caller's."""

    seconds: float  # audio the turn says (every prompt to its end, pauses included)
    line_at: float | None  # seconds into the turn when a listening line's number has been said once
    dial_at: float | None  # seconds into the turn when a transfer starts ringing
    transfers: int  # <Dial>s in the turn


class Timing:
    """The speech clock for one catalog, and the listening lines' numbers as they are spoken."""

    def __init__(self, catalog: Catalog, speech_clock: SpeechClock) -> None:
        self.speech_clock = speech_clock
        lines = {catalog.line_for(lang) for lang in catalog.settings.offered}
        self.numbers = tuple(sorted(line.spoken_number for line in lines))
        self._speech = functools.lru_cache(maxsize=4096)(self._speech_facts)
        # A turn's facts, worked out once: most requests repeat a turn (ivr.service renders each once too).
        self.facts = functools.lru_cache(maxsize=4096)(self._turn_facts)

    def _speech_facts(self, speech: Speech) -> tuple[float, float | None]:
        """(seconds, seconds until a line's number has been said) for one prompt part."""
        seconds = self.speech_clock.seconds(speech)
        found = [speech.text.find(n) + len(n) for n in self.numbers if says_number(speech.text, n)]
        if not found:
            return seconds, None
        total = max(word_count(speech.text), 1)
        return seconds, seconds * word_count(speech.text[: min(found)]) / total

    def _turn_facts(self, turn: Turn) -> TurnFacts:
        elapsed = 0.0
        line_at: float | None = None
        dial_at: float | None = None
        transfers = 0
        for action in turn.actions:
            if isinstance(action, Say | Gather):
                for part in action.parts:
                    if isinstance(part, Speech):
                        seconds, said = self._speech(part)
                        if said is not None and line_at is None:
                            line_at = elapsed + said
                        elapsed += seconds
                    else:
                        elapsed += self.speech_clock.seconds(part)
            elif isinstance(action, Dial):
                transfers += 1
                if dial_at is None:
                    dial_at = elapsed
        return TurnFacts(round(elapsed, 2), line_at, dial_at, transfers)


class TurnEvent(NamedTuple):
    """One answered webhook request, as the statistics see it (a named tuple: made on every request,
    and a tuple is the cheapest immutable record to make)."""

    at: float  # server time (epoch seconds) when it was answered
    call: str  # the call's key on the day it was answered (stats_call_keys), never the logs'; "-" without a CallSid
    flow: str
    node: str
    lang: str
    outcome: str
    facts: TurnFacts
    dial: str | None = None  # dial_result() on the /voice/dial route
    line: str = NO_LINE  # with ``dial``: the line whose target was tried, and the target's position (dialled_target)
    target: int = NO_TARGET
    before: str = "-"  # the call's key the day before (stats_call_keys): its row's, when the call began then


class CallEnd(NamedTuple):
    """Twilio's status callback: the call is over."""

    at: float
    call: str
    status: str
    duration: str  # duration_bucket()
    before: str = "-"  # the call's key the day before (stats_call_keys)
