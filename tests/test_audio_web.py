"""Built prompts are played with <Play>, the rest said with <Say>; the audio route caches well and never fails a caller."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.app import create_app
from ivr.audio import MANIFEST_NAME, build_audio, load_manifest
from ivr.audio_web import AUDIO_EXTENSION, PromptAudio
from ivr.cli import main
from ivr.loader import load_catalog
from ivr.model import Speech
from ivr.settings import Settings
from support import DATA, PUBLIC, TwilioClient
from support.audio_fakes import FakeEngine

WELCOME_NL = Speech("mini/welcome.prompt.0", "nl", "Nederlands: druk 1.")
WELCOME_FR = Speech("mini/welcome.prompt.0", "fr", "Français: tapez 2.")


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """The mini flow's prompts, built with the fake engine (real, silent MP3 frames)."""
    folder = tmp_path / "audio"
    assert build_audio(load_catalog(DATA / "config", DATA / "flows"), FakeEngine(), folder).ok
    return folder


@pytest.fixture
def mini_settings(settings: Settings, audio_dir: Path) -> Settings:
    return replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=audio_dir)


def file_of(audio_dir: Path, speech: Speech) -> Path:
    entry = load_manifest(audio_dir).entry_for(speech)
    assert entry is not None
    return audio_dir / entry.file


def welcome_children(caller: TwilioClient, valid_twiml: object) -> list[tuple[str, str]]:
    answer = valid_twiml(caller.post("/voice"))  # type: ignore[operator]
    gather = answer.root.find("Gather")
    assert gather is not None, answer.body
    return [(el.tag, el.text or "") for el in gather]


def test_built_prompts_are_played_and_a_missing_file_is_said(
    mini_settings: Settings, audio_dir: Path, valid_twiml: object, caplog: pytest.LogCaptureFixture
) -> None:
    missing = file_of(audio_dir, WELCOME_FR)
    missing.unlink()
    with caplog.at_level(logging.WARNING, logger="ivr"):
        caller = TwilioClient(create_app(mini_settings).test_client())
    warned = [r for r in caplog.records if "missing or unreadable" in r.getMessage()]
    assert len(warned) == 1 and warned[0].files == [str(missing.relative_to(audio_dir))]  # type: ignore[attr-defined]
    played = f"{PUBLIC}/audio/{file_of(audio_dir, WELCOME_NL).relative_to(audio_dir)}"
    assert welcome_children(caller, valid_twiml) == [("Play", played), ("Say", "Français: tapez 2.")]


def test_a_whole_menu_is_played_when_everything_is_built(mini_settings: Settings, valid_twiml: object) -> None:
    caller = TwilioClient(create_app(mini_settings).test_client())
    welcome = caller.post("/voice")
    menu = valid_twiml(caller.follow(welcome.gather_action(), "1"))  # type: ignore[operator]
    assert [el.tag for el in menu.root.find("Gather")] == ["Play", "Play"]
    info = valid_twiml(caller.follow(menu.gather_action(), "3"))  # type: ignore[operator]
    assert [el.tag for el in info.root.find("Gather")] == ["Play", "Pause", "Play", "Play"]


def test_the_audio_route_serves_mp3_with_immutable_caching_and_304(mini_settings: Settings, audio_dir: Path) -> None:
    client = create_app(mini_settings).test_client()
    path = file_of(audio_dir, WELCOME_NL)
    url = f"/audio/nl/{path.name}"
    with client.get(url) as response:  # no X-Twilio-Signature, although the app checks signatures
        assert response.status_code == 200
        assert response.mimetype == "audio/mpeg"
        assert response.get_data() == path.read_bytes()
        cache = {part.strip() for part in response.headers["Cache-Control"].split(",")}
        assert cache == {"public", "max-age=31536000", "immutable"}
        assert response.headers["ETag"] == f'"{path.stem}"'
        etag = response.headers["ETag"]
    with client.get(url, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304 and again.get_data() == b""
    with client.get(url, headers={"If-None-Match": '"0123"'}) as other:
        assert other.status_code == 200
    with client.head(url) as head:
        assert head.status_code == 200 and head.headers["Content-Length"] == str(path.stat().st_size)


@pytest.mark.parametrize(
    "url",
    [
        "/audio/nl/0123456789abcdef0123456789abcdef.mp3",  # well formed, no such file
        "/audio/nl/nope.mp3",
        "/audio/NL/0123456789abcdef0123456789abcdef.mp3",
        "/audio/../manifest.mp3",
        "/audio/nl/..%2f..%2fmanifest.mp3",
        "/audio/nl/%2e%2e.mp3",
        "/audio/manifest.json",
    ],
)
def test_bad_or_unknown_audio_names_are_404(mini_settings: Settings, url: str) -> None:
    response = create_app(mini_settings).test_client().get(url)
    assert response.status_code == 404


def test_a_file_deleted_after_start_up_is_said_not_played(mini_settings: Settings, audio_dir: Path, valid_twiml: object) -> None:
    app = create_app(mini_settings)
    caller = TwilioClient(app.test_client())
    assert [tag for tag, _ in welcome_children(caller, valid_twiml)] == ["Play", "Play"]
    path = file_of(audio_dir, WELCOME_NL)
    path.unlink()
    assert welcome_children(caller, valid_twiml)[0] == ("Say", "Nederlands: druk 1.")
    assert app.test_client().get(f"/audio/nl/{path.name}").status_code == 404


def test_a_prompt_changed_since_the_build_is_said_with_its_new_words(
    mini_settings: Settings, tmp_path: Path, valid_twiml: object, caplog: pytest.LogCaptureFixture
) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    flow = flows / "mini.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("Nederlands: druk 1.", "Voor Nederlands: druk 1."), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ivr"):
        caller = TwilioClient(create_app(replace(mini_settings, flows_dir=flows)).test_client())
    assert any("prompts without audio" in r.getMessage() and r.count == 1 for r in caplog.records)  # type: ignore[attr-defined]
    assert welcome_children(caller, valid_twiml)[0] == ("Say", "Voor Nederlands: druk 1.")


