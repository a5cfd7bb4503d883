"""Whole-graph checks of a parsed flow, run at load time before any call is served."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from ivr.errors import ConfigError
from ivr.loading.flow_marks import Exit, FlowMarks, Link, Option, Start
from ivr.model import Flow, LanguageNode, MenuNode, MessageNode, Node, TransferNode
from ivr.yamlio import Mark


def _targets(node: Node) -> dict[Link, str]:
    """Every node id this node can lead to, keyed by the link that names it."""
    if isinstance(node, MenuNode):
        out: dict[Link, str] = {Option(node.id, k): t for k, t in node.options.items()}
        out[Exit(node.id, "after_retries")] = node.after_retries
        return out
    if isinstance(node, LanguageNode):
        return {
            Exit(node.id, "next"): node.next,
            Exit(node.id, "after_retries"): node.after_retries,
            Exit(node.id, "talk_now"): node.talk_now,
        }
    if isinstance(node, MessageNode):
        return {Exit(node.id, "next"): node.next}
    return {}


def _silence_next(node: Node) -> str | None:
    """Where a caller who presses nothing ends up after this node (None: the call is handled)."""
    if isinstance(node, (MenuNode, LanguageNode)):
        return node.after_retries
    if isinstance(node, MessageNode):
        return node.next
    return None


def check_flow(flow: Flow, marks: FlowMarks) -> Iterator[ConfigError]:
    """Yield every graph problem: unknown targets, unreachable nodes, silent loops."""
    ids = list(flow.nodes)

    def unknown(mark: Mark, path: str, target: str) -> ConfigError:
        close = difflib.get_close_matches(target, ids, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"add a node named {target!r} under 'nodes:'"
        return ConfigError(mark, path, f"unknown node {target!r}", hint)

    broken = False
    starts: tuple[tuple[Start, type[Node] | None], ...] = (("start", None), ("main_menu", MenuNode), ("talk_now", TransferNode))
    for name, kind in starts:
        target = getattr(flow, name)
        if target not in flow.nodes:
            broken = True
            yield unknown(marks.start(name), name, target)
        elif kind is not None and not isinstance(flow.nodes[target], kind):
            broken = True
            yield ConfigError(
                marks.start(name),
                name,
                f"{name} must name a {kind.__name__.removesuffix('Node').lower()} node, {target!r} is not one",
            )
    for node in flow.nodes.values():
        for link, target in _targets(node).items():
            if target not in flow.nodes:
                broken = True
                yield unknown(marks.link(link), link.path, target)
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
                marks.node(node_id),
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
                    marks.node(node_id),
                    f"nodes.{node_id}",
                    f"a caller who presses nothing goes round in circles: {loop}",
                    "let one of these menus' after_retries (or a message's next) lead to a transfer or goodbye",
                )
