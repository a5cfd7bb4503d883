"""Strict YAML reading: the only module that imports PyYAML.

PyYAML follows YAML 1.1, where an unquoted ``on`` is ``True``, ``010`` is ``8`` and a
repeated key silently replaces the first. A phone menu cannot afford any of that, so
documents are *composed* (not constructed) and turned into a small tree in which every
scalar stays the exact text the author wrote, with its position. The loader decides
what each text means for each field and can name the file, line and column of anything
it rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

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


def _mark(file: str, m: yaml.Mark | None) -> Mark:
    if m is None:
        return Mark(file, 1, 1)
    return Mark(file, m.line + 1, m.column + 1)


def _convert(node: yaml.Node, file: str, problems: list[YamlProblem], path: list[str | int]) -> YNode:
    mark = _mark(file, node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        quoted = node.style in ("'", '"', "|", ">")
        implicit = None if quoted else _SURPRISING_TAGS.get(node.tag)
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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [YamlProblem(Mark(file, 1, 1), f"cannot read the file: {exc}", "check it exists and is UTF-8")]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = _mark(file, exc.problem_mark or exc.context_mark)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [YamlProblem(mark, f"YAML syntax error: {what}", "fix the indentation or quoting here")]
    except yaml.YAMLError as exc:
        return None, [YamlProblem(Mark(file, 1, 1), f"YAML error: {exc}", "fix the YAML syntax")]
    if root is None:
        return None, [YamlProblem(Mark(file, 1, 1), "the file is empty", "add the document's content")]
    return _convert(root, file, problems, []), problems
