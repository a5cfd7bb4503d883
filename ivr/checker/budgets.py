"""The caller checker: every served call held to the budgets of ``config/settings.yaml``, from its first second.

For each configuration a call can meet (each called number's flow, default language and speech
setting; each open/closed combination of the transfer targets; with and without an
announcement as long as its cap) it walks (:mod:`ivr.checker.paths`):

``time_to_human``
    The language key pressed at the end of its welcome sentence, then silence: until the talk-now
    key is offered where it reaches the caller's line, the line's number is said, or a transfer starts.
``talk_now``
    The language key, then the talk-now key at the first moment a menu listens: seconds of audio
    after the language key until a transfer starts or the line's number is said.
``silent_after_language``
    The language key at the end of its sentence, then silence: until the line's number and 112
    are said in that language, or a transfer starts.
``any_behaviour``
    Every behaviour (:class:`~ivr.checker.paths.EveryBehaviour`), up to eight inputs: until a line the
    caller understands and 112 are said (each offered language's line while none is chosen); a
    connected transfer ends a path, a failed one goes on with no time counted for the ringing;
    entering a content node before that fails the path.
``wrong_language``
    For each true language T and each other W: W's key at the end of W's welcome sentence or after
    the whole welcome, then T's key at once (the way back), then silence: until T's way to a person
    is said in T.

After the last target of a transfer fails, "nobody could be reached" and the number must follow
within ``UNREACHED_BUDGET`` seconds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ivr.checker.paths import (
    NEVER,
    Ear,
    EveryBehaviour,
    Facts,
    Goal,
    LineAnd112,
    Path,
    Policy,
    Rules,
    Script,
    Walk,
    WayToPerson,
)
from ivr.engine import ANNOUNCEMENT, Dial, Engine, Gather, Now, Say, Turn
from ivr.model import EVERY_LINE, LANGUAGE_LINE, Catalog, LanguageNode, Speech, TransferNode
from ivr.state import State, UntrustedState
from ivr.timing import DurationOf, SpeechClock, says_number

Memo = dict[tuple[Turn, Facts, int, str], dict[str, Path]]
SCRIPTED = Rules()  # a scripted path: a transfer that starts meets its goal
EVERYONE = Rules(dial_meets_goal=False, content_needs_goal=True)
UNREACHED_BUDGET = 15.0  # after the last failed target: "nobody could be reached", then the number
BUDGET_NAMES = ("time_to_human", "talk_now", "silent_after_language", "any_behaviour", "wrong_language")


class FixedEngine(Engine):
    """The engine at one chosen moment: which targets are open, which announcement is on."""

    def __init__(self, catalog: Catalog, now: Now) -> None:
        super().__init__(catalog)
        self._fixed = now

    def now(self) -> Now:
        return self._fixed


@dataclass(frozen=True, slots=True)
class Setup:
    """One configuration a call can meet."""

    called: str  # "" for every number not listed in settings
    flow: str
    default_language: str
    speech: bool
    now: Now
    label: str  # for people: "calls to +32…, speech on, targets: all closed, with an announcement"


@dataclass(frozen=True, slots=True)
class Worst:
    """The worst path found for one budget and language, in one setup."""

    budget: str
    lang: str  # "" for a caller who chose no language
    limit: float
    path: Path
    setup: Setup
    start: float = 0.0  # when the measured time starts (talk_now: the language key)

    @property
    def seconds(self) -> float:
        return self.path.seconds - self.start

    @property
    def within(self) -> bool:
        return self.seconds != NEVER and round(self.seconds, 1) <= self.limit


@dataclass(frozen=True, slots=True)
class Unreached:
    """After the last failed target: what the caller hears first, and when the number comes."""

    node: str
    lang: str
    setup: Setup
    says_so: bool  # the node's 'unreachable' text comes first
    seconds: float  # until the line's number has been said (NEVER: not in that turn)

    @property
    def within(self) -> bool:
        return self.says_so and round(self.seconds, 1) <= UNREACHED_BUDGET


def announcement_text(words_per_second: float, seconds: float) -> str:
    """Words that take ``seconds`` to say: the longest announcement the cap allows."""
    return " ".join(["woord"] * math.ceil(words_per_second * seconds))


def _dialled(catalog: Catalog) -> set[str]:
    """The lines a served flow's transfer nodes can dial: only their targets' hours change a call."""
    ids: set[str] = set()
    for flow in catalog.flows.values():
        for node in flow.nodes.values():
            if isinstance(node, TransferNode) and node.helpline == LANGUAGE_LINE:
                ids |= {catalog.line_for(lang).id for lang in catalog.settings.offered}
            elif isinstance(node, TransferNode) and node.helpline != EVERY_LINE:
                ids.add(node.helpline)
    return ids


def target_states(catalog: Catalog) -> list[tuple[tuple[bool, ...], ...]]:
    """Open/closed states of every line's targets to walk: all open, all closed, and each dialled line's every
    combination with the others all open (a caller deals with one line at a time)."""
    dialling = [line for line in catalog.helplines.values() if line.transfer_to]
    every = tuple(tuple(True for _ in line.transfer_to) for line in dialling)
    relevant = _dialled(catalog)
    closed = tuple(tuple(line.id not in relevant for _ in line.transfer_to) for line in dialling)
    states = [every] if not dialling else [every, closed]
    for i, line in enumerate(dialling):
        if line.id not in relevant:
            continue
        for combo in itertools.product((True, False), repeat=len(line.transfer_to)):
            state = (*every[:i], combo, *every[i + 1 :])
            if state not in states:
                states.append(state)
    return states


def setups(catalog: Catalog) -> Iterator[Setup]:
    """Each configuration a served call can meet: per called number's (flow, default language, speech), each state
    of the targets; a longest announcement with all targets open and all closed (it is said after the number)."""
    settings = catalog.settings
    dialling = [line for line in catalog.helplines.values() if line.transfer_to]
    states = target_states(catalog)
    announcement = tuple(
        (lang, announcement_text(settings.languages[lang].words_per_second, settings.budgets.announcement))
        for lang in settings.offered
    )
    seen: set[tuple[str, str, bool]] = set()
    for called in ("", *settings.called_numbers):
        serving = catalog.serving(called)
        own = serving.speech
        speech = settings.speech.enabled if own is None else own
        if (serving.flow, serving.default_language, speech) in seen:
            continue
        seen.add((serving.flow, serving.default_language, speech))
        who = f"calls to {called}" if called else "calls to any number"
        for index, combo in enumerate(states):
            open_targets = tuple(tuple(i for i, is_open in enumerate(line) if is_open) for line in combo)
            state = ""
            if dialling:
                shown = ["open" if all(line) else "closed" if not any(line) else "some open" for line in combo]
                state = ", targets " + ", ".join(f"{line.id} {s}" for line, s in zip(dialling, shown, strict=True))
            for notice in ((), announcement) if index < 2 else ((),):
                said = ", with a longest announcement" if notice else ""
                label = f"{who} (default {serving.default_language}, speech {'on' if speech else 'off'}{state}{said})"
                yield Setup(called, serving.flow, serving.default_language, speech, Now(open_targets, notice), label)


class Checker:
    """Walks every budget of every setup of one catalog."""

    def __init__(self, catalog: Catalog, duration_of: DurationOf | None = None) -> None:
        self.catalog = catalog
        languages = catalog.settings.languages
        self.speech_clock = SpeechClock(
            {code: ls.words_per_second for code, ls in languages.items()}, _no_announcement(duration_of)
        )
        self.ear = Ear(catalog, self.speech_clock)

    def walk(
        self, setup: Setup, engine: Engine, goal: Goal, policy: Policy, rules: Rules = SCRIPTED, memo: Memo | None = None
    ) -> Walk:
        return Walk(self.catalog, engine, self.ear, setup.called, goal, policy, rules, memo)

    def run(self) -> tuple[list[Worst], list[Unreached]]:
        worst: list[Worst] = []
        unreached: list[Unreached] = []
        for setup in setups(self.catalog):
            engine = FixedEngine(self.catalog, setup.now)
            worst += self.budgets(setup, engine)
            unreached += self.after_failures(setup, engine)
        return worst, unreached

    def budgets(self, setup: Setup, engine: Engine) -> list[Worst]:
        catalog = self.catalog
        b = catalog.settings.budgets
        start = engine.start(setup.called)
        flow = catalog.flows[setup.flow]
        welcome = flow.nodes[flow.start]
        found: list[Worst] = []
        shared: Memo = {}  # a caller who has chosen a language is walked once for the four goals
        for lang in catalog.settings.offered:
            goal = LineAnd112(catalog, unchosen=lang)
            everyone = self.walk(setup, engine, goal, EveryBehaviour(catalog, setup.speech), EVERYONE, shared)
            for context, path in everyone.worst(start).items():
                found.append(Worst("any_behaviour", context, b.any_behaviour, path, setup))
        keys = welcome.choices if isinstance(welcome, LanguageNode) else {"": setup.default_language}
        for key, lang in keys.items():
            first: tuple[tuple[str, str], ...] = ((f"after {lang}", key),) if key else ()
            found.append(self._one("time_to_human", lang, b.time_to_human, setup, engine, WayToPerson(catalog, lang), first))
            silent = self._one(
                "silent_after_language", lang, b.silent_after_language, setup, engine, LineAnd112(catalog, lang), first
            )
            found.append(silent)
            talk = self._one(
                "talk_now",
                lang,
                b.talk_now,
                setup,
                engine,
                WayToPerson(catalog, lang, True),
                (*first, ("start", flow.keys.talk_now)),
            )
            pressed = _press_time(start, first, self.speech_clock) if key else 0.0
            found.append(replace(talk, start=pressed))
            for wrong_key, wrong in keys.items():
                if not key or wrong == lang:
                    continue
                for where in (f"after {wrong}", "end"):
                    steps = ((where, wrong_key), ("start", key))
                    found.append(
                        self._one("wrong_language", lang, b.wrong_language, setup, engine, WayToPerson(catalog, lang), steps)
                    )
        return found

    def _one(
        self, budget: str, lang: str, limit: float, setup: Setup, engine: Engine, goal: Goal, steps: tuple[tuple[str, str], ...]
    ) -> Worst:
        walk = self.walk(setup, engine, goal, Script(steps, self.catalog))
        paths = walk.worst(engine.start(setup.called))
        path = paths.get(lang) or Path(NEVER, tuple(key for _, key in steps), "", "no path")
        return Worst(budget, lang, limit, path, setup)

    def after_failures(self, setup: Setup, engine: Engine) -> Iterator[Unreached]:
        """Each transfer node that dials, after its last open target failed."""
        flow = self.catalog.flows[setup.flow]
        for node in flow.nodes.values():
            if not isinstance(node, TransferNode) or node.helpline == EVERY_LINE:
                continue
            for lang in self.catalog.settings.offered:
                last = _last_dial(engine, flow.name, node.id, lang)
                if last is not None:
                    failed = engine.on_dial(UntrustedState(flow.name, node.id, lang, 0, 0, last), "no-answer", setup.called)
                    yield self._unreached(node, lang, setup, failed)

    def _unreached(self, node: TransferNode, lang: str, setup: Setup, turn: Turn) -> Unreached:
        line = self.catalog.line_for(lang) if node.helpline == LANGUAGE_LINE else self.catalog.helplines[node.helpline]
        said = [p for a in turn.actions if isinstance(a, (Say, Gather)) for p in a.parts]
        told = node.unreachable.parts(lang)
        says_so = bool(told) and tuple(said[: len(told)]) == tuple(told)
        t = 0.0
        for part in said:
            t += self.speech_clock.seconds(part)
            if isinstance(part, Speech) and says_number(part.text, line.spoken_number):
                return Unreached(node.id, lang, setup, says_so, t)
        return Unreached(node.id, lang, setup, says_so, NEVER)


def _last_dial(engine: Engine, flow: str, node: str, lang: str) -> int | None:
    """The index of the last target ``node`` dials for ``lang``, following failures from the first (None: it dials none)."""
    current = engine.enter(engine.catalog.flows[flow], State(flow, node, lang), "talk_now", engine.now())
    target: int | None = None
    for _ in range(64):
        dial = next((a for a in current.actions if isinstance(a, Dial)), None)
        if dial is None or dial.state is None:
            break
        target = dial.state.target
        current = engine.on_dial(UntrustedState(flow, node, lang, 0, 0, target), "no-answer", "")
    return target


def _press_time(start: Turn, steps: tuple[tuple[str, str], ...], speech_clock: SpeechClock) -> float:
    """Seconds into the call at which the first scripted key is pressed in the start turn."""
    gather = next((a for a in start.actions if isinstance(a, Gather)), None)
    if gather is None or not steps:
        return 0.0
    point = Script.point(gather, steps[0][0])
    before = sum(speech_clock.seconds(a_part) for a in start.actions if isinstance(a, Say) for a_part in a.parts)
    return before + speech_clock.total(gather.parts[:point])


def _no_announcement(duration_of: DurationOf | None) -> DurationOf | None:
    """Real audio lengths where known, except the announcement's, which is always estimated (it has no audio)."""
    if duration_of is None:
        return None
    return lambda speech: None if speech.key == ANNOUNCEMENT else duration_of(speech)


def worst_per_budget(found: list[Worst]) -> dict[tuple[str, str], Worst]:
    """The worst of each (budget, language) over every setup; on a tie, the path with fewer inputs."""
    out: dict[tuple[str, str], Worst] = {}
    for w in found:
        have = out.get((w.budget, w.lang))
        if have is None or w.seconds > have.seconds or (w.seconds == have.seconds and len(w.path.inputs) < len(have.path.inputs)):
            out[(w.budget, w.lang)] = w
    return out
