"""How long a caller waits for a human: spoken lengths, added up along the real call paths.

(Over 400 lines because the walk, its goals and the report of what they found are one piece: a
figure's steps, its budget and the fix the loader prints are read together.)

Pure: no Flask, no twilio. It asks the :class:`~ivr.engine.Engine` what a caller hears
after each key and each silence, exactly as a call would, and adds up the seconds. A
prompt lasts as long as its audio when that is known (``duration_of``, e.g. from the
audio manifest), otherwise its words divided by the language's ``words_per_second``
(a digit said on its own is a word); a pause lasts its seconds. Network and TTS start-up
delays are not counted.

What is measured, per language, and checked against ``budgets`` in settings.yaml:

hears the line (``time_to_human``)
    From the start of the call until the caller has heard how to reach the listening
    line: the end of the first prompt in their language that says the line's number,
    or the talk-now key where that key works. Everything said before it counts, other
    languages' parts of the welcome included. The caller presses their language key
    when their own language's part of the welcome ends, then just listens.
language key, then talk-now key (``talk_now``)
    The caller presses the language key, then the talk-now key as soon as a menu listens
    (keys interrupt prompts inside ``<Gather>``): seconds of audio until the transfer
    starts or the line's number has been said once.
silence (``silence``)
    A caller who presses only the language key: every prompt and every ``<Gather>``
    timeout, re-prompts included, until the transfer starts or the line's number has been
    said. A caller who never presses anything (for each called number), and one who
    presses the talk-now key at the welcome, before choosing a language: until every
    offered language's line and every ``welcome_names`` line (112) has been said in each
    offered language, since nothing tells us which language the caller understands.

The welcome must also say the numbers of the lines listed in ``welcome_names`` (e.g.
112) in every language: in the caller's part of the first prompt, or in the first prompt
they hear after their language key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ivr.engine import Action, Dial, Engine, Gather, Hangup, Say, Turn
from ivr.errors import ConfigError
from ivr.model import Catalog, Flow, Helpline, LanguageNode, Pause, PromptPart, Speech, spoken_key
from ivr.state import State, UntrustedState
from ivr.yamlio import Mark

DurationOf = Callable[[Speech], float | None]
MAX_TURNS = 50  # a silence path is checked to end (ivr.checks); this only guards the walk itself


# --- the length of what is said ---------------------------------------------------------


def word_count(text: str) -> int:
    """Words as a voice says them: "1 0 6" is three words, punctuation is none."""
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def says_number(text: str, spoken_number: str) -> bool:
    """Whether ``text`` says the number ``spoken_number`` ("1 0 6"), not as part of a longer one."""
    return re.search(rf"(?<![0-9])(?<![0-9] ){re.escape(spoken_number)}(?! [0-9])(?![0-9])", text) is not None


def says_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


@dataclass(frozen=True, slots=True)
class Clock:
    """Seconds of speech and pauses for one catalog's languages."""

    words_per_second: Mapping[str, float]
    duration_of: DurationOf | None = None

    def seconds(self, part: PromptPart) -> float:
        if isinstance(part, Pause):
            return float(part.seconds)
        if self.duration_of is not None:
            real = self.duration_of(part)
            if real is not None:
                return real
        return word_count(part.text) / self.words_per_second[part.lang]

    def total(self, parts: Iterable[PromptPart]) -> float:
        return sum(self.seconds(p) for p in parts)


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured path: how long it took (None: it never got there), and where the time went."""

    seconds: float | None
    budget: float
    steps: tuple[tuple[str, float], ...]  # (node, seconds spent there), in call order
    end: str  # the node where the line was reached, or the last one visited

    @property
    def within(self) -> bool:
        return self.seconds is not None and round(self.seconds, 1) <= self.budget

    def breakdown(self) -> str:
        return " + ".join(f"{node} {seconds:.1f} s" for node, seconds in self.steps if seconds) or "nothing said"

    def shown(self) -> str:
        return "never" if self.seconds is None else f"{self.seconds:.1f}"


@dataclass(frozen=True, slots=True)
class LanguageTimes:
    """The figures of a caller who chooses ``lang`` with ``key`` (None: the flow asks no language)."""

    lang: str
    key: str | None
    chosen: str  # the node the language key leads to
    hears_line: Figure
    talk_now: Figure
    silent_after_key: Figure
    welcome_misses: tuple[str, ...]  # ids of welcome_names lines the welcome does not say in this language


@dataclass(frozen=True, slots=True)
class SilentCaller:
    """A caller who never presses a key, on the numbers that give them ``default_language``."""

    called: tuple[str, ...]  # our numbers; "" stands for every number not listed in settings
    default_language: str
    figure: Figure  # until every offered language's line and 112 have been said, each in every language
    talk_now_first: Figure | None  # the same for a caller who presses talk-now at the welcome (None: no welcome)


@dataclass(frozen=True, slots=True)
class FlowTimes:
    """The figures of one served flow."""

    flow: Flow
    languages: tuple[LanguageTimes, ...]  # one per language a caller can choose, in menu order
    silent: tuple[SilentCaller, ...]  # one per default language our numbers give this flow


def _merge(steps: list[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    merged: list[tuple[str, float]] = []
    for node, seconds in steps:
        if merged and merged[-1][0] == node:
            merged[-1] = (node, merged[-1][1] + seconds)
        else:
            merged.append((node, seconds))
    return tuple(merged)


def _claim(state: State) -> UntrustedState:
    return UntrustedState(state.flow, state.node, state.lang, state.no_input, state.wrong_key, state.target)


# What a walk is looking for: a speech heard inside an action of a turn.
Goal = Callable[[Speech, Action, Turn], bool]


class _Walk:
    """Follows a call through the engine, listening, and keeps the time."""

    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog = catalog
        self.engine = Engine(catalog)
        self.clock = clock
        self.numbers = sorted((line.spoken_number for line in catalog.helplines.values()), key=len, reverse=True)

    def press(self, state: State, key: str | None) -> Turn:
        return self.engine.on_input(_claim(state), key, "")

    def listen(
        self, turn: Turn, goal: Goal, budget: float, *, seconds: float = 0.0, steps: tuple[tuple[str, float], ...] = ()
    ) -> Figure:
        """Hear ``turn`` and whatever silence leads to, until ``goal`` is heard or a transfer starts."""
        clock = seconds
        done = list(steps)
        for _ in range(MAX_TURNS):
            spent = 0.0
            following: Turn | None = None
            for action in turn.actions:
                if isinstance(action, Dial):
                    done.append((turn.node, spent))
                    return Figure(clock + spent, budget, _merge(done), turn.node)
                if isinstance(action, Hangup):
                    done.append((turn.node, spent))
                    return Figure(None, budget, _merge(done), turn.node)
                for part in action.parts:
                    spent += self.clock.seconds(part)
                    if isinstance(part, Speech) and goal(part, action, turn):
                        done.append((turn.node, spent))
                        return Figure(clock + spent, budget, _merge(done), turn.node)
                if isinstance(action, Gather):
                    spent += action.timeout
                    following = self.press(action.state, None)
                    break
            done.append((turn.node, spent))
            clock += spent
            if following is None:
                return Figure(None, budget, _merge(done), turn.node)
            turn = following
        return Figure(None, budget, _merge(done), turn.node)

    # --- goals -----------------------------------------------------------------------------

    def every_line(self) -> Goal:
        """Each offered language's line, and each ``welcome_names`` line, said in every offered language."""
        catalog = self.catalog
        names = [catalog.helplines[name].spoken_number for name in catalog.settings.welcome_names]
        wanted = {
            (lang, number) for lang in catalog.settings.offered for number in (catalog.line_for(lang).spoken_number, *names)
        }
        heard: set[tuple[str, str]] = set()

        def goal(speech: Speech, action: Action, turn: Turn) -> bool:
            heard.update((lang, number) for lang, number in wanted if lang == speech.lang and says_number(speech.text, number))
            return heard == wanted

        return goal

    def reaches(self, line: Helpline, lang: str) -> Goal:
        """The line's number said in ``lang`` (a transfer that starts is always a goal)."""
        spoken = line.spoken_number
        return lambda speech, action, turn: speech.lang == lang and says_number(speech.text, spoken)

    def hears_how(self, flow: Flow, line: Helpline, lang: str) -> Goal:
        """The line's number, or the talk-now key said where pressing it reaches this language's line."""
        key_word = spoken_key(flow.keys.talk_now, lang)
        numbers = self.numbers

        def goal(speech: Speech, action: Action, turn: Turn) -> bool:
            if speech.lang != lang:
                return False
            if says_number(speech.text, line.spoken_number):
                return True
            if not isinstance(action, Gather):
                return False  # keys pressed during a <Say> outside <Gather> are lost
            if isinstance(flow.nodes[action.state.node], LanguageNode) and action.state.lang != lang:
                return False  # there the key would reach the default language's line
            text = speech.text
            for number in numbers:
                text = text.replace(number, " ")
            return says_word(text, key_word)

        return goal


