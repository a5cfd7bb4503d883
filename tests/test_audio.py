"""The audio build: the gTTS adapter at the HTTP layer, the build against a fake engine, espeak-ng for real."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses
from click.testing import CliRunner

from ivr.audio import (
    MANIFEST_NAME,
    EspeakEngine,
    GTTSEngine,
    ManifestError,
    Progress,
    SynthesisError,
    audio_file_name,
    audio_files_on_disk,
    backoff_delay,
    build_audio,
    load_manifest,
    mp3_duration,
    prompt_speeches,
    synthesize_with_retries,
)
from ivr.cli import main
from ivr.loader import load_catalog
from ivr.model import Catalog, LanguageSettings, Speech
from support import DATA, ROOT
from support.audio_fakes import FRAME_SECONDS, SILENT_FRAME, FakeEngine, silent_mp3

GOOGLE = "https://translate.google.{tld}/_/TranslateWebserverUi/data/batchexecute"


# --- helpers --------------------------------------------------------------------------------


def batchexecute(audio: bytes) -> str:
    """A reply that gTTS 2.5's stream() accepts: its regex needs JSON without spaces."""
    inner = json.dumps([base64.b64encode(audio).decode("ascii")])
    line = json.dumps([["wrb.fr", "jQ1olc", inner, None, None, None, "generic"]], separators=(",", ":"))
    return ")]}'\n\n" + line + "\n"


def sent(call: responses.Call) -> list[object]:
    """The [text, lang, speed, "null"] that gTTS put in a request's f.req field."""
    body = call.request.body
    form = parse_qs(body.decode() if isinstance(body, bytes) else str(body))
    rpc = json.loads(form["f.req"][0])
    return list(json.loads(rpc[0][0][1]))


def mini_catalog(flows: Path = DATA / "flows") -> Catalog:
    return load_catalog(DATA / "config", flows)


def language(code: str, gtts_tld: str, espeak_voice: str) -> LanguageSettings:
    return LanguageSettings(code, code, code, "Polly.Test", "line", 2.5, code, gtts_tld, espeak_voice)


def shipped_languages() -> dict[str, LanguageSettings]:
    """The accents and voices of config/settings.yaml."""
    return {
        "nl": language("nl", "be", "nl"),
        "fr": language("fr", "be", "fr-be"),
        "de": language("de", "de", "de"),
        "en": language("en", "co.uk", "en"),
    }


def mp3_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.mp3")}


def parts(folder: Path) -> list[Path]:
    return list(folder.rglob("*.part"))


