"""Call flows as diagrams: Mermaid and Graphviz DOT text, and SVG through Graphviz's ``dot``.

Pure functions from the loaded model to text, so that what the diagram shows is what the
engine serves: node kinds and the first words each node says in one language, the keys
between nodes, where silence and wrong keys lead, and which line a transfer reaches.
Only :func:`to_svg` has a side effect: it runs ``dot -Tsvg`` when Graphviz is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ivr.model import (
    EVERY_LINE,
    LANGUAGE_LINE,
    Catalog,
    Flow,
    GoodbyeNode,
    LanguageNode,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    Retry,
    Speech,
    Target,
    TransferNode,
)

FORMATS = ("mermaid", "dot", "svg")
FIRST_WORDS = 7
# Pseudo nodes have a '-' in their id, which flow node ids cannot have.
KEYS_NODE = "any-menu"  # the keys that work in every menu
END_NODE = "call-ends"  # the call is over

EdgeKind = Literal["key", "silence"]


class GraphvizMissing(RuntimeError):
    """``dot`` is not on PATH: SVG needs Debian's graphviz package."""


@dataclass(frozen=True, slots=True)
class Box:
    """One box of the diagram: a flow node, or one of the two pseudo nodes."""

    id: str
    kind: str  # language, menu, message, transfer, goodbye, keys, end
    title: str
    detail: str

    @property
    def svg_id(self) -> str:
        """The ``id`` of the node's group in the SVG (the simulator highlights it)."""
        return f"node-{self.id}"


@dataclass(frozen=True, slots=True)
class Arrow:
    source: str
    target: str
    label: str
    kind: EdgeKind


@dataclass(frozen=True, slots=True)
class Diagram:
    name: str
    lang: str
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]


def first_words(prompt: Prompt, lang: str, count: int = FIRST_WORDS) -> str:
    """The start of what ``prompt`` says in ``lang``, quoted, with an ellipsis when cut."""
    texts = [part.text for part in prompt.parts(lang) if isinstance(part, Speech)]
    words = " ".join(texts).split()
    if not words:
        return ""
    cut = " ".join(words[:count])
    return f"“{cut}{'…' if len(words) > count else ''}”"


def _times(what: str, retry: Retry) -> str:
    return f"{what} ×{retry.retries + 1}" if retry.retries else what


def _transfer_detail(catalog: Catalog, node: TransferNode, lang: str, masked: bool) -> str:
    if node.helpline == EVERY_LINE:
        every = ", ".join(f"{catalog.line_for(code).name} {catalog.line_for(code).number}" for code in catalog.settings.offered)
        return f"says every language's line: {every}"
    line = catalog.line_for(lang) if node.helpline == LANGUAGE_LINE else catalog.helplines[node.helpline]

    def shown(target: Target) -> str:  # never the credentials: only the address (or its end), and its hours
        return (target.masked if masked else target.address) + ("" if target.hours.always else f" ({target.hours.describe()})")

    hours = "" if line.hours_open.always else f" ({line.hours_open.describe()})"
    dials = ", ".join(shown(target) for target in line.transfer_to)
    how = f"dials {dials}{hours}, else says the number" if line.transfer_to else "says the number"
    return f"{line.name} {line.number} · {how}"


def _box(catalog: Catalog, node: Node, lang: str, masked: bool) -> Box:
    if isinstance(node, LanguageNode):
        return Box(node.id, "language", f"{node.id} · language", first_words(node.prompt, lang))
    if isinstance(node, MenuNode):
        return Box(node.id, "menu", f"{node.id} · menu", first_words(node.prompt, lang))
    if isinstance(node, MessageNode):
        return Box(node.id, "message", f"{node.id} · message", first_words(node.prompt, lang))
    if isinstance(node, TransferNode):
        return Box(node.id, "transfer", f"{node.id} · transfer", _transfer_detail(catalog, node, lang, masked))
    return Box(node.id, "goodbye", f"{node.id} · goodbye", first_words(node.prompt, lang))


