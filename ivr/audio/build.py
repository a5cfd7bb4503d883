"""``ivr audio build``'s work: every prompt of every flow made into audio before the service runs.

A caller never waits on a TTS service: every (prompt, language) of every flow is turned into
an MP3 under ``audio/<lang>/<hash>.mp3`` ahead of time, then ``audio/manifest.json`` maps each
prompt to its file. Unchanged prompts are never requested again; failures are reported and
everything that succeeded is kept.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ivr.audio.engines import SynthesisError, Synthesizer
from ivr.audio.manifest import (
    MANIFEST_NAME,
    PART_SUFFIX,
    AudioEntry,
    AudioManifest,
    ManifestError,
    audio_file_name,
    audio_files_on_disk,
    load_manifest,
    manifest_json,
    write_atomically,
)
from ivr.audio.mp3 import mp3_duration
from ivr.model import Catalog, LanguageSettings, Speech
from ivr.review_script import flow_prompts, node_prompts


def prompt_speeches(catalog: Catalog) -> list[Speech]:
    """Every distinct speech of every flow: the rescue text and every prompt of every node, re-prompts included, in flow order."""
    found: dict[tuple[str, str], Speech] = {}
    for flow in catalog.flows.values():
        prompts = [
            *(prompt for _, _, prompt in flow_prompts(flow)),
            *(p for node in flow.nodes.values() for p in node_prompts(node)),
        ]
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
    said: int = 0  # (prompt, language) pairs of languages spoken with <Say>: not built
    recordings: int = 0  # recordings kept from the manifest (never built over, never pruned)
    prune_refused: bool = False  # the old manifest was unreadable: its recordings cannot be told apart
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
        report.prune_refused = prune  # which files were recordings is unknown now: none is removed
    known_durations = {entry.file: entry.duration for entry in previous.entries.values()}

    speeches = prompt_speeches(catalog)
    wanted: dict[tuple[str, str], tuple[Speech, str]] = {}
    jobs_by_file: dict[str, _Job] = {}
    for speech in speeches:
        language = catalog.settings.languages[speech.lang]
        if language.said:  # Twilio's voice says these: no file would ever be played
            report.said += 1
            continue
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
            older = previous.synthesised_for(speech)
            if older is not None and (audio_dir / older.file).is_file():
                entries[(key, lang)] = older  # same words from an earlier build: better than <Say>
                report.kept_previous.append(f"{key} [{lang}]")
            continue
        if file not in durations:
            durations[file] = known_durations.get(file) or _measure(audio_dir / file)
        entries[(key, lang)] = AudioEntry(file, durations[file], speech.text, engine.name)

    # The manifest goes last: it only ever names files that are complete. Recordings stay as they
    # were, stale ones too (`ivr validate` names them; their prompts play the synthesised file).
    report.recordings = len(previous.recordings)
    text = manifest_json(entries, previous.recordings)
    manifest = audio_dir / MANIFEST_NAME
    if not manifest.is_file() or manifest.read_text(encoding="utf-8") != text:
        write_atomically(manifest, text.encode("utf-8"))
        report.manifest_written = True
    # Pruned after the manifest, so that no manifest on disk ever names a removed file.
    used = {entry.file for entry in entries.values()} | {recording.file for recording in previous.recordings.values()}
    report.unused = sorted(audio_files_on_disk(audio_dir) - used)
    if prune and not report.prune_refused:
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