@pytest.fixture
def google() -> Iterator[responses.RequestsMock]:
    """Google Translate's TTS endpoint, faked; any request to anything else fails (nothing leaves the machine)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- the gTTS adapter, at the HTTP layer -----------------------------------------------------


def test_a_dutch_prompt_asks_google_for_dutch_through_the_be_domain(google: responses.RequestsMock) -> None:
    nl = shipped_languages()["nl"]
    audio = silent_mp3(40)
    google.add(responses.POST, GOOGLE.format(tld="be"), body=batchexecute(audio))
    assert GTTSEngine().synthesize("Welkom bij de hulplijn.", nl) == audio
    assert len(google.calls) == 1
    assert sent(google.calls[0]) == ["Welkom bij de hulplijn.", "nl", None, "null"]


def test_slow_speech_is_requested_and_changes_the_file_name(google: responses.RequestsMock) -> None:
    fr = shipped_languages()["fr"]
    google.add(responses.POST, GOOGLE.format(tld="be"), body=batchexecute(silent_mp3(10)))
    GTTSEngine(slow=True).synthesize("Bonjour.", fr)
    assert sent(google.calls[0])[1:3] == ["fr", True]
    assert audio_file_name(GTTSEngine(slow=True), fr, "Bonjour.") != audio_file_name(GTTSEngine(), fr, "Bonjour.")


def test_a_long_prompt_is_split_into_several_requests_and_the_pieces_joined(google: responses.RequestsMock) -> None:
    de = shipped_languages()["de"]
    text = (
        "Die Telefonhilfe ist rund um die Uhr für Sie da, anonym und kostenlos. Sie können über alles sprechen, "
        "was Sie belastet, auch über Einsamkeit, Sorgen oder Streit. Niemand wird Sie drängen, etwas zu tun."
    )
    pieces = [silent_mp3(n) for n in range(11, 23)]  # distinct pieces, to check their order
    for piece in pieces:
        google.add(responses.POST, GOOGLE.format(tld="de"), body=batchexecute(piece))
    audio = GTTSEngine().synthesize(text, de)
    count = len(google.calls)
    assert 1 < count < len(pieces)  # gTTS cuts at punctuation when the text is over 100 characters
    assert audio == b"".join(pieces[:count])
    chunks = [str(sent(call)[0]) for call in google.calls]
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert " ".join(chunks).replace(".", "").split() == text.replace(",", "").replace(".", "").split()  # each word once, in order


def test_a_429_then_a_success_is_retried_and_succeeds(google: responses.RequestsMock) -> None:
    en = shipped_languages()["en"]
    audio = silent_mp3(30)
    url = GOOGLE.format(tld="co.uk")
    google.add(responses.POST, url, status=429)
    google.add(responses.POST, url, body=batchexecute(audio))
    waits: list[float] = []
    assert synthesize_with_retries(GTTSEngine(), "Welcome.", en, retries=3, sleep=waits.append, rng=lambda: 0.0) == audio
    assert len(google.calls) == 2
    assert waits == [0.5]  # the first retry waits between 0.5 and 1 s


def test_a_permanent_429_is_reported_and_leaves_no_file(google: responses.RequestsMock, tmp_path: Path) -> None:
    google.add(responses.POST, GOOGLE.format(tld="com"), status=429)
    catalog = mini_catalog()
    waits: list[float] = []
    report = build_audio(catalog, GTTSEngine(), tmp_path, jobs=1, retries=2, sleep=waits.append, rng=lambda: 1.0)
    prompts = len(prompt_speeches(catalog))
    assert len(report.failed) == prompts and not report.generated
    assert all(reason.startswith("429 (Too Many Requests) from TTS API") for reason in report.failed.values())
    assert all(reason.endswith("(after 3 attempts)") for reason in report.failed.values())
    assert len(google.calls) == report.synthesis_calls == 3 * report.files
    assert waits == [1.0, 2.0] * report.files  # exponential: 1 s then 2 s (jitter at its maximum here)
    assert mp3_files(tmp_path) == set() and parts(tmp_path) == []
    assert load_manifest(tmp_path).entries == {}


def test_the_command_reports_the_failed_prompts_and_exits_non_zero(google: responses.RequestsMock, tmp_path: Path) -> None:
    google.add(responses.POST, GOOGLE.format(tld="com"), status=429)
    args = ["audio", "build", "--config", str(DATA / "config"), "--flows", str(DATA / "flows"), "--retries", "0"]
    result = CliRunner().invoke(main, [*args, "--audio-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert "mini/info.prompt.0 [fr]: 429 (Too Many Requests) from TTS API" in result.output
    assert "<Say>" in result.output
    assert mp3_files(tmp_path) == set() and parts(tmp_path) == []


def test_only_google_is_faked_and_nothing_else_is_reachable(google: responses.RequestsMock) -> None:
    nl = shipped_languages()["nl"]  # tld be: its URL is not registered
    google.add(responses.POST, GOOGLE.format(tld="com"), body=batchexecute(silent_mp3(5)))
    with pytest.raises(requests.ConnectionError):
        requests.get("https://example.org/", timeout=5)
    with pytest.raises(SynthesisError, match="^Failed to connect") as failed:
        GTTSEngine().synthesize("Hallo.", nl)
    assert failed.value.retryable  # a network error is worth retrying
    assert [call.request.url for call in google.calls] == ["https://example.org/", GOOGLE.format(tld="be")]


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (404, False), (500, True), (503, True)])
def test_http_errors_say_whether_a_retry_can_help(google: responses.RequestsMock, status: int, retryable: bool) -> None:
    google.add(responses.POST, GOOGLE.format(tld="be"), status=status)
    with pytest.raises(SynthesisError, match=f"^{status} ") as failed:
        GTTSEngine().synthesize("Hallo.", shipped_languages()["nl"])
    assert failed.value.retryable is retryable


def test_a_reply_without_audio_is_a_failure_not_a_silent_prompt(google: responses.RequestsMock) -> None:
    google.add(responses.POST, GOOGLE.format(tld="be"), body=")]}'\n\n[]\n")
    with pytest.raises(SynthesisError, match="audio for 0 of 1 chunks"):
        GTTSEngine().synthesize("Hallo.", shipped_languages()["nl"])


def test_output_that_is_not_mp3_is_never_stored(google: responses.RequestsMock, tmp_path: Path) -> None:
    google.add(responses.POST, GOOGLE.format(tld="be"), body=batchexecute(b"<html>blocked</html>"))
    with pytest.raises(SynthesisError, match="no MP3 audio"):
        synthesize_with_retries(GTTSEngine(), "Hallo.", shipped_languages()["nl"], retries=3, sleep=lambda s: None)
    assert len(google.calls) == 1  # not retried: it would not get better


# --- retries -----------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    assert [backoff_delay(n, lambda: 0.0) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert [backoff_delay(n, lambda: 1.0) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_delay(20, lambda: 1.0) == 30.0


def test_a_permanent_error_is_not_retried() -> None:
    engine = FakeEngine(fail={"Adem in.": SynthesisError("unsupported", retryable=False)})
    nl = mini_catalog().settings.languages["nl"]
    with pytest.raises(SynthesisError, match="^unsupported$"):
        synthesize_with_retries(engine, "Adem in.", nl, retries=5, sleep=lambda s: pytest.fail("slept"))
    assert len(engine.calls) == 1


# --- the build, against a fake engine ------------------------------------------------------------


def test_a_build_makes_one_file_per_prompt_and_a_manifest_that_matches(tmp_path: Path) -> None:
    catalog = mini_catalog()
    engine = FakeEngine()
    seen: list[Progress] = []
    report = build_audio(catalog, engine, tmp_path, jobs=3, progress=seen.append)
    speeches = prompt_speeches(catalog)
    assert report.ok and report.prompts == len(speeches) == len(engine.calls)
    assert [p.done for p in seen] == list(range(1, len(speeches) + 1)) and {p.total for p in seen} == {len(speeches)}
    manifest = load_manifest(tmp_path)
    assert mp3_files(tmp_path) == manifest.files() == set(report.generated)
    for speech in speeches:
        entry = manifest.entry_for(speech)
        assert entry is not None and entry.text == speech.text and entry.engine == "fake"
        assert entry.file.startswith(f"{speech.lang}/")
        data = (tmp_path / entry.file).read_bytes()
        assert data == silent_mp3(len(speech.text))
        assert manifest.duration_of(speech) == pytest.approx(len(speech.text) * FRAME_SECONDS)
    # Every kind of prompt is there: rescue, menu prompts, messages' "after", transfers, shared re-prompts.
    keys = {speech.key for speech in speeches}
    assert {
        "mini/rescue.0",
        "mini/welcome.prompt.0",
        "mini/info.prompt.2",
        "mini/info.after.0",
        "mini/line.connecting.0",
        "mini/line.call_yourself.0",
        "mini/bye.prompt.0",
        "mini/defaults.no_input.reprompt.0",
        "mini/defaults.wrong_key.reprompt.0",
    } <= keys
    assert parts(tmp_path) == []


def test_a_second_run_with_nothing_changed_makes_no_request(tmp_path: Path) -> None:
    build_audio(mini_catalog(), FakeEngine(), tmp_path)
    manifest_before = (tmp_path / MANIFEST_NAME).read_bytes()
    engine = FakeEngine()
    report = build_audio(mini_catalog(), engine, tmp_path)
    assert engine.calls == [] and report.synthesis_calls == 0 and report.generated == []
    assert not report.manifest_written and (tmp_path / MANIFEST_NAME).read_bytes() == manifest_before


def test_the_command_says_when_nothing_needed_a_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ivr.audio_cli.make_engine", lambda name, slow=False: FakeEngine())
    args = ["audio", "build", "--config", str(DATA / "config"), "--flows", str(DATA / "flows"), "--audio-dir", str(tmp_path)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "generated" in first.output and "manifest.json" in first.output
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "up to date; no TTS request was made." in second.output
    assert len(second.output.strip().splitlines()) == 1  # one summary line when not on a terminal


def test_a_changed_prompt_regenerates_exactly_one_file_and_prune_removes_the_old_one(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    audio = tmp_path / "audio"
    build_audio(mini_catalog(flows), FakeEngine(), audio)
    old = load_manifest(audio).entries[("mini/info.prompt.0", "nl")].file
    flow = flows / "mini.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("Adem in.", "Adem rustig in."), encoding="utf-8")
    engine = FakeEngine()
    report = build_audio(mini_catalog(flows), engine, audio)
    assert engine.calls == [("nl", "Adem rustig in.")]
    new = load_manifest(audio).entries[("mini/info.prompt.0", "nl")].file
    assert report.generated == [new] and new != old
    assert report.unused == [old] and (audio / old).is_file()  # listed, kept without --prune
    pruned = build_audio(mini_catalog(flows), FakeEngine(), audio, prune=True)
    assert pruned.pruned == [old] and not (audio / old).exists()
    assert mp3_files(audio) == load_manifest(audio).files()


def test_a_changed_engine_or_voice_gets_new_files(tmp_path: Path) -> None:
    catalog = mini_catalog()
    build_audio(catalog, FakeEngine(name="one"), tmp_path)
    report = build_audio(catalog, FakeEngine(name="two"), tmp_path, prune=True)
    assert len(report.generated) == report.files and len(report.pruned) == report.files
    assert {entry.engine for entry in load_manifest(tmp_path).entries.values()} == {"two"}


def test_failures_are_reported_and_everything_else_is_kept(tmp_path: Path) -> None:
    engine = FakeEngine(fail={"Inspirez.": SynthesisError("429 (Too Many Requests)", retryable=True)})
    report = build_audio(mini_catalog(), engine, tmp_path, retries=1, sleep=lambda s: None)
    assert report.failed == {"mini/info.prompt.0 [fr]": "429 (Too Many Requests) (after 2 attempts)"}
    assert len(report.generated) == report.files - 1
    manifest = load_manifest(tmp_path)
    assert ("mini/info.prompt.0", "fr") not in manifest.entries and len(manifest.entries) == report.prompts - 1
    assert mp3_files(tmp_path) == manifest.files()
    # The next build makes only the missing file.
    retry = FakeEngine()
    assert build_audio(mini_catalog(), retry, tmp_path).ok and retry.calls == [("fr", "Inspirez.")]


def test_a_failed_prompt_keeps_the_audio_of_an_earlier_build_with_the_same_words(tmp_path: Path) -> None:
    catalog = mini_catalog()
    build_audio(catalog, FakeEngine(name="espeak-like"), tmp_path)
    failing = FakeEngine(name="gtts-like", fail={"Inspirez.": SynthesisError("Failed to connect", retryable=True)})
    report = build_audio(catalog, failing, tmp_path, retries=0)
    assert report.kept_previous == ["mini/info.prompt.0 [fr]"]
    entry = load_manifest(tmp_path).entries[("mini/info.prompt.0", "fr")]
    assert entry.engine == "espeak-like" and (tmp_path / entry.file).is_file()
    assert entry.file not in report.unused


def test_concurrency_is_bounded_by_jobs(tmp_path: Path) -> None:
    engine = FakeEngine(delay=0.02)
    build_audio(mini_catalog(), engine, tmp_path, jobs=3)
    assert 1 < engine.most_in_flight <= 3


def test_the_same_words_in_two_prompts_make_one_file(tmp_path: Path) -> None:
    catalog = mini_catalog()
    speeches = prompt_speeches(catalog)
    texts = {(s.lang, s.text) for s in speeches}
    engine = FakeEngine()
    report = build_audio(catalog, engine, tmp_path)
    assert len(engine.calls) == report.files == len(texts)


CRASH = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from support.audio_fakes import FakeEngine
from ivr.audio import build_audio
from ivr.loader import load_catalog

fsyncs = 0
real_fsync = os.fsync

def crash_on_nth_fsync(fd):
    global fsyncs
    fsyncs += 1
    if fsyncs == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # the power goes out: no cleanup, no exception handler
    real_fsync(fd)

os.fsync = crash_on_nth_fsync
catalog = load_catalog(Path(sys.argv[3]) / "config", Path(sys.argv[5]))
build_audio(catalog, FakeEngine(), Path(sys.argv[1]), jobs=1)
"""


