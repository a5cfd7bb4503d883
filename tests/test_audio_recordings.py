"""Prompts recorded by people: ``ivr audio import`` on recordings made here with espeak-ng and sox, then played on a call."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.app import create_app
from ivr.audio import MANIFEST_NAME, TARGET_LUFS, TARGET_TRUE_PEAK, ManifestError, build_audio, load_manifest
from ivr.cli import main
from ivr.loader import load_catalog
from ivr.settings import Settings
from support import DATA, PUBLIC, TwilioClient
from support.audio_fakes import FakeEngine

WELCOME_NL = "nl.mini.welcome.prompt.0"  # "Nederlands: druk 1."
WELCOME_FR = "fr.mini.welcome.prompt.0"  # "Français: tapez 2."
MAIN_NL = "nl.mini.main.prompt.1"  # "Info: druk 3. Praten: druk 0."
NUMBER_NL = "nl.mini.line.call_yourself.0"  # "Bel Tele-Onthaal: 1 0 6."
LONG_TAKE = "Info: druk 3. Praten: druk 0. Neem gerust je tijd, we zijn er dag en nacht voor je."


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout + done.stderr


def record(path: Path, text: str, voice: str, *, volume: float, silence: float = 1.5) -> Path:
    """A take as a studio might deliver it: espeak-ng's voice at ``volume``, with ``silence`` seconds of room before and after."""
    speech = path.with_suffix(".speech.wav")
    speech.write_bytes(subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout)
    pad = path.with_suffix(".pad.wav")
    run("sox", "-n", "-r", "22050", "-c", "1", str(pad), "trim", "0", str(silence))
    # stereo and 44.1 kHz, unlike what Twilio is played: the import converts
    run("sox", str(pad), str(speech), str(pad), "-r", "44100", "-c", "2", str(path), "vol", str(volume))
    speech.unlink()
    pad.unlink()
    return path


