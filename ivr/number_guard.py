"""Numbers written by hand in a text a caller hears (prompts and announcements): digits, digit words, numbers in words.

Every number a caller hears comes from config/helplines.yaml; these checks find the ones an author typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ivr.model import Helpline
from ivr.spelled import BOUNDARY, spelled_numbers
from ivr.spelled import LANGUAGES as SPELLED_LANGUAGES

# Digit words (NFKC, casefolded) of every offered language, checked in every language's text: a
# number spelled out digit by digit ("één nul zes", "un zéro sept") is a number typed by hand too.
# German "ein", "eine" are left out ("ein, zwei Dinge" is not a number); the other words that are
# also articles do not count beside a single digit ("druk 2, een keer"), nor when they start a
# sentence ("druk op 2. Een korte oefening").
ARTICLES = frozenset(("een", "un", "une", "one"))
DIGIT_WORDS: dict[str, str] = {
    **dict.fromkeys(("zero", "nul", "null", "zéro"), "0"),
    **dict.fromkeys(("one", "een", "één", "eén", "un", "une", "eins"), "1"),
    **dict.fromkeys(("two", "twee", "deux", "zwei", "zwo"), "2"),
    **dict.fromkeys(("three", "drie", "trois", "drei"), "3"),
    **dict.fromkeys(("four", "vier", "quatre"), "4"),
    **dict.fromkeys(("five", "vijf", "cinq", "fünf"), "5"),
    **dict.fromkeys(("six", "zes", "sechs"), "6"),
    **dict.fromkeys(("seven", "zeven", "sept", "sieben"), "7"),
    **dict.fromkeys(("eight", "acht", "huit"), "8"),
    **dict.fromkeys(("nine", "negen", "neuf", "neun"), "9"),
}
# "o" and "oh" say zero ("one oh six", "1 o 5"), but only in a run with another number that is no article:
# "Oh, one more thing" is no number.
ZERO_LETTERS = frozenset(("o", "oh"))
# What may join the digits of one number: spaces, commas, dots, hyphens and slashes, in their
# Unicode variants too (NFKC has already made full-width ones ASCII and "…" three dots).
SEPARATORS = frozenset(",.-/\u060c\u3001\u201a\u00b7\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2044\u2215")
PERCENT_WORDS = frozenset(("%", "percent", "procent", "prozent"))
PERCENT_AFTER = {"pour": "cent", "per": "cent"}
NUMBER_HINT = (
    "every number we speak comes from config/helplines.yaml: write {number:ID} (or {number:line}); "
    'a key is one digit ("press 1 or 2"); a year (2024) or a percentage (13%) may stand alone; '
    "count one number per prompt item, with a {pause: …} between"
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "digits", "word", "sep" or "other"
    start: int
    end: int
    piece: int  # which piece of the text it comes from
    text: str  # casefolded
    capital: bool  # written with a capital letter first


_TOKEN = re.compile(r"(\d+)|([^\W\d_]+)|(.)", re.DOTALL)  # digits, a word, or one other character


def _tokens(text: str, pieces: list[int]) -> list[_Token]:
    tokens: list[_Token] = []
    for m in _TOKEN.finditer(text):
        start, end, kind = m.start(), m.end(), ("digits", "word", "other")[(m.lastindex or 3) - 1]
        raw = m.group()
        if kind == "word" and raw.isdigit():  # digits \d does not know (Ethiopic, Kharosthi…): str.isdigit does
            kind = "digits"
        elif kind == "other" and raw.isdigit():
            kind = "digits"
        elif kind == "other" and (raw.isspace() or raw in SEPARATORS or unicodedata.category(raw) in ("Cf", "Mn", "Me")):
            kind = "sep"  # Cf: zero-width spaces and joiners; Mn, Me: what makes 1 a keycap emoji (U+FE0F, U+20E3)
        # A token never spans two pieces: a placeholder's digits stay apart from the author's.
        first = start
        if pieces[start] != pieces[end - 1]:  # ``pieces`` never decreases: only then is there a cut
            for cut in range(start + 1, end):
                if pieces[cut] != pieces[first]:
                    tokens.append(_Token(kind, first, cut, pieces[first], text[first:cut].casefold(), text[first].isupper()))
                    first = cut
        tokens.append(_Token(kind, first, end, pieces[first], text[first:end].casefold(), text[first].isupper()))
    return tokens


def _value(token: _Token) -> str | None:
    """The ASCII digits a token stands for, or None when it is not a number."""
    if token.kind == "digits":
        return "".join(str(unicodedata.digit(ch, "?")) for ch in token.text)
    if token.kind != "word":
        return None
    return "0" if token.text in ZERO_LETTERS else DIGIT_WORDS.get(token.text)


def _stands_alone(tokens: list[_Token], index: int) -> bool:
    """A year (1900-2099) or a whole percentage (13%, 13 %, 13 procent, 13 pour cent), in ASCII digits."""
    token = tokens[index]
    if token.kind != "digits" or not token.text.isascii():
        return False
    if len(token.text) == 4:
        return 1900 <= int(token.text) <= 2099
    rest = tokens[index + 1 : index + 5]
    if rest and rest[0].text.isspace():
        rest = rest[1:]
    if len(token.text) > 3 or not rest:
        return False
    if rest[0].text in PERCENT_WORDS:
        return True
    return len(rest) >= 3 and rest[1].text.isspace() and PERCENT_AFTER.get(rest[0].text) == rest[2].text


def _after_full_stop(tokens: list[_Token], index: int) -> bool:
    before = [t.text for t in tokens[max(0, index - 3) : index] if not t.text.isspace()]
    return bool(before) and before[-1] == "."


def line_numbers(helplines: Iterable[Helpline]) -> dict[str, str]:
    """Each line's number as its digits ("106"), to the line's id: what a text must not say by hand."""
    return {re.sub(r"[^0-9]", "", line.number): line.id for line in helplines}


def typed_numbers(
    pieces: list[tuple[str, bool]], helpline_numbers: Mapping[str, str], lang: str | None = None
) -> list[tuple[str, str]]:
    """Numbers written by hand in one prompt text, as (message, hint) pairs.

    ``pieces`` is the expanded text in order, each piece flagged True when a placeholder made
    it ({number:line} is said "1 0 6": that run is the number itself). A run of two or more
    digits or digit words joined only by separators is refused unless all of it comes from one
    placeholder, and so is any number equal to a helpline's (``helpline_numbers``: its digits
    to its id); a year or a whole percentage standing alone is accepted. Numbers spelled in
    ``lang`` (every language we read when None) are checked too: see :func:`_spelled`.
    """
    # NFKC (full-width digits and slashes become ASCII, "é" one letter) a character and its
    # combining marks at a time, remembering where each came from, to quote what the author wrote.
    original, text = "", ""
    owner: list[int] = []
    starts: list[int] = []  # where each character of ``text`` starts and ends in ``original``
    ends: list[int] = []
    for index, (piece, _) in enumerate(pieces):
        base = len(original)
        if unicodedata.is_normalized("NFKC", piece):  # most text: one character each
            text += piece
            starts += range(base, base + len(piece))
            ends += range(base + 1, base + len(piece) + 1)
        else:
            i = 0
            while i < len(piece):
                j = i + 1
                while j < len(piece) and unicodedata.combining(piece[j]):
                    j += 1
                normal = unicodedata.normalize("NFKC", piece[i:j])
                text += normal
                starts += [base + i] * len(normal)
                ends += [base + j] * len(normal)
                i = j
        owner += [index] * (len(text) - len(owner))
        original += piece
    tokens = _tokens(text, owner)
    problems: list[tuple[str, str]] = []
    run: list[_Token] = []
    reported: list[tuple[int, int]] = []  # where the runs refused here are, so the spelled check does not repeat them

    def close() -> None:
        if any(t.text in ZERO_LETTERS for t in run) and all(t.text in ARTICLES | ZERO_LETTERS for t in run):
            run[:] = [t for t in run if t.text not in ZERO_LETTERS]  # "Oh, one more thing": no zero there
        if not run:
            return
        # "een", "un", "une", "one" beside one digit is an article ("druk 2, een keer"); in any longer run, a number
        # ("een nul zes", "one one two", "een 0 6").
        kinds = sorted("article" if t.text in ARTICLES else t.kind for t in run)
        article = kinds == ["article", "digits"] and len(next(t for t in run if t.kind == "digits").text) == 1
        digits = "".join(_value(t) or "" for t in run if not (article and t.text in ARTICLES))
        shown = original[starts[run[0].start] : ends[run[-1].end - 1]]
        sources = {t.piece for t in run}
        from_placeholder = [pieces[s][1] for s in sources]
        span = (run[0].start, run[-1].end)
        run.clear()
        if len(sources) == 1 and from_placeholder[0]:
            return  # a placeholder's own words, e.g. {number:line}
        line = helpline_numbers.get(digits)
        if len(digits) < 2 and line is None:
            return  # one key or one word: "press 1", "één sessie"
        reported.append(span)
        if any(from_placeholder):
            problems.append(
                (
                    f"digits next to a placeholder: a caller hears {shown!r} as one number",
                    "put a word between a placeholder and any digit or digit word",
                )
            )
            return
        if line is None:
            problems.append((f"the prompt says the number {shown!r} literally", NUMBER_HINT))
        else:
            problems.append(
                (f"the prompt says the number {shown!r} literally (the number of {line})", f"write {{number:{line}}}")
            )

    for index, token in enumerate(tokens):
        if token.kind == "sep":
            continue
        typed = not pieces[token.piece][1]
        if typed and _stands_alone(tokens, index):
            close()  # a year or a percentage ends a run, and is checked on its own
            value = _value(token) or ""
            if value in helpline_numbers:
                line = helpline_numbers[value]
                shown = original[starts[token.start] : ends[token.end - 1]]
                problems.append((f"the prompt says {shown!r}, the number of {line}, literally", f"write {{number:{line}}}"))
        elif token.text in ARTICLES and token.capital and _after_full_stop(tokens, index):
            close()  # "… druk op 2. Een korte oefening": the article that starts a sentence
        elif _value(token) is not None:
            run.append(token)
        else:
            close()
    close()
    for message, hint in _spelled(text, tokens, [made for _, made in pieces], lang, helpline_numbers, reported):
        if (message, hint) not in problems:
            problems.append((message, hint))
    for piece, made in pieces:
        odd = sorted({ch for ch in piece if ch.isdigit() and not ch.isascii()})
        if odd and not made and not problems:  # a key written "５" or "١" (a run of them is refused above)
            problems.append(
                (
                    f"the prompt writes digits as {' '.join(odd)!r} ({', '.join(unicodedata.name(c, '?') for c in odd)})",
                    "write keys as 0-9, and numbers with {number:ID}",
                )
            )
    return problems


# --- numbers spelled in words ---------------------------------------------------------------------

JOINING = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212")  # "tien-vijf" is two words, "vingt-et-un" three
SPELLED_HINT = (
    "every number we speak comes from config/helplines.yaml: write {number:ID} (or {number:line}); "
    'one number word alone is fine ("vier ogen", "cinq sens"), and a year or a percentage in digits (2024, 13%)'
)


@dataclass(frozen=True, slots=True)
class _Number:
    first: int  # index of its first and last token
    last: int
    value: float | None  # None: digits (their own check is typed_numbers' runs)

    @property
    def compound(self) -> bool:
        """A number in words that is no single digit word: "tien", "honderd vijf", "vingt et un"."""
        return self.value is not None and (self.value >= 10 or self.last > self.first)


def _spelled(
    text: str,
    tokens: list[_Token],
    made: list[bool],
    lang: str | None,
    helpline_numbers: Mapping[str, str],
    reported: list[tuple[int, int]],
) -> list[tuple[str, str]]:
    """Numbers spelled in words that a caller hears as a number to dial: any of 100 or more ("honderdvijf",
    "cent sept"), any equal to a line's number, and any run of two numbers one of which takes more than one
    digit word ("tien-vijf", "twaalf 3"). Runs of digits and digit words alone are ``typed_numbers``' own
    check (already ``reported``); a single number word below 100 stays allowed ("vier ogen", "vingt-quatre").
    """
    words: list[str] = []
    where: list[int] = []  # the token each word is
    for index, token in enumerate(tokens):
        if token.kind == "sep" and (token.text.isspace() or token.text in JOINING or not token.text.isprintable()):
            continue
        word = text[token.start : token.end].lower()
        previous = words[-1] if words else ""
        if token.kind == "digits" or made[token.piece] or (word == "cent" and previous in PERCENT_AFTER):
            word = BOUNDARY  # digits, a placeholder's words, and the "cent" of "pour cent" end any number here
        words.append(word)
        where.append(index)

    def joined(left: _Number, right: _Number) -> bool:
        return all(t.kind == "sep" and not made[t.piece] for t in tokens[left.last + 1 : right.first])

    problems: list[tuple[str, str]] = []
    for language in [lang] if lang else sorted(SPELLED_LANGUAGES):
        found = [_Number(where[n.first], where[n.last], n.value) for n in spelled_numbers(words, language)]
        found += [_Number(i, i, None) for i, t in enumerate(tokens) if t.kind == "digits" and not made[t.piece]]
        found.sort(key=lambda n: n.first)
        runs: list[list[_Number]] = []
        for number in found:
            if runs and joined(runs[-1][-1], number):
                runs[-1].append(number)
            else:
                runs.append([number])
        for run in runs:
            start, end = tokens[run[0].first].start, tokens[run[-1].last].end
            if any(a < end and start < b for a, b in reported):
                continue  # already refused as a run of digits or digit words
            shown = text[start:end]
            if len(run) > 1 and any(n.compound for n in run):
                problems.append(
                    (f"the prompt says the numbers {shown!r} one after the other: a caller hears one number", SPELLED_HINT)
                )
                continue
            for number in run:
                if number.value is None or not number.value.is_integer():
                    continue
                said = text[tokens[number.first].start : tokens[number.last].end]
                line = helpline_numbers.get(str(int(number.value)))
                after = next((t.text for t in tokens[number.last + 1 :] if not t.text.isspace()), "")
                if line is not None:
                    problems.append((f"the prompt spells {said!r}, the number of {line}", f"write {{number:{line}}}"))
                elif number.value >= 100 and after not in PERCENT_WORDS | PERCENT_AFTER.keys():
                    problems.append((f"the prompt spells the number {said!r} ({int(number.value)})", SPELLED_HINT))
    return problems
