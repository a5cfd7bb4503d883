"""``scenarios.yaml`` beside the config: callers' scenarios for ``ivr test``, read into frozen objects.

Each scenario is what a caller does (keys, words, an optional Brussels time, the number they dialled, how a
transfer ends) and what they must hear or have dialled, within how many seconds of the call. Every error is
collected with file:line:column, the path in the document and a fix, as for the flows and config.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivr.errors import ConfigError, ConfigErrors
from ivr.hours import HoursError, brussels_moment
from ivr.loading.document import E164, Document, Field, load_document
from ivr.yamlio import Mark, YNode, YScalar

DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
NUMBER_CHARACTERS = frozenset("0123456789 ")
WITHIN: Field[float] = Field(  # absent: no limit
    "within", lambda doc, node: doc.number(node, 1, 3600, "seconds of the call"), None, "seconds of the call"
)
KEYS = frozenset("0123456789*#")


@dataclass(frozen=True, slots=True)
class Expected:
    """One thing the caller must hear (a number as helplines.yaml writes it, or words), or a target dialled."""

    text: str
    mark: Mark

    @property
    def is_number(self) -> bool:
        return set(self.text) <= NUMBER_CHARACTERS and any(c.isdigit() for c in self.text)

    @property
    def spoken(self) -> str:
        """A number as the service says it ("02 648 40 14" → "0 2, 6 4 8, 4 0, 1 4"); words as written."""
        if not self.is_number:
            return self.text
        return ", ".join(" ".join(group) for group in self.text.split())


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    mark: Mark
    path: str  # where in the document, e.g. scenarios[2]
    keys: tuple[str, ...]  # each a key, "" for silence, or "say:" + words
    at: datetime | None  # the Brussels moment of the call, as an instant; None: now
    called: str  # our number the caller dialled ("": any)
    dial_status: str  # how each transfer ends
    hear: tuple[Expected, ...]
    dial: tuple[Expected, ...]
    within: float | None  # every expectation met within this many seconds of the call


def _expectations(doc: Document, node: YNode | None, key: str, check_number: bool) -> tuple[Expected, ...]:
    found = []
    with doc.at(key):
        for i, item in enumerate(doc.sequence(node, f"what the caller must {'hear' if key == 'hear' else 'have dialled'}")):
            with doc.at(i):
                text = doc.text(item)
                if text is None:
                    continue
                if check_number and not (E164.fullmatch(text) or text.startswith("sip:")):
                    doc.error(
                        item.mark,
                        f"{text!r} is not an E.164 number or a SIP address",
                        'write it as in helplines.yaml, e.g. "+3290000001"',
                    )
                    continue
                found.append(Expected(text.strip(), item.mark))
    return tuple(found)


def _keys(doc: Document, node: YNode | None, says: YNode | None) -> tuple[str, ...]:
    keys: list[str] = []
    if isinstance(node, YScalar) and node.quoted and node.text == "":
        keys.append("")  # keys: "" is one silence
    elif node is not None:
        with doc.at("keys"):
            raw = doc.text(node, 'keys, as ivr simulate --keys takes them, e.g. "1,0"')
            if raw is not None:
                for key in (k.strip() for k in raw.split(",")):
                    if key and not set(key) <= KEYS:
                        doc.error(
                            node.mark, f"{key!r} is not a phone key", 'keys 0-9, * and #, separated by commas; "" is silence'
                        )
                    keys.append(key)
    if says is not None:
        with doc.at("say"):
            for i, item in enumerate(doc.sequence(says, "words to say, one item per menu")):
                with doc.at(i):
                    words = doc.text(item, "words")
                    if words is not None:
                        keys.append("say:" + words)
    return tuple(keys)


def _scenario(doc: Document, node: YNode) -> Scenario | None:
    mapping = doc.mapping(node, "a scenario")
    if mapping is None:
        return None
    before = len(doc.errors)
    fields = doc.fields(mapping, ("name",), ("keys", "say", "at", "to", "transfer", "hear", "dial", "within"))
    name = doc.text(fields.get("name"), "a name") or ""
    at = None
    if "at" in fields:
        with doc.at("at"):
            raw = doc.text(fields["at"], "a Brussels date and time")
            if raw is not None:
                try:
                    at = brussels_moment(raw)[0]
                except HoursError as exc:
                    doc.error(fields["at"].mark, str(exc), 'write it as "YYYY-MM-DD HH:MM", Brussels time')
    called = ""
    if "to" in fields:
        with doc.at("to"):
            called = doc.text(fields["to"], "our number the caller dialled") or ""
            if called and not E164.fullmatch(called):
                doc.error(
                    fields["to"].mark, f"{called!r} is not an E.164 number", 'write it as "+32" and the number without its 0'
                )
    status = "completed"
    if "transfer" in fields:
        with doc.at("transfer"):
            status = doc.text(fields["transfer"], "how transfers end") or status
            if status not in DIAL_STATUSES:
                doc.error(
                    fields["transfer"].mark, f"{status!r} is not how a transfer ends", "one of: " + ", ".join(DIAL_STATUSES)
                )
    hear = _expectations(doc, fields.get("hear"), "hear", check_number=False)
    dial = _expectations(doc, fields.get("dial"), "dial", check_number=True)
    if not hear and not dial and "hear" not in fields and "dial" not in fields:
        doc.error(mapping.mark, "the scenario expects nothing", "add hear: [numbers or words] or dial: [targets]")
    within = WITHIN.read(doc, fields)
    keys = _keys(doc, fields.get("keys"), fields.get("say"))
    if len(doc.errors) > before:
        return None
    return Scenario(name, mapping.mark, doc.where(), keys, at, called, status, hear, dial, within)


def load_scenarios(path: Path) -> tuple[Scenario, ...]:
    """Every scenario of ``path``.

    Raises:
        ConfigErrors: every problem in the file, each with file:line:column, where and a fix.
    """
    errors: list[ConfigError] = []
    if not path.is_file():
        raise ConfigErrors(
            [
                ConfigError(
                    Mark(str(path), 1, 1), "", "no scenarios file here", 'write one: see docs/operating.md, "Callers\' scenarios"'
                )
            ]
        )
    doc, root = load_document(path, errors)
    scenarios = []
    if root is not None:
        fields = doc.fields(root, ("scenarios",))
        with doc.at("scenarios"):
            for i, node in enumerate(doc.sequence(fields.get("scenarios"), "the scenarios")):
                with doc.at(i):
                    scenario = _scenario(doc, node)
                    if scenario is not None:
                        scenarios.append(scenario)
    if errors:
        raise ConfigErrors(errors)
    return tuple(scenarios)