def _arrows(flow: Flow, node: Node) -> Iterator[Arrow]:
    if isinstance(node, LanguageNode):
        yield Arrow(node.id, node.next, ", ".join(f"{key} {lang}" for key, lang in node.choices.items()), "key")
        yield Arrow(node.id, node.talk_now, flow.keys.talk_now, "key")
        yield Arrow(node.id, node.after_retries, _times("no input", node.no_input), "silence")
        yield Arrow(node.id, node.after_retries, _times("wrong key", node.wrong_key), "silence")
    elif isinstance(node, MenuNode):
        for key, target in node.options.items():
            yield Arrow(node.id, target, key, "key")
        yield Arrow(node.id, node.after_retries, _times("no input", node.no_input), "silence")
        yield Arrow(node.id, node.after_retries, _times("wrong key", node.wrong_key), "silence")
    elif isinstance(node, MessageNode):
        yield Arrow(node.id, node.next, "no input, other keys", "silence")
    elif isinstance(node, TransferNode) and node.helpline == EVERY_LINE:
        start = flow.nodes[flow.start]
        if isinstance(start, LanguageNode):
            yield Arrow(node.id, start.next, ", ".join(f"{key} {lang}" for key, lang in start.choices.items()), "key")
        yield Arrow(node.id, END_NODE, "no input ×2", "silence")
    elif isinstance(node, TransferNode):
        yield Arrow(node.id, END_NODE, "no input", "silence")
    elif isinstance(node, GoodbyeNode):
        yield Arrow(node.id, END_NODE, "", "silence")


def _merged(arrows: Iterator[Arrow]) -> tuple[Arrow, ...]:
    """One arrow per (source, target, kind), with the labels joined."""
    merged: dict[tuple[str, str, EdgeKind], Arrow] = {}
    for arrow in arrows:
        same = (arrow.source, arrow.target, arrow.kind)
        seen = merged.get(same)
        label = arrow.label if seen is None else ", ".join(text for text in (seen.label, arrow.label) if text)
        merged[same] = Arrow(arrow.source, arrow.target, label, arrow.kind)
    return tuple(merged.values())


def diagram(catalog: Catalog, flow: Flow, lang: str, *, masked: bool = False) -> Diagram:
    """The boxes and arrows of ``flow``, with texts in ``lang``; transfer targets shown by their
    last two characters when ``masked`` (on a web page).

    Raises:
        ValueError: ``lang`` is not one of the offered languages.
    """
    if lang not in catalog.settings.offered:
        raise ValueError(f"language {lang!r} is not offered; choose one of: {', '.join(catalog.settings.offered)}")
    boxes = [_box(catalog, node, lang, masked) for node in flow.nodes.values()]
    keys = flow.keys
    boxes.append(Box(KEYS_NODE, "keys", "any menu after the language choice", f"{keys.repeat} repeats what was said"))
    arrows = [arrow for node in flow.nodes.values() for arrow in _arrows(flow, node)]
    arrows.append(Arrow(KEYS_NODE, flow.talk_now, f"{keys.talk_now} talk now", "key"))
    arrows.append(Arrow(KEYS_NODE, flow.main_menu, f"{keys.main_menu} main menu", "key"))
    if any(arrow.target == END_NODE for arrow in arrows):
        boxes.append(Box(END_NODE, "end", "call ends", ""))
    return Diagram(flow.name, lang, tuple(boxes), _merged(iter(arrows)))


# --- Mermaid ------------------------------------------------------------------------------

MERMAID_STYLES = {
    "language": "fill:#e3ecfa,stroke:#3d5a80",
    "menu": "fill:#e3ecfa,stroke:#3d5a80",
    "message": "fill:#f4f1e8,stroke:#8a7a4a",
    "transfer": "fill:#dff3e4,stroke:#2d6a4f,stroke-width:2px",
    "goodbye": "fill:#f4f1e8,stroke:#8a7a4a",
    "keys": "fill:#ffffff,stroke:#888888,stroke-dasharray:4 3",
    "end": "fill:#eeeeee,stroke:#666666",
}


def _mermaid_text(text: str) -> str:
    # Mermaid reads '#…;' as an entity and '"' ends the label: write them as entities.
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _mermaid_id(node_id: str) -> str:
    # A prefix, because 'end' and 'graph' are Mermaid keywords; pseudo nodes get their own.
    return f"p_{node_id.replace('-', '_')}" if "-" in node_id else f"n_{node_id}"


