"""Call state carried in the action URLs Twilio calls back.

No state is kept on the server, so any worker on any machine can answer any request.
The query is written with its keys in alphabetical order and values limited to
``[A-Za-z0-9_-]``, so that Twilio's re-sorting and re-escaping before it signs the URL
change nothing. Everything read back is untrusted: anything odd is dropped, never
raised on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

SAFE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,40}")
COUNTER = re.compile(r"[0-9]{1,2}")


@dataclass(frozen=True, slots=True)
class State:
    """Where a call is: flow, node, language, and the attempt counters at that node."""

    flow: str
    node: str
    lang: str
    no_input: int = 0  # silences so far at this node
    wrong_key: int = 0  # wrong keys so far at this node
    target: int = 0  # index of the transfer number being tried
    texted: bool = False  # the line's number was sent by text message: never offered again in this call

    def to_query(self) -> list[tuple[str, str]]:
        """Query parameters, sorted by name (flow, lang, ni, node, sms, t, wk); ``sms`` only once texted."""
        pairs = [
            ("flow", self.flow),
            ("lang", self.lang),
            ("ni", str(self.no_input)),
            ("node", self.node),
            ("t", str(self.target)),
            ("wk", str(self.wrong_key)),
            *([("sms", "1")] if self.texted else []),
        ]
        return sorted(pairs)

    def at(self, node: str, *, lang: str | None = None, target: int = 0) -> State:
        """The state on entering ``node`` with fresh counters."""
        return replace(self, node=node, lang=lang or self.lang, no_input=0, wrong_key=0, target=target)


@dataclass(frozen=True, slots=True)
class UntrustedState:
    """What a request claimed; each field is None when missing or malformed."""

    flow: str | None
    node: str | None
    lang: str | None
    no_input: int
    wrong_key: int
    target: int
    texted: bool = False


def read_state(args: Mapping[str, str]) -> UntrustedState:
    """Read state parameters without trusting them: bad values become None or 0."""

    def text(name: str) -> str | None:
        value = args.get(name)
        return value if isinstance(value, str) and SAFE_VALUE.fullmatch(value) else None

    def count(name: str) -> int:
        value = args.get(name)
        return int(value) if isinstance(value, str) and COUNTER.fullmatch(value) else 0

    texted = args.get("sms") == "1"
    return UntrustedState(text("flow"), text("node"), text("lang"), count("ni"), count("wk"), count("t"), texted)
