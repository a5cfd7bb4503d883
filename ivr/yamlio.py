"""Strict YAML reading: the only module that imports PyYAML.

PyYAML follows YAML 1.1, where an unquoted ``on`` is ``True``, ``010`` is ``8`` and a
repeated key silently replaces the first. A phone menu cannot afford any of that, so
documents are *composed* (not constructed) and turned into a small tree in which every
scalar stays the exact text the author wrote, with its position. The loader decides
what each text means for each field and can name the file, line and column of anything
it rejects.

Anchors and aliases (``&name`` / ``*name``) are allowed, since a flow says some prompts
twice, but bounded: an alias repeats a whole subtree, so nine levels of nine aliases make
a 470-byte file hold hundreds of millions of values (a "billion laughs"). Events are
counted as the composer reads them, and a document that nests too deeply, expands too
far or refers to itself is refused at the event that crosses the line, with its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from ivr.characters import HINT as CHARACTER_HINT
from ivr.characters import describe, forbidden

# Far beyond any flow (the shipped one nests 7 deep and expands to about 16,000), far below
# what costs a worker noticeable time or memory, or Python's recursion limit.
MAX_DEPTH = 50
MAX_EXPANDED = 1_000_000  # values plus characters of text, with every alias expanded

# Tags PyYAML's YAML 1.1 resolver gives plain scalars that are not strings.
_SURPRISING_TAGS = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
}


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a value starts in its file (1-based line and column)."""

    file: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class YScalar:
    """A scalar exactly as written; ``quoted`` tells whether the author quoted it."""

    text: str
    quoted: bool
    mark: Mark
    implicit_type: str | None  # what YAML 1.1 would have made of it, e.g. "a boolean"


@dataclass(frozen=True, slots=True)
class YMap:
    """A mapping whose keys are scalars, in document order, without duplicates."""

    items: tuple[tuple[YScalar, YNode], ...]
    mark: Mark

    def get(self, key: str) -> YNode | None:
        for k, v in self.items:
            if k.text == key:
                return v
        return None

    def keys(self) -> list[str]:
        return [k.text for k, _ in self.items]


@dataclass(frozen=True, slots=True)
class YSeq:
    """A sequence of nodes."""

    items: tuple[YNode, ...]
    mark: Mark


YNode = YScalar | YMap | YSeq


@dataclass(frozen=True, slots=True)
class YamlProblem:
    """Something in the YAML itself is wrong (syntax, duplicate key, complex key)."""

    mark: Mark
    message: str
    hint: str
    path: str = ""


def format_key(key: str) -> str:
    """A key as it appears in a document path: bare when it is a word, quoted otherwise."""
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f'"{key}"'


def format_path(keys: list[str | int]) -> str:
    return ".".join(f"[{k}]" if isinstance(k, int) else format_key(k) for k in keys).replace(".[", "[")


def _mark(file: str, m: _Position | None) -> Mark:
    if m is None:
        return Mark(file, 1, 1)
    return Mark(file, m.line + 1, m.column + 1)


class _Position(Protocol):
    """A place in the text, as PyYAML's events give it (its pure-Python and libyaml marks alike)."""

    line: int  # 0-based
    column: int


class _Refused(Exception):
    """The document is too deep, too big once its aliases are expanded, or refers to itself."""

    def __init__(self, mark: _Position | None, message: str, hint: str) -> None:
        super().__init__(message)
        self.mark, self.message, self.hint = mark, message, hint


