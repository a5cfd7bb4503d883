"""Reading one YAML document with every error collected: file:line:column, the path in the document, a fix."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

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
    failed: bool = False  # an error was found in this document

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
        self.report(ConfigError(mark, self.where(), message, hint))

    def report(self, error: ConfigError) -> None:
        """An error found by a check of the whole document, which says its own path."""
        self.errors.append(error)
        self.failed = True

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
    def integer(self, node: YNode, low: int, high: int, meaning: str = "") -> int | None:
        """The whole number ``node``, from ``low`` to ``high``."""
        raw = self.text(node, "a whole number")
        if raw is None:
            return None
        if not PLAIN_INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
            what = f" ({meaning})" if meaning else ""
            self.error(node.mark, f"expected a whole number from {low} to {high}{what}, got {raw!r}", NUMBER_FIX)
            return None
        return int(raw)

    def number(self, node: YNode, low: float, high: float, meaning: str = "") -> float | None:
        """The number ``node``, from ``low`` to ``high``."""
        raw = self.text(node, "a number")
        if raw is None:
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
        doc.failed = True
    return doc, doc.mapping(root, "a document") if root is not None else None


# --- fields declared as data (cfgv's Required/Optional): one line per key of a mapping ------------------------

R = TypeVar("R")


class Required:
    """The default of a key that must be written (its absence is reported by :meth:`Document.fields`)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = Required()


@dataclass(frozen=True, slots=True)
class Field(Generic[R]):
    """One key of a mapping, declared once: its name, how its value is read, its default and its meaning.

    A default of None means that the code decides what an absent key means (e.g. from another key).
    """

    key: str
    reader: Callable[[Document, YNode], R | None]  # reads a present value; None once its error is reported
    default: R | Required | None = None
    meaning: str = ""

    @property
    def required(self) -> bool:
        return isinstance(self.default, Required)

    @property
    def absent(self) -> R | None:
        """The value when the key is not written (None: required, or decided by the code)."""
        return None if isinstance(self.default, Required) else self.default

    def read(self, doc: Document, fields: Mapping[str, YNode]) -> R | None:
        """The value under ``self.key`` in ``fields`` (those of :meth:`Document.fields`), its default when absent."""
        if self.key not in fields:
            return self.absent
        with doc.at(self.key):
            return self.reader(doc, fields[self.key])


def keys(table: Iterable[Field[Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The required and the optional keys of a table, for :meth:`Document.fields`."""
    table = tuple(table)
    return tuple(f.key for f in table if f.required), tuple(f.key for f in table if not f.required)


def text_of(what: str = "text") -> Callable[[Document, YNode], str | None]:
    return lambda doc, node: doc.text(node, what)


def choice(options: tuple[str, ...], what: str, explain: str = "") -> Callable[[Document, YNode], str | None]:
    """One of ``options``; ``explain`` follows the suggestion in the fix."""

    def read(doc: Document, node: YNode) -> str | None:
        value = doc.text(node, what)
        if value is not None and value not in options:
            doc.error(
                node.mark, f"{doc.path[-1]} {value!r} is neither {' nor '.join(options)}", did_you_mean(value, options) + explain
            )
            return None
        return value

    return read


def whole(key: str, low: int, high: int, default: int | Required, meaning: str) -> Field[int]:
    """A whole number from ``low`` to ``high``."""
    return Field(key, lambda doc, node: doc.integer(node, low, high, meaning), default, meaning)


def number(key: str, low: float, high: float, default: float | Required, meaning: str) -> Field[float]:
    """A number from ``low`` to ``high``."""
    return Field(key, lambda doc, node: doc.number(node, low, high, meaning), default, meaning)


def node_of(doc: Document, value: YNode) -> YNode:
    """The node itself, for a key whose value the code reads (a list or a mapping checked against others)."""
    return value


@dataclass(frozen=True, slots=True)
class Values:
    """What a :class:`Section` read: each field's value (its default when absent) and where it was written."""

    node: YNode
    nodes: Mapping[str, YNode]
    values: Mapping[str, object]

    def __getitem__(self, field: Field[R]) -> R | None:
        return cast("R | None", self.values[field.key])

    def mark(self, field: Field[Any]) -> Mark:
        """Where the key's value is written, else the mapping that lacks it."""
        return (self.nodes.get(field.key) or self.node).mark


@dataclass(frozen=True, slots=True)
class Section:
    """A mapping declared as data (cfgv's ``Map``): its fields, and keys of earlier versions with their new names."""

    what: str
    fields: tuple[Field[Any], ...]
    renamed: Mapping[str, str] = field(default_factory=dict)
    one: str = "key"  # what one of its keys is, for the message about a renamed one

    def read(self, doc: Document, value: YNode) -> Values | None:
        """Every field of the mapping ``value``, unknown and missing keys reported; None when it is no mapping."""
        body = doc.mapping(value, self.what)
        if body is None:
            return None
        for old, new in self.renamed.items():
            found = body.get(old)
            if found is not None:
                with doc.at(old):
                    doc.error(found.mark, f"{self.one} {old!r} is now called {new!r}", f"rename it to {new}")
        required, optional = keys(self.fields)
        nodes = doc.fields(body, required, optional + tuple(self.renamed))
        return Values(body, nodes, {f.key: f.read(doc, nodes) for f in self.fields})

    def under(self, key: str, meaning: str) -> Field[Values]:
        """This section as the value of ``key`` in another (absent: its fields' defaults, see :meth:`absent`)."""
        return Field(key, self.read, None, meaning)

    def absent(self, where: YNode) -> Values:
        """The defaults, for a section that is not written (or not a mapping: an error was reported); ``where``
        is the mapping that lacks it."""
        return Values(where, {}, {f.key: f.absent for f in self.fields})