def to_mermaid(chart: Diagram) -> str:
    """A Mermaid flowchart (GitHub and most wikis render it)."""
    lines = ["flowchart TD"]
    for box in chart.boxes:
        label = _mermaid_text(box.title) + (f"<br/>{_mermaid_text(box.detail)}" if box.detail else "")
        opening, closing = ("([", "])") if box.kind == "end" else ("[", "]")
        lines.append(f'    {_mermaid_id(box.id)}{opening}"{label}"{closing}')
    for arrow in chart.arrows:
        link = "-->" if arrow.kind == "key" else "-.->"
        label = f'|"{_mermaid_text(arrow.label)}"|' if arrow.label else ""
        lines.append(f"    {_mermaid_id(arrow.source)} {link}{label} {_mermaid_id(arrow.target)}")
    kinds = [kind for kind in MERMAID_STYLES if any(box.kind == kind for box in chart.boxes)]
    for kind in kinds:
        lines.append(f"    classDef kind_{kind} {MERMAID_STYLES[kind]}")
        members = ",".join(_mermaid_id(box.id) for box in chart.boxes if box.kind == kind)
        lines.append(f"    class {members} kind_{kind}")
    return "\n".join(lines) + "\n"


# --- Graphviz -----------------------------------------------------------------------------

DOT_STYLES = {
    "language": 'shape=box, style="rounded,filled", fillcolor="#e3ecfa", color="#3d5a80"',
    "menu": 'shape=box, style="rounded,filled", fillcolor="#e3ecfa", color="#3d5a80"',
    "message": 'shape=box, style="rounded,filled", fillcolor="#f4f1e8", color="#8a7a4a"',
    "transfer": 'shape=box, style="rounded,filled,bold", fillcolor="#dff3e4", color="#2d6a4f"',
    "goodbye": 'shape=box, style="rounded,filled", fillcolor="#f4f1e8", color="#8a7a4a"',
    "keys": 'shape=box, style="rounded,dashed", color="#888888"',
    "end": 'shape=ellipse, style="filled", fillcolor="#eeeeee", color="#666666"',
}


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(chart: Diagram) -> str:
    """A Graphviz digraph; each node's SVG group gets the id ``node-<node id>``."""
    lines = [
        f'digraph "{_dot_text(chart.name)}" {{',
        "    rankdir=TB;",
        '    node [fontname="Helvetica,Arial,sans-serif", fontsize=11, margin="0.15,0.08"];',
        '    edge [fontname="Helvetica,Arial,sans-serif", fontsize=10, color="#555555"];',
    ]
    for box in chart.boxes:
        label = _dot_text(box.title) + (f"\\n{_dot_text(box.detail)}" if box.detail else "")
        lines.append(f'    "{box.id}" [id="{box.svg_id}", label="{label}", {DOT_STYLES[box.kind]}];')
    for arrow in chart.arrows:
        attrs = [f'label="{_dot_text(arrow.label)}"'] if arrow.label else []
        if arrow.kind == "silence":
            attrs.append("style=dashed")
        lines.append(f'    "{arrow.source}" -> "{arrow.target}" [{", ".join(attrs)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot_text: str, timeout: float = 30.0) -> str:
    """Render DOT text as SVG with Graphviz.

    Raises:
        GraphvizMissing: ``dot`` is not installed.
        RuntimeError: ``dot`` failed (its message is included).
    """
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing("SVG needs Graphviz's 'dot' (Debian: apt-get install graphviz); use --format mermaid or dot")
    done = subprocess.run([dot, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot -Tsvg failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()


def to_format(chart: Diagram, fmt: str) -> str:
    """``chart`` in one of :data:`FORMATS`.

    Raises:
        ValueError: unknown format.
        GraphvizMissing, RuntimeError: see :func:`to_svg`.
    """
    if fmt == "mermaid":
        return to_mermaid(chart)
    if fmt == "dot":
        return to_dot(chart)
    if fmt == "svg":
        return to_svg(to_dot(chart))
    raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