def test_without_a_manifest_every_prompt_is_said(
    settings: Settings, tmp_path: Path, valid_twiml: object, caplog: pytest.LogCaptureFixture
) -> None:
    empty = replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=tmp_path / "none")
    with caplog.at_level(logging.WARNING, logger="ivr"):
        caller = TwilioClient(create_app(empty).test_client())
    assert any("no audio manifest" in r.getMessage() for r in caplog.records)
    assert [tag for tag, _ in welcome_children(caller, valid_twiml)] == ["Say", "Say"]


def test_a_corrupt_manifest_is_a_warning_and_every_prompt_is_said(
    mini_settings: Settings, audio_dir: Path, valid_twiml: object, caplog: pytest.LogCaptureFixture
) -> None:
    (audio_dir / MANIFEST_NAME).write_text('{"format": 1, "prompts": {"x": {"nl": {"file": "/etc/passwd"', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ivr"):
        caller = TwilioClient(create_app(mini_settings).test_client())
    assert any("manifest unreadable" in r.getMessage() for r in caplog.records)
    assert [tag for tag, _ in welcome_children(caller, valid_twiml)] == ["Say", "Say"]


def test_audio_url_points_play_at_the_cdn(mini_settings: Settings, audio_dir: Path, valid_twiml: object) -> None:
    file = file_of(audio_dir, WELCOME_NL).relative_to(audio_dir)
    shutil.rmtree(audio_dir / "nl")  # on the CDN, not here: the manifest is trusted
    app = create_app(replace(mini_settings, audio_url="https://cdn.example.org/helpline-audio"))
    children = welcome_children(TwilioClient(app.test_client()), valid_twiml)
    assert children[0] == ("Play", f"https://cdn.example.org/helpline-audio/{file}")


def test_without_a_public_url_play_uses_the_request_host(mini_settings: Settings, valid_twiml: object) -> None:
    app = create_app(replace(mini_settings, public_url=None))
    caller = TwilioClient(app.test_client(), public="http://localhost")
    tag, url = welcome_children(caller, valid_twiml)[0]
    assert tag == "Play" and url.startswith("http://localhost/audio/nl/")
    with app.test_client().get(urlsplit(url).path) as response:
        assert response.status_code == 200


def test_the_rescue_is_always_said(mini_settings: Settings, valid_twiml: object) -> None:
    caller = TwilioClient(create_app(mini_settings).test_client())
    rescue = valid_twiml(caller.post("/voice/fallback"))  # type: ignore[operator]
    assert "Play" not in rescue.verbs()  # the error path depends on no file


def test_audio_urls_outside_a_request_are_root_relative(app_for_index: Flask) -> None:
    audio: PromptAudio = app_for_index.extensions[AUDIO_EXTENSION]
    url = audio.url_for(WELCOME_NL)
    assert url is not None and url.startswith("/audio/nl/") and url.endswith(".mp3")


@pytest.fixture
def app_for_index(mini_settings: Settings) -> Flask:
    return create_app(replace(mini_settings, public_url=None))


def _first_duration(text: str, value: str) -> str:
    """The manifest's text with its first duration written as ``value``."""
    start = text.index('"duration": ') + len('"duration": ')
    return text[:start] + value + text[text.index(",", start) :]


HOSTILE_MANIFESTS = {
    "nested 5,000 deep": lambda text: '{"format": 1, "prompts": ' + "[" * 5000 + "]" * 5000 + "}",
    "a 4,301-digit number": lambda text: _first_duration(text, "1" * 4301),
    "a 4,300-digit duration": lambda text: _first_duration(text, "1" * 4300),
    "a duration of NaN": lambda text: _first_duration(text, "NaN"),
    "an infinite duration": lambda text: _first_duration(text, "Infinity"),
    "a duration past a float": lambda text: _first_duration(text, "1e400"),
    "a negative duration": lambda text: _first_duration(text, "-1.5"),
    "a duration of true": lambda text: _first_duration(text, "true"),
}


@pytest.mark.parametrize("make", HOSTILE_MANIFESTS.values(), ids=HOSTILE_MANIFESTS.keys())
def test_a_hostile_manifest_means_say_and_the_service_starts(
    mini_settings: Settings, audio_dir: Path, valid_twiml: object, caplog: pytest.LogCaptureFixture, make: object
) -> None:
    manifest = audio_dir / MANIFEST_NAME
    manifest.write_text(make(manifest.read_text(encoding="utf-8")), encoding="utf-8")  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger="ivr"):
        caller = TwilioClient(create_app(mini_settings).test_client())
    assert any("manifest unreadable" in r.getMessage() for r in caplog.records)
    assert [tag for tag, _ in welcome_children(caller, valid_twiml)] == ["Say", "Say"]
    # `ivr validate` warns too, times prompts from estimates, and passes the flows.
    result = CliRunner().invoke(
        main,
        ["validate", "--audio", "--config", str(DATA / "config"), "--flows", str(DATA / "flows"), "--audio-dir", str(audio_dir)],
    )
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "estimated from words per second" in result.output


