"""The pure engine: routing decisions as plain function calls, no HTTP involved."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.announcements import Announcement
from ivr.engine import Dial, Engine, Gather, Hangup, Say, Turn
from ivr.loader import load_catalog
from ivr.model import Speech
from ivr.state import State, UntrustedState
from ivr.understanding import Recognised
from support import DATA, SHIPPED_CONFIG, SHIPPED_FLOWS


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


def transfers_engine(tmp_path: Path, clock: Callable[[], datetime | None], notice: Callable[[], Announcement | None]) -> Engine:
    """The mini flow with tests/data/transfers' lines: Tele-Onthaal's targets keep hours."""
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    shutil.copy(DATA / "transfers" / "helplines.yaml", config / "helplines.yaml")
    return Engine(load_catalog(config, DATA / "flows"), clock, notice)


def dialled(turn: Turn) -> list[str]:
    return [target.address for action in turn.actions if isinstance(action, Dial) for target in action.targets]


def test_a_turn_is_the_same_for_the_same_question_and_moment_and_follows_the_hour_and_the_announcement(
    tmp_path: Path,
) -> None:
    instant: list[datetime | None] = [datetime(2026, 11, 30, 10, 0, tzinfo=UTC)]  # Monday 11:00: the day PBX
    notice: list[Announcement | None] = [None]
    engine = transfers_engine(tmp_path, lambda: instant[0], lambda: notice[0])
    talk_now = claim(State("mini", "main", "nl"))

    day = engine.on_input(talk_now, "0", "")
    instant[0] = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)  # another moment, the same targets open
    assert engine.on_input(talk_now, "0", "") == day
    assert dialled(day) == ["sip:dag@pbx.tele-onthaal.example"]

    instant[0] = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 20:00: the number is open too, and comes first
    evening = engine.on_input(talk_now, "0", "")
    assert dialled(evening) == ["+3290000001"]

    start, end = datetime(2026, 11, 30, 18, 0, tzinfo=UTC), datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    notice[0] = Announcement({"nl": "Vanavond beantwoordt een kleinere ploeg de oproepen."}, start, end)
    assert engine.on_input(talk_now, "0", "") == evening  # a transfer starts at once: nothing is said before it
    last = claim(State("mini", "line", "nl", target=2))  # the day PBX, the last target open at 20:00
    announced = engine.on_dial(last, "no-answer", "")
    assert said(announced).index("Vanavond beantwoordt") > said(announced).index("1 0 6")  # after the number
    instant[0] = end  # the announcement is over
    assert "Vanavond" not in said(engine.on_dial(last, "no-answer", ""))


def test_speech_is_made_a_key_before_a_turn_is_made(tmp_path: Path) -> None:
    """Callers who say the same option in other words get the same turn: what they said is not part of it."""
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    settings = config / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("speech:\n  enabled: false", "speech:\n  enabled: true"), encoding="utf-8")
    engine = Engine(load_catalog(config, SHIPPED_FLOWS))
    flow = engine.catalog.flows["helpline"]
    talk_words = [said_words for said_words, key in flow.keys.words["nl"].items() if key == flow.keys.talk_now]
    assert talk_words, "the shipped flow has Dutch words for talking to someone"
    menu = claim(State("helpline", flow.main_menu, "nl"))
    by_key = engine.on_input(menu, flow.keys.talk_now, "")
    assert engine.on_input(menu, None, "", Recognised(f"ik wil {talk_words[0]} alstublieft", 0.9)) == by_key
    assert engine.on_input(menu, None, "", Recognised(talk_words[-1], 0.8)) == by_key
