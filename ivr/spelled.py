"""Numbers spelled in words ("honderdvijf", "cent sept", "one hundred and six"): the only module that imports text2num.

text2num reads Dutch, French, German and English compounds, including the ones written as one word, which a
list of words cannot cover. It reads the words we give it, one at a time, so that :mod:`ivr.checks` keeps its
own tokens (and their positions in the author's text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from text_to_num import find_numbers

LANGUAGES = frozenset(("nl", "fr", "de", "en"))  # those of text2num's languages that a flow may offer
BOUNDARY = "|"  # fed in place of what is not a word (digits, a placeholder's words): it ends any number


class _Word:
    """A word as text2num's ``Token`` protocol reads it: nothing apart from its text."""

    def __init__(self, word: str) -> None:
        self.word = word

    def text(self) -> str:
        return self.word

    def nt_separated(self, previous: _Word) -> bool:
        return False

    def not_a_number_part(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Spelled:
    """One number in words: the indices of its first and last word in the sequence given, and its value."""

    first: int
    last: int
    value: float


def spelled_numbers(words: Sequence[str], lang: str) -> list[Spelled]:
    """The cardinal numbers that ``words`` spell in ``lang``, each however many words it takes ("vingt et un": one).

    Ordinals ("eerste", "deuxième") are left out: they rank, a caller does not dial them. Empty for a language
    text2num does not read.
    """
    if lang not in LANGUAGES:
        return []
    # threshold 0: every number counts, even one word alone ("vier"); the caller decides what is allowed.
    # text2num takes UTF-8 only: a lone surrogate (refused anyway, see ivr.characters) would make it panic.
    found = find_numbers([_Word(word if _utf8(word) else BOUNDARY) for word in words], lang, 0.0)
    return [Spelled(o.start, o.end - 1, float(o.value)) for o in found if not o.is_ordinal]


def _utf8(word: str) -> bool:
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
