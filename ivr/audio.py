"""Pre-generated prompt audio: TTS engines, content-hash file names, the manifest and the build.

A caller never waits on a TTS service: every (prompt, language) of every flow is turned into
an MP3 under ``audio/<lang>/<hash>.mp3`` before the service runs, and ``audio/manifest.json``
maps each prompt to its file. The hash covers everything that changes the sound (engine,
voice or language and accent, speed, text), so a file's content never changes under its
name: a changed prompt gets a new file, and unchanged prompts are never requested again.

This is the only module that imports gTTS (lazily, so the web app and the timing code can
read the manifest without loading requests). Files and the manifest are written to a
temporary name and renamed when complete, so a crash never leaves a truncated MP3 where a
caller could be played it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol

from ivr.model import Catalog, LanguageSettings, Prompt, Retry, Speech
from ivr.voices import SpeechEngines, espeak_voice_names

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
PART_SUFFIX = ".part"  # temporary files; ignored by git, removed by the next build
ENGINES = ("gtts", "espeak")


def speech_engines() -> SpeechEngines:
    """The gTTS languages, and the espeak-ng voices where espeak-ng is installed, for checking settings.yaml."""
    from gtts.lang import tts_langs  # here, so that serving calls never loads gTTS

    espeak: frozenset[str] | None = None
    if shutil.which("espeak-ng"):
        listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, timeout=30, check=False)
        espeak = espeak_voice_names(listing.stdout) if listing.returncode == 0 else None
    return SpeechEngines(frozenset(tts_langs()), espeak)


# A file is named <lang>/<32 hex digits>.mp3; nothing else is ever served or pruned.
LANG_DIR = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?")
AUDIO_NAME = re.compile(r"[0-9a-f]{32}")
AUDIO_FILE = re.compile(r"(?P<lang>[a-z]{2,3}(?:-[a-z0-9]{2,8})?)/(?P<name>[0-9a-f]{32})\.mp3")


class SynthesisError(Exception):
    """An engine could not make audio. ``retryable``: worth trying again later (429, network, 5xx)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class ManifestError(Exception):
    """``manifest.json`` exists but cannot be read or is not a manifest."""


class Synthesizer(Protocol):
    """A text-to-speech engine: MP3 bytes for a text in one language."""

    name: str

    def sound_id(self, lang: LanguageSettings) -> str:
        """Everything except the text that changes how ``lang`` sounds (part of the file name hash)."""
        ...

    def synthesize(self, text: str, lang: LanguageSettings) -> bytes:
        """MP3 bytes of ``text`` spoken in ``lang``.

        Raises:
            SynthesisError: the engine failed; ``retryable`` says whether a later try may work.
        """
        ...


# --- engines ----------------------------------------------------------------------------


class GTTSEngine:
    """Google Translate's voice through gTTS: natural-sounding, needs the internet, rate-limited."""

    name = "gtts"

    def __init__(self, *, slow: bool = False, timeout: float = 15.0) -> None:
        self.slow = slow
        self.timeout = timeout  # gTTS waits forever by default

    def sound_id(self, lang: LanguageSettings) -> str:
        return f"gtts/1 lang={lang.gtts_lang} tld={lang.gtts_tld} slow={int(self.slow)}"

    def synthesize(self, text: str, lang: LanguageSettings) -> bytes:
        from gtts import gTTS, gTTSError  # here, so that reading a manifest does not load requests

        try:
            # Keywords only: gTTS's positional order is (text, tld, lang).
            tts = gTTS(text=text, lang=lang.gtts_lang, tld=lang.gtts_tld, slow=self.slow, timeout=self.timeout)
            expected = len(tts.get_bodies())  # one HTTP request per chunk of at most 100 characters
            pieces = [piece for piece in tts.stream() if piece]
        except gTTSError as exc:
            response = getattr(exc, "rsp", None)
            status = getattr(response, "status_code", None)
            # No response at all is a connection failure; 429 and 5xx are Google asking us to wait.
            retryable = status is None or status == 429 or status >= 500
            raise SynthesisError(str(exc) or "gTTS failed", retryable=retryable) from exc
        except (ValueError, AssertionError) as exc:  # unsupported language, nothing left to say
            raise SynthesisError(f"gTTS refused the text: {exc}", retryable=False) from exc
        if len(pieces) != expected:
            # gTTS silently yields nothing for a reply without audio: never keep a prompt with a hole.
            raise SynthesisError(f"gTTS returned audio for {len(pieces)} of {expected} chunks", retryable=True)
        return b"".join(pieces)


