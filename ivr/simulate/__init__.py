"""Callers without a phone: the real webhook, in-process, signed requests, real TwiML.

- :mod:`ivr.simulate.reading`: TwiML read back into what a caller hears and what the call
  waits for (the one TwiML follower, shared with the tests);
- :mod:`ivr.simulate.caller`: a call driven through the webhook, and a whole call played to its end;
- :mod:`ivr.simulate.playing`: what the caller hears, through a local audio player.

``ivr simulate`` (:mod:`ivr.simulate_cli`) and ``/simulator`` (:mod:`ivr.simulator`) use these names.
"""

from ivr.simulate.caller import (
    CALL_SID,
    DIAL_STATUSES,
    SAID_CONFIDENCE,
    SAY,
    Answer,
    Caller,
    CallReport,
    InProcessCaller,
    line_number_at,
    new_call_sid,
    run_call,
    speech_index,
)
from ivr.simulate.playing import Player
from ivr.simulate.reading import (
    HungUp,
    Listen,
    ReadAnswer,
    Redirect,
    Ring,
    Said,
    SimulationError,
    SpeechIndex,
    Verb,
    estimate_seconds,
    query_of,
    read_twiml,
)

__all__ = [
    "CALL_SID",
    "DIAL_STATUSES",
    "SAID_CONFIDENCE",
    "SAY",
    "Answer",
    "CallReport",
    "Caller",
    "ReadAnswer",
    "HungUp",
    "Said",
    "InProcessCaller",
    "Listen",
    "Player",
    "Redirect",
    "Ring",
    "SimulationError",
    "SpeechIndex",
    "Verb",
    "estimate_seconds",
    "line_number_at",
    "new_call_sid",
    "query_of",
    "read_twiml",
    "run_call",
    "speech_index",
]
