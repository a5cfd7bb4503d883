"""Every way a caller can go through a call, walked through the engine with a clock. Pure.

A caller hears a turn part by part; inside a ``<Gather>`` they may press a key, or speak, at a
*press point*: the gather's start, the end of each speech part, and its end. A
:class:`Policy` says which inputs a caller may give at each point (every behaviour, or one
scripted path); silence is always possible, after the gather's timeout. The walk keeps what
the caller has heard (which numbers, in which language; where the talk-now key was offered)
and stops a path as soon as its :class:`Goal` is met. Its answer is the *worst* path: the one
that meets the goal last, or never.

The walk is a memoised recursion on (turn, what was heard, inputs so far): a turn is a pure
function of (state, input, Now), so the same question has the same answer, and a path has at
most ``MAX_INPUTS`` inputs. Loops without an input end, as the graph checks require.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ivr.engine import Action, Dial, Engine, Gather, Hangup, Say, Turn
from ivr.model import Catalog, LanguageNode, MessageNode, PromptPart, Speech, TransferNode, spoken_key
from ivr.state import State, UntrustedState
from ivr.timing import SpeechClock, says_number, says_word
from ivr.understanding import Recognised

NEVER = math.inf
MAX_INPUTS = 8  # keys or words in one path; silence is not counted
TALK_NOW = "talk_now"  # a heard fact: the talk-now key offered where pressing it reaches the caller's line

Facts = frozenset[tuple[str, str]]  # (language, helpline id or TALK_NOW) heard so far


@dataclass(frozen=True, slots=True)
class Path:
    """A caller's path: when the goal was met (from the path's start; NEVER: not at all), and how."""

    seconds: float
    inputs: tuple[str, ...]
    end: str  # the node where the goal was met, or where the path gave out
    why: str = ""  # why a path that never meets the goal ends: the call ends, a content node, no more inputs

    def later(self, seconds: float, step: str | None = None) -> Path:
        inputs = self.inputs if step is None else (step, *self.inputs)
        return Path(self.seconds + seconds, inputs, self.end, self.why)


def worse(a: Path | None, b: Path) -> Path:
    """The path that meets the goal later; on a tie the one with fewer inputs (the simpler to show)."""
    if a is None or b.seconds > a.seconds or (b.seconds == a.seconds and len(b.inputs) < len(a.inputs)):
        return b
    return a


@dataclass(frozen=True, slots=True)
class Press:
    """One input at a press point: keys, or words with a confidence (a crisis, or words that match nothing)."""

    label: str
    digits: str | None = None
    words: Recognised | None = None


class Policy(Protocol):
    def presses(self, turn: Turn, gather: Gather, point: int, depth: int) -> Iterator[Press]:
        """The inputs a caller gives at press point ``point`` (0: the start; i: after the i-th part)."""
        ...

    def waits(self, depth: int) -> bool:
        """Whether the caller may stay silent after ``depth`` inputs."""
        ...


class Goal(Protocol):
    def met(self, facts: Facts, turn: Turn) -> bool: ...

    def context(self, turn: Turn) -> str:
        """What the worst paths are told apart by (the language a caller has chosen, or "" for none)."""
        ...

    def relevant(self) -> Facts:
        """The facts the goal can ask for: the walk keeps only these (fewer distinct questions to remember)."""
        ...

    def memo_key(self, turn: Turn) -> str:
        """What the goal asks for at ``turn``: walks of goals that ask the same there may share answers."""
        ...


@dataclass(frozen=True, slots=True)
class Rules:
    """How transfers and content nodes count for a budget."""

    dial_meets_goal: bool = True  # a transfer that starts meets the goal (else: connected ends it, failed goes on)
    content_needs_goal: bool = False  # entering a message node before the goal is met fails the path


def _claim(state: State) -> UntrustedState:
    return UntrustedState(state.flow, state.node, state.lang, state.no_input, state.wrong_key, state.target)


class Ear:
    """What a caller hears in each part, and how long it lasts; worked out once per part for every walk
    of a catalog (the walks hear the same few hundred parts tens of thousands of times)."""

    def __init__(self, catalog: Catalog, speech_clock: SpeechClock) -> None:
        self.catalog = catalog
        self.speech_clock = speech_clock
        # Numbers heard as facts: every line's, so that goals can ask for any of them.
        self.numbers = {line.id: line.spoken_number for line in catalog.helplines.values()}
        self._seconds: dict[PromptPart, float] = {}
        self._facts: dict[tuple[Speech, bool], Facts] = {}

    def seconds(self, part: PromptPart) -> float:
        found = self._seconds.get(part)
        if found is None:
            found = self._seconds[part] = self.speech_clock.seconds(part)
        return found

    def heard(self, facts: Facts, part: Speech, action: Action) -> Facts:
        offers = isinstance(action, Gather) and self._offers_talk_now(part, action)
        new = self._facts.get((part, offers))
        if new is None:
            found = {(part.lang, line_id) for line_id, spoken in self.numbers.items() if says_number(part.text, spoken)}
            if offers:
                found.add((part.lang, TALK_NOW))
            new = self._facts[(part, offers)] = frozenset(found)
        return facts | new if new - facts else facts

    def _offers_talk_now(self, part: Speech, gather: Gather) -> bool:
        flow = self.catalog.flows[gather.state.flow]
        if part.lang != gather.state.lang or isinstance(flow.nodes[gather.state.node], LanguageNode):
            return False  # at the welcome the key leads to every line, not to this language's
        text = part.text
        for spoken in self.numbers.values():
            text = text.replace(spoken, " ")
        return says_word(text, spoken_key(flow.keys.talk_now, part.lang))


class Walk:
    """Walks the paths of calls to one called number at one Now, for one goal and policy."""

    def __init__(
        self,
        catalog: Catalog,
        engine: Engine,
        ear: Ear,
        called: str,
        goal: Goal,
        policy: Policy,
        rules: Rules,
        memo: dict[tuple[Turn, Facts, int, str], dict[str, Path]] | None = None,
    ) -> None:
        """``memo`` may be shared by walks of one engine and policy whose goals say so (see Goal.memo_key)."""
        self.catalog = catalog
        self.engine = engine
        self.ear = ear
        self.called = called
        self.goal = goal
        self.policy = policy
        self.rules = rules
        self._relevant = goal.relevant()
        self._memo = {} if memo is None else memo

    # --- the walk ------------------------------------------------------------------------

    def worst(self, turn: Turn, facts: Facts = frozenset(), depth: int = 0) -> dict[str, Path]:
        """The worst path from the start of ``turn``, per context."""
        key = (turn, facts, depth, self.goal.memo_key(turn))
        found = self._memo.get(key)
        if found is None:
            self._memo[key] = {}  # a loop back to this very question adds nothing worse
            found = self._memo[key] = self._worst(turn, facts, depth)
        return found

    def _done(self, turn: Turn, seconds: float, why: str = "") -> dict[str, Path]:
        return {self.goal.context(turn): Path(seconds, (), turn.node, why)}

    def _worst(self, turn: Turn, facts: Facts, depth: int) -> dict[str, Path]:
        flow = self.catalog.flows[turn.state.flow] if turn.state is not None else None
        if self.rules.content_needs_goal and flow is not None and isinstance(flow.nodes.get(turn.node), MessageNode):
            if turn.outcome == "option" and not self.goal.met(facts, turn):
                return self._done(turn, NEVER, f"enters {turn.node} first")
        t = 0.0
        for action in turn.actions:
            if isinstance(action, Hangup):
                return self._done(turn, NEVER, "the call ends")
            if isinstance(action, Dial):
                if self.rules.dial_meets_goal:
                    return self._done(turn, t)
                if action.state is None:
                    continue  # the rescue: Twilio goes on to the next verb once the ringing ends
                # Connected ends the path; busy, failed or no answer goes on, and ringing is not counted.
                failed = self.engine.on_dial(_claim(action.state), "no-answer", self.called)
                return _shifted(self.worst(failed, facts, depth), t, None)
            if isinstance(action, Say):
                for part in action.parts:
                    t += self.ear.seconds(part)
                    if isinstance(part, Speech):
                        facts = self.ear.heard(facts, part, action) & self._relevant
                        if self.goal.met(facts, turn):
                            return self._done(turn, t)
                continue
            return _shifted(self._gather(turn, action, facts, depth), t, None)
        return self._done(turn, NEVER, "the call ends")

    def _gather(self, turn: Turn, gather: Gather, facts: Facts, depth: int) -> dict[str, Path]:
        results: dict[str, Path] = {}
        t = 0.0
        for point in range(len(gather.parts) + 1):
            if point:
                part = gather.parts[point - 1]
                t += self.ear.seconds(part)
                if isinstance(part, Speech):
                    facts = self.ear.heard(facts, part, gather) & self._relevant
                    if self.goal.met(facts, turn):
                        return _merge(results, self._done(turn, t))  # listening on meets the goal here
            pressed = False
            for press in self.policy.presses(turn, gather, point, depth):
                pressed = True
                following = self.engine.on_input(_claim(gather.state), press.digits, self.called, press.words)
                results = _merge(results, _shifted(self.worst(following, facts, depth + 1), t, press.label))
            if pressed and not self.policy.waits(depth):
                return results  # a scripted caller presses here, and does not listen on
        if not self.policy.waits(depth):
            return results
        silence = self.engine.on_input(_claim(gather.state), None, self.called)
        return _merge(results, _shifted(self.worst(silence, facts, depth), t + gather.timeout, "silence"))


def _shifted(paths: dict[str, Path], seconds: float, step: str | None) -> dict[str, Path]:
    return {context: path.later(seconds, step) for context, path in paths.items()}


def _merge(into: dict[str, Path], paths: dict[str, Path]) -> dict[str, Path]:
    merged = dict(into)
    for context, path in paths.items():
        merged[context] = worse(merged.get(context), path)
    return merged


# --- policies ---------------------------------------------------------------------------------


def _names_key(gather: Gather, point: int, key: str, lang: str, numbers: Iterable[str]) -> bool:
    """Whether the speech part ending at ``point`` names ``key`` in ``lang`` (a digit of a phone number does not)."""
    if point == 0:
        return False
    part = gather.parts[point - 1]
    if not isinstance(part, Speech) or part.lang != lang:
        return False
    text = part.text
    for spoken in numbers:
        text = text.replace(spoken, " ")
    return says_word(text, spoken_key(key, lang))


@dataclass(frozen=True, slots=True)
class EveryBehaviour:
    """Every behaviour charged to the budgets, at the points a caller gives it.

    Silence; a wrong key and another language's key at a gather's start and after its whole
    prompt; the talk-now key likewise; option, repeat and main-menu keys at the end of the speech
    part that names them and after the whole prompt; with speech on, words of crisis and words
    that match nothing (or with too little confidence), at the start and at the end.
    """

    catalog: Catalog
    speech: bool
    max_inputs: int = MAX_INPUTS

    @property
    def numbers(self) -> tuple[str, ...]:
        return tuple(sorted((line.spoken_number for line in self.catalog.helplines.values()), key=len, reverse=True))

    def presses(self, turn: Turn, gather: Gather, point: int, depth: int) -> Iterator[Press]:
        if depth >= self.max_inputs:
            return
        flow = self.catalog.flows[gather.state.flow]
        node = flow.nodes[gather.state.node]
        lang = gather.state.lang
        edge = point in (0, len(gather.parts))
        when = " at once" if point == 0 else ("" if point == len(gather.parts) else " early")
        if isinstance(node, LanguageNode):
            for key in node.choices:
                yield Press(key + when, key)  # a language key at any point of the welcome
        else:
            if edge:
                start = flow.nodes[flow.start]
                languages = flow.language_choices()
                if flow.before_language(node.id) and isinstance(start, LanguageNode):
                    languages = start.choices  # after every line, a language key still chooses
                for key in languages:
                    yield Press(key + when, key)
            keys = dict(getattr(node, "options", {})) | {k: name for k, name in flow.keys.as_map().items() if name != TALK_NOW}
            for key in keys:
                if point == len(gather.parts) or _names_key(gather, point, key, lang, self.numbers):
                    yield Press(key + when, key)
        if edge:
            yield Press(flow.keys.talk_now + when, flow.keys.talk_now)
            wrong = self.wrong_key(turn, gather)
            if wrong is not None:
                yield Press(wrong + when, wrong)
            if self.speech:
                if flow.crisis is not None:
                    said = next(iter(flow.crisis.words.get(lang) or next(iter(flow.crisis.words.values()), ())), "")
                    yield Press(f"'{said}'{when}", None, Recognised(said, 0.1))
                yield Press(f"words not understood{when}", None, Recognised("zzz", 0.9))

    def waits(self, depth: int) -> bool:
        return True

    def wrong_key(self, turn: Turn, gather: Gather) -> str | None:
        """A key that means nothing at this gather (the first in keypad order), if any."""
        flow = self.catalog.flows[gather.state.flow]
        node = flow.nodes[gather.state.node]
        used = set(getattr(node, "options", {})) | set(getattr(node, "choices", {})) | set(flow.keys.as_map())
        used |= set(flow.language_choices())
        start = flow.nodes[flow.start]
        if isinstance(start, LanguageNode) and isinstance(node, TransferNode):
            used |= set(start.choices)  # after every line, a language key still chooses
        return next((key for key in "123456789*0#" if key not in used), None)


# A scripted step: where it is pressed ("start", "end", or "after LANG": the end of that language's last
# speech part in the gather), and the key.
Step = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Script:
    """One path: its keys at their points, in order; silence after the last."""

    steps: tuple[Step, ...]
    catalog: Catalog

    def presses(self, turn: Turn, gather: Gather, point: int, depth: int) -> Iterator[Press]:
        if depth >= len(self.steps):
            return
        where, key = self.steps[depth]
        if self.point(gather, where) == point:
            yield Press(key, key)

    def waits(self, depth: int) -> bool:
        return depth >= len(self.steps)

    @staticmethod
    def point(gather: Gather, where: str) -> int:
        if where == "start":
            return 0
        if where.startswith("after "):
            lang = where.removeprefix("after ")
            mine = [i + 1 for i, part in enumerate(gather.parts) if isinstance(part, Speech) and part.lang == lang]
            return mine[-1] if mine else len(gather.parts)
        return len(gather.parts)


# --- goals ---------------------------------------------------------------------------------------


def _unchosen(catalog: Catalog, turn: Turn) -> bool:
    """Whether a caller at ``turn`` has chosen no language (the welcome, or every line)."""
    return turn.state is None or catalog.flows[turn.state.flow].before_language(turn.node)


UNCHOSEN = "no language:"  # the context of a caller who chose no language, before the language whose line is awaited


@dataclass(frozen=True, slots=True)
class LineAnd112:
    """A line the caller understands and 112: their language's line and every ``welcome_names`` line, said
    in their language. ``lang`` fixes the language; without it, the one chosen at that moment counts, and a
    caller who chose none must hear ``unchosen``'s (each offered language is walked for in turn)."""

    catalog: Catalog
    lang: str | None = None
    unchosen: str = ""

    def wanted(self, lang: str) -> frozenset[tuple[str, str]]:
        settings = self.catalog.settings
        return frozenset({(lang, settings.languages[lang].helpline), *((lang, n) for n in settings.welcome_names)})

    def met(self, facts: Facts, turn: Turn) -> bool:
        if self.lang is not None:
            return self.wanted(self.lang) <= facts
        if _unchosen(self.catalog, turn) or turn.state is None:
            return self.wanted(self.unchosen) <= facts
        return self.wanted(turn.state.lang) <= facts

    def context(self, turn: Turn) -> str:
        if self.lang is not None:
            return self.lang
        return UNCHOSEN + self.unchosen if _unchosen(self.catalog, turn) or turn.state is None else turn.state.lang

    def relevant(self) -> Facts:
        return frozenset().union(*(self.wanted(lang) for lang in self.catalog.settings.offered))

    def memo_key(self, turn: Turn) -> str:
        return self.context(turn)


@dataclass(frozen=True, slots=True)
class WayToPerson:
    """How to reach a person in ``lang``: the line's number, or the talk-now key offered, said in ``lang``."""

    catalog: Catalog
    lang: str
    number_only: bool = False

    def met(self, facts: Facts, turn: Turn) -> bool:
        line = (self.lang, self.catalog.settings.languages[self.lang].helpline)
        return line in facts or (not self.number_only and (self.lang, TALK_NOW) in facts)

    def context(self, turn: Turn) -> str:
        return self.lang

    def relevant(self) -> Facts:
        return frozenset({(self.lang, self.catalog.settings.languages[self.lang].helpline), (self.lang, TALK_NOW)})

    def memo_key(self, turn: Turn) -> str:
        return f"{self.lang} {self.number_only}"