class EspeakEngine:
    """espeak-ng (Debian package), converted to MP3 by sox or ffmpeg: offline, robotic, deterministic."""

    name = "espeak"
    BITRATE_KBPS = 32

    def __init__(self, *, words_per_minute: int = 150, converter: str | None = None) -> None:
        self.words_per_minute = words_per_minute  # espeak's default 175 is hurried for people in distress
        self.converter = converter  # "sox" or "ffmpeg"; None: sox when installed, else ffmpeg

    def sound_id(self, lang: LanguageSettings) -> str:
        return f"espeak/1 voice={lang.espeak_voice} wpm={self.words_per_minute} mp3={self.BITRATE_KBPS}k"

    def missing_tools(self) -> list[str]:
        """Debian packages this engine needs and cannot find."""
        missing = [] if shutil.which("espeak-ng") else ["espeak-ng"]
        if self._converter() is None:
            missing.append("sox and libsox-fmt-mp3, or ffmpeg")
        return missing

    def _converter(self) -> str | None:
        if self.converter is not None:
            return self.converter if _can_write_mp3(self.converter) else None
        return next((tool for tool in ("sox", "ffmpeg") if _can_write_mp3(tool)), None)

    def synthesize(self, text: str, lang: LanguageSettings) -> bytes:
        if missing := self.missing_tools():
            raise SynthesisError(f"not installed: {', '.join(missing)} (see scripts/install-system-deps)", retryable=False)
        # The text goes through stdin, so a prompt starting with "-" cannot be read as an option.
        wav = _run(["espeak-ng", "-v", lang.espeak_voice, "-s", str(self.words_per_minute), "-b", "1", "--stdout"], text.encode())
        if self._converter() == "sox":
            # sox cannot finish an MP3 on a pipe (it seeks back to the header), so it writes a file.
            with tempfile.TemporaryDirectory(prefix="ivr-espeak-") as folder:
                out = Path(folder) / "prompt.mp3"
                _run(["sox", "-t", "wav", "-", "-C", str(self.BITRATE_KBPS), str(out)], wav)
                return out.read_bytes()
        return _run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-ac", "1", "-c:a", "libmp3lame"]
            + ["-b:a", f"{self.BITRATE_KBPS}k", "-map_metadata", "-1", "-id3v2_version", "0", "-write_xing", "0"]
            + ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "mp3", "pipe:1"],
            wav,
        )


