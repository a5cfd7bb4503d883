"""Serving the prompts' audio, and choosing <Play> or <Say> for each prompt.

Audio requests come from Twilio's media fetcher and from CDNs, which do not sign them, so
this blueprint is separate from the ``voice`` blueprint and its signature check. The files
are public prompt recordings: nothing in them is about a caller.

The manifest is read once at start-up. A prompt is played only when the manifest has it
with exactly the words the flow says now and its file is there (regular, not empty, not a
symlink), a person's recording before the synthesised file; anything else, and every prompt
of a language set to ``speak_with: say``, is spoken with <Say>. Missing files are a warning at
start-up, never an error for a caller.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, has_request_context, request, send_file

from ivr.audio import AUDIO_NAME, LANG_DIR, AudioEntry, AudioManifest, ManifestError, Recording, load_manifest, prompt_speeches
from ivr.checker import check
from ivr.logs import get_logger
from ivr.model import Catalog, Speech
from ivr.settings import Settings
from ivr.timing import SpeechClock

bp = Blueprint("audio", __name__)
log = get_logger()

AUDIO_EXTENSION = "ivr.audio"
ONE_YEAR = 365 * 24 * 3600
SHOWN_AT_MOST = 50  # files named in the start-up warning


@dataclass(frozen=True, slots=True)
class PromptAudio:
    """The audio a running app can play: the manifest, and which of its files were there at start-up."""

    directory: Path
    manifest: AudioManifest
    playable: frozenset[str]  # manifest files that existed and were readable at start-up
    audio_url: str | None  # IVR_AUDIO_URL: files served from elsewhere (a CDN, an object store)
    public_url: str | None  # IVR_PUBLIC_URL

    def url_for(self, speech: Speech) -> str | None:
        """The absolute URL to <Play> for ``speech``, or None to <Say> it."""
        for entry in self.manifest.candidates_for(speech):  # a recording whose file is gone: the synthesised one
            if entry.file not in self.playable:
                continue
            if self.audio_url is not None:
                return f"{self.audio_url}/{entry.file}"
            # Two lstat calls per prompt (microseconds) so that a file deleted or emptied after
            # start-up is spoken, not played as a 404 or as silence that Twilio would skip.
            if not servable(self.directory, entry.file):
                continue
            if self.public_url is not None:
                return f"{self.public_url}/audio/{entry.file}"
            # Outside a request (a simulator indexing prompts) there is no host: a root-relative path.
            root = request.url_root.rstrip("/") if has_request_context() else ""
            return f"{root}/audio/{entry.file}"
        return None


def load_prompt_audio(settings: Settings, catalog: Catalog) -> PromptAudio:
    """Read the manifest and check its files, warning (never failing) about what is missing."""
    directory = settings.audio_dir.resolve()
    try:
        manifest = load_manifest(directory)
    except ManifestError as exc:
        log.warning("audio manifest unreadable; every prompt is spoken with <Say>", extra={"error": str(exc)})
        manifest = AudioManifest(directory)
    else:
        if not manifest.entries and not manifest.recordings:
            log.warning("no audio manifest: every prompt is spoken with <Say>; run `ivr audio build`")
        stale = manifest.stale_recordings(prompt_speeches(catalog))
        if stale:
            log.warning("recordings made for other words; their prompts play the synthesised audio", extra={"count": len(stale)})
        manifest = manifest.heard_in(catalog)
    if settings.audio_url is not None:
        # Files on a CDN cannot be checked cheaply here; the build that uploaded them is trusted.
        playable = frozenset(manifest.files())
    else:
        playable = frozenset(file for file in manifest.files() if _readable(directory, file))
        missing = sorted(manifest.files() - playable)
        if missing:
            log.warning(
                "audio files missing or unreadable; their prompts are spoken with <Say>",
                extra={"count": len(missing), "files": missing[:SHOWN_AT_MOST]},
            )
    playable = _within_budgets(catalog, manifest, playable)
    audio = PromptAudio(directory, manifest, playable, settings.audio_url, settings.public_url)
    if manifest.entries or manifest.recordings:
        speeches = [speech for speech in prompt_speeches(catalog) if not catalog.settings.languages[speech.lang].said]
        unplayable = sum(1 for speech in speeches if not any(e.file in playable for e in manifest.candidates_for(speech)))
        if unplayable:
            log.warning(
                "prompts without audio (not built yet, or changed since the build); spoken with <Say>",
                extra={"count": unplayable},
            )
        log.info("prompt audio loaded", extra={"count": len(speeches) - unplayable})
    return audio


def _within_budgets(catalog: Catalog, manifest: AudioManifest, playable: frozenset[str]) -> frozenset[str]:
    """The playable files, less those that would keep a caller from the line past a budget.

    The catalog was checked on estimated lengths; real audio can be longer. When the caller checker finds a
    path over budget with the files' real lengths, every file longer than its prompt's estimate is not played
    (its prompt is said with <Say>, as estimated), with one warning naming them: the service never refuses
    to start over an audio file. (`ivr validate --audio` and `ivr audio build` refuse such files.)
    """
    if not manifest.entries and not manifest.recordings:
        return playable

    def played(speech: Speech) -> AudioEntry | Recording | None:
        return next((entry for entry in manifest.candidates_for(speech) if entry.file in playable), None)

    def duration_of(speech: Speech) -> float | None:
        entry = played(speech)
        return entry.duration if entry is not None else None

    findings = check(catalog, duration_of)
    if not findings.over and not findings.unreached:
        return playable
    speech_clock = SpeechClock({code: ls.words_per_second for code, ls in catalog.settings.languages.items()})
    longer = {
        entry.file
        for speech in prompt_speeches(catalog)
        for entry in manifest.candidates_for(speech)
        if entry.file in playable and (entry.duration or 0.0) > speech_clock.seconds(speech)
    }
    log.warning(
        "audio longer than its estimate would keep callers from the line past a budget; those prompts are spoken"
        " with <Say> until `ivr validate --audio` passes",
        extra={"count": len(longer), "files": sorted(longer)[:SHOWN_AT_MOST]},
    )
    return playable - longer


def servable(directory: Path, file: str) -> bool:
    """Whether ``file`` ("<lang>/<hash>.mp3", checked by name) is a regular, non-empty file of ``directory``.

    Neither the file nor its language folder may be a symlink, so nothing outside the audio
    folder is ever served or played; an empty file (a copy cut short) would be a silent prompt.
    """
    lang, name = file.split("/", 1)
    try:
        folder = os.lstat(directory / lang)
        found = os.lstat(directory / lang / name)
    except (OSError, ValueError):  # ValueError: a NUL byte in a name
        return False
    return stat.S_ISDIR(folder.st_mode) and stat.S_ISREG(found.st_mode) and found.st_size > 0


def _readable(directory: Path, file: str) -> bool:
    if not servable(directory, file):
        return False
    try:
        with open(directory / file, "rb") as handle:
            return bool(handle.read(4))
    except OSError:
        return False


def install_audio(app: Flask, settings: Settings, catalog: Catalog) -> PromptAudio:
    """Load the prompt audio, register the audio route on ``app``, and return it."""
    audio = load_prompt_audio(settings, catalog)
    app.extensions[AUDIO_EXTENSION] = audio
    app.register_blueprint(bp)
    return audio


@bp.get("/audio/<lang>/<name>.mp3")
def audio_file(lang: str, name: str) -> Response:
    """A prompt's MP3. Its name is a hash of its content, so it can be cached forever."""
    audio: PromptAudio = current_app.extensions[AUDIO_EXTENSION]
    if not LANG_DIR.fullmatch(lang) or not AUDIO_NAME.fullmatch(name):
        return _not_found()
    if not servable(audio.directory, f"{lang}/{name}.mp3"):
        log.warning("audio file requested but missing, empty or not a file", extra={"route": request.path, "status": 404})
        return _not_found()
    try:
        response = send_file(
            audio.directory / lang / f"{name}.mp3",
            mimetype="audio/mpeg",
            conditional=True,  # 304 for If-None-Match / If-Modified-Since, 206 for ranges
            etag=name,
            max_age=ONE_YEAR,
        )
    except OSError:
        log.warning("audio file requested but missing or unreadable", extra={"route": request.path, "status": 404})
        return _not_found()
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


def _not_found() -> Response:
    return Response("Not found\n", status=404, content_type="text/plain; charset=utf-8")
