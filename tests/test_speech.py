"""Speech as well as keys: through the signed webhook, every answer checked against Twilio's schema."""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.engine import Engine
from ivr.settings import Settings
from support import TwilioClient, TwiML, app_for, config_copy, with_speech_on

SECRET_WORDS = "my secret words ik wil praten"  # what a caller said: it must never reach a log line


def speech_on_for_our_number(name: str, text: str) -> str:
    if name != "settings.yaml":
        return text
    return text.replace("called_numbers: {}", 'called_numbers: {"+3225550100": {default_language: nl, speech: true}}')


@pytest.fixture
def speaking(settings: Settings, tmp_path: Path) -> TwilioClient:
    return app_for(settings, tmp_path, config_copy(tmp_path, with_speech_on))


def said(twilio: TwilioClient, answer: TwiML, words: str, confidence: str | None = "0.92") -> TwiML:
    fields = {"SpeechResult": words} | ({"Confidence": confidence} if confidence is not None else {})
    return twilio.follow(answer.gather_action(), **fields)


@pytest.fixture
def valid_speech_twiml(valid_twiml: Callable[..., TwiML]) -> Callable[[TwiML], TwiML]:
    """As ``valid_twiml``, for a number whose flow listens for speech: each <Gather> must take it too."""
    return functools.partial(valid_twiml, speech=True)