def _welcome_part(turn: Turn, lang: str) -> tuple[tuple[PromptPart, ...], Gather | None]:
    """What a caller of ``lang`` hears of the start turn before pressing their language key."""
    parts: list[PromptPart] = []
    for action in turn.actions:
        if isinstance(action, Say):
            parts += action.parts
        elif isinstance(action, Gather):
            mine = [i for i, p in enumerate(action.parts) if isinstance(p, Speech) and p.lang == lang]
            parts += action.parts[: (mine[-1] + 1) if mine else len(action.parts)]
            return tuple(parts), action
        else:
            break
    return tuple(parts), None


def _until_listening(turn: Turn) -> tuple[tuple[PromptPart, ...], Gather | None, bool]:
    """The speech of ``turn`` a caller cannot interrupt, the first <Gather>, and whether a transfer starts first."""
    parts: list[PromptPart] = []
    for action in turn.actions:
        if isinstance(action, Gather):
            return tuple(parts), action, False
        if isinstance(action, Dial):
            return tuple(parts), None, True
        if isinstance(action, Say):
            parts += action.parts
    return tuple(parts), None, False


def _said(turn: Turn, lang: str) -> str:
    return " ".join(
        p.text for a in turn.actions if isinstance(a, (Say, Gather)) for p in a.parts if isinstance(p, Speech) and p.lang == lang
    )


