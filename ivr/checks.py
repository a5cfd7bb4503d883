"""Whole-graph checks of a parsed flow, run at load time before any call is served."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ivr.errors import ConfigError
from ivr.model import Flow, LanguageNode, MenuNode, MessageNode, Node, TransferNode
from ivr.yamlio import Mark, format_key


def _targets(node: Node) -> dict[str, str]:
    """Every node id this node can lead to, keyed by the document path that names it."""
    base = f"nodes.{node.id}"
    if isinstance(node, MenuNode):
        out = {f"{base}.options.{format_key(k)}": t for k, t in node.options.items()}
        out[f"{base}.after_retries"] = node.after_retries
        return out
    if isinstance(node, LanguageNode):
        return {f"{base}.next": node.next, f"{base}.after_retries": node.after_retries, f"{base}.talk_now": node.talk_now}
    if isinstance(node, MessageNode):
        return {f"{base}.next": node.next}
    return {}


def _silence_next(node: Node) -> str | None:
    """Where a caller who presses nothing ends up after this node (None: the call is handled)."""
    if isinstance(node, (MenuNode, LanguageNode)):
        return node.after_retries
    if isinstance(node, MessageNode):
        return node.next
    return None


def check_flow(flow: Flow, node_marks: Mapping[str, Mark], marks: Mapping[str, Mark], top: Mark) -> Iterator[ConfigError]:
    """Yield every graph problem: unknown targets, unreachable nodes, silent loops."""
    ids = list(flow.nodes)

    def mark_of(path: str) -> Mark:
        return marks.get(path) or top

    def unknown(path: str, target: str) -> ConfigError:
        close = difflib.get_close_matches(target, ids, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"add a node named {target!r} under 'nodes:'"
        return ConfigError(mark_of(path), path, f"unknown node {target!r}", hint)

    broken = False
    for name, kind in (("start", None), ("main_menu", MenuNode), ("talk_now", TransferNode)):
        target = getattr(flow, name)
        if target not in flow.nodes:
            broken = True
            yield unknown(name, target)
        elif kind is not None and not isinstance(flow.nodes[target], kind):
            broken = True
            yield ConfigError(
                mark_of(name),
                name,
                f"{name} must name a {kind.__name__.removesuffix('Node').lower()} node, {target!r} is not one",
            )
    for node in flow.nodes.values():
        for path, target in _targets(node).items():
            if target not in flow.nodes:
                broken = True
                yield unknown(path, target)
    if broken:
        return

    # Reachability: the global keys lead to the main menu and the listening line from anywhere.
    seen = {flow.start, flow.main_menu, flow.talk_now}
    todo = list(seen)
    while todo:
        for target in _targets(flow.nodes[todo.pop()]).values():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for node_id in ids:
        if node_id not in seen:
            yield ConfigError(
                node_marks.get(node_id, top),
                f"nodes.{node_id}",
                f"node {node_id!r} cannot be reached from {flow.start!r}",
                "lead to it from a menu option or a 'next:', or remove it",
            )

    # A silent caller must reach a transfer or a goodbye, never loop for ever.
    for node_id in ids:
        walk = [node_id]
        current: str | None = _silence_next(flow.nodes[node_id])
        while current is not None and current not in walk:
            walk.append(current)
            current = _silence_next(flow.nodes[current])
        if current is not None:
            if node_id == min(walk[walk.index(current) :]):  # report each loop once
                loop = " -> ".join(walk[walk.index(current) :] + [current])
                yield ConfigError(
                    node_marks.get(node_id, top),
                    f"nodes.{node_id}",
                    f"a caller who presses nothing goes round in circles: {loop}",
                    "let one of these menus' after_retries (or a message's next) lead to a transfer or goodbye",
                )


# --- numbers typed by hand ------------------------------------------------------------------------

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
        elif kind == "other" and (raw.isspace() or raw in SEPARATORS or unicodedata.category(raw) == "Cf"):
            kind = "sep"  # Cf: zero-width spaces and joiners
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
    return DIGIT_WORDS.get(token.text) if token.kind == "word" else None


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


def typed_numbers(pieces: list[tuple[str, bool]], helpline_numbers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Numbers written by hand in one prompt text, as (message, hint) pairs.

    ``pieces`` is the expanded text in order, each piece flagged True when a placeholder made
    it ({number:line} is said "1 0 6": that run is the number itself). A run of two or more
    digits or digit words joined only by separators is refused unless all of it comes from one
    placeholder, and so is any number equal to a helpline's (``helpline_numbers``: its digits
    to its id); a year or a whole percentage standing alone is accepted.
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

    def close() -> None:
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
        run.clear()
        if len(sources) == 1 and from_placeholder[0]:
            return  # a placeholder's own words, e.g. {number:line}
        line = helpline_numbers.get(digits)
        if len(digits) < 2 and line is None:
            return  # one key or one word: "press 1", "één sessie"
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
