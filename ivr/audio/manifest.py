"""``audio/manifest.json``: which file says which prompt, and how the files are named and written.

A synthesised file is named ``<lang>/<hash>.mp3``, the hash covering everything that changes the
sound (engine, voice or language and accent, speed, text); a recording's hash covers its audio
itself. Either way a file's content never changes under its name (Twilio caches media by URL).
Files and the manifest are written to a temporary name and renamed when complete, so a crash
never leaves a truncated MP3 where a caller could be played it.

The manifest has two sections: ``prompts`` (what ``ivr audio build`` made) and ``recordings``
(what ``ivr audio import`` took, with the words each was recorded for); a recording whose words
are still the prompt's is played instead of the synthesised file. Manifests written before
recordings existed have no ``recordings`` section and read the same as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.audio.engines import Synthesizer
from ivr.model import Catalog, LanguageSettings, Speech
from ivr.timing import says_number

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
PART_SUFFIX = ".part"  # temporary files; ignored by git, removed by the next build

# A file is named <lang>/<32 hex digits>.mp3; nothing else is ever served or pruned.
LANG_DIR = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?")
AUDIO_NAME = re.compile(r"[0-9a-f]{32}")
AUDIO_FILE = re.compile(r"(?P<lang>[a-z]{2,3}(?:-[a-z0-9]{2,8})?)/(?P<name>[0-9a-f]{32})\.mp3")


class ManifestError(Exception):
    """``manifest.json`` exists but cannot be read or is not a manifest."""


@dataclass(frozen=True, slots=True)
class AudioEntry:
    """One prompt's audio in one language."""

    file: str  # relative to the audio folder: "nl/<hash>.mp3"
    duration: float | None  # seconds
    text: str  # the words in the file, to tell a stale entry from a current one
    engine: str


@dataclass(frozen=True, slots=True)
class Recording:
    """One prompt recorded by a person in one language, as ``ivr audio import`` converted it."""

    file: str  # "nl/<hash of the audio>.mp3"
    duration: float | None  # seconds
    text: str  # the words it was recorded for: once the prompt says other words, it is stale
    source: str  # sha256 of the file the studio delivered, to tell a new take from the same one


