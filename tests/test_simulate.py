"""The terminal caller: the real webhook in-process, signed requests, TwiML followed like Twilio."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner, Result
from flask import Flask

from ivr.app import create_app
from ivr.cli import main
from ivr.model import Speech
from ivr.settings import Settings
from ivr.simulate import (
    HungUp,
    InProcessCaller,
    Listen,
    Redirect,
    Ring,
    Said,
    SimulationError,
    estimate_seconds,
    read_twiml,
    run_call,
)
from support import DATA, ROOT, TwilioClient, TwiML, assert_twiml_a_caller_can_follow, assert_valid_twiml

MINI = ["--config", str(DATA / "config"), "--flows", str(DATA / "flows")]


def simulate(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["simulate", *MINI, *args], input=input)


def test_keys_2_0_reach_tele_accueil_in_french() -> None:
    result = simulate("--keys", "2,0")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[lines.index("[welcome · language]") + 1 :][:3] == [
        "  nl  1.3 s say: Nederlands: druk 1.",
        "  fr  1.2 s say: Français: tapez 2.",
        "  > key 2",
    ]
    assert "[main · menu · fr]" in lines
    assert "  fr  4.0 s say: Appelez Télé-Accueil au 1 0 7. Urgence: 1 1 2." in lines
    assert "  fr  2.4 s say: Info: tapez 3. Parler: tapez 0." in lines
    assert "[line · transfer · fr]" in lines
    assert "  fr  2.0 s say: Appelez Télé-Accueil: 1 0 7." in lines
    assert "Path: welcome → main → line" in lines
    # 2.5 s of welcome, then the menu's first sentence, which says the number
    assert "Heard 10.9 s of audio; reached Télé-Accueil's number after 4.9 s of it." in lines
    assert lines[-1] == "Call ended: the caller hung up."


@pytest.mark.slow
def test_the_shipped_flow_says_tele_accueils_number_with_keys_2_0() -> None:
    """What a new user runs after cloning (docs/callers-journey.md): the console script, the shipped flow and config."""
    done = subprocess.run(
        [sys.executable, "-m", "ivr", "simulate", "--keys", "2,0"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Télé-Accueil" in done.stdout
    assert "1 0 7" in done.stdout
    assert "reached Télé-Accueil's number after" in done.stdout


def test_empty_keys_are_silence_and_silence_reaches_the_line() -> None:
    result = simulate("--keys", "2,,,")
    assert result.exit_code == 0, result.output
    assert result.output.count("  > silence (5 s)") == 3
    assert result.output.count("  fr  0.8 s say: Rien entendu.") == 2
    assert "Appelez Télé-Accueil: 1 0 7." in result.output
    assert "Path: welcome → main → line" in result.output


def test_lang_chooses_the_language_then_keys_follow() -> None:
    result = simulate("--lang", "fr", "--keys", "0")
    assert result.exit_code == 0, result.output
    assert "  > key 2 (--lang fr)" in result.output
    assert "  > key 0" in result.output
    assert "Appelez Télé-Accueil: 1 0 7." in result.output


def test_interactive_keys_enter_is_silence_and_q_hangs_up() -> None:
    result = simulate(input="1\n\nq\n")
    assert result.exit_code == 0, result.output
    assert "Niets gehoord." in result.output  # Enter: the silence path
    assert result.output.rstrip().endswith("Call ended: the caller hung up.")


def test_transfers_follow_the_dial_status() -> None:
    busy = simulate("--keys", "1,0", "--dial-status", "busy")
    assert busy.exit_code == 0, busy.output
    assert "  ringing +3290000001 (up to 15 s)" in busy.output
    assert "  ringing +3290000002 (up to 15 s)" in busy.output
    assert "Bel Tele-Onthaal: 1 0 6." in busy.output  # both failed: the number is said
    answered = simulate("--keys", "1,0")
    assert "ringing +3290000002" not in answered.output
    assert "reached Tele-Onthaal's number after 5.1 s" in answered.output  # the menu says it before 0 is pressed
    assert answered.output.rstrip().endswith("Call ended: the transfer connected.")


def test_bad_options_are_usage_errors() -> None:
    result = simulate("--lang", "de")
    assert result.exit_code == 2 and "--lang de: not offered; choose one of: nl, fr" in result.output


def test_requests_are_really_signed(settings: Settings) -> None:
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows"))
    call = InProcessCaller(app)
    assert call.start().node == "welcome"
    call.token = "not-the-apps-token"
    with pytest.raises(SimulationError, match="the webhook answered 403"):
        call.start()


def test_only_the_webhooks_urls_are_followed(settings: Settings) -> None:
    call = InProcessCaller(create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows")))
    for url in ("/healthz", "https://elsewhere.example/voice/step", "/voice/step#x"):
        with pytest.raises(SimulationError, match="not a voice webhook URL"):
            call.request(url)
    assert call.request("https://ivr.example.org/voice").node == "welcome"  # IVR_PUBLIC_URL is ours


def test_the_answer_is_parsed_like_twilio_reads_it(settings: Settings) -> None:
    call = InProcessCaller(create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows")))
    welcome = call.start()
    listen, redirect = welcome.verbs
    assert isinstance(listen, Listen) and isinstance(redirect, Redirect)
    assert listen.timeout == 5 and redirect.url == listen.action
    info = call.press(call.press(listen.action, "1").verbs[0].action, "3")  # type: ignore[union-attr]
    heard = list(info.heard())
    assert [h.verb for h in heard] == ["say", "pause", "say", "say"]
    assert heard[1] == Said("pause", "", "", 3.0)
    assert heard[0].voice == "Polly.Lisa-Neural nl-BE"
    dial = call.press(info.verbs[0].action, "0")  # type: ignore[union-attr]
    ring = next(v for v in dial.verbs if isinstance(v, Ring))
    assert (ring.number, ring.timeout) == ("+3290000001", 15)
    assert isinstance(call.request(ring.action or "", {"DialCallStatus": "completed", "DialCallDuration": "0"}).verbs[0], HungUp)


def test_built_audio_is_played_and_still_shown_as_words(settings: Settings) -> None:
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows"))
    app.extensions["ivr"] = replace(
        app.extensions["ivr"], audio_url=lambda speech: f"https://cdn.example.org/{speech.lang}/{abs(hash(speech.text))}.mp3"
    )
    call = InProcessCaller(app)
    played = list(call.start().heard())
    assert [h.verb for h in played] == ["play", "play"]
    assert played[1].text == "Français: tapez 2." and played[1].lang == "fr"
    assert played[1].url.startswith("https://cdn.example.org/fr/")


def test_estimates_use_words_per_second() -> None:
    assert estimate_seconds("Appelez Télé-Accueil: 1 0 7.", 2.5) == 2.0  # five words
    assert estimate_seconds("", 2.5) == 0.0


class Script:
    """A caller for run_call: presses the given keys, then hangs up."""

    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)
        self.heard: list[Said] = []

    def hear(self, heard: Said, answer: object) -> None:
        self.heard.append(heard)

    def key(self, listen: Listen, answer: object) -> str | None:
        return self.keys.pop(0) if self.keys else None

    def ring(self, ring: Ring, answer: object) -> str:
        return "no-answer"


def test_run_call_reports_the_path_and_time_to_the_line(settings: Settings) -> None:
    app: Flask = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows"))
    caller = Script("2", "3", "*", "0")
    report = run_call(InProcessCaller(app), caller)
    assert report.path == ["welcome", "main", "info", "main", "line"]
    # the welcome up to the French key (2.5 s), then the main menu's first words, up to the number (2.4 s)
    assert report.to_human == 4.9 and report.seconds_heard == round(sum(h.seconds for h in caller.heard), 1)
    assert report.human == "Télé-Accueil's number" and report.ended_by == "caller"


# --- --play ------------------------------------------------------------------------------------


def fake_player(folder: Path, log: Path) -> None:
    """An `ffplay` that records each file it is given (after checking it is not empty)."""
    folder.mkdir()
    script = folder / "ffplay"
    script.write_text(f'#!/bin/sh\nfor arg; do file="$arg"; done\n[ -s "$file" ] && echo "$file" >> "{log}"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_play_speaks_say_text_with_espeak_through_the_player(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "played.txt"
    fake_player(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = simulate("--keys", "2,0", "--play")
    assert result.exit_code == 0, result.output
    played = log.read_text(encoding="utf-8").splitlines()
    assert len(played) == 5  # two welcome parts, the menu's two, the line's number
    assert all(line.endswith("prompt.wav") for line in played)


def test_play_without_a_player_says_so_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = simulate("--keys", "2,0", "--play")
    assert result.exit_code == 0
    assert "--play: no audio player found (install ffmpeg or sox); showing text only" in result.output
    assert "Appelez Télé-Accueil: 1 0 7." in result.output


def test_speech_index_finds_the_node_of_a_goodbye(settings: Settings) -> None:
    call = InProcessCaller(create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows")))
    menu = call.press(call.start().verbs[0].action, "2")  # type: ignore[union-attr]
    bye = call.press(menu.verbs[0].action, "4")  # type: ignore[union-attr]
    assert bye.node == "bye"  # no URL in a goodbye's TwiML: the node is found from its words
    assert isinstance(call.index.by_text[("fr", "Rien entendu.")][0], Speech)


def test_built_audio_lasts_what_the_manifest_says(settings: Settings, tmp_path: Path) -> None:
    """With a manifest and its files, the webhook sends <Play>, and its measured length is what counts."""
    catalog_app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows"))
    welcome = catalog_app.extensions["ivr"].catalog.flows["mini"].nodes["welcome"]
    prompts: dict[str, dict[str, object]] = {}
    for lang, name in (("nl", "a" * 32), ("fr", "b" * 32)):
        speech = welcome.prompt.parts(lang)[0]
        (tmp_path / lang).mkdir()
        (tmp_path / lang / f"{name}.mp3").write_bytes(b"ID3 not really audio")
        # 2.5 s each: longer than the estimate, within every budget (longer ones would not be played)
        prompts.setdefault(speech.key, {})[lang] = {"file": f"{lang}/{name}.mp3", "duration": 2.5, "text": speech.text}
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "prompts": prompts}), encoding="utf-8")
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=tmp_path))
    heard = list(InProcessCaller(app).start().heard())
    assert [(h.verb, h.lang, h.seconds, h.text) for h in heard] == [
        ("play", "nl", 2.5, "Nederlands: druk 1."),
        ("play", "fr", 2.5, "Français: tapez 2."),
    ]
    assert heard[0].url == f"https://ivr.example.org/audio/nl/{'a' * 32}.mp3"


# --- the TwiML follower the tests share ----------------------------------------------------------


def test_the_follower_reads_a_dial_with_every_number_it_rings() -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="fr-BE" voice="Polly.Isabelle-Neural">Un instant.</Say>'
        '<Dial timeout="20"><Number>+3290000001</Number><Number>+3290000002</Number></Dial><Hangup /></Response>'
    )
    document = read_twiml(body)
    assert document.tags() == ["Say", "Dial", "Hangup"]
    assert document.first(Ring) == Ring(("+3290000001", "+3290000002"), None, 20)
    assert [(heard.text, heard.language) for heard in document.heard()] == [("Un instant.", "fr-BE")]
    assert list(document.next_urls()) == [] and document.state() == {}


@pytest.mark.parametrize(
    ("change", "speech"),
    [
        (('input="dtmf"', 'input="keys"'), False),
        (('input="dtmf"', 'input="dtmf speech"'), False),  # speech where the flow has not turned it on
        (('input="dtmf"', 'input="dtmf"'), True),  # keys only where the flow listens for speech too
        ((' numDigits="1"', ""), False),
        ((' numDigits="1"', ' numDigits="2"'), False),
        (("<Redirect", "<Pause /><Redirect"), False),  # the silence path is not right after the <Gather>
        (("step?", "dial?"), False),  # ... nor back to the <Gather>'s own action (only the first URL changes)
    ],
    ids=["input keys", "speech not on", "speech missing", "no numDigits", "two digits", "gap before redirect", "other url"],
)
def test_the_semantic_twiml_check_refuses_what_the_schema_accepts(
    twilio: TwilioClient, twiml_schema: xmlschema.XMLSchema, change: tuple[str, str], speech: bool
) -> None:
    answer = twilio.post("/voice")
    assert_valid_twiml(twiml_schema, answer)
    broken = TwiML(answer.status, answer.content_type, answer.body.replace(*change, 1))
    twiml_schema.validate(broken.body)  # Twilio's schema takes it...
    with pytest.raises(AssertionError):
        assert_twiml_a_caller_can_follow(broken, speech=speech)  # ... a caller could not follow it
