"""Voice and language names are checked against what exists, with the place and a did-you-mean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.errors import ConfigErrors
from ivr.loader import load_catalog
from ivr.voices import espeak_voice_names, twilio_voices
from support import SHIPPED_CONFIG, SHIPPED_FLOWS


def config_with(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """config/ with one line of settings.yaml changed; also the number of that line."""
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    settings = config / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    settings.write_text(text.replace(old, new, 1), encoding="utf-8")
    return config, line


@pytest.mark.parametrize(
    ("old", "new", "message", "hint"),
    [
        (
            "voice: Polly.Lisa-Neural",
            "voice: Polly.Lisaa-Neural",
            "voice 'Polly.Lisaa-Neural' is not a Twilio nl-BE voice",
            "did you mean 'Polly.Lisa-Neural'?",
        ),
        ("say_language: fr-BE", "say_language: fr-XX", "say_language 'fr-XX' has no Twilio voice", "did you mean 'fr-FR'?"),
        ("gtts: {lang: de, tld: de}", "gtts: {lang: xx, tld: de}", "gTTS has no language 'xx'", "expected one of: "),
        ("gtts: {lang: fr, tld: be}", "gtts: {lang: fr-BE, tld: be}", "gTTS has no language 'fr-BE'", "did you mean 'fr-CA'?"),
        ("espeak_voice: fr-be", "espeak_voice: fr-bee", "espeak-ng has no voice 'fr-bee'", "did you mean 'fr-be'?"),
        ("espeak_voice: de", "espeak_voice: zz", "espeak-ng has no voice 'zz'", "`espeak-ng --voices` lists them"),
    ],
)
def test_validate_refuses_a_name_that_does_not_exist(tmp_path: Path, old: str, new: str, message: str, hint: str) -> None:
    config, line = config_with(tmp_path, old, new)
    result = CliRunner().invoke(main, ["validate", "--config", str(config)])
    assert result.exit_code == 1
    assert re.search(rf"settings\.yaml:{line}:\d+: languages\.\w\w\.[a-z_]+: {re.escape(message)}", result.output), result.output
    assert f"fix: {hint}" in result.output


def test_the_service_refuses_a_twilio_voice_that_does_not_exist(tmp_path: Path) -> None:
    config, line = config_with(tmp_path, "voice: Polly.Amy-Neural", "voice: Polly.Amy-Neurall")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, SHIPPED_FLOWS)
    (error,) = caught.value.errors
    assert (error.mark.line, error.path) == (line, "languages.en.voice")


def test_the_shipped_voices_are_in_the_table_and_each_goes_with_its_language() -> None:
    table = twilio_voices()
    text = (SHIPPED_CONFIG / "settings.yaml").read_text(encoding="utf-8")
    pairs = re.findall(r"say_language: (\S+)\n +voice: (\S+)", text)
    assert len(pairs) == 4 and all(voice in table[language] for language, voice in pairs)
    for language, voices in table.items():  # a Google voice names its language: none is filed under another
        assert all(language in voice for voice in voices if voice.startswith("Google."))


def test_espeak_voice_names_are_read_from_espeak_itself() -> None:
    listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=True).stdout
    names = espeak_voice_names(listing)
    assert {"nl", "fr-be", "de", "en", "en-gb", "gmw/nl"} <= names  # "en" only through another voice's other languages
    assert "zz" not in names and "Language" not in names
