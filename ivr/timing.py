"""How long what a caller hears lasts, and what it says: the measures the caller checker adds up.

Pure: no Flask, no twilio. A prompt lasts as long as its audio when that is known
(``duration_of``, e.g. from the audio manifest), otherwise its words divided by the
language's ``words_per_second`` (a digit said on its own is a word); a pause lasts its
seconds. Network and TTS start-up delays are not counted. :mod:`ivr.checker` walks every
call with these measures and holds it to the budgets of ``config/settings.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ivr.model import Pause, PromptPart, Speech

DurationOf = Callable[[Speech], float | None]


# --- the length of what is said ---------------------------------------------------------


def word_count(text: str) -> int:
    """Words as a voice says them: "1 0 6" is three words, punctuation is none."""
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def says_number(text: str, spoken_number: str) -> bool:
    """Whether ``text`` says the number ``spoken_number`` ("1 0 6"), not as part of a longer one."""
    return re.search(rf"(?<![0-9])(?<![0-9] ){re.escape(spoken_number)}(?! [0-9])(?![0-9])", text) is not None


def says_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


@dataclass(frozen=True, slots=True)
class SpeechClock:
    """Seconds of speech and pauses for one catalog's languages."""

    words_per_second: Mapping[str, float]
    duration_of: DurationOf | None = None

    def seconds(self, part: PromptPart) -> float:
        if isinstance(part, Pause):
            return float(part.seconds)
        if self.duration_of is not None:
            real = self.duration_of(part)
            if real is not None:
                return real
        return word_count(part.text) / self.words_per_second[part.lang]

    def total(self, parts: Iterable[PromptPart]) -> float:
        return sum(self.seconds(p) for p in parts)
