"""The shipped config and flows, as the tests load them, and copies of config/ edited for one test."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from flask import Flask

from ivr.app import create_app
from ivr.settings import Settings
from support.twilio import PUBLIC, TOKEN, TwilioClient

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
# The suite's own copy of config/ and ivr/flows/ as published: every test that pins a published number or
# prompt reads it, never the operator's config/, so an operator's own numbers and targets keep `make test`
# green (`ivr validate` and `ivr test` check those). Change it with the shipped files when they change.
SHIPPED_CONFIG = DATA / "shipped" / "config"
SHIPPED_FLOWS = DATA / "shipped" / "flows"


def shipped_settings(folder: Path) -> Settings:
    """The shipped config and flows, signed with the test token; an empty audio folder in ``folder``: prompts
    are <Say> whatever audio the checkout has built."""
    return Settings(
        auth_token=TOKEN,
        public_url=PUBLIC,
        config_dir=SHIPPED_CONFIG,
        flows_dir=SHIPPED_FLOWS,
        audio_dir=folder / "audio",
        log_key=b"test-log-key",
    )


def app_for(settings: Settings, tmp_path: Path, config: Path | None = None) -> TwilioClient:
    """A client that signs like Twilio, of an app on ``settings`` with ``config`` (else the shipped one) and no audio."""
    audio = tmp_path / "no-audio"  # no built audio: every prompt is a <Say> whose words can be checked
    audio.mkdir(exist_ok=True)
    app: Flask = create_app(replace(settings, config_dir=config or SHIPPED_CONFIG, audio_dir=audio))
    return TwilioClient(app.test_client())


def config_copy(tmp_path: Path, edit: Callable[[str, str], str]) -> Path:
    """The suite's copy of config/ copied, with ``edit(file name, text)`` applied to each file."""
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    for path in config.glob("*.yaml"):
        path.write_text(edit(path.name, path.read_text(encoding="utf-8")), encoding="utf-8")
    return config


def with_speech_on(name: str, text: str) -> str:
    """Speech as well as keys, for every number (an edit for config_copy)."""
    return text.replace("speech:\n  enabled: false", "speech:\n  enabled: true") if name == "settings.yaml" else text


def with_transfer_targets(name: str, text: str) -> str:
    """Every line gets two made-up E.164 targets, so that every <Dial> outcome can be walked
    (and settings our number, which transfers show as caller ID)."""
    if name == "settings.yaml":
        return re.sub(r"called_numbers: \{\}", 'called_numbers: {"+3225550100": {default_language: nl}}', text)
    if name != "helplines.yaml":
        return text
    count = iter(range(1, 100))

    def targets(_: re.Match[str]) -> str:
        n = next(count)
        return f'transfer_to: ["+3225550{n:02d}1", "+3225550{n:02d}2"]'

    return re.sub(r"transfer_to: \[\]", targets, text)


def shipped_checkout(folder: Path) -> Path:
    """The checkout's files (tracked, and new ones not ignored) copied to ``folder``, with config/ and ivr/flows/ as
    published (the suite's copy), whatever the operator has made of them: a fresh clone of the project."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for name in listed.stdout.splitlines():
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    for shipped, place in ((SHIPPED_CONFIG, folder / "config"), (SHIPPED_FLOWS, folder / "ivr" / "flows")):
        shutil.rmtree(place)
        shutil.copytree(shipped, place)
    return folder
