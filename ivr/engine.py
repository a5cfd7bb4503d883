"""The call-flow engine: pure functions from (state, caller input) to what happens next.

No Flask, no twilio, no I/O: every routing decision (a silent caller reaches the line, a
failed transfer says the number) is a plain function of its arguments and is tested as
such. The web layer turns a :class:`Turn` into TwiML.

The time of day and the operators' announcement enter a turn only through :class:`Now`
(which transfer targets are open, which announcement is on), so a turn is a function of
(state, key, number called, Now), which the web layer renders once (:mod:`ivr.service`). The
caller's words are turned into a key first (:mod:`ivr.understanding`), so no speech reaches a turn.

(Over 400 lines: every node kind's decisions, the rescue and the moment's ``Now`` are kept in
one module, so that everything a caller can hear next is read, and tested, in one place.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from ivr.announcements import Announcement
from ivr.model import (
    CONNECTS,
    EVERY_LINE,
    LANGUAGE_LINE,
    SAYS_NUMBER,
    Catalog,
    Flow,
    GoodbyeNode,
    Helpline,
    LanguageNode,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    PromptPart,
    Retry,
    Speech,
    Target,
    TransferNode,
)
from ivr.state import State, UntrustedState
from ivr.understanding import CRISIS, NOT_UNDERSTOOD, Recognised, understand, words_at

ONE_KEY = re.compile(r"[0-9*#]")  # ASCII only: str.isdigit() would accept '١' and '１'
CONNECTED = frozenset({"completed", "answered"})  # the DialCallStatus values of a caller put through


@dataclass(frozen=True, slots=True)
class Say:
    """Speech and pauses, each speech part in its own language."""

    parts: tuple[PromptPart, ...]


@dataclass(frozen=True, slots=True)
class SpeechInput:
    """Speech recognition for a <Gather>: the language it recognises and the words it should expect."""

    language: str
    hints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Gather:
    """Say ``parts`` while listening for one key (and speech, with ``listen``); silence continues at ``state``."""

    parts: tuple[PromptPart, ...]
    timeout: int
    state: State
    listen: SpeechInput | None = None


MAX_HINTS = 500  # Twilio's limit on <Gather hints>
ANNOUNCEMENT = "announcement"  # the Speech key of an operators' announcement: never built as audio


@dataclass(frozen=True, slots=True)
class Dial:
    """Ring ``targets`` at once (the first to answer is connected); the outcome is reported
    for ``state`` (None: fall through to the next verb). ``whisper`` names the line whose
    volunteer hears its whisper before the caller is put through ("": none)."""

    targets: tuple[Target, ...]
    timeout: int
    state: State | None
    whisper: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Action = Say | Gather | Dial | Hangup


@dataclass(frozen=True, slots=True)
class Turn:
    """One response to Twilio, with what the logs may say about it (no caller data)."""

    actions: tuple[Action, ...]
    node: str
    lang: str
    outcome: str
    state: State | None = field(default=None)  # where the call is now (the statistics' drop-off per node)
    # Worked out once: a turn is the key of the rendered TwiML and of the statistics' facts (see ivr.service).
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.actions, self.node, self.lang, self.outcome, self.state)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True)
class Now:
    """What the hour and the operators' announcement decide at one moment, for every call.

    ``open_targets`` holds the transfer targets open now (indexes) of each helpline that has
    any, in the catalog's order; ``announcement`` the (language, text) of the announcement on
    now. Two moments with the same Now get the same turns.
    """

    open_targets: tuple[tuple[int, ...], ...]
    announcement: tuple[tuple[str, str], ...] = ()


def _parts(prompt: Prompt, langs: tuple[str, ...]) -> tuple[PromptPart, ...]:
    return tuple(part for lang in langs for part in prompt.parts(lang))


class Engine:
    """Routes calls through the flows of one loaded :class:`Catalog`."""

    def __init__(
        self,
        catalog: Catalog,
        clock: Callable[[], datetime | None] = lambda: None,
        notice: Callable[[], Announcement | None] = lambda: None,
    ) -> None:
        """``clock`` gives the time for opening hours (None: every target open, as ``ivr validate`` times
        calls); ``notice`` gives the operators' announcement, if any."""
        self.catalog = catalog
        self.clock = clock
        self.notice = notice
        # Only lines with transfer targets have hours that matter: a line without any never dials.
        self._dialling = tuple(line for line in catalog.helplines.values() if line.transfer_to)
        self._line_index = {line.id: i for i, line in enumerate(self._dialling)}

    def now(self) -> Now:
        """The transfer targets open and the announcement on at ``clock()`` (every target, no announcement, without a clock)."""
        instant = self.clock()
        open_targets = tuple(line.open_targets(instant) for line in self._dialling)
        notice = self.notice()
        if notice is None or instant is None or not notice.active(instant):
            return Now(open_targets)
        return Now(open_targets, tuple(sorted(notice.text.items())))

    def _open(self, line: Helpline, now: Now) -> tuple[int, ...]:
        index = self._line_index.get(line.id)
        return () if index is None else now.open_targets[index]

    def talk_mode(self, lang: str, now: Now) -> str:
        """What the talk-now key does for a caller of ``lang`` at ``now``, so prompts describe it truly."""
        return CONNECTS if self._open(self.catalog.line_for(lang), now) else SAYS_NUMBER

    @staticmethod
    def _announcement(lang: str, now: Now) -> tuple[PromptPart, ...]:
        """The operators' announcement in ``lang`` when one is on, said before the line."""
        text = dict(now.announcement).get(lang)
        return (Speech(ANNOUNCEMENT, lang, text),) if text else ()

    def _say(self, prompt: Prompt, langs: tuple[str, ...], now: Now) -> tuple[PromptPart, ...]:
        """``prompt`` in each of ``langs``, each in the wording that fits this call."""
        return tuple(part for lang in langs for part in prompt.parts(lang, self.talk_mode(lang, now)))

    def _first_and_offered(self, lang: str) -> tuple[str, ...]:
        """``lang``, then every other offered language in the welcome's order."""
        return (lang, *(other for other in self.catalog.settings.offered if other != lang))

    # --- entry points -------------------------------------------------------------

    def start(self, called: str) -> Turn:
        """A new call to our number ``called``."""
        return self._start(called, self.now())

    def on_input(self, claimed: UntrustedState, digits: str | None, called: str, recognised: Recognised | None = None) -> Turn:
        """The caller pressed ``digits``, or said ``recognised`` (both empty: silence), at the claimed state."""
        now = self.now()
        state = self.resolve(claimed, called)
        if state is None:
            return self._start(called, now)
        key = digits[0] if digits and ONE_KEY.fullmatch(digits[0]) and len(digits) == 1 else None
        wrong = bool(digits) and key is None  # garbage counts as a wrong key
        spoken = ""
        if not digits and recognised is not None and recognised.text.strip() and self.speech_on(called):
            flow = self.catalog.flows[state.flow]
            understood = understand(
                flow, flow.nodes[state.node], state.lang, recognised, self.catalog.settings.speech.min_confidence
            )
            if understood in (CRISIS, NOT_UNDERSTOOD):
                spoken = understood
            else:
                key = understood
        return self._answer(state, key, wrong, called, now, spoken)

    def on_dial(self, claimed: UntrustedState, status: str | None, called: str) -> Turn:
        """A transfer attempt ended with Twilio's ``DialCallStatus``."""
        now = self.now()
        state = self.resolve(claimed, called)
        if state is None:
            return self._start(called, now)
        return self._dial_ended(state, status in CONNECTED, called, now)

    # --- the turns: each a function of (question, Now) ---------------------------------------

    def _start(self, called: str, now: Now) -> Turn:
        serving = self.catalog.serving(called)
        flow = self.catalog.flows[serving.flow]
        first = State(flow.name, flow.start, serving.default_language)
        return self._listening(self.enter(flow, first, "start", now), called, now)

    def _answer(self, state: State, key: str | None, wrong: bool, called: str, now: Now, spoken: str = "") -> Turn:
        if spoken == CRISIS:
            return self._listening(self._crisis(state, now), called, now)
        if spoken == NOT_UNDERSTOOD:
            return self._listening(self._not_understood(state, now), called, now)
        return self._listening(self._on_input(state, key, wrong, now), called, now)

    def _dial_ended(self, state: State, connected: bool, called: str, now: Now) -> Turn:
        return self._listening(self._on_dial(state, connected, now), called, now)

    # --- speech -------------------------------------------------------------------------

    def speech_on(self, called: str) -> bool:
        """Whether callers of ``called`` may speak: the number's own setting, else the deployment's."""
        own = self.catalog.serving(called).speech
        return self.catalog.settings.speech.enabled if own is None else own

    def _listening(self, turn: Turn, called: str, now: Now) -> Turn:
        """With speech on for this number, each <Gather> also listens, for the words of its node."""
        if not self.speech_on(called) or not any(isinstance(a, Gather) for a in turn.actions):
            return turn
        actions: list[Action] = []
        for action in turn.actions:
            if isinstance(action, Gather):
                flow = self.catalog.flows[action.state.flow]
                node = flow.nodes[action.state.node]
                hints = tuple(words_at(flow, node, action.state.lang))[:MAX_HINTS]
                language = self.catalog.settings.languages[action.state.lang].speech_language
                # A menu may tell the caller that words work too (after its prompt, so the way to a person stays first).
                invite = self._say(node.speech_prompt, (action.state.lang,), now) if isinstance(node, MenuNode) else ()
                action = replace(action, parts=action.parts + invite, listen=SpeechInput(language, hints))
            actions.append(action)
        return replace(turn, actions=tuple(actions))

    # --- the steps of a call --------------------------------------------------------------

    def _crisis(self, state: State, now: Now) -> Turn:
        """Words of crisis: straight to the line (connected, or its number) and 112; before a language, every line."""
        flow = self.catalog.flows[state.flow]
        node = flow.nodes[state.node]
        if isinstance(node, LanguageNode):
            return self.enter(flow, state.at(node.talk_now), "crisis", now)
        if isinstance(node, TransferNode) and node.helpline == EVERY_LINE:
            return self.enter(flow, state.at(node.id), "crisis", now)
        turn = self.enter(flow, state.at(flow.talk_now), "crisis", now)
        said = self._say(flow.crisis.prompt, (state.lang,), now) if flow.crisis is not None else ()
        # A <Say> of its own: no key or word cuts 112 and the line's number short.
        return replace(turn, actions=(Say(said), *turn.actions)) if said else turn

    def _not_understood(self, state: State, now: Now) -> Turn:
        """Words that matched nothing: a re-prompt of their own (it speaks of no key), counted as a wrong key."""
        flow = self.catalog.flows[state.flow]
        node = flow.nodes[state.node]
        if isinstance(node, (MenuNode, LanguageNode)):
            return self._retry(flow, node, state, now, silent=False, reprompt=node.not_understood)
        return self._on_input(state, None, True, now)

    def _on_input(self, state: State, key: str | None, wrong: bool, now: Now) -> Turn:
        flow = self.catalog.flows[state.flow]
        node = flow.nodes[state.node]
        choices = flow.language_choices()
        if key is not None and key in choices and not isinstance(node, LanguageNode):
            # The way back from a wrong language: the welcome's keys choose a language here too.
            start = flow.nodes[flow.start]
            assert isinstance(start, LanguageNode)
            return self.enter(flow, state.at(start.next, lang=choices[key]), "language", now)
        if isinstance(node, LanguageNode):
            if key is not None and key in node.choices:
                return self.enter(flow, state.at(node.next, lang=node.choices[key]), "language", now)
            if key == flow.keys.talk_now:
                return self.enter(flow, state.at(node.talk_now), "talk_now", now)
            return self._retry(flow, node, state, now, silent=not key and not wrong)
        if isinstance(node, TransferNode) and node.helpline == EVERY_LINE:
            return self._after_every_line(flow, node, state, key, wrong, now)
        if key is not None:
            global_key = flow.keys.as_map().get(key)
            if global_key == "talk_now":
                return self.enter(flow, state.at(flow.talk_now), "talk_now", now)
            if global_key == "main_menu":
                return self.enter(flow, state.at(flow.main_menu), "main_menu", now)
            if global_key == "repeat":
                return self.enter(flow, state.at(node.id, target=state.target), "repeat", now)
        if isinstance(node, MenuNode):
            if key is not None and key in node.options:
                return self.enter(flow, state.at(node.options[key]), "option", now)
            return self._retry(flow, node, state, now, silent=not key and not wrong)
        if isinstance(node, MessageNode):
            return self.enter(flow, state.at(node.next), "next", now)
        if isinstance(node, TransferNode):
            if key is None and not wrong:
                return Turn((Hangup(),), node.id, state.lang, "end_after_number")
            return self.enter(flow, state.at(node.id, target=state.target), "repeat", now)
        return self.enter(flow, state, "goodbye", now)

    def _on_dial(self, state: State, connected: bool, now: Now) -> Turn:
        flow = self.catalog.flows[state.flow]
        node = flow.nodes[state.node]
        if not isinstance(node, TransferNode):
            return self.enter(flow, state.at(flow.talk_now), "talk_now", now)
        if connected:
            return Turn((Hangup(),), node.id, state.lang, "transfer_done")
        # busy, no-answer, failed, canceled or anything unexpected: try the next number.
        return self.enter(flow, state.at(node.id, target=state.target + 1), "transfer_failed", now)

    def rescue(self, called: str, *, dials: bool = True) -> Turn:
        """What to say when anything went wrong: every offered language, the caller's first.

        With ``dials`` False it only speaks (the lines' public numbers and 112): the rescue for
        a request that may not be Twilio's, which must learn no transfer target.
        """
        serving = self.catalog.serving(called)
        flow = self.catalog.flows[serving.flow]
        langs = self._first_and_offered(serving.default_language)
        line = self.catalog.line_for(serving.default_language)
        actions: list[Action] = [Say(_parts(flow.rescue, langs))]
        targets = tuple(line.transfer_to[i] for i in self._open(line, self.now())) if dials else ()
        if targets:
            # Said before the ring, so that the caller stays on the line instead of hanging up to dial.
            actions.append(Say(flow.rescue_connecting.parts(serving.default_language)))
            # One <Dial> ringing every open target at once: with no action URL Twilio goes on to the
            # next verb after it, so a second <Dial> would ring another line after a call ended.
            actions.append(Dial(targets, self.catalog.settings.ring_timeout, None, line.id if line.whisper else ""))
            actions.append(Say(_parts(flow.rescue, langs)))
        actions.append(Hangup())
        return Turn(tuple(actions), "rescue", serving.default_language, "rescue")

    # --- states ---------------------------------------------------------------------

    def resolve(self, claimed: UntrustedState, called: str) -> State | None:
        """Turn claimed state into a real one; None means: start the call again."""
        serving = self.catalog.serving(called)
        flow = self.catalog.flows.get(claimed.flow or "") or self.catalog.flows[serving.flow]
        lang = claimed.lang if claimed.lang in self.catalog.settings.offered else None
        if lang is None:
            return None
        node = claimed.node if claimed.node is not None and claimed.node in flow.nodes else flow.main_menu
        return State(flow.name, node, lang, claimed.no_input, claimed.wrong_key, claimed.target)

    # --- rendering nodes --------------------------------------------------------------

    def enter(self, flow: Flow, state: State, outcome: str, now: Now, reprompt: Prompt | None = None) -> Turn:
        """What the caller hears on arriving at ``state.node``."""
        node: Node = flow.nodes[state.node]
        lang = state.lang
        mine = (lang,)
        actions: tuple[Action, ...]
        if isinstance(node, LanguageNode):
            offered = self.catalog.settings.offered
            parts = (self._say(reprompt, offered, now) if reprompt else ()) + self._say(node.prompt, offered, now)
            actions = (Gather(parts, node.timeout, state),)
        elif isinstance(node, MenuNode):
            parts = (self._say(reprompt, mine, now) if reprompt else ()) + self._say(node.prompt, mine, now)
            actions = (Gather(parts, node.timeout, state),)
        elif isinstance(node, MessageNode):
            actions = (Gather(self._say(node.prompt, mine, now) + self._say(node.after, mine, now), node.timeout, state),)
        elif isinstance(node, TransferNode) and node.helpline == EVERY_LINE:
            every = self._first_and_offered(lang)
            told = State(state.flow, node.id, lang, no_input=state.no_input)
            actions = (Gather(self._say(node.call_yourself, every, now) + self._say(node.after, every, now), node.timeout, told),)
        elif isinstance(node, TransferNode):
            line = self.catalog.line_for(lang) if node.helpline == LANGUAGE_LINE else self.catalog.helplines[node.helpline]
            # Targets are tried in order from state.target, skipping those closed now; then the number is said.
            nxt = next((i for i in self._open(line, now) if i >= state.target), None)
            if nxt is not None:
                dialled = State(state.flow, node.id, lang, target=nxt)
                whisper = line.id if line.whisper else ""
                actions = (
                    Say(self._say(node.connecting, mine, now)),
                    Dial((line.transfer_to[nxt],), self.catalog.settings.ring_timeout, dialled, whisper),
                )
            else:
                told = State(state.flow, node.id, lang, target=len(line.transfer_to))
                # After a failed transfer, first that nobody could be reached; the announcement only once
                # the number and 112 have been said, so that it delays no way to a person.
                # The number and 112 in a <Say>: no key or word cuts them short (a caller pressing the talk-now
                # key again and again would otherwise never hear them).
                failed = self._say(node.unreachable, mine, now) if outcome == "transfer_failed" else ()
                after = self._announcement(lang, now) + self._say(node.after, mine, now)
                actions = (Say(failed + self._say(node.call_yourself, mine, now)), Gather(after, node.timeout, told))
        else:
            assert isinstance(node, GoodbyeNode)
            actions = (Say(self._say(node.prompt, mine, now)), Hangup())
        return Turn(actions, node.id, lang, outcome, state)

    def _after_every_line(self, flow: Flow, node: TransferNode, state: State, key: str | None, wrong: bool, now: Now) -> Turn:
        """After every language's line: a language key still chooses; silence hears it all once more, then ends."""
        start = flow.nodes[flow.start]
        if key is not None and isinstance(start, LanguageNode) and key in start.choices:
            return self.enter(flow, state.at(start.next, lang=start.choices[key]), "language", now)
        if key is not None or wrong:
            # Any other key or word says every line again: going back to the welcome would put them further away.
            return self.enter(flow, state.at(node.id), "repeat", now)
        if state.no_input < 1:
            return self.enter(flow, State(flow.name, node.id, state.lang, no_input=state.no_input + 1), "repeat", now)
        return Turn((Hangup(),), node.id, state.lang, "end_after_number")

    def _retry(
        self, flow: Flow, node: MenuNode | LanguageNode, state: State, now: Now, *, silent: bool, reprompt: Prompt | None = None
    ) -> Turn:
        policy: Retry = node.no_input if silent else node.wrong_key
        count = (state.no_input if silent else state.wrong_key) + 1
        if count > policy.retries:
            return self.enter(flow, state.at(node.after_retries), "retries_exhausted", now)
        if silent:
            again = State(state.flow, node.id, state.lang, count, state.wrong_key)
        else:
            again = State(state.flow, node.id, state.lang, state.no_input, count)
        return self.enter(flow, again, "no_input" if silent else "wrong_key", now, reprompt or policy.reprompt)
