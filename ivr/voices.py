"""Which voices exist: Twilio's <Say> voices (a table shipped as data), gTTS languages and espeak-ng voices.

A misspelt voice or language is not an error Twilio or Google reports to us: Twilio answers the
call with a voice it chooses, or fails the <Say>, and the caller hears the wrong thing or nothing.
So every name is checked at load against what exists, with a did-you-mean.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

TABLE = "data/twilio_voices.json"


@dataclass(frozen=True, slots=True)
class SpeechEngines:
    """What the speech engines on this machine offer; None where an engine was not asked or is not installed."""

    gtts_languages: frozenset[str] | None = None
    espeak_voices: frozenset[str] | None = None


@functools.cache
def twilio_voices() -> Mapping[str, tuple[str, ...]]:
    """say_language -> the Twilio voices that go with it, from the shipped table."""
    raw = json.loads(resources.files("ivr").joinpath(TABLE).read_text(encoding="utf-8"))
    return {language: tuple(voices) for language, voices in raw["voices"].items()}


def table_checked() -> str:
    """When the shipped voice table was last checked against Twilio's."""
    return str(json.loads(resources.files("ivr").joinpath(TABLE).read_text(encoding="utf-8"))["checked"])


def espeak_voice_names(listing: str) -> frozenset[str]:
    """Every name ``espeak-ng -v`` accepts, from the output of ``espeak-ng --voices``."""
    names: set[str] = set()
    for row in listing.splitlines()[1:]:
        cells = row.split()
        if len(cells) < 5:
            continue
        language, voice_file = cells[1], cells[4]
        names.update({language, voice_file, voice_file.rsplit("/", 1)[-1]})
        # "Other Languages" such as "(en 2)(en-gb 3)": the language codes this voice also answers to
        other = " ".join(cells[5:])
        names.update(part.split()[0] for part in other.replace(")", "").split("(") if part.strip())
    return frozenset(names)
