"""Reading one YAML document with every error collected: file:line:column, the path in the document, a fix."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ivr.errors import ConfigError
from ivr.model import (
    PHONE_KEYS,
)
from ivr.yamlio import Mark, YMap, YNode, YScalar, YSeq, format_key, read_yaml

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
NODE_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
# [0-9] and not \d: only ASCII digits; at most 6 before the dot, far more than any setting needs.
PLAIN_INTEGER = re.compile(r"[0-9]{1,6}")
PLAIN_NUMBER = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")
NUMBER_FIX = "write it with the digits 0-9 only (and one dot for a fraction, e.g. 2.5): no _, exponent, sign or other script"


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if choices:
        return "expected one of: " + ", ".join(sorted(choices))
    return ""


def boolean(doc: Document, node: YNode) -> bool | None:
    """``true`` or ``false``, as YAML 1.2 writes them; anything else is an error."""
    value = doc.text(node, "true or false")
    if value in ("true", "false"):
        return value == "true"
    if value is not None:
        doc.error(node.mark, f"{value!r} is not true or false", "write true or false")
    return None


@dataclass
class Document:
    """Error collection with a breadcrumb path, for one file."""

    file: str
    errors: list[ConfigError]
    path: list[str] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)

    @contextmanager
    def at(self, key: str | int) -> Iterator[None]:
        self.path.append(f"[{key}]" if isinstance(key, int) else format_key(key))
        try:
            yield
        finally:
            self.path.pop()

    def where(self) -> str:
        return ".".join(self.path).replace(".[", "[")

    def error(self, mark: Mark, message: str, hint: str = "") -> None:
        self.errors.append(ConfigError(mark, self.where(), message, hint))

    # --- shapes -------------------------------------------------------------------

    def mapping(self, node: YNode | None, what: str) -> YMap | None:
        if isinstance(node, YMap):
            return node
        if node is not None:
            self.error(node.mark, f"expected {what} (a mapping of keys to values)", "indent the keys under this one")
        return None

    def fields(self, node: YMap, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, YNode]:
        known = required + optional
        found: dict[str, YNode] = {}
        for key, value in node.items:
            if key.text in known:
                found[key.text] = value
            else:
                with self.at(key.text):
                    self.error(key.mark, f"unknown key {key.text!r}", did_you_mean(key.text, known))
        for name in required:
            if name not in found:
                self.error(node.mark, f"missing required key {name!r}", f"add '{name}:' here")
        return found

    def text(self, node: YNode | None, what: str = "text") -> str | None:
        if isinstance(node, YScalar):
            if node.implicit_type == "null" or node.text == "":
                self.error(node.mark, f"expected {what}, found nothing", "write a value after the colon")
                return None
            return node.text
        if node is not None:
            self.error(node.mark, f"expected {what}, found a {'mapping' if isinstance(node, YMap) else 'list'}")
        return None

    # Python's int() and float() read "1_00" as 100, "١٠" and "１０" as 10, "1e1" and " +10 " too, and a
    # 5,000-digit int() raises: a number in our files is plain ASCII digits, short, and checked here first.
    def integer(self, node: YNode | None, key: str, low: int, high: int, meaning: str = "") -> int | None:
        """The whole number under ``key`` (``node``), from ``low`` to ``high``."""
        with self.at(key):
            raw = self.text(node, "a whole number")
            if raw is None or node is None:
                return None
            if not PLAIN_INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
                what = f" ({meaning})" if meaning else ""
                self.error(node.mark, f"expected a whole number from {low} to {high}{what}, got {raw!r}", NUMBER_FIX)
                return None
            return int(raw)

    def number(self, node: YNode | None, key: str, low: float, high: float, meaning: str = "") -> float | None:
        """The number under ``key`` (``node``), from ``low`` to ``high``."""
        with self.at(key):
            raw = self.text(node, "a number")
            if raw is None or node is None:
                return None
            if not PLAIN_NUMBER.fullmatch(raw) or not low <= float(raw) <= high:
                what = f" ({meaning})" if meaning else ""
                self.error(node.mark, f"expected a number from {low:g} to {high:g}{what}, got {raw!r}", NUMBER_FIX)
                return None
            return float(raw)

    def sequence(self, node: YNode | None, what: str) -> tuple[YNode, ...]:
        if isinstance(node, YSeq):
            return node.items
        if node is not None:
            self.error(node.mark, f"expected {what} (a list)", "write it as [a, b] or as lines starting with '- '")
        return ()

    def phone_key(self, key: YScalar) -> str | None:
        if key.text in PHONE_KEYS:
            return key.text
        if key.implicit_type and not key.quoted:
            self.error(
                key.mark,
                f"menu key {key.text} is not a phone key: YAML 1.1 reads it unquoted as {key.implicit_type}",
                'quote it, and use a single key: "1" … "9", "0", "*" or "#"',
            )
        else:
            self.error(key.mark, f"menu key {key.text!r} is not a phone key", 'use one key: "0"-"9", "*" or "#"')
        return None


def load_document(path: Path, errors: list[ConfigError]) -> tuple[Document, YMap | None]:
    doc = Document(display(path), errors)
    root, problems = read_yaml(path, doc.file)
    for p in problems:
        errors.append(ConfigError(p.mark, p.path, p.message, p.hint))
    return doc, doc.mapping(root, "a document") if root is not None else None


@dataclass(frozen=True, slots=True)
class Number:
    """One number of a document, declared once: its key, range, default (None: required) and meaning."""

    key: str
    low: float
    high: float
    default: float | None
    meaning: str
    whole: bool = False

    def read(self, doc: Document, fields: Mapping[str, YNode]) -> float | None:
        """The number under ``self.key`` in ``fields``, its default when absent; None after an error."""
        if self.key not in fields:
            if self.default is None:
                return None  # doc.fields() has reported a missing required key
            return self.default
        if self.whole:
            value = doc.integer(fields[self.key], self.key, int(self.low), int(self.high), self.meaning)
            return None if value is None else float(value)
        return doc.number(fields[self.key], self.key, self.low, self.high, self.meaning)

    def whole_number(self, doc: Document, fields: Mapping[str, YNode]) -> int | None:
        value = self.read(doc, fields)
        return None if value is None else int(value)