def _empty(path: Path, outside: Path) -> None:
    path.write_bytes(b"")


def _link_out(path: Path, outside: Path) -> None:
    """The file replaced by a symlink to a file outside the audio folder (same bytes, so only the link differs)."""
    secret = outside / "outside.mp3"
    secret.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(secret)


def _folder_linked_out(path: Path, outside: Path) -> None:
    """The language folder moved out and replaced by a symlink to it."""
    folder = path.parent
    moved = outside / "nl-elsewhere"
    folder.rename(moved)
    folder.symlink_to(moved, target_is_directory=True)


def _a_folder(path: Path, outside: Path) -> None:
    path.unlink()
    path.mkdir()


CHANGES = {"emptied": _empty, "a symlink out": _link_out, "in a symlinked folder": _folder_linked_out, "a folder": _a_folder}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_only_regular_non_empty_files_inside_the_folder_are_served_or_played(
    mini_settings: Settings, audio_dir: Path, tmp_path: Path, valid_twiml: object, change: object
) -> None:
    app = create_app(mini_settings)
    caller = TwilioClient(app.test_client())
    path = file_of(audio_dir, WELCOME_NL)
    url = f"/audio/nl/{path.name}"
    with app.test_client().get(url) as served:
        assert served.status_code == 200
    outside = tmp_path / "outside"
    outside.mkdir()
    change(path, outside)  # type: ignore[operator]  # after start-up, while serving
    with app.test_client().get(url) as response:
        assert response.status_code == 404 and response.get_data() == b"Not found\n"
    assert welcome_children(caller, valid_twiml)[0] == ("Say", "Nederlands: druk 1.")
    # At start-up too, the file is counted among those that cannot be played.
    fresh = create_app(mini_settings)
    assert welcome_children(TwilioClient(fresh.test_client()), valid_twiml)[0] == ("Say", "Nederlands: druk 1.")
    assert fresh.test_client().get(url).status_code == 404


def test_audio_that_would_put_a_caller_over_budget_is_said_instead_and_named_once(
    mini_settings: Settings, audio_dir: Path, valid_twiml: object, caplog: pytest.LogCaptureFixture
) -> None:
    """The service never refuses to start over an audio file: one whose real length would keep callers from the
    line past a budget is not played (its prompt is said, as estimated), and `ivr validate --audio` refuses it."""
    manifest = audio_dir / MANIFEST_NAME
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["prompts"]["mini/welcome.prompt.0"]["nl"]["duration"] = 50.0  # a welcome sentence of 50 s
    manifest.write_text(json.dumps(document), encoding="utf-8")
    long_file = document["prompts"]["mini/welcome.prompt.0"]["nl"]["file"]
    with caplog.at_level(logging.WARNING, logger="ivr"):
        caller = TwilioClient(create_app(mini_settings).test_client())
    (warned,) = [r for r in caplog.records if "would keep callers from the line past a budget" in r.getMessage()]
    assert warned.files == [long_file]  # type: ignore[attr-defined]
    children = welcome_children(caller, valid_twiml)
    assert children[0] == ("Say", "Nederlands: druk 1.") and children[1][0] == "Play"  # only that prompt is said
    args = [
        "validate",
        "--audio",
        "--config",
        str(DATA / "config"),
        "--flows",
        str(DATA / "flows"),
        "--audio-dir",
        str(audio_dir),
    ]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and "(budget 60 s" in refused.output
