"""Where a flow names its nodes, by typed keys: the checks of its graph point there.

A lookup of a place that was never read is an error (KeyError), never a silent ``file:1:1``: a key the checks
build wrongly fails the test that reaches it, instead of sending the author to the top of the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from ivr.model import frozen_map
from ivr.yamlio import Mark, format_key

Start = Literal["start", "main_menu", "talk_now"]  # the flow's own names of nodes
STARTS: tuple[Start, ...] = ("start", "main_menu", "talk_now")
ExitName = Literal["next", "after_retries", "talk_now"]  # a node's names of the node after it


@dataclass(frozen=True, slots=True)
class Exit:
    """A node's ``next``, ``after_retries`` or ``talk_now``; one it does not write is marked where its value
    comes from (``defaults: after_retries:``; a language node's ``after_retries`` for its ``talk_now``)."""

    node: str
    name: ExitName

    @property
    def path(self) -> str:
        return f"nodes.{self.node}.{self.name}"


@dataclass(frozen=True, slots=True)
class Option:
    """The node a menu's key leads to."""

    node: str
    key: str

    @property
    def path(self) -> str:
        return f"nodes.{self.node}.options.{format_key(self.key)}"


Link = Exit | Option
K = TypeVar("K")


def _known(marks: Mapping[K, Mark], key: K, path: str) -> Mark:
    if key not in marks:
        raise KeyError(f"{path} was not read from this flow: no place to point at")
    return marks[key]


@dataclass(frozen=True, slots=True)
class FlowMarks:
    """Where each node, each of the flow's own names of nodes, each link and the text-message key are written."""

    starts: Mapping[Start, Mark] = field(default_factory=frozen_map)
    nodes: Mapping[str, Mark] = field(default_factory=frozen_map)  # node id -> its key under 'nodes:'
    links: Mapping[Link, Mark] = field(default_factory=frozen_map)  # where a node's exit or option names its target
    text_key: Mark | None = None

    def start(self, name: Start) -> Mark:
        return _known(self.starts, name, name)

    def node(self, node_id: str) -> Mark:
        return _known(self.nodes, node_id, f"nodes.{node_id}")

    def link(self, link: Link) -> Mark:
        return _known(self.links, link, link.path)

    def text_message_key(self) -> Mark:
        if self.text_key is None:
            raise KeyError("text_message.key was not read from this flow: no place to point at")
        return self.text_key


@dataclass
class Recorder:
    """The marks of one flow while it is read; :meth:`done` freezes them."""

    starts: dict[Start, Mark] = field(default_factory=dict)
    nodes: dict[str, Mark] = field(default_factory=dict)
    links: dict[Link, Mark] = field(default_factory=dict)
    text_key: Mark | None = None

    def done(self) -> FlowMarks:
        return FlowMarks(frozen_map(self.starts), frozen_map(self.nodes), frozen_map(self.links), self.text_key)