def _welcome(walk: _Walk, start: Turn, key: str | None, lang: str, goal: Goal, budget: float) -> tuple[Turn, Figure]:
    """The turn after the language key, and when the caller has heard ``goal`` (from the start of the call)."""
    heard, gather = _welcome_part(start, lang)
    if key is None or gather is None:
        return start, walk.listen(start, goal, budget)  # the flow asks no language: it starts in the caller's
    seconds = 0.0
    for part in heard:
        seconds += walk.clock.seconds(part)
        if isinstance(part, Speech) and goal(part, gather, start):
            return walk.press(gather.state, key), Figure(seconds, budget, ((start.node, seconds),), start.node)
    chosen = walk.press(gather.state, key)
    return chosen, walk.listen(chosen, goal, budget, seconds=seconds, steps=((start.node, seconds),))


def _measure_language(walk: _Walk, flow: Flow, start: Turn, lang: str, key: str | None) -> LanguageTimes:
    settings = walk.catalog.settings
    line = walk.catalog.line_for(lang)
    reaches = walk.reaches(line, lang)
    chosen, hears_line = _welcome(walk, start, key, lang, walk.hears_how(flow, line, lang), settings.time_to_human_budget)
    # Language key, then the talk-now key as soon as something listens for it.
    before, listening, transfers = _until_listening(chosen)
    waited = walk.clock.total(before)
    if transfers or listening is None:
        talk_now = Figure(waited if transfers else None, settings.talk_now_budget, ((chosen.node, waited),), chosen.node)
    else:
        pressed = walk.press(listening.state, flow.keys.talk_now)
        steps = ((chosen.node, waited),) if waited else ()
        talk_now = walk.listen(pressed, reaches, settings.talk_now_budget, seconds=waited, steps=steps)
    silent = walk.listen(chosen, reaches, settings.silence_budget)
    said = _said(chosen, lang) + (" " + _said(start, lang) if chosen is not start else "")
    misses = tuple(name for name in settings.welcome_names if not says_number(said, walk.catalog.helplines[name].spoken_number))
    return LanguageTimes(lang, key, chosen.node, hears_line, talk_now, silent, misses)