def crash_build(audio: Path, at_fsync: int, flows: Path = DATA / "flows") -> int:
    args = [str(audio), str(at_fsync), str(DATA), str(ROOT / "tests"), str(flows)]
    return subprocess.run([sys.executable, "-c", CRASH, *args], cwd=ROOT, timeout=60, check=False).returncode


def test_a_crash_mid_write_leaves_no_file_under_a_final_name(tmp_path: Path) -> None:
    assert crash_build(tmp_path, at_fsync=1) == -9
    assert mp3_files(tmp_path) == set() and audio_files_on_disk(tmp_path) == set()
    assert not (tmp_path / MANIFEST_NAME).exists()
    assert len(parts(tmp_path)) == 1  # the unfinished file, under its temporary name only
    report = build_audio(mini_catalog(), FakeEngine(), tmp_path)
    assert len(report.stale_parts) == 1 and parts(tmp_path) == []
    assert report.ok and mp3_files(tmp_path) == load_manifest(tmp_path).files()


def test_a_crash_while_writing_the_manifest_keeps_the_old_one_whole(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    audio = tmp_path / "audio"
    build_audio(mini_catalog(flows), FakeEngine(), audio)
    before = (audio / MANIFEST_NAME).read_bytes()
    flow = flows / "mini.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("Adem uit.", "Adem langzaam uit."), encoding="utf-8")
    assert crash_build(audio, at_fsync=2, flows=flows) == -9  # 1: the new file, 2: the manifest
    assert (audio / MANIFEST_NAME).read_bytes() == before
    assert load_manifest(audio).entries  # still a valid manifest, naming only complete files
    assert all((audio / file).is_file() for file in load_manifest(audio).files())


# --- the manifest ------------------------------------------------------------------------------------


def test_a_manifest_entry_for_other_words_is_stale(tmp_path: Path) -> None:
    build_audio(mini_catalog(), FakeEngine(), tmp_path)
    manifest = load_manifest(tmp_path)
    current = Speech("mini/info.prompt.0", "nl", "Adem in.")
    changed = Speech("mini/info.prompt.0", "nl", "Adem rustig in.")
    assert manifest.duration_of(current) is not None
    assert manifest.entry_for(changed) is None and manifest.duration_of(changed) is None
    assert load_manifest(tmp_path / "nowhere").entries == {}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": 1, "prompts": {"k.0": {"nl": {"file": "../../etc/passwd", "text": "x"}}}}',
        '{"format": 1, "prompts": {"k.0": {"nl": {"file": "fr/0123456789abcdef0123456789abcdef.mp3", "text": "x"}}}}',
        '{"format": 1, "prompts": {"k.0": {"nl": {"text": "x"}}}}',
        '{"format": 99, "prompts": {}}',
        "[]",
    ],
)
def test_a_bad_manifest_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(content, encoding="utf-8")
    with pytest.raises(ManifestError):
        load_manifest(tmp_path)
    assert build_audio(mini_catalog(), FakeEngine(), tmp_path).ok  # a build replaces it