def seconds(path: Path) -> float:
    return float(run("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)))


def stream(path: Path) -> dict[str, object]:
    found = json.loads(
        run("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "json", str(path))
    )
    return dict(found["streams"][0])


def loudness(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) as ffmpeg's ebur128 filter measures them."""
    out = run("ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-filter_complex", "ebur128=peak=true", "-f", "null", "-")
    summary = out[out.rindex("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)
    assert integrated and peak, summary
    return float(integrated.group(1)), float(peak.group(1))


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    assert build_audio(load_catalog(DATA / "config", DATA / "flows"), FakeEngine(), folder).ok
    return folder


@pytest.fixture
def studio(tmp_path: Path) -> Path:
    """One long quiet take, one short loud one, in two formats."""
    folder = tmp_path / "studio"
    folder.mkdir()
    record(folder / f"{MAIN_NL}.wav", LONG_TAKE, "nl", volume=0.05)
    record(folder / f"{WELCOME_NL}.flac", "Nederlands: druk 1.", "nl", volume=0.9)
    return folder


def import_(studio: Path, audio_dir: Path, *more: str) -> tuple[int, str]:
    args = ["audio", "import", str(studio), "--config", str(DATA / "config"), "--flows", str(DATA / "flows")]
    done = CliRunner().invoke(main, [*args, "--audio-dir", str(audio_dir), *more])
    return done.exit_code, done.output


@pytest.mark.slow
def test_imported_recordings_are_trimmed_normalised_mp3_and_played_on_a_call(
    settings: Settings, studio: Path, audio_dir: Path, valid_twiml: object
) -> None:
    before = {path.name: seconds(path) for path in studio.iterdir()}
    code, output = import_(studio, audio_dir)
    assert code == 0, output
    manifest = load_manifest(audio_dir)
    assert len(manifest.recordings) == 2
    for stem, source in ((MAIN_NL, f"{MAIN_NL}.wav"), (WELCOME_NL, f"{WELCOME_NL}.flac")):
        key = ("mini/" + stem.removeprefix("nl.mini."), "nl")
        recording = manifest.recordings[key]
        path = audio_dir / recording.file
        assert stream(path) == {"codec_name": "mp3", "sample_rate": "24000", "channels": 1}
        length = seconds(path)
        # 1.5 s of room before and after (and espeak-ng's own short pauses), cut to 0.1 s each
        assert before[source] - 3.5 < length < before[source] - 2.8, (before[source], length)
        assert recording.duration is not None and abs(recording.duration - length) < 0.1
        integrated, peak = loudness(path)
        if length >= 3:
            assert abs(integrated - TARGET_LUFS) <= 1.0, (stem, integrated)
        assert peak <= TARGET_TRUE_PEAK + 0.5, (stem, peak)
        assert re.fullmatch(r"nl/[0-9a-f]{32}\.mp3", recording.file)
        assert f"imported {stem}: " in output
    caller = TwilioClient(
        create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=audio_dir)).test_client()
    )
    welcome = valid_twiml(caller.post("/voice"))  # type: ignore[operator]
    played = [el.text for el in welcome.root.find("Gather") if el.tag == "Play"]
    welcome_file = manifest.recordings[("mini/welcome.prompt.0", "nl")].file
    assert played[0] == f"{PUBLIC}/audio/{welcome_file}"
    with caller.client.get(f"/audio/{welcome_file}") as served:
        assert served.status_code == 200 and served.data == (audio_dir / welcome_file).read_bytes()
    menu = valid_twiml(caller.follow(welcome.gather_action(), "1"))  # type: ignore[operator]
    main_file = manifest.recordings[("mini/main.prompt.1", "nl")].file
    assert [el.text for el in menu.root.iter("Play")][-1] == f"{PUBLIC}/audio/{main_file}"  # after the number's part


@pytest.mark.slow
def test_a_new_take_gets_a_new_url_and_the_same_take_changes_nothing(studio: Path, audio_dir: Path) -> None:
    assert import_(studio, audio_dir)[0] == 0
    first = load_manifest(audio_dir).recordings[("mini/welcome.prompt.0", "nl")]
    code, output = import_(studio, audio_dir)
    assert code == 0 and "2 recording(s) already imported" in output
    record(studio / f"{WELCOME_NL}.flac", "Nederlands: druk een.", "nl", volume=0.5)
    assert import_(studio, audio_dir)[0] == 0
    second = load_manifest(audio_dir).recordings[("mini/welcome.prompt.0", "nl")]
    assert second.file != first.file and second.source != first.source


def test_a_prompt_with_a_line_number_is_refused_with_its_reason_and_nothing_changes(studio: Path, audio_dir: Path) -> None:
    record(studio / f"{NUMBER_NL}.wav", "Bel Tele-Onthaal: 1 0 6.", "nl", volume=0.5)
    manifest_before = (audio_dir / MANIFEST_NAME).read_text(encoding="utf-8")
    (studio / f"{MAIN_NL}.wav").unlink()
    (studio / f"{WELCOME_NL}.flac").unlink()
    code, output = import_(studio, audio_dir)
    assert code == 3
    assert f"{NUMBER_NL}.wav: it says the number of" in output
    assert "a prompt with a line's number is never played from a recording" in output
    assert (audio_dir / MANIFEST_NAME).read_text(encoding="utf-8") == manifest_before


def test_unknown_ids_and_unreadable_files_are_refused_and_the_others_imported(studio: Path, audio_dir: Path) -> None:
    (studio / "nl.mini.welcome.prompt.9.wav").write_bytes(b"RIFF")
    (studio / f"{WELCOME_FR}.ogg").write_bytes(b"not audio at all")
    code, output = import_(studio, audio_dir)
    assert code == 3
    assert "nl.mini.welcome.prompt.9.wav: no prompt has the id" in output and "did you mean" in output
    assert f"{WELCOME_FR}.ogg: ffmpeg cannot read it" in output
    assert len(load_manifest(audio_dir).recordings) == 2


@pytest.mark.slow
def test_build_keeps_recordings_prune_never_removes_one_and_a_text_change_makes_it_stale(
    settings: Settings, tmp_path: Path, studio: Path, audio_dir: Path, valid_twiml: object
) -> None:
    assert import_(studio, audio_dir)[0] == 0
    recorded = load_manifest(audio_dir).recordings
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    flow = flows / "mini.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("Nederlands: druk 1.", "Voor Nederlands: druk 1."), encoding="utf-8")
    args = ["--config", str(DATA / "config"), "--flows", str(flows), "--audio-dir", str(audio_dir)]
    catalog = load_catalog(DATA / "config", flows)
    report = build_audio(catalog, FakeEngine(), audio_dir, prune=True)
    assert report.ok and report.recordings == 2
    after = load_manifest(audio_dir)
    assert after.recordings == recorded
    assert all((audio_dir / recording.file).is_file() for recording in recorded.values())
    # ivr prompts --audio-dir: the changed prompt's recording is stale, the other still recorded
    shown = CliRunner().invoke(main, ["prompts", *args]).output
    assert re.search(rf"\| Voor Nederlands: druk 1\. \|.*\| {re.escape(WELCOME_NL)} \| stale", shown), shown
    assert re.search(rf"\| {re.escape(MAIN_NL)} \| recorded \|", shown)
    assert re.search(rf"\| {re.escape(NUMBER_NL)} \| synthesised: says a line's number", shown)
    # ivr validate names it, to record again
    done = CliRunner().invoke(main, ["validate", *args])
    assert done.exit_code == 0, done.output
    assert "1 recording(s) to record again" in done.output and f"{WELCOME_NL}: recorded for 'Nederlands: druk 1.'" in done.output
    # the call plays the synthesised file of the new words
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=flows, audio_dir=audio_dir))
    welcome = valid_twiml(TwilioClient(app.test_client()).post("/voice"))  # type: ignore[operator]
    first = welcome.root.find("Gather")[0]
    synthesised = after.entries[("mini/welcome.prompt.0", "nl")].file
    assert (first.tag, first.text) == ("Play", f"{PUBLIC}/audio/{synthesised}")


def test_a_manifest_written_before_recordings_reads_the_same_and_is_rewritten_the_same(audio_dir: Path) -> None:
    text = (audio_dir / MANIFEST_NAME).read_text(encoding="utf-8")
    assert "recordings" not in json.loads(text)
    manifest = load_manifest(audio_dir)
    assert manifest.recordings == {} and manifest.entries
    report = build_audio(load_catalog(DATA / "config", DATA / "flows"), FakeEngine(), audio_dir)
    assert not report.manifest_written and (audio_dir / MANIFEST_NAME).read_text(encoding="utf-8") == text


def test_ivr_simulate_plays_the_recordings_and_times_them(studio: Path, audio_dir: Path) -> None:
    assert import_(studio, audio_dir)[0] == 0
    recordings = load_manifest(audio_dir).recordings
    welcome = recordings[("mini/welcome.prompt.0", "nl")].duration
    menu = recordings[("mini/main.prompt.1", "nl")].duration
    assert welcome is not None and menu is not None
    args = ["simulate", "--config", str(DATA / "config"), "--flows", str(DATA / "flows"), "--keys", "1,0"]
    done = CliRunner().invoke(main, args, env={"IVR_AUDIO_DIR": str(audio_dir)})
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert f"  nl {welcome:4.1f} s audio: Nederlands: druk 1." in lines
    assert f"  nl {menu:4.1f} s audio: Info: druk 3. Praten: druk 0." in lines


def _recordings_section(audio_dir: Path, item: dict[str, object]) -> None:
    manifest = json.loads((audio_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["recordings"] = {"mini/welcome.prompt.0": {"nl": item}}
    (audio_dir / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"file": "../../etc/passwd", "duration": 1, "text": "x", "source": "0" * 64}, "bad file name"),
        ({"file": "fr/" + "a" * 32 + ".mp3", "duration": 1, "text": "x", "source": "0" * 64}, "bad file name"),
        ({"file": "nl/" + "a" * 32 + ".mp3", "duration": -1, "text": "x", "source": "0" * 64}, "duration -1"),
        ({"file": "nl/" + "a" * 32 + ".mp3", "duration": 1, "text": "x", "source": "abc"}, "is not a sha256"),
        ({"file": "nl/" + "a" * 32 + ".mp3", "duration": 1, "source": "0" * 64}, "not an audio manifest"),
    ],
)
def test_a_bad_recordings_section_is_refused_and_a_call_hears_say(
    settings: Settings, audio_dir: Path, valid_twiml: object, item: dict[str, object], error: str
) -> None:
    _recordings_section(audio_dir, item)
    with pytest.raises(ManifestError, match=re.escape(error)):
        load_manifest(audio_dir)
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=audio_dir))
    welcome = valid_twiml(TwilioClient(app.test_client()).post("/voice"))  # type: ignore[operator]
    assert [el.tag for el in welcome.root.find("Gather")] == ["Say", "Say"]


