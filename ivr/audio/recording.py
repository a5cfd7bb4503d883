"""``ivr audio import``: prompts recorded by people, made into what Twilio plays (the one way ffmpeg is run here).

A studio delivers one file per prompt and language, named by the prompt's id (``ivr prompts
--audio-dir`` prints them), in any format ffmpeg reads. Each is cut of the silence at its ends,
measured (EBU R128, ffmpeg's ``loudnorm``), brought to the target loudness with one linear gain
in a second pass, and encoded as the project's MP3 (what gTTS returns: mono, 24 kHz, 32 kbit/s).
The manifest's ``recordings`` section keeps the words each was recorded for and the hash of the
studio's file. A prompt that says a line's number is never taken: a misread digit would pass
every check, so those stay synthesised from the text that the checks read.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ivr.audio.build import prompt_speeches
from ivr.audio.manifest import MANIFEST_NAME, Recording, load_manifest, manifest_json, write_atomically
from ivr.audio.mp3 import mp3_duration
from ivr.model import Catalog, Speech
from ivr.timing import says_number

# EBU R128 measurement (ITU-R BS.1770 gating); the target sits above R128's broadcast -23 LUFS,
# telephone audio being heard on a small speaker, and leaves speech's peaks room for a linear gain.
TARGET_LUFS = -20.0
TARGET_TRUE_PEAK = -1.5  # dBTP
TARGET_LRA = 15.0  # LU; only loudnorm's dynamic fallback uses it
SILENCE_DB = -45  # quieter than this at either end is room noise, trimmed
KEPT_SILENCE = 0.1  # seconds left before and after the voice, so that no syllable is cut
SAMPLE_RATE = 24000
BITRATE_KBPS = 32

# Both passes read the same audio: mono, its silent ends cut (the reverse trims the end).
_TRIM = f"silenceremove=start_periods=1:start_threshold={SILENCE_DB}dB:start_silence={KEPT_SILENCE}"
_PREPARE = f"aformat=channel_layouts=mono,{_TRIM},areverse,{_TRIM},areverse"
_LOUDNORM = f"loudnorm=I={TARGET_LUFS}:TP={TARGET_TRUE_PEAK}:LRA={TARGET_LRA}:print_format=json"


def recording_id(speech: Speech) -> str:
    """The name (without extension) of the file recorded for ``speech``: ``nl.helpline.first_menu.prompt.1.number``."""
    return f"{speech.lang}.{speech.key.replace('/', '.')}"


def number_said(catalog: Catalog, text: str) -> str | None:
    """The first line whose number ``text`` says, as "Tele-Onthaal (1 0 6)", or None."""
    for line in catalog.helplines.values():
        if says_number(text, line.spoken_number):
            return f"{line.name} ({line.spoken_number})"
    return None


class ConversionError(Exception):
    """ffmpeg could not read or convert a recording."""


@dataclass(frozen=True, slots=True)
class Converted:
    mp3: bytes
    duration: float
    loudness: float  # LUFS measured before the gain
    linear: bool  # False: the peaks needed loudnorm's dynamic mode to reach the target


@dataclass
class ImportReport:
    imported: dict[str, Converted] = field(default_factory=dict)  # id -> what was made
    unchanged: list[str] = field(default_factory=list)  # same take, same words: nothing to do
    refused: dict[str, str] = field(default_factory=dict)  # file name -> reason
    manifest_written: bool = False

    @property
    def ok(self) -> bool:
        return not self.refused


def missing_tools() -> list[str]:
    return [tool for tool in ("ffmpeg",) if shutil.which(tool) is None]


def _ffmpeg(arguments: list[str]) -> subprocess.CompletedProcess[bytes]:
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", *arguments]
    try:
        done = subprocess.run(command, capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConversionError(f"ffmpeg failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        raise ConversionError(f"ffmpeg cannot read it: {lines[-1] if lines else f'exit status {done.returncode}'}")
    return done


def _loudnorm_report(stderr: bytes) -> dict[str, str]:
    """The JSON that loudnorm prints last on stderr."""
    text = stderr.decode("utf-8", "replace")
    start = text.rfind("{")
    try:
        found = json.loads(text[start : text.index("}", start) + 1])
    except ValueError as exc:
        raise ConversionError("ffmpeg's loudnorm printed no measurement") from exc
    return {str(key): str(value) for key, value in found.items()}


def convert(source: Path) -> Converted:
    """``source`` trimmed, at the target loudness, as the project's MP3.

    Raises:
        ConversionError: not audio ffmpeg reads, or nothing but silence.
    """
    measured = _loudnorm_report(_ffmpeg(["-i", str(source), "-vn", "-af", f"{_PREPARE},{_LOUDNORM}", "-f", "null", "-"]).stderr)
    if not re.fullmatch(r"-?\d+(\.\d+)?", measured.get("input_i", "")) or float(measured["input_i"]) < -70:
        raise ConversionError("nothing but silence once the quiet ends are cut")
    second = (
        f"{_LOUDNORM}:measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
        f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
        f":offset={measured['target_offset']}:linear=true"
    )
    done = _ffmpeg(
        ["-i", str(source), "-vn", "-af", f"{_PREPARE},{second},aresample={SAMPLE_RATE}", "-ac", "1"]
        + ["-c:a", "libmp3lame", "-b:a", f"{BITRATE_KBPS}k", "-map_metadata", "-1", "-id3v2_version", "0"]
        + ["-write_xing", "0", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "mp3", "pipe:1"]
    )
    duration = mp3_duration(done.stdout)
    if duration is None:
        raise ConversionError("ffmpeg made no MP3 audio of it")
    linear = _loudnorm_report(done.stderr).get("normalization_type") == "linear"
    return Converted(done.stdout, duration, float(measured["input_i"]), linear)


def recordings_dir_files(folder: Path) -> list[Path]:
    """The files a studio delivered: every visible regular file of ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def import_recordings(catalog: Catalog, folder: Path, audio_dir: Path) -> ImportReport:
    """Convert every recording in ``folder`` and list them in the manifest of ``audio_dir``.

    A refused file changes nothing; the others are imported all the same.

    Raises:
        ManifestError: the manifest exists and cannot be read (nothing is written then).
        OSError: ``folder`` cannot be listed, or ``audio_dir`` written.
    """
    report = ImportReport()
    manifest = load_manifest(audio_dir)
    by_id = {recording_id(speech): speech for speech in prompt_speeches(catalog)}
    files = recordings_dir_files(folder)
    stems: dict[str, list[Path]] = {}
    for path in files:
        stems.setdefault(path.stem, []).append(path)
    recordings = dict(manifest.recordings)
    for stem, paths in sorted(stems.items()):
        speech = by_id.get(stem)
        if len(paths) > 1:
            for path in paths:
                report.refused[path.name] = f"{len(paths)} files for one prompt: {', '.join(p.name for p in paths)}; keep one"
            continue
        path = paths[0]
        if speech is None:
            close = difflib.get_close_matches(stem, list(by_id), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            report.refused[path.name] = f"no prompt has the id {stem!r}: {hint}`ivr prompts --audio-dir` lists them"
            continue
        if (line := number_said(catalog, speech.text)) is not None:
            report.refused[path.name] = (
                f"it says the number of {line}: a prompt with a line's number is never played from a recording "
                "(a misread digit would pass every check); it stays synthesised"
            )
            continue
        source = hashlib.sha256(path.read_bytes()).hexdigest()
        key = (speech.key, speech.lang)
        old = recordings.get(key)
        if old is not None and old.source == source and old.text == speech.text and (audio_dir / old.file).is_file():
            report.unchanged.append(stem)
            continue
        try:
            converted = convert(path)
        except ConversionError as exc:
            report.refused[path.name] = str(exc)
            continue
        # Named by its sound: a new take gets a new URL, which Twilio has never cached.
        file = f"{speech.lang}/{hashlib.sha256(converted.mp3).hexdigest()[:32]}.mp3"
        write_atomically(audio_dir / file, converted.mp3)
        recordings[key] = Recording(file, converted.duration, speech.text, source)
        report.imported[stem] = converted
    if report.imported:
        write_atomically(audio_dir / MANIFEST_NAME, manifest_json(manifest.entries, recordings).encode("utf-8"))
        report.manifest_written = True
    return report