def french_menu(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> TwiML:
    welcome = valid_twiml(twilio.post("/voice"))
    return valid_twiml(twilio.follow(welcome.gather_action(), "2"))


def test_speech_is_off_by_default_and_the_gather_takes_keys_only(
    settings: Settings, tmp_path: Path, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    twilio = app_for(settings, tmp_path)
    welcome = valid_twiml(twilio.post("/voice"))
    gather = welcome.root.find("Gather")
    assert gather is not None and gather.attrib["input"] == "dtmf" and "hints" not in gather.attrib
    # Speech that arrives anyway (speech is off) changes nothing: it is silence, not a choice.
    answer = valid_twiml(said(twilio, welcome, "français"))
    assert answer.state()["node"] == "every_line"


def test_with_speech_on_every_gather_listens_in_the_calls_language_with_its_words_as_hints(
    speaking: TwilioClient, valid_speech_twiml: Callable[[TwiML], TwiML]
) -> None:
    welcome = valid_speech_twiml(speaking.post("/voice"))
    gather = welcome.root.find("Gather")
    assert gather is not None
    assert (gather.attrib["input"], gather.attrib["language"], gather.attrib["speechTimeout"]) == ("dtmf speech", "nl-BE", "auto")
    assert {"nederlands", "français", "deutsch", "english"} <= set(gather.attrib["hints"].split(", "))
    menu = french_menu(speaking, valid_speech_twiml)
    gather = menu.root.find("Gather")
    assert gather is not None and gather.attrib["language"] == "fr-BE"
    assert {"respiration", "parler", "menu"} <= set(gather.attrib["hints"].split(", "))


def test_the_welcome_recognises_a_language_by_name(speaking: TwilioClient, valid_speech_twiml: Callable[[TwiML], TwiML]) -> None:
    welcome = valid_speech_twiml(speaking.post("/voice"))
    answer = valid_speech_twiml(said(speaking, welcome, "Français"))
    assert (answer.state()["node"], answer.state()["lang"]) == ("first_menu", "fr")
    answer = valid_speech_twiml(said(speaking, welcome, "English please"))
    assert (answer.state()["node"], answer.state()["lang"]) == ("first_menu", "en")


def test_speech_that_names_an_option_chooses_it(speaking: TwilioClient, valid_speech_twiml: Callable[[TwiML], TwiML]) -> None:
    menu = french_menu(speaking, valid_speech_twiml)
    answer = valid_speech_twiml(said(speaking, menu, "un exercice de respiration"))
    assert answer.state()["node"] == "breathing"


@pytest.mark.parametrize(
    ("key", "words"),
    [("1", "ik wil praten"), ("2", "je veux parler à quelqu'un"), ("3", "Ich möchte sprechen"), ("4", "I need to talk")],
)
def test_talk_to_someone_in_each_language(
    speaking: TwilioClient, valid_speech_twiml: Callable[[TwiML], TwiML], key: str, words: str
) -> None:
    welcome = valid_speech_twiml(speaking.post("/voice"))
    menu = valid_speech_twiml(speaking.follow(welcome.gather_action(), key))
    answer = valid_speech_twiml(said(speaking, menu, words))
    assert answer.state()["node"] == "listening_line"


@pytest.mark.parametrize(
    ("words", "confidence"),
    [("banana", "0.95"), ("respiration", "0.2"), ("respiration", None), ("respiration", "nan"), ("parler retour", "0.9")],
    ids=["no match", "low confidence", "no confidence", "not a number", "two keys, phrases as long"],
)
def test_unclear_speech_gets_its_own_reprompt_counted_as_a_wrong_key(
    speaking: TwilioClient, valid_speech_twiml: Callable[[TwiML], TwiML], words: str, confidence: str | None
) -> None:
    menu = french_menu(speaking, valid_speech_twiml)
    answer = valid_speech_twiml(said(speaking, menu, words, confidence))
    assert (answer.state()["node"], answer.state()["wk"], answer.state()["ni"]) == ("first_menu", "1", "0")
    assert answer.texts()[0] == "Désolé, ce n'était pas clair."  # neither a key nor "it doesn't matter"


def test_silence_stays_silence(speaking: TwilioClient, valid_speech_twiml: Callable[[TwiML], TwiML]) -> None:
    menu = french_menu(speaking, valid_speech_twiml)
    answer = valid_speech_twiml(said(speaking, menu, "", "0.0"))  # Twilio heard nothing
    assert answer.state()["node"] == "listening_line"  # first_menu: silence goes straight to the line


def test_a_called_number_can_turn_speech_on_for_itself(
    settings: Settings, tmp_path: Path, valid_twiml: Callable[..., TwiML]
) -> None:
    twilio = app_for(settings, tmp_path, config_copy(tmp_path, speech_on_for_our_number))
    ours = valid_twiml(twilio.post("/voice"), speech=True)  # the test client calls +3225550100
    other = valid_twiml(twilio.post("/voice", {"To": "+3225559999"}))
    assert ours.gather().input == "dtmf speech"
    assert other.gather().input == "dtmf"


def test_what_a_caller_says_never_reaches_the_logs(
    speaking: TwilioClient,
    valid_speech_twiml: Callable[[TwiML], TwiML],
    json_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    menu = french_menu(speaking, valid_speech_twiml)
    valid_speech_twiml(said(speaking, menu, SECRET_WORDS))  # matched (praten is not French): a wrong key
    valid_speech_twiml(speaking.post("/voice/step?flow=helpline&lang=xx&node=nope", {"SpeechResult": SECRET_WORDS}))  # bad state
    valid_speech_twiml(speaking.post("/voice/fallback", {"SpeechResult": SECRET_WORDS}))
    forbidden = speaking.post(menu.gather_action().split("ivr.example.org")[-1], {"SpeechResult": SECRET_WORDS}, signature="x")
    assert forbidden.status == 403

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError(f"engine failed on {args!r}")  # an exception that carries the words

    monkeypatch.setattr(Engine, "on_input", broken)
    rescued = valid_speech_twiml(said(speaking, menu, SECRET_WORDS))
    assert "1 0 6" in rescued.spoken()
    logged = json_log.getvalue()
    assert logged.count("\n") >= 5
    for word in ("secret", "praten", "SpeechResult"):
        assert word not in logged, logged


def test_ivr_simulate_says_words(tmp_path: Path) -> None:
    config = config_copy(tmp_path, with_speech_on)
    result = CliRunner().invoke(main, ["simulate", "--config", str(config), "--say", "français", "--say", "respiration"])
    assert result.exit_code == 0, result.output
    assert "says “français”" in result.output and "[first_menu · menu · fr]" in result.output
    assert "[breathing · message · fr]" in result.output
    off = CliRunner().invoke(main, ["simulate", "--say", "français"])
    assert "speech is off for this number" in off.output and re.search(r"\[every_line", off.output)


def test_with_speech_on_the_menus_say_that_words_work_too_after_the_way_to_a_person(
    settings: Settings,
    tmp_path: Path,
    speaking: TwilioClient,
    valid_speech_twiml: Callable[[TwiML], TwiML],
    valid_twiml: Callable[[TwiML], TwiML],
) -> None:
    menu = french_menu(speaking, valid_speech_twiml)
    texts = menu.texts()
    assert texts[-1] == "Vous pouvez aussi le dire, par exemple : parler, ou respiration."
    assert "appuyez sur 0" in texts[0]  # the way to a person still comes first
    (tmp_path / "off").mkdir()
    keys_only = french_menu(app_for(settings, tmp_path / "off"), valid_twiml)
    assert not any("aussi le dire" in text for text in keys_only.texts())