def measure(catalog: Catalog, duration_of: DurationOf | None = None) -> list[FlowTimes]:
    """The figures of every flow our numbers serve, walked through the engine."""
    settings = catalog.settings
    walk = _Walk(catalog, Clock({code: ls.words_per_second for code, ls in settings.languages.items()}, duration_of))
    served: dict[str, dict[str, list[str]]] = {}
    for called in ("", *settings.called_numbers):
        serving = catalog.serving(called)
        served.setdefault(serving.flow, {}).setdefault(serving.default_language, []).append(called)
    times: list[FlowTimes] = []
    for flow_name, by_default in served.items():
        flow = catalog.flows[flow_name]
        languages: dict[str, LanguageTimes] = {}
        silent: list[SilentCaller] = []
        for default, numbers in by_default.items():
            start = walk.engine.start(numbers[0])
            node = flow.nodes[flow.start]
            choices: list[tuple[str, str | None]]
            if isinstance(node, LanguageNode):
                choices = [(lang, k) for lang in settings.offered for k, chosen in node.choices.items() if chosen == lang]
            else:
                choices = [(default, None)]  # the flow asks no language: the caller keeps the number's
            for lang, key in choices:
                if lang not in languages:
                    languages[lang] = _measure_language(walk, flow, start, lang, key)
            figure = walk.listen(start, walk.every_line(), settings.silence_budget)
            first = next((a for a in start.actions if isinstance(a, Gather)), None)
            talk_now_first = None
            if isinstance(node, LanguageNode) and first is not None:
                heard = walk.clock.total(first.parts)  # the whole welcome, then the key
                pressed = walk.press(first.state, flow.keys.talk_now)
                steps = ((start.node, heard),)
                talk_now_first = walk.listen(pressed, walk.every_line(), settings.silence_budget, seconds=heard, steps=steps)
            silent.append(SilentCaller(tuple(numbers), default, figure, talk_now_first))
        ordered = sorted(languages.values(), key=lambda lt: settings.offered.index(lt.lang))
        times.append(FlowTimes(flow, tuple(ordered), tuple(silent)))
    return times


# --- checks and report -----------------------------------------------------------------------


def _numbers(called: tuple[str, ...]) -> str:
    listed = [n for n in called if n]
    if "" in called:
        return "any number" if not listed else ", ".join(listed) + " and any number not listed"
    return ", ".join(listed)


def check_calls(
    catalog: Catalog, marks: Mapping[str, Mapping[str, Mark]] | None = None, duration_of: DurationOf | None = None
) -> list[ConfigError]:
    """Every budget a served call goes over, and every language whose welcome misses a line, as located errors."""
    errors: list[ConfigError] = []
    for times in measure(catalog, duration_of):
        errors += _problems(catalog, times, (marks or {}).get(times.flow.name, {}))
    return errors


def _outcome(fig: Figure, verb: str, what: str, unit: str = "") -> str:
    """``verb what after 12.3 s (budget 20 s): where the time went``, or that it never happens."""
    if fig.seconds is None:
        return f"never {verb} {what}: {fig.breakdown()}, and there the call ends"
    return f"{verb} {what} after {fig.seconds:.1f} s{unit} (budget {fig.budget:g} s): {fig.breakdown()}"


