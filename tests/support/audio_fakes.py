"""A fake TTS engine for the audio tests: real (silent) MP3 frames, recorded calls, chosen failures."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ivr.audio import SynthesisError
from ivr.model import LanguageSettings

# One MPEG-2 Layer III frame, 24 kHz mono 32 kbit/s (what gTTS returns): 96 bytes, 24 ms, silent.
SILENT_FRAME = bytes([0xFF, 0xF3, 0x44, 0xC4]) + bytes(92)
FRAME_SECONDS = 0.024


def silent_mp3(frames: int) -> bytes:
    return SILENT_FRAME * frames


@dataclass
class FakeEngine:
    """Says ``text`` as one frame per character (so durations differ), and remembers every call."""

    name: str = "fake"
    fail: dict[str, SynthesisError] = field(default_factory=dict)  # text -> error raised for it
    delay: float = 0.0
    calls: list[tuple[str, str]] = field(default_factory=list)  # (lang, text)
    in_flight: int = 0
    most_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sound_id(self, lang: LanguageSettings) -> str:
        return f"{self.name} lang={lang.code}"

    def synthesize(self, text: str, lang: LanguageSettings) -> bytes:
        with self._lock:
            self.calls.append((lang.code, text))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if text in self.fail:
                raise self.fail[text]
            return silent_mp3(len(text))
        finally:
            with self._lock:
                self.in_flight -= 1