def test_a_recording_that_says_a_number_is_never_played_even_when_listed(
    settings: Settings, tmp_path: Path, audio_dir: Path, valid_twiml: object
) -> None:
    """A manifest edited by hand, or a number that became a line's: the synthesised words of the number are played."""
    text = "Dag. Bel 1 0 6 als je wil praten."
    take = tmp_path / "take.mp3"
    take.write_bytes(subprocess.run(["espeak-ng", "-v", "nl", "--stdout", text], capture_output=True, check=True).stdout)
    file = "nl/" + "c" * 32 + ".mp3"
    shutil.copyfile(take, audio_dir / file)
    manifest = json.loads((audio_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["recordings"] = {"mini/bye.prompt.0": {"nl": {"file": file, "duration": 2, "text": text, "source": "0" * 64}}}
    (audio_dir / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    assert load_manifest(audio_dir).recordings  # listed, and read
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=audio_dir))
    caller = TwilioClient(app.test_client())
    welcome = caller.post("/voice")
    menu = caller.follow(welcome.gather_action(), "1")
    bye = valid_twiml(caller.follow(menu.gather_action(), "4"))  # type: ignore[operator]
    synthesised = load_manifest(audio_dir).entries[("mini/bye.prompt.0", "nl")].file
    assert [el.text for el in bye.root.iter("Play")] == [f"{PUBLIC}/audio/{synthesised}"], bye.body