def _problems(catalog: Catalog, times: FlowTimes, node_marks: Mapping[str, Mark]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    flow = times.flow
    talk = flow.keys.talk_now
    silence_hint = "use fewer no_input retries, shorter timeouts or shorter prompts on the way (budgets.silence)"
    named = [catalog.helplines[name].name for name in catalog.settings.welcome_names]
    every = "every offered language's line" + (" and " + ", ".join(named) if named else "")
    every_hint = "lead there to a transfer node with 'helpline: every', and keep the welcome and its re-prompts short"

    def error(node: str, message: str, hint: str, fig: Figure | None = None) -> None:
        if fig is not None and fig.seconds is None and hint != every_hint:
            hint = "let this path say {number:line} or lead to the talk-now transfer"
        errors.append(ConfigError(node_marks.get(node, Mark(flow.file, 1, 1)), f"nodes.{node}", message, hint))

    for lt in times.languages:
        name = catalog.settings.languages[lt.lang].name
        who = f"{name} callers" + (f" (key {lt.key})" if lt.key else "")
        line = catalog.line_for(lt.lang).name
        if not lt.hears_line.within:
            error(
                lt.hears_line.end,
                f"{who} {_outcome(lt.hears_line, 'hear', f'how to reach {line}')}",
                "say {key:talk_now} or {number:line} sooner, or shorten what comes before it (budgets.time_to_human)",
                lt.hears_line,
            )
        if not lt.talk_now.within:
            error(
                lt.talk_now.end,
                f"{who} who press {talk} {_outcome(lt.talk_now, 'reach', line, ' of audio')}",
                "connect sooner, or say {number:line} sooner in the talk-now transfer (budgets.talk_now)",
                lt.talk_now,
            )
        if not lt.silent_after_key.within:
            message = f"{who} who then press nothing {_outcome(lt.silent_after_key, 'reach', line)}"
            error(lt.chosen, message, silence_hint, lt.silent_after_key)
        for missing in lt.welcome_misses:
            said = catalog.helplines[missing]
            error(
                lt.chosen,
                f"the {name} welcome does not say {said.name} ({said.spoken_number})",
                f"say {{number:{missing}}} in the {name} text before the first menu (welcome_names in settings.yaml)",
            )
    for sc in times.silent:
        who = f"a caller who presses nothing (calls to {_numbers(sc.called)})"
        if not sc.figure.within:
            error(flow.start, f"{who} {_outcome(sc.figure, 'hears', every)}", every_hint, sc.figure)
        if sc.talk_now_first is not None and not sc.talk_now_first.within:
            who = f"a caller who presses {talk} at the welcome (calls to {_numbers(sc.called)})"
            error(flow.start, f"{who} {_outcome(sc.talk_now_first, 'hears', every)}", every_hint, sc.talk_now_first)
    return errors


def format_times(catalog: Catalog, times: list[FlowTimes], *, measured: bool = False) -> str:
    """The figures as ``ivr validate`` prints them: one table per served flow."""
    s = catalog.settings
    how = "real audio lengths where known, else words per second" if measured else "estimated from words per second"
    lines: list[str] = []
    for ft in times:
        talk = ft.flow.keys.talk_now
        lines.append(f"Time to a human in {ft.flow.file} (seconds, {how}):")
        lines.append(f"  {'language':<18}{'key':<5}{'hears the line':>16}{f'key, then {talk}':>14}{'key, then silence':>19}")
        for lt in ft.languages:
            # A language spoken with <Say> plays no file: its figures stay estimates.
            said = " *" if measured and s.languages[lt.lang].said else ""
            label = f"{s.languages[lt.lang].name} ({lt.lang}){said}"
            figures = f"{lt.hears_line.shown():>16}{lt.talk_now.shown():>14}{lt.silent_after_key.shown():>19}"
            lines.append(f"  {label:<18}{lt.key or '-':<5}{figures}")
        lines.append(f"  {'budget':<23}{s.time_to_human_budget:>16g}{s.talk_now_budget:>14g}{s.silence_budget:>19g}")
        if measured and any(s.languages[lt.lang].said for lt in ft.languages):
            lines.append("  * spoken with <Say> (speak_with: say): estimated from words per second, not measured")
        named = ", ".join(catalog.helplines[name].name for name in s.welcome_names) or "no other line"
        for sc in ft.silent:
            first = f"; pressing {talk} at the welcome: after {sc.talk_now_first.shown()} s" if sc.talk_now_first else ""
            lines.append(
                f"  Every language's line and {named} (calls to {_numbers(sc.called)}), pressing nothing: "
                f"after {sc.figure.shown()} s{first} (budget {s.silence_budget:g})."
            )
    return "\n".join(lines)