# --- MP3 duration ------------------------------------------------------------------------------------


def test_mp3_duration_reads_frames_skipping_tags_metadata_and_truncation() -> None:
    assert mp3_duration(silent_mp3(125)) == 3.0
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x14" + bytes(20)
    assert mp3_duration(id3 + silent_mp3(50) + id3 + silent_mp3(50)) == 2.4  # gTTS joins pieces
    xing = SILENT_FRAME[:13] + b"Xing" + bytes(len(SILENT_FRAME) - 17)
    assert mp3_duration(xing + silent_mp3(10)) == 0.24
    assert mp3_duration(silent_mp3(10) + SILENT_FRAME[:50]) == 0.24
    assert mp3_duration(b"") is None and mp3_duration(b"<html>" * 100) is None
    assert mp3_duration(SILENT_FRAME[:60]) is None


# --- espeak-ng, for real -----------------------------------------------------------------------------


def soxi_seconds(path: Path) -> float:
    done = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, timeout=30, check=True)
    return float(done.stdout)


def is_mp3(data: bytes) -> bool:
    return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


@pytest.mark.slow
def test_espeak_build_makes_playable_mp3_for_every_prompt(tmp_path: Path) -> None:
    args = ["audio", "build", "--engine", "espeak", "--config", str(DATA / "config"), "--flows", str(DATA / "flows")]
    result = CliRunner().invoke(main, [*args, "--audio-dir", str(tmp_path), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(tmp_path)
    assert len(manifest.entries) == len(prompt_speeches(mini_catalog()))
    for entry in manifest.entries.values():
        path = tmp_path / entry.file
        assert is_mp3(path.read_bytes()), entry.file
        assert entry.engine == "espeak" and entry.duration is not None and entry.duration > 0.3
        assert soxi_seconds(path) == pytest.approx(entry.duration, abs=0.05)  # measured independently


@pytest.mark.slow
@pytest.mark.parametrize("converter", ["sox", "ffmpeg"])
def test_espeak_speaks_each_language_with_either_converter(converter: str) -> None:
    languages = shipped_languages()
    engine = EspeakEngine(converter=converter)
    assert engine.missing_tools() == []
    durations = {}
    for code, text in {"nl": "Welkom.", "fr": "Bienvenue à Télé-Accueil.", "de": "Willkommen.", "en": "Welcome."}.items():
        data = engine.synthesize(text, languages[code])
        assert is_mp3(data)
        durations[code] = mp3_duration(data)
        assert durations[code] is not None and durations[code] > 0.3
    assert durations["fr"] > durations["nl"]  # longer text, longer audio: it is really speech


def test_espeak_reads_text_from_stdin_so_a_dash_is_not_an_option() -> None:
    data = EspeakEngine().synthesize("--version", shipped_languages()["en"])
    assert (mp3_duration(data) or 0) > 0.3


# --- the release step ------------------------------------------------------------------------------


def release_command() -> str:
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("release:"):
            return line.removeprefix("release:").strip()
    raise AssertionError("no release: line in the Procfile")


@pytest.mark.slow
def test_the_release_step_fails_for_invalid_flows_before_building_anything(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(DATA / "broken" / "missing_target.yaml", flows / "mini.yaml")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "IVR_CONFIG": str(DATA / "config"),
        "IVR_FLOWS": str(flows),
        "IVR_AUDIO_DIR": str(tmp_path / "audio"),
        "IVR_STATS_DB": str(tmp_path / "stats.sqlite3"),  # the release step migrates it: not the checkout's
    }
    done = subprocess.run(["bash", "-c", release_command()], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0, done.stdout
    assert "unknown node 'infos'" in done.stderr
    assert not (tmp_path / "audio").exists()  # no request was made for a flow that cannot be served


@pytest.mark.slow
def test_a_failed_audio_build_does_not_fail_the_release(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    not_a_folder = tmp_path / "file" / "audio"  # the build cannot write: it fails before any request
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "IVR_CONFIG": str(DATA / "config"),
        "IVR_FLOWS": str(DATA / "flows"),
        "IVR_AUDIO_DIR": str(not_a_folder),
        "IVR_STATS_DB": str(tmp_path / "stats.sqlite3"),
    }
    done = subprocess.run(["bash", "-c", release_command()], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "cannot write the audio folder" in done.stderr
    assert "callers hear them with <Say>" in done.stdout


def test_an_unwritable_audio_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    args = ["audio", "build", "--config", str(DATA / "config"), "--flows", str(DATA / "flows")]
    result = CliRunner().invoke(main, [*args, "--audio-dir", str(tmp_path / "file" / "audio")])
    assert result.exit_code == 3 and "cannot write the audio folder" in result.output


class LongEngine(FakeEngine):
    """Audio forty times as long as the fake engine's: a slow voice, or a take with long silences."""

    def synthesize(self, text: str, lang: LanguageSettings) -> bytes:
        super().synthesize(text, lang)
        return silent_mp3(40 * len(text))


def test_the_build_refuses_audio_that_would_keep_a_caller_from_the_line_past_a_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ivr.audio_cli.make_engine", lambda name, slow=False: LongEngine())
    args = ["audio", "build", "--config", str(DATA / "config"), "--flows", str(DATA / "flows"), "--audio-dir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "(budget 12 s" in result.output and "the service says those prompts with <Say> until this passes" in result.output
    assert (tmp_path / "manifest.json").exists()  # what was built is kept: `ivr validate --audio` shows the same
