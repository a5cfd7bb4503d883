"""A voice per language: ``speak_with: audio`` plays the built files, ``speak_with: say`` is Twilio's voice throughout."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.app import create_app
from ivr.audio import build_audio
from ivr.cli import main
from ivr.errors import ConfigErrors
from ivr.loader import load_catalog
from ivr.settings import Settings
from support import DATA, SHIPPED_CONFIG, SHIPPED_FLOWS, TwilioClient
from support.audio_fakes import FakeEngine

FR_SAID = "words_per_second: 2.5}"


def mini_config(tmp_path: Path, fr: str = "say") -> Path:
    """The mini config with French set to ``speak_with: <fr>``."""
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    settings = config / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    assert text.count(FR_SAID) == 1
    settings.write_text(text.replace(FR_SAID, f"words_per_second: 2.5, speak_with: {fr}}}"), encoding="utf-8")
    return config


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """Every prompt of the mini flow built in both languages, as a build before the switch left them."""
    folder = tmp_path / "audio"
    assert build_audio(load_catalog(DATA / "config", DATA / "flows"), FakeEngine(), folder).ok
    return folder


def test_a_language_set_to_say_is_spoken_with_its_polly_voice_throughout(
    settings: Settings, tmp_path: Path, built: Path, valid_twiml: object
) -> None:
    app = create_app(replace(settings, config_dir=mini_config(tmp_path), flows_dir=DATA / "flows", audio_dir=built))
    caller = TwilioClient(app.test_client())
    welcome = valid_twiml(caller.post("/voice"))  # type: ignore[operator]
    gather = welcome.root.find("Gather")
    assert [el.tag for el in gather] == ["Play", "Say"]  # Dutch still plays its file
    said = gather.find("Say")
    assert said is not None and said.get("voice") == "Polly.Isabelle-Neural" and said.get("language") == "fr-BE"
    answer = welcome
    for digits in ("2", "3", "0"):  # French, then a message, then the talk-now key
        answer = valid_twiml(caller.follow(answer.gather_action(), digits))  # type: ignore[operator]
        assert not list(answer.root.iter("Play")), answer.body
        voices = {say.get("voice") for say in answer.root.iter("Say")}
        assert voices == {"Polly.Isabelle-Neural"}, answer.body


def test_the_build_makes_no_file_for_a_language_spoken_with_say(tmp_path: Path) -> None:
    catalog = load_catalog(mini_config(tmp_path), DATA / "flows")
    engine = FakeEngine()
    report = build_audio(catalog, engine, tmp_path / "audio")
    assert report.ok and report.said > 0
    assert {lang for lang, _ in engine.calls} == {"nl"}


def test_speak_with_takes_audio_or_say_and_a_typo_is_an_error_with_its_fix(tmp_path: Path) -> None:
    assert load_catalog(mini_config(tmp_path / "a", "audio"), DATA / "flows").settings.languages["fr"].said is False
    with pytest.raises(ConfigErrors) as raised:
        load_catalog(mini_config(tmp_path / "b", "sya"), DATA / "flows")
    text = str(raised.value)
    assert "speak_with 'sya' is neither audio nor say" in text and "did you mean 'say'?" in text
    assert "settings.yaml:" in text


def test_validate_marks_the_say_languages_as_estimated(tmp_path: Path, built: Path) -> None:
    config = mini_config(tmp_path)
    args = ["validate", "--audio", "--config", str(config), "--flows", str(DATA / "flows"), "--audio-dir", str(built)]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert "  fr: estimated (spoken with <Say>, which has no audio to measure)" in done.output
    assert "  nl: estimated" not in done.output


def test_the_shipped_settings_keep_the_built_audio_for_every_language() -> None:
    catalog = load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)
    assert [language.speak_with for language in catalog.settings.languages.values()] == ["audio"] * 4


def test_a_recording_of_a_say_language_is_kept_but_twilio_says_the_prompt(
    settings: Settings, tmp_path: Path, built: Path, valid_twiml: object
) -> None:
    config = mini_config(tmp_path)
    studio = tmp_path / "studio"
    studio.mkdir()
    take = subprocess.run(["espeak-ng", "-v", "fr", "--stdout", "Français: tapez 2."], capture_output=True, check=True)
    (studio / "fr.mini.welcome.prompt.0.wav").write_bytes(take.stdout)
    args = ["audio", "import", str(studio), "--config", str(config), "--flows", str(DATA / "flows"), "--audio-dir", str(built)]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert "Kept, but not played while fr is set to speak_with: say" in done.output
    app = create_app(replace(settings, config_dir=config, flows_dir=DATA / "flows", audio_dir=built))
    welcome = valid_twiml(TwilioClient(app.test_client()).post("/voice"))  # type: ignore[operator]
    assert [(el.tag, el.get("voice")) for el in welcome.root.find("Gather")] == [("Play", None), ("Say", "Polly.Isabelle-Neural")]