@dataclass(frozen=True, slots=True)
class AudioManifest:
    """``audio/manifest.json``: which file says which prompt."""

    directory: Path
    entries: Mapping[tuple[str, str], AudioEntry] = field(default_factory=dict)  # (key, lang) -> entry
    recordings: Mapping[tuple[str, str], Recording] = field(default_factory=dict)  # (key, lang) -> recording

    def entry_for(self, speech: Speech) -> AudioEntry | Recording | None:
        """What plays ``speech``: its recording when recorded for exactly ``speech.text``, else the
        synthesised entry when it says exactly that, else None (both are stale or missing)."""
        recording = self.recordings.get((speech.key, speech.lang))
        if recording is not None and recording.text == speech.text:
            return recording
        return self.synthesised_for(speech)

    def candidates_for(self, speech: Speech) -> list[AudioEntry | Recording]:
        """What may play ``speech``, best first: its current recording, then its synthesised file."""
        recording = self.recordings.get((speech.key, speech.lang))
        found: list[AudioEntry | Recording] = [recording] if recording is not None and recording.text == speech.text else []
        synthesised = self.synthesised_for(speech)
        return found + ([synthesised] if synthesised is not None else [])

    def synthesised_for(self, speech: Speech) -> AudioEntry | None:
        """The built entry for ``speech``, only if its file says exactly ``speech.text`` (else it is stale)."""
        entry = self.entries.get((speech.key, speech.lang))
        return entry if entry is not None and entry.text == speech.text else None

    def stale_recordings(self, speeches: list[Speech]) -> list[tuple[Speech, Recording]]:
        """The recordings of ``speeches`` made for other words than the prompt says now: to record again."""
        found = []
        for speech in speeches:
            recording = self.recordings.get((speech.key, speech.lang))
            if recording is not None and recording.text != speech.text:
                found.append((speech, recording))
        return found

    def heard_in(self, catalog: Catalog) -> AudioManifest:
        """What a call of ``catalog`` may play: nothing for a language spoken with <Say>, and no
        recording whose words say a line's number (a misread digit would pass every check)."""
        said = {code for code, language in catalog.settings.languages.items() if language.said}
        numbers = [line.spoken_number for line in catalog.helplines.values()]

        def kept(key: tuple[str, str]) -> bool:
            return key[1] not in said

        recordings = {
            key: recording
            for key, recording in self.recordings.items()
            if kept(key) and not any(says_number(recording.text, number) for number in numbers)
        }
        entries = {key: entry for key, entry in self.entries.items() if kept(key)}
        return AudioManifest(self.directory, entries, recordings)

    def duration_of(self, speech: Speech) -> float | None:
        """How long the built audio of ``speech`` lasts, in seconds; None when it has none."""
        entry = self.entry_for(speech)
        return entry.duration if entry is not None else None

    def files(self) -> set[str]:
        return {entry.file for entry in self.entries.values()} | {recording.file for recording in self.recordings.values()}


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
    recordings: dict[tuple[str, str], Recording] = {}
    try:
        if raw.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{path}: format {raw.get('format')!r} is not {MANIFEST_FORMAT}; rebuild with `ivr audio build`")
        for key, lang, item, file, duration in _items(path, raw["prompts"]):
            entries[(key, lang)] = AudioEntry(file, duration, str(item["text"]), str(item.get("engine", "")))
        for key, lang, item, file, duration in _items(path, raw.get("recordings", {})):
            source = item["source"]
            if not isinstance(source, str) or not re.fullmatch(r"[0-9a-f]{64}", source):
                raise ManifestError(f"{path}: recording {key} [{lang}]: source {source!r} is not a sha256")
            recordings[(key, lang)] = Recording(file, duration, str(item["text"]), source)
    except (AttributeError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not an audio manifest ({type(exc).__name__}: {exc})") from exc
    return AudioManifest(audio_dir, entries, recordings)


def _items(path: Path, section: Any) -> list[tuple[str, str, Any, str, float | None]]:
    """(key, lang, item, file, duration) of each item of a section, the file name and the duration checked."""
    out = []
    for key, by_lang in section.items():
        for lang, item in by_lang.items():
            file = item["file"]
            match = AUDIO_FILE.fullmatch(file) if isinstance(file, str) else None
            if not isinstance(file, str) or match is None or match["lang"] != lang:  # never point outside the folder
                raise ManifestError(f"{path}: {key} [{lang}]: bad file name {file!r}")
            duration = item.get("duration")
            if duration is not None and not _is_duration(duration):
                raise ManifestError(
                    f"{path}: {key} [{lang}]: duration {duration!r} is not a number of seconds from 0 to {MAX_DURATION}"
                )
            out.append((key, lang, item, file, None if duration is None else float(duration)))
    return out


MAX_DURATION = 3600  # seconds; no prompt lasts an hour: a longer one is a corrupt manifest


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _is_duration(value: object) -> bool:
    """A duration the timing can add up: a number of seconds, not negative, not absurd (NaN and infinities fail the range)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_DURATION


def manifest_json(
    entries: Mapping[tuple[str, str], AudioEntry], recordings: Mapping[tuple[str, str], Recording] | None = None
) -> str:
    """The manifest's text: sorted and stable, so that an unchanged build changes nothing in git.

    Without recordings it is exactly the text of a manifest written before they existed."""
    prompts: dict[str, dict[str, dict[str, object]]] = {}
    for (key, lang), entry in sorted(entries.items()):
        prompts.setdefault(key, {})[lang] = {
            "file": entry.file,
            "duration": entry.duration,
            "text": entry.text,
            "engine": entry.engine,
        }
    document: dict[str, object] = {"format": MANIFEST_FORMAT, "prompts": prompts}
    if recordings:
        recorded: dict[str, dict[str, dict[str, object]]] = {}
        for (key, lang), recording in sorted(recordings.items()):
            recorded.setdefault(key, {})[lang] = {
                "file": recording.file,
                "duration": recording.duration,
                "text": recording.text,
                "source": recording.source,
            }
        document["recordings"] = recorded
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


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
