"""The pure engine: routing decisions as plain function calls, no HTTP involved."""

from __future__ import annotations

import pytest

from conftest import DATA
from ivr.engine import Dial, Engine, Gather, Hangup, Say, Turn
from ivr.loader import load_catalog
from ivr.model import Speech
from ivr.state import State, UntrustedState


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_catalog(DATA / "config", DATA / "flows"))


def claim(state: State) -> UntrustedState:
    return UntrustedState(state.flow, state.node, state.lang, state.no_input, state.wrong_key, state.target)


def said(turn: Turn) -> str:
    parts = [p for a in turn.actions if isinstance(a, (Say, Gather)) for p in a.parts]
    return " ".join(p.text for p in parts if isinstance(p, Speech))


def gather_state(turn: Turn) -> State:
    gather = turn.actions[-1]
    assert isinstance(gather, Gather), turn
    return gather.state


def test_start_uses_the_called_numbers_default_language(engine: Engine) -> None:
    assert gather_state(engine.start("")).lang == "nl"
    assert gather_state(engine.start("+3225550101")).lang == "fr"


def test_language_key_sets_the_language(engine: Engine) -> None:
    turn = engine.on_input(claim(gather_state(engine.start(""))), "2", "")
    assert (turn.node, turn.lang, turn.outcome) == ("main", "fr", "language")


def test_silence_counts_then_goes_to_after_retries(engine: Engine) -> None:
    state = State("mini", "main", "nl")
    outcomes = []
    for _ in range(3):
        turn = engine.on_input(claim(state), None, "")
        outcomes.append(turn.outcome)
        if isinstance(turn.actions[-1], Gather):
            state = gather_state(turn)
    assert outcomes == ["no_input", "no_input", "retries_exhausted"]
    assert turn.node == "line" and isinstance(turn.actions[-1], Dial)


def test_wrong_keys_and_silence_are_counted_separately(engine: Engine) -> None:
    state = gather_state(engine.on_input(claim(State("mini", "main", "nl")), "7", ""))
    assert (state.no_input, state.wrong_key) == (0, 1)
    state = gather_state(engine.on_input(claim(state), "", ""))
    assert (state.no_input, state.wrong_key) == (1, 1)
    assert engine.on_input(claim(state), "8", "").outcome == "retries_exhausted"


@pytest.mark.parametrize("key,node", [("0", "line"), ("*", "main"), ("9", "info")])
def test_global_keys_work_in_messages(engine: Engine, key: str, node: str) -> None:
    assert engine.on_input(claim(State("mini", "info", "nl")), key, "").node == node


def test_dial_statuses(engine: Engine) -> None:
    at_line = claim(State("mini", "line", "nl"))
    assert engine.on_dial(at_line, "completed", "").actions == (Hangup(),)
    second = engine.on_dial(at_line, "busy", "")
    assert isinstance(second.actions[-1], Dial) and [t.address for t in second.actions[-1].targets] == ["+3290000002"]
    last = engine.on_dial(claim(State("mini", "line", "nl", target=1)), "failed", "")
    assert "1 0 6" in said(last) and not any(isinstance(a, Dial) for a in last.actions)


def test_transfer_without_targets_says_the_number_then_ends_on_silence(engine: Engine) -> None:
    turn = engine.on_input(claim(State("mini", "main", "fr")), "0", "")
    assert said(turn).count("1 0 7") == 1
    assert engine.on_input(claim(gather_state(turn)), None, "").actions == (Hangup(),)
    again = engine.on_input(claim(gather_state(turn)), "9", "")
    assert "1 0 7" in said(again)


def test_untrusted_state_restarts_or_recovers(engine: Engine) -> None:
    assert engine.on_input(UntrustedState(None, None, None, 0, 0, 0), "1", "").node == "welcome"
    assert engine.on_input(UntrustedState("nope", "nope", "nl", 0, 0, 0), None, "").node == "main"
    assert engine.on_dial(UntrustedState("mini", "main", "nl", 0, 0, 0), "busy", "").node == "line"


def test_rescue_says_every_line_callers_language_first(engine: Engine) -> None:
    turn = engine.rescue("+3225550101")
    first = turn.actions[0]
    assert isinstance(first, Say)
    langs = [p.lang for p in first.parts if isinstance(p, Speech)]
    assert langs == ["fr", "nl"]
    assert turn.actions[-1] == Hangup()