class _Budget:
    """What a document costs once composed: nesting depth, and values and characters with aliases expanded.

    Fed every event in document order. Each open collection keeps its cost so far; a
    closed anchored one records its cost, which each alias to it adds again.
    """

    def __init__(self) -> None:
        self.open: list[tuple[str | None, _Position | None]] = []  # anchor and start of each open collection
        self.costs: list[int] = []  # cost so far of each open collection
        self.anchored: dict[str, int] = {}  # cost of each anchored value
        self.total = 0

    def see(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self.open) >= MAX_DEPTH:
                raise _Refused(
                    event.start_mark,
                    f"nested more than {MAX_DEPTH} levels deep",
                    "a flow needs a few levels: check the brackets and indentation here",
                )
            self.open.append((event.anchor, event.start_mark))
            self.costs.append(1)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, _ = self.open.pop()
            self._add(self.costs.pop(), anchor, event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            self._add(1 + len(event.value), event.anchor, event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            for anchor, start in self.open:
                if anchor == event.anchor:
                    line = start.line + 1 if start is not None else 1
                    raise _Refused(
                        event.start_mark,
                        f"alias *{anchor} is inside the value it names (&{anchor}, line {line}): it would repeat for ever",
                        f"an alias can only repeat a value that ends before it: write this value out instead of *{anchor}",
                    )
            # An unknown anchor costs nothing here: the composer reports it, with its position.
            self._add(self.anchored.get(event.anchor or "", 0), None, event.start_mark)

    def _add(self, cost: int, anchor: str | None, mark: _Position | None) -> None:
        if anchor is not None:
            self.anchored[anchor] = cost
        if self.costs:
            self.costs[-1] += cost
            cost = self.costs[-1]  # the open collections only grow: checking the innermost one is enough
        else:
            self.total += cost
            cost = self.total
        if cost > MAX_EXPANDED:
            raise _Refused(
                mark,
                f"with its aliases (*name) expanded, the document grows past {MAX_EXPANDED:,} values and characters here",
                "use an anchor for a prompt or a small mapping, not aliases of lists of aliases; write the values out",
            )


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with every event it reads counted by a :class:`_Budget`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.budget = _Budget()

    def get_event(self) -> yaml.Event:
        # The composer takes every event through here, a collection's start before its contents:
        # a refusal stops it before it descends any deeper or repeats any more.
        event: yaml.Event = super().get_event()  # type: ignore[no-untyped-call]
        self.budget.see(event)
        return event


def _convert(node: yaml.Node, file: str, problems: list[YamlProblem], path: list[str | int]) -> YNode:
    mark = _mark(file, node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        quoted = node.style in ("'", '"', "|", ">")
        implicit = None if quoted else _SURPRISING_TAGS.get(node.tag)
        # An escape in quotes ("\x01", "\ud800") writes what the file itself cannot hold: checked once here, for
        # every value and key, so that no flow or config text can make a TwiML document that is not well-formed.
        problem = forbidden(str(node.value))
        if problem is not None:
            problems.append(YamlProblem(mark, problem, CHARACTER_HINT, format_path(path)))
        return YScalar(str(node.value), quoted, mark, implicit)
    if isinstance(node, yaml.SequenceNode):
        return YSeq(tuple(_convert(n, file, problems, [*path, i]) for i, n in enumerate(node.value)), mark)
    assert isinstance(node, yaml.MappingNode)
    items: list[tuple[YScalar, YNode]] = []
    seen: dict[str, Mark] = {}
    for key_node, value_node in node.value:
        key = _convert(key_node, file, problems, path)
        if not isinstance(key, YScalar):
            problems.append(
                YamlProblem(key.mark, "a key must be plain text", "write the key as a single word", format_path(path))
            )
            continue
        if key.text == "<<":
            problems.append(YamlProblem(key.mark, "merge keys (<<) are not supported", "write the values out", format_path(path)))
            continue
        if key.text in seen:
            first = seen[key.text]
            problems.append(
                YamlProblem(
                    key.mark,
                    f"duplicate key {key.text!r} (first at line {first.line})",
                    "remove one of them: YAML would silently keep only the last",
                    format_path([*path, key.text]),
                )
            )
            continue
        seen[key.text] = key.mark
        items.append((key, _convert(value_node, file, problems, [*path, key.text])))
    return YMap(tuple(items), mark)


def read_yaml(path: Path, display_name: str | None = None) -> tuple[YNode | None, list[YamlProblem]]:
    """Read one YAML document into a located tree, collecting every problem found."""
    file = display_name or str(path)
    problems: list[YamlProblem] = []
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        return None, [YamlProblem(Mark(file, 1, 1), f"cannot read the file: {exc}", "check it exists and is UTF-8")]
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        return None, [YamlProblem(Mark(file, line, column), f"not UTF-8: {exc.reason} at byte {exc.start}", "save it as UTF-8")]
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except _Refused as exc:
        return None, [YamlProblem(_mark(file, exc.mark), exc.message, exc.hint)]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow in a file, written as it is
        position = exc.position
        line, column = text.count("\n", 0, position) + 1, position - text.rfind("\n", 0, position)
        what = describe(text[position]) if position < len(text) else f"#x{exc.character:04x}"
        message = f"the file holds {what}, which no YAML or TwiML document may carry"
        return None, [YamlProblem(Mark(file, line, column), message, CHARACTER_HINT)]
    except yaml.MarkedYAMLError as exc:
        mark = _mark(file, exc.problem_mark or exc.context_mark)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [YamlProblem(mark, f"YAML syntax error: {what}", "fix the indentation or quoting here")]
    except yaml.YAMLError as exc:
        return None, [YamlProblem(Mark(file, 1, 1), f"YAML error: {exc}", "fix the YAML syntax")]
    if root is None:
        return None, [YamlProblem(Mark(file, 1, 1), "the file is empty", "add the document's content")]
    return _convert(root, file, problems, []), problems
