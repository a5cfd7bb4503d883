"""The shipped flow's patience, pinned where it lives: how long each <Gather> waits, how many silences and
wrong keys each menu forgives before the line, and the speech-confidence boundary (settings.yaml:
``min_confidence: 0.5``, "below it … is a wrong key"). Each through the signed webhook, as Twilio asks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.settings import Settings
from support import TwilioClient, TwiML, app_for, config_copy, with_speech_on

TIMEOUT = 6  # helpline.yaml defaults.timeout: seconds a caller has to press a key
NO_INPUT_RETRY = "Neem gerust je tijd."  # defaults.no_input.reprompt (nl)
WRONG_KEY_RETRY = "Die toets doet hier niets. Dat geeft niet."  # defaults.wrong_key.reprompt (nl)
NOT_UNDERSTOOD = "Sorry, dat was niet goed te verstaan."  # defaults.not_understood (nl)
WRONG_KEY = "#"  # a key the shipped flow gives no meaning (0 talk now, 1-4 languages, 5-8 options, 9 repeat, * menu)


def node_of(answer: TwiML) -> str:
    return answer.state()["node"]


def silence(twilio: TwilioClient, answer: TwiML) -> TwiML:
    """What Twilio does when the <Gather> times out: it follows the <Redirect> after it, with no Digits."""
    return twilio.follow(answer.redirect())


def first_menu(twilio: TwilioClient) -> TwiML:
    welcome = twilio.post("/voice")
    return twilio.follow(welcome.gather_action(), "1")  # Nederlands


def main_menu(twilio: TwilioClient) -> TwiML:
    answer = twilio.follow(first_menu(twilio).gather_action(), "*")  # keys.main_menu
    assert node_of(answer) == "main", answer.body
    return answer


def test_every_gather_of_the_shipped_flow_waits_six_seconds(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    welcome = valid_twiml(twilio.post("/voice"))
    menu = valid_twiml(twilio.follow(welcome.gather_action(), "1"))
    main = valid_twiml(twilio.follow(menu.gather_action(), "*"))
    message = valid_twiml(twilio.follow(main.gather_action(), "5"))
    line = valid_twiml(twilio.follow(message.gather_action(), "0"))
    every_line = valid_twiml(silence(twilio, welcome))
    waits = {node_of(a): a.gather().timeout for a in (welcome, menu, main, message, line, every_line)}
    assert waits == dict.fromkeys(["welcome", "first_menu", "main", "kinds_of_help", "listening_line", "every_line"], TIMEOUT)


def test_the_welcome_forgives_no_silence_and_no_wrong_key(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    """A caller who chose no language hears every line at once (no_input and wrong_key retries: 0)."""
    welcome = valid_twiml(twilio.post("/voice"))
    assert node_of(valid_twiml(silence(twilio, welcome))) == "every_line"
    assert node_of(valid_twiml(twilio.follow(welcome.gather_action(), WRONG_KEY))) == "every_line"


def test_the_first_menu_goes_to_the_line_at_the_first_silence(
    twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    menu = valid_twiml(first_menu(twilio))
    assert node_of(menu) == "first_menu"
    line = valid_twiml(silence(twilio, menu))
    assert node_of(line) == "listening_line" and NO_INPUT_RETRY not in line.texts()


def test_the_first_menu_forgives_two_wrong_keys(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    answer = valid_twiml(first_menu(twilio))
    for count in (1, 2):
        answer = valid_twiml(twilio.follow(answer.gather_action(), WRONG_KEY))
        assert (node_of(answer), answer.state()["wk"]) == ("first_menu", str(count))
        assert answer.texts()[0] == WRONG_KEY_RETRY
    assert node_of(valid_twiml(twilio.follow(answer.gather_action(), WRONG_KEY))) == "listening_line"


def test_the_main_menu_forgives_one_silence(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    main = valid_twiml(main_menu(twilio))
    again = valid_twiml(silence(twilio, main))
    assert (node_of(again), again.state()["ni"]) == ("main", "1") and again.texts()[0] == NO_INPUT_RETRY
    assert node_of(valid_twiml(silence(twilio, again))) == "listening_line"


def test_the_main_menu_forgives_two_wrong_keys(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    answer = valid_twiml(main_menu(twilio))
    for count in (1, 2):
        answer = valid_twiml(twilio.follow(answer.gather_action(), WRONG_KEY))
        assert (node_of(answer), answer.state()["wk"]) == ("main", str(count))
        assert answer.texts()[0] == WRONG_KEY_RETRY
    assert node_of(valid_twiml(twilio.follow(answer.gather_action(), WRONG_KEY))) == "listening_line"


# --- the speech-confidence boundary -------------------------------------------------------------------


@pytest.fixture
def speaking(settings: Settings, tmp_path: Path) -> TwilioClient:
    return app_for(settings, tmp_path, config_copy(tmp_path, with_speech_on))


def say_at_main(speaking: TwilioClient, words: str, confidence: str) -> TwiML:
    return speaking.follow(main_menu(speaking).gather_action(), SpeechResult=words, Confidence=confidence)


@pytest.mark.parametrize("confidence", ["0.5", "0.50", "0.51", "1"])
def test_words_heard_with_confidence_at_the_threshold_or_above_choose(
    speaking: TwilioClient, valid_twiml: Callable[..., TwiML], confidence: str
) -> None:
    answer = valid_twiml(say_at_main(speaking, "ademhaling", confidence), speech=True)
    assert node_of(answer) == "breathing", answer.body


@pytest.mark.parametrize("confidence", ["0.49", "0.4999", "0"])
def test_words_heard_with_confidence_just_below_the_threshold_are_not_understood(
    speaking: TwilioClient, valid_twiml: Callable[..., TwiML], confidence: str
) -> None:
    answer = valid_twiml(say_at_main(speaking, "ademhaling", confidence), speech=True)
    assert (node_of(answer), answer.state()["wk"]) == ("main", "1")  # counted as a wrong key, at the same menu
    assert answer.texts()[0] == NOT_UNDERSTOOD


def test_words_of_crisis_below_the_threshold_still_reach_the_line(
    speaking: TwilioClient, valid_twiml: Callable[..., TwiML]
) -> None:
    answer = valid_twiml(say_at_main(speaking, "zelfmoord", "0.1"), speech=True)
    assert node_of(answer) == "listening_line"
