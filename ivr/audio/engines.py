"""Text-to-speech engines: gTTS (the only module that imports it) and espeak-ng (the only module that runs it).

gTTS is imported lazily, so the web app and the timing code can read the manifest without
loading requests. External programs (espeak-ng, sox, ffmpeg) are run by :func:`_run`, which
turns every failure into a :class:`SynthesisError`.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol

from ivr.model import LanguageSettings
from ivr.voices import SpeechEngines, espeak_voice_names

ENGINES = ("gtts", "espeak")
ESPEAK_WORDS_PER_MINUTE = 150  # espeak's default 175 is hurried for people in distress


class SynthesisError(Exception):
    """An engine could not make audio. ``retryable``: worth trying again later (429, network, 5xx)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


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

    def __init__(self, *, words_per_minute: int = ESPEAK_WORDS_PER_MINUTE, converter: str | None = None) -> None:
        self.words_per_minute = words_per_minute
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
        wav = espeak_wav(text, lang.espeak_voice, self.words_per_minute)
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


def speech_engines() -> SpeechEngines:
    """The gTTS languages, and the espeak-ng voices where espeak-ng is installed, for checking settings.yaml."""
    from gtts.lang import tts_langs  # here, so that serving calls never loads gTTS

    try:
        espeak: frozenset[str] | None = espeak_voice_names(run_espeak(["--voices"]).decode("utf-8", "replace"))
    except SynthesisError:  # not installed, or broken: its voices are not checked
        espeak = None
    return SpeechEngines(frozenset(tts_langs()), espeak)


def run_espeak(arguments: list[str], text: str = "") -> bytes:
    """espeak-ng's output for ``arguments``, with ``text`` on stdin: the one way espeak-ng is run.

    The text goes through stdin, so a prompt starting with "-" cannot be read as an option.

    Raises:
        SynthesisError: espeak-ng is not installed, failed, or said nothing.
    """
    if shutil.which("espeak-ng") is None:
        raise SynthesisError("not installed: espeak-ng (see scripts/install-system-deps)", retryable=False)
    return _run(["espeak-ng", *arguments], text.encode())


def espeak_wav(text: str, voice: str, words_per_minute: int = ESPEAK_WORDS_PER_MINUTE) -> bytes:
    """WAV bytes of ``text`` in espeak-ng's ``voice``."""
    return run_espeak(["-v", voice, "-s", str(words_per_minute), "-b", "1", "--stdout"], text)
