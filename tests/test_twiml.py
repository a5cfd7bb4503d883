"""TwiML rendering: exact documents for representative turns."""

from __future__ import annotations

from ivr.engine import Dial, Gather, Hangup, Say, Turn
from ivr.loader import load_catalog
from ivr.model import Pause, Speech, Target
from ivr.state import State
from ivr.twiml import Links, render
from support import DATA

LANGUAGES = load_catalog(DATA / "config", DATA / "flows").settings.languages
LINKS = Links(step_url=lambda s: f"/step?node={s.node}", dial_url=lambda s: f"/dial?t={s.target}", audio_url=lambda s: None)
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def test_gather_is_followed_by_its_silence_redirect() -> None:
    turn = Turn((Gather((Speech("k", "nl", "Druk 1 & 2 <ok>"), Pause(2)), 5, State("f", "main", "nl")),), "main", "nl", "x")
    assert render(turn.actions, LANGUAGES, LINKS) == (
        HEAD + '<Response><Gather action="/step?node=main" finishOnKey="" input="dtmf" method="POST" numDigits="1" timeout="5">'
        '<Say language="nl-BE" voice="Polly.Lisa-Neural">Druk 1 &amp; 2 &lt;ok&gt;</Say><Pause length="2" /></Gather>'
        '<Redirect method="POST">/step?node=main</Redirect></Response>'
    )


def test_dial_with_action_timeout_and_our_caller_id() -> None:
    turn = Turn(
        (Say((Speech("k", "fr", "Un instant."),)), Dial((Target("+3290000001"),), 20, State("f", "line", "fr"))),
        "line",
        "fr",
        "x",
    )
    assert render(turn.actions, LANGUAGES, LINKS, caller_id="+3225550100") == (
        HEAD + '<Response><Say language="fr-BE" voice="Polly.Isabelle-Neural">Un instant.</Say>'
        '<Dial action="/dial?t=0" answerOnBridge="true" callerId="+3225550100" method="POST" timeout="20">'
        "<Number>+3290000001</Number></Dial></Response>"
    )


def test_audio_plays_when_the_catalogue_has_it() -> None:
    links = Links(LINKS.step_url, LINKS.dial_url, audio_url=lambda s: f"https://cdn.example/{s.key}.mp3")
    turn = Turn((Say((Speech("hello", "nl", "Hallo"),)), Hangup()), "bye", "nl", "x")
    assert (
        render(turn.actions, LANGUAGES, links)
        == HEAD + "<Response><Play>https://cdn.example/hello.mp3</Play><Hangup /></Response>"
    )