@functools.cache
def _can_write_mp3(tool: str) -> bool:
    """Whether ``tool`` is installed and can write MP3 (sox needs Debian's libsox-fmt-mp3 for that)."""
    if shutil.which(tool) is None:
        return False
    if tool != "sox":
        return True
    try:
        done = subprocess.run(["sox", "-h"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    formats = next((line for line in done.stdout.splitlines() if line.startswith("AUDIO FILE FORMATS:")), "")
    return "mp3" in formats.split()


def _run(command: list[str], stdin: bytes) -> bytes:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SynthesisError(f"{command[0]} failed: {exc}", retryable=False) from exc
    if done.returncode != 0 or (not done.stdout and command[0] != "sox"):  # sox writes to a file
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1] if lines else "no output"
        raise SynthesisError(f"{command[0]} exited with {done.returncode}: {last}", retryable=False)
    return done.stdout


def make_engine(name: str, *, slow: bool = False) -> Synthesizer:
    """The engine called ``name`` (one of :data:`ENGINES`)."""
    if name == "gtts":
        return GTTSEngine(slow=slow)
    if name == "espeak":
        return EspeakEngine()
    raise ValueError(f"unknown engine {name!r}: expected one of {', '.join(ENGINES)}")


# --- MP3 ----------------------------------------------------------------------------------

# Layer III bitrates (kbit/s) by bitrate index, for MPEG-1 and for MPEG-2/2.5.
_BITRATES = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by the header's version bits: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5 (1 is reserved).
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _frame_at(data: bytes, i: int) -> tuple[int, float, int] | None:
    """(frame length in bytes, seconds, side-information length) of an MPEG Layer III frame at ``i``."""
    if i + 4 > len(data) or data[i] != 0xFF or data[i + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (data[i + 1] >> 3) & 3, (data[i + 1] >> 1) & 3
    bitrate_index, rate_index, padding = data[i + 2] >> 4, (data[i + 2] >> 2) & 3, (data[i + 2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[mpeg1][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    mono = data[i + 3] >> 6 == 3
    length = (144 if mpeg1 else 72) * bitrate // rate + padding
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    return length, (1152 if mpeg1 else 576) / rate, side


def mp3_duration(data: bytes) -> float | None:
    """Seconds of audio in MP3 ``data``, from its frame headers; None when it holds no MPEG audio.

    Handles what TTS output contains: ID3v2 tags (anywhere, since gTTS concatenates pieces),
    a Xing/Info header frame (metadata, not sound) and a truncated last frame (ignored).
    """
    i, n, seconds, frames = 0, len(data), 0.0, 0
    while i + 4 <= n:
        if data.startswith(b"ID3", i) and i + 10 <= n:
            size = (data[i + 6] & 0x7F) << 21 | (data[i + 7] & 0x7F) << 14 | (data[i + 8] & 0x7F) << 7 | data[i + 9] & 0x7F
            i += 10 + size + (10 if data[i + 5] & 0x10 else 0)
            continue
        frame = _frame_at(data, i)
        if frame is None or i + frame[0] > n:
            found = data.find(b"\xff", i + 1)
            if found < 0:
                break
            i = found
            continue
        length, frame_seconds, side = frame
        tag = data[i + 4 + side : i + 8 + side]
        if tag not in (b"Xing", b"Info"):
            seconds += frame_seconds
            frames += 1
        i += length
    return round(seconds, 3) if frames else None


# --- the manifest ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioEntry:
    """One prompt's audio in one language."""

    file: str  # relative to the audio folder: "nl/<hash>.mp3"
    duration: float | None  # seconds
    text: str  # the words in the file, to tell a stale entry from a current one
    engine: str


@dataclass(frozen=True, slots=True)
class AudioManifest:
    """``audio/manifest.json``: which file says which prompt."""

    directory: Path
    entries: Mapping[tuple[str, str], AudioEntry] = field(default_factory=dict)  # (key, lang) -> entry

    def entry_for(self, speech: Speech) -> AudioEntry | None:
        """The entry for ``speech``, only if its file says exactly ``speech.text`` (else it is stale)."""
        entry = self.entries.get((speech.key, speech.lang))
        return entry if entry is not None and entry.text == speech.text else None

    def file_for(self, speech: Speech) -> Path | None:
        """Where the audio of ``speech`` is (whether or not the file still exists), or None."""
        entry = self.entry_for(speech)
        return self.directory / entry.file if entry is not None else None

    def duration_of(self, speech: Speech) -> float | None:
        """How long the built audio of ``speech`` lasts, in seconds; None when it has none."""
        entry = self.entry_for(speech)
        return entry.duration if entry is not None else None

    def files(self) -> set[str]:
        return {entry.file for entry in self.entries.values()}


def load_manifest(audio_dir: Path) -> AudioManifest:
    """The manifest in ``audio_dir``; an empty one when there is none.

    Raises:
        ManifestError: the file exists but is unreadable, not JSON, or not a manifest.
    """
    path = audio_dir / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (FileNotFoundError, NotADirectoryError):  # no folder, or no manifest in it: nothing built yet
        return AudioManifest(audio_dir)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: not JSON, NaN or Infinity, or a number of more than 4,300 digits (Python's
        # limit); RecursionError: arrays or objects nested thousands deep (the decoder recurses).
        raise ManifestError(f"{path}: cannot be read: {type(exc).__name__}: {exc}") from exc
    entries: dict[tuple[str, str], AudioEntry] = {}
    try:
        if raw.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{path}: format {raw.get('format')!r} is not {MANIFEST_FORMAT}; rebuild with `ivr audio build`")
        for key, by_lang in raw["prompts"].items():
            for lang, item in by_lang.items():
                file = item["file"]
                match = AUDIO_FILE.fullmatch(file) if isinstance(file, str) else None
                if match is None or match["lang"] != lang:  # never let a manifest point outside its folder
                    raise ManifestError(f"{path}: {key} [{lang}]: bad file name {file!r}")
                duration = item.get("duration")
                if duration is not None and not _is_duration(duration):
                    raise ManifestError(
                        f"{path}: {key} [{lang}]: duration {duration!r} is not a number of seconds from 0 to {MAX_DURATION}"
                    )
                entries[(key, lang)] = AudioEntry(
                    file=file,
                    duration=None if duration is None else float(duration),
                    text=str(item["text"]),
                    engine=str(item.get("engine", "")),
                )
    except (AttributeError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not an audio manifest ({type(exc).__name__}: {exc})") from exc
    return AudioManifest(audio_dir, entries)


MAX_DURATION = 3600  # seconds; no prompt lasts an hour: a longer one is a corrupt manifest


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _is_duration(value: object) -> bool:
    """A duration the timing can add up: a number of seconds, not negative, not absurd (NaN and infinities fail the range)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_DURATION


def manifest_json(entries: Mapping[tuple[str, str], AudioEntry]) -> str:
    """The manifest's text: sorted and stable, so that an unchanged build changes nothing in git."""
    prompts: dict[str, dict[str, dict[str, object]]] = {}
    for (key, lang), entry in sorted(entries.items()):
        prompts.setdefault(key, {})[lang] = {
            "file": entry.file,
            "duration": entry.duration,
            "text": entry.text,
            "engine": entry.engine,
        }
    return json.dumps({"format": MANIFEST_FORMAT, "prompts": prompts}, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


# --- files ---------------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either absent, the old file, or complete.

    The bytes go to a temporary ``*.part`` name in the same folder, are flushed to disk, and
    only then renamed: a reader (or a caller) never sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{PART_SUFFIX}")
    try:
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def audio_file_name(engine: Synthesizer, lang: LanguageSettings, text: str) -> str:
    """``<lang>/<hash>.mp3``, the hash covering the engine's sound settings and the text."""
    digest = hashlib.sha256(f"{engine.sound_id(lang)}\n{text}".encode()).hexdigest()[:32]
    return f"{lang.code}/{digest}.mp3"


def audio_files_on_disk(audio_dir: Path) -> set[str]:
    """Every ``<lang>/<hash>.mp3`` under ``audio_dir`` (other files are not ours to judge)."""
    found: set[str] = set()
    if not audio_dir.is_dir():
        return found
    for folder in audio_dir.iterdir():
        if folder.is_dir() and LANG_DIR.fullmatch(folder.name):
            found.update(f"{folder.name}/{p.name}" for p in folder.glob("*.mp3") if AUDIO_NAME.fullmatch(p.stem))
    return found


# --- what to build ----------------------------------------------------------------------------


def prompt_speeches(catalog: Catalog) -> list[Speech]:
    """Every distinct speech of every flow: the rescue text and every prompt of every node
    (prompt, after, connecting, call_yourself, the re-prompts of retries), in flow order."""
    found: dict[tuple[str, str], Speech] = {}
    for flow in catalog.flows.values():
        prompts: list[Prompt] = [flow.rescue]
        for node in flow.nodes.values():
            # Every Prompt-valued field, and the re-prompt of every Retry, whatever the node kind.
            for node_field in fields(node):
                value = getattr(node, node_field.name)
                if isinstance(value, Prompt):
                    prompts.append(value)
                elif isinstance(value, Retry):
                    prompts.append(value.reprompt)
        for prompt in prompts:
            for speech in prompt.speeches():
                found.setdefault((speech.key, speech.lang), speech)
    return list(found.values())


# --- the build ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    failed: int
    elapsed: float


@dataclass
class BuildReport:
    """What a build did, for the command line to print."""

    engine: str
    prompts: int = 0  # (prompt, language) pairs in the flows
    files: int = 0  # distinct files they need
    up_to_date: int = 0
    generated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # "key [lang]" -> reason
    kept_previous: list[str] = field(default_factory=list)  # failed prompts still served by an older build
    unused: list[str] = field(default_factory=list)  # files no prompt uses
    pruned: list[str] = field(default_factory=list)
    stale_parts: list[str] = field(default_factory=list)  # leftovers of an interrupted build, removed
    synthesis_calls: int = 0  # engine calls, retries included (gTTS: one or more HTTP requests each)
    manifest_written: bool = False
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class _Job:
    file: str
    lang: LanguageSettings
    text: str


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


def backoff_delay(attempt: int, rng: Callable[[], float], *, base: float = 1.0, cap: float = 30.0) -> float:
    """Seconds to wait before retry number ``attempt + 1``: exponential, with jitter so that
    parallel jobs do not hit Google again at the same instant."""
    ceiling = min(cap, base * float(2**attempt))
    return ceiling / 2 + rng() * ceiling / 2


def synthesize_with_retries(
    engine: Synthesizer,
    text: str,
    lang: LanguageSettings,
    *,
    retries: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    on_attempt: Callable[[], None] = lambda: None,
) -> bytes:
    """MP3 bytes of ``text``, retrying retryable failures ``retries`` times with backoff.

    Raises:
        SynthesisError: the last failure (its reason says how many attempts were made), or
            output that holds no MP3 audio.
    """
    for attempt in range(retries + 1):
        on_attempt()
        try:
            data = engine.synthesize(text, lang)
        except SynthesisError as exc:
            if not exc.retryable or attempt == retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                raise SynthesisError(exc.reason + tries, retryable=exc.retryable) from exc
            sleep(backoff_delay(attempt, rng))
            continue
        if mp3_duration(data) is None:  # never store something a caller's phone cannot play
            raise SynthesisError(f"{engine.name} returned {len(data)} bytes with no MP3 audio", retryable=False)
        return data
    raise AssertionError("unreachable")  # pragma: no cover


def _make_file(
    engine: Synthesizer,
    job: _Job,
    audio_dir: Path,
    retries: int,
    sleep: Callable[[float], None],
    rng: Callable[[], float],
    calls: _Counter,
) -> float | None:
    data = synthesize_with_retries(engine, job.text, job.lang, retries=retries, sleep=sleep, rng=rng, on_attempt=calls.add)
    write_atomically(audio_dir / job.file, data)
    return mp3_duration(data)


def build_audio(
    catalog: Catalog,
    engine: Synthesizer,
    audio_dir: Path,
    *,
    jobs: int = 4,
    retries: int = 4,
    prune: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    progress: Callable[[Progress], None] | None = None,
) -> BuildReport:
    """Make the audio files the flows need that do not exist yet, then write the manifest.

    Incremental (existing files are never requested again), concurrent (at most ``jobs``
    syntheses in flight), patient (``retries`` retries with backoff on 429 and network
    errors) and atomic (files, then the manifest last, appear only when complete). Failures
    do not stop the build: they are reported, and everything that succeeded is kept.
    """
    started = time.monotonic()
    report = BuildReport(engine=engine.name)
    audio_dir.mkdir(parents=True, exist_ok=True)
    report.stale_parts = _remove_stale_parts(audio_dir)
    try:
        previous = load_manifest(audio_dir)
    except ManifestError:
        previous = AudioManifest(audio_dir)  # rebuilt from the files on disk below
    known_durations = {entry.file: entry.duration for entry in previous.entries.values()}

    speeches = prompt_speeches(catalog)
    wanted: dict[tuple[str, str], tuple[Speech, str]] = {}
    jobs_by_file: dict[str, _Job] = {}
    for speech in speeches:
        language = catalog.settings.languages[speech.lang]
        file = audio_file_name(engine, language, speech.text)
        wanted[(speech.key, speech.lang)] = (speech, file)
        jobs_by_file.setdefault(file, _Job(file, language, speech.text))
    report.prompts, report.files = len(wanted), len(jobs_by_file)

    on_disk = audio_files_on_disk(audio_dir)
    todo = [job for file, job in jobs_by_file.items() if file not in on_disk]
    report.up_to_date = report.files - len(todo)
    durations: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    calls = _Counter()
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="ivr-audio") as pool:
            futures: dict[Future[float | None], _Job] = {
                pool.submit(_make_file, engine, job, audio_dir, retries, sleep, rng, calls): job for job in todo
            }
            for done, future in enumerate(as_completed(futures), start=1):
                job = futures[future]
                try:
                    durations[job.file] = future.result()
                    report.generated.append(job.file)
                except SynthesisError as exc:
                    errors[job.file] = exc.reason
                except Exception as exc:  # noqa: BLE001 - one broken prompt must not lose the others
                    errors[job.file] = f"{type(exc).__name__}: {exc}"
                if progress is not None:
                    progress(Progress(done, len(todo), len(errors), time.monotonic() - started))
    report.synthesis_calls = calls.value

    entries: dict[tuple[str, str], AudioEntry] = {}
    for (key, lang), (speech, file) in wanted.items():
        if file in errors:
            report.failed[f"{key} [{lang}]"] = errors[file]
            older = previous.entry_for(speech)
            if older is not None and (audio_dir / older.file).is_file():
                entries[(key, lang)] = older  # same words from an earlier build: better than <Say>
                report.kept_previous.append(f"{key} [{lang}]")
            continue
        if file not in durations:
            durations[file] = known_durations.get(file) or _measure(audio_dir / file)
        entries[(key, lang)] = AudioEntry(file, durations[file], speech.text, engine.name)

    # The manifest goes last: it only ever names files that are complete.
    text = manifest_json(entries)
    manifest = audio_dir / MANIFEST_NAME
    if not manifest.is_file() or manifest.read_text(encoding="utf-8") != text:
        write_atomically(manifest, text.encode("utf-8"))
        report.manifest_written = True
    # Pruned after the manifest, so that no manifest on disk ever names a removed file.
    used = {entry.file for entry in entries.values()}
    report.unused = sorted(audio_files_on_disk(audio_dir) - used)
    if prune:
        for file in report.unused:
            (audio_dir / file).unlink(missing_ok=True)
        report.pruned = list(report.unused)
    report.generated.sort()
    report.elapsed = time.monotonic() - started
    return report


def _measure(path: Path) -> float | None:
    try:
        return mp3_duration(path.read_bytes())
    except OSError:
        return None


def _remove_stale_parts(audio_dir: Path) -> list[str]:
    """Temporary files of an interrupted build (one build per folder at a time)."""
    removed = []
    for part in sorted(audio_dir.rglob(f"*{PART_SUFFIX}")):
        part.unlink(missing_ok=True)
        removed.append(str(part.relative_to(audio_dir)))
    return removed
