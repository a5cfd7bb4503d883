"""Playing what a simulated caller hears, through a local audio player (``ivr simulate --play``).

Built prompts are fetched from the app's own ``/audio/`` route; ``<Say>`` text is spoken with
espeak-ng, run the one way :mod:`ivr.audio.engines` runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ivr.audio import SynthesisError, espeak_wav
from ivr.simulate.caller import InProcessCaller
from ivr.simulate.reading import Said

PLAYERS = (
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "error")),
    ("play", ("-q",)),
    ("mpv", ("--no-video", "--really-quiet")),
    ("aplay", ("-q",)),
)


class Player:
    """Plays what the caller hears through a local audio player; says why once when it cannot."""

    def __init__(self, call: InProcessCaller, notice: Callable[[str], None]) -> None:
        self.call = call
        self.notice = notice
        self.command = next(((path, args) for name, args in PLAYERS if (path := shutil.which(name))), None)
        self.enabled = True
        if self.command is None:
            self._stop("--play: no audio player found (install ffmpeg or sox); showing text only")

    def _stop(self, why: str) -> None:
        if self.enabled:
            self.notice(why)
        self.enabled = False

    def play(self, heard: Said) -> None:
        if not self.enabled or self.command is None or heard.verb == "pause":
            return
        with tempfile.TemporaryDirectory(prefix="ivr-play-") as folder:
            file = Path(folder) / ("prompt.mp3" if heard.verb == "play" else "prompt.wav")
            if not self._fetch(heard, file):
                return
            player, args = self.command
            done = subprocess.run([player, *args, str(file)], capture_output=True, timeout=120, check=False)
            if done.returncode != 0:
                said = done.stderr.decode(errors="replace").strip()[:200]
                self._stop(f"--play: {Path(player).name} could not play audio: {said}")

    def _fetch(self, heard: Said, file: Path) -> bool:
        if heard.verb == "play":
            parts = urlsplit(heard.url)
            if parts.netloc and not heard.url.startswith((self.call.base_url, self.call.signed_base)):
                self._stop("--play: prompts are served from another host; showing text only")
                return False
            response = self.call.client.get(parts.path, base_url=self.call.base_url)
            if response.status_code != 200:
                self._stop(f"--play: {parts.path} answered {response.status_code}")
                return False
            file.write_bytes(response.get_data())
            return True
        settings = self.call.service.catalog.settings.languages.get(heard.lang)
        try:
            file.write_bytes(espeak_wav(heard.text, settings.espeak_voice if settings else "en"))
        except SynthesisError as exc:
            self._stop(f"--play: <Say> text needs espeak-ng to be heard: {exc.reason}")
            return False
        return True
