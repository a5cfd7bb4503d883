"""Faults: whatever breaks, the caller hears how to reach a listening line, and the log says what broke."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

import ivr.service
import ivr.web
from ivr.app import create_app
from ivr.audio import build_audio, load_manifest
from ivr.errors import ConfigErrors
from ivr.loader import load_catalog
from ivr.model import Speech
from ivr.security import sign
from ivr.settings import Settings
from support import (
    CALL,
    DATA,
    PUBLIC,
    ROOT,
    SHIPPED_CONFIG,
    TOKEN,
    TwilioClient,
    TwiML,
    free_port,
    procfile_command,
    procfile_env,
)
from support.audio_fakes import FakeEngine

Check = Callable[[TwiML], TwiML]


def rescued(answer: TwiML, valid_twiml: Check) -> None:
    """The rescue: status 200, valid TwiML, the lines' numbers and 112, then the end of the call."""
    valid_twiml(answer)
    spoken = answer.spoken()
    assert "1 0 6" in spoken and "1 0 7" in spoken and "1 1 2" in spoken, spoken
    assert answer.verbs()[-1] == "Hangup"


def error_lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [line for line in map(json.loads, buffer.getvalue().splitlines()) if line["level"] == "error"]


# --- an exception anywhere in a webhook -------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "route", "path", "fields"),
    [
        ("start", "start", "/voice", {}),
        ("on_input", "step", "/voice/step?flow=helpline&lang=nl&node=main", {"Digits": "1"}),
        ("on_dial", "dial", "/voice/dial?flow=helpline&lang=nl&node=listening_line", {"DialCallStatus": "busy"}),
    ],
)
def test_an_exception_in_the_engine_gets_the_rescue_and_a_logged_error_id(
    app: Flask,
    twilio: TwilioClient,
    valid_twiml: Check,
    json_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
    route: str,
    path: str,
    fields: dict[str, str],
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("the engine broke while reading " + CALL["From"])

    monkeypatch.setattr(app.extensions["ivr"].engine, broken, explode)
    rescued(twilio.post(path, fields), valid_twiml)
    [line] = error_lines(json_log)
    assert line["exception"] == "RuntimeError" and str(line["at"]).startswith("test_faults.py:")
    assert line["outcome"] == "rescue" and line["route"] == route
    assert len(str(line["error_id"])) == 12 and line["call"] not in {"-", CALL["CallSid"]}
    assert "engine broke" not in json_log.getvalue() and CALL["From"] not in json_log.getvalue()


def test_an_exception_in_the_twiml_builder_gets_the_rescue(
    twilio: TwilioClient, valid_twiml: Check, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> str:
        raise ValueError("cannot build TwiML")

    monkeypatch.setattr(ivr.service, "render", explode)
    rescued(twilio.post("/voice"), valid_twiml)
    [line] = error_lines(json_log)
    assert line["exception"] == "ValueError" and line["error_id"]


def test_an_exception_choosing_audio_gets_the_rescue(
    app: Flask, twilio: TwilioClient, valid_twiml: Check, json_log: io.StringIO
) -> None:
    def explode(speech: Speech) -> str | None:
        raise OSError("the audio disk is gone")

    app.extensions["ivr"] = replace(app.extensions["ivr"], audio_url=explode)
    rescued(twilio.post("/voice"), valid_twiml)
    assert error_lines(json_log)[0]["exception"] == "OSError"


def test_an_exception_before_the_view_gets_the_rescue(
    twilio: TwilioClient, valid_twiml: Check, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> bool:
        raise KeyError("signature check broke")

    monkeypatch.setattr(ivr.web, "is_signed_by_twilio", explode)
    rescued(twilio.post("/voice/step?lang=nl&node=main", {"Digits": "1"}), valid_twiml)
    [line] = error_lines(json_log)
    assert line["exception"] == "KeyError" and line["route"] == "step" and line["outcome"] == "rescue"


def test_a_cached_answer_is_not_served_after_the_builder_breaks(
    twilio: TwilioClient, valid_twiml: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rendered-TwiML cache holds documents, never errors: a fault shows, then heals."""
    first = valid_twiml(twilio.post("/voice"))
    calls = []

    def explode(*args: object, **kwargs: object) -> str:
        calls.append(args)
        raise ValueError("cannot build TwiML")

    monkeypatch.setattr(ivr.service, "render", explode)
    assert valid_twiml(twilio.post("/voice")).body == first.body  # the same answer: rendered once
    assert not calls
    rescued(twilio.post("/voice/step?flow=helpline&lang=fr&node=main", {"Digits": "1"}), valid_twiml)
    monkeypatch.undo()
    healed = valid_twiml(twilio.post("/voice/step?flow=helpline&lang=fr&node=main", {"Digits": "1"}))
    assert healed.root.find("Gather") is not None


# --- audio files missing or unreadable ----------------------------------------------------------------


@pytest.fixture
def built(settings: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    """The test flow with all its prompts built (silent MP3s), as a deploy with audio has them."""
    folder = tmp_path / "audio"
    assert build_audio(load_catalog(DATA / "config", DATA / "flows"), FakeEngine(), folder).ok
    return replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=folder), folder


def audio_file(folder: Path, text: str, lang: str) -> Path:
    for (_, entry_lang), entry in load_manifest(folder).entries.items():
        if entry.text == text and entry_lang == lang:
            return folder / entry.file
    raise AssertionError(f"{text!r} not in the manifest")


def menu_children(caller: TwilioClient, valid_twiml: Check) -> list[tuple[str, str]]:
    welcome = caller.post("/voice")
    menu = valid_twiml(caller.follow(welcome.gather_action(), "1"))
    gather = menu.root.find("Gather")
    assert gather is not None
    return [(el.tag, el.text or "") for el in gather]


def test_missing_and_unreadable_audio_files_are_said_and_the_call_goes_on(
    built: tuple[Settings, Path], valid_twiml: Check
) -> None:
    settings, folder = built
    audio_file(folder, "Nederlands: druk 1.", "nl").unlink()  # missing
    unreadable = audio_file(folder, "Français: tapez 2.", "fr")
    unreadable.unlink()
    unreadable.mkdir()  # a directory where the file should be: cannot be read, even by root
    caller = TwilioClient(create_app(settings).test_client())
    welcome = valid_twiml(caller.post("/voice"))
    gather = welcome.root.find("Gather")
    assert gather is not None
    assert [(el.tag, el.text) for el in gather] == [("Say", "Nederlands: druk 1."), ("Say", "Français: tapez 2.")]
    menu = valid_twiml(caller.follow(welcome.gather_action(), "1"))
    assert [el.tag for el in menu.root.find("Gather")] == ["Play", "Play"]  # type: ignore[union-attr]
    line = valid_twiml(caller.follow(menu.gather_action(), "0"))
    assert line.root.find("Dial") is not None


def test_audio_removed_while_running_is_said_and_played_again_once_back(built: tuple[Settings, Path], valid_twiml: Check) -> None:
    """Answers are rendered once and reused, but never with a <Play> of a file that is gone."""
    settings, folder = built
    caller = TwilioClient(create_app(settings).test_client())
    menu = audio_file(folder, "Info: druk 3. Praten: druk 0.", "nl")
    assert menu_children(caller, valid_twiml)[1][0] == "Play"
    assert menu_children(caller, valid_twiml)[1][0] == "Play"  # from the cache
    kept = menu.read_bytes()
    menu.unlink()
    assert menu_children(caller, valid_twiml)[1] == ("Say", "Info: druk 3. Praten: druk 0.")
    menu.write_bytes(kept)
    assert menu_children(caller, valid_twiml)[1][0] == "Play"
    shutil.rmtree(folder)  # the whole audio folder gone: everything is said
    assert [tag for tag, _ in menu_children(caller, valid_twiml)] == ["Say", "Say"]


# --- files changed on disk while running, and broken at start-up ------------------------------------------


def test_flows_and_config_broken_on_disk_while_running_change_nothing(
    settings: Settings, tmp_path: Path, valid_twiml: Check
) -> None:
    config, flows = tmp_path / "config", tmp_path / "flows"
    shutil.copytree(DATA / "config", config)
    shutil.copytree(DATA / "flows", flows)
    running = replace(settings, config_dir=config, flows_dir=flows)
    caller = TwilioClient(create_app(running).test_client())

    def call() -> list[str]:
        welcome = valid_twiml(caller.post("/voice"))
        menu = valid_twiml(caller.follow(welcome.gather_action(), "2"))
        info = valid_twiml(caller.follow(menu.gather_action(), "3"))
        line = valid_twiml(caller.follow(info.gather_action(), "0"))
        return [welcome.body, menu.body, info.body, line.body]

    before = call()
    (flows / "mini.yaml").write_text("nodes: [broken", encoding="utf-8")
    (flows / "another.yaml").write_text("start: nowhere\n", encoding="utf-8")
    (config / "helplines.yaml").write_text("helplines:\n  tele_onthaal: {number: 106}\n", encoding="utf-8")
    (config / "settings.yaml").unlink()
    with pytest.raises(ConfigErrors):
        create_app(running)  # really broken: a new process would refuse to start
    assert call() == before  # the running app serves what it validated
    assert "1 0 7" in TwiML(200, "text/xml", before[-1]).spoken()


def test_an_invalid_helplines_file_stops_create_app_with_where_and_how_to_fix(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    shutil.copy(DATA / "broken_helplines.yaml", config / "helplines.yaml")
    with pytest.raises(ConfigErrors) as refused:
        create_app(replace(settings, config_dir=config))
    message = str(refused.value)
    assert f"{config / 'helplines.yaml'}:10:" in message and "short number" in message
    assert "fix:" in message and "will not start" in message


@pytest.mark.serving
def test_the_procfile_process_refuses_to_start_with_an_invalid_helplines_file(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    shutil.copy(DATA / "broken_helplines.yaml", config / "helplines.yaml")
    env = procfile_env(free_port(), TWILIO_AUTH_TOKEN="token", IVR_CONFIG=str(config))
    command = ["bash", "-c", procfile_command("web")]
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0
    assert f"{config / 'helplines.yaml'}:10:" in finished.stderr and "short number" in finished.stderr
    assert "will not start until they are fixed" in finished.stderr


# --- behind a proxy or TLS terminator -------------------------------------------------------------------------

INTERNAL = "http://10.0.0.7:8000"  # where the proxy forwards to
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.org", "X-Forwarded-For": "203.0.113.9"}


def through_proxy(app: Flask, signed_for: str, path: str = "/voice/step?flow=helpline&lang=nl&node=main") -> TwiML:
    """A request as it reaches us from the proxy, signed by Twilio for the URL it called."""
    form = {**CALL, "Digits": "1"}
    headers = {**PROXY_HEADERS, "X-Twilio-Signature": sign(TOKEN, signed_for + path, form)}
    response = app.test_client().post(path, data=form, headers=headers, base_url=INTERNAL)
    return TwiML(response.status_code, response.headers.get("Content-Type", ""), response.get_data(as_text=True))


def test_behind_a_proxy_requests_validate_against_the_public_url(settings: Settings, valid_twiml: Check) -> None:
    app = create_app(settings)  # IVR_PUBLIC_URL=https://ivr.example.org
    answer = valid_twiml(through_proxy(app, PUBLIC))
    assert answer.root.find("Gather") is not None
    # A signature for the internal URL is not Twilio's: refused.
    assert through_proxy(app, INTERNAL).status == 403


def test_with_a_trusted_proxy_and_no_public_url_the_forwarded_host_is_used(settings: Settings, valid_twiml: Check) -> None:
    app = create_app(replace(settings, public_url=None, trust_proxy=True))
    valid_twiml(through_proxy(app, "https://ivr.example.org"))
    assert through_proxy(app, INTERNAL).status == 403


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(settings: Settings, json_log: io.StringIO) -> None:
    app = create_app(replace(settings, public_url=None))
    assert through_proxy(app, "https://ivr.example.org").status == 403  # a clear refusal, never a 5xx
    refused = [json.loads(line) for line in json_log.getvalue().splitlines() if '"forbidden"' in line]
    assert refused and refused[-1]["status"] == 403
