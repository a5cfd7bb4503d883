"""The typed, frozen model of call flows and configuration.

Only the loader builds these objects; everything else reads them and never sees a dict.
Prompt texts are final: placeholders such as ``{number:line}`` are expanded at load time,
so the words a caller hears are known before the first call (and can be timed and
turned into audio).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

from ivr.hours import Schedule

# Phone keys a menu can use, in keypad order.
PHONE_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")

# How the two keys that are not digits are called, per language.
_KEY_WORDS = {
    "nl": {"*": "sterretje", "#": "hekje"},
    "fr": {"*": "étoile", "#": "dièse"},
    "de": {"*": "Stern", "#": "Raute"},
    "en": {"*": "star", "#": "hash"},
}


def spoken_key(key: str, lang: str) -> str:
    """The word for ``key`` in ``lang``: digits are said as digits, ``*`` as "sterretje", "étoile"…"""
    return _KEY_WORDS.get(lang, {}).get(key, key)


K = TypeVar("K")
V = TypeVar("V")


def frozen_map(d: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only copy: the model is frozen all the way down."""
    return MappingProxyType(dict(d or {}))


# SIP credentials come only from the environment, never from YAML: a target's ``credentials: NAME``
# names the two variables below (ivr.settings reads them).
SIP_VARIABLES = "IVR_SIP_{name}_USERNAME and IVR_SIP_{name}_PASSWORD"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a line's operator lets us transfer callers: an E.164 number or a SIP address on its own PBX."""

    address: str  # "+3290000001" or "sip:listeners@pbx.example.org"
    hours: Schedule = Schedule()  # when it takes calls (the line's own hours apply too)
    credentials: str = ""  # SIP only: NAME in IVR_SIP_NAME_USERNAME / IVR_SIP_NAME_PASSWORD (never in YAML)

    @property
    def is_sip(self) -> bool:
        return self.address.startswith(("sip:", "sips:"))

    @property
    def masked(self) -> str:
        return masked_address(self.address)


def masked_address(address: str) -> str:
    """A transfer target as operator pages show it: its last two characters ("…01", "sip:…le").

    Targets are private to the lines that gave them; a page needs only to tell them apart.
    """
    scheme = address.split(":", 1)[0] + ":" if address.startswith(("sip:", "sips:")) else ""
    return f"{scheme}…{address[-2:]}"


@dataclass(frozen=True, slots=True)
class Helpline:
    """A listening or crisis line, as published by the service that runs it."""

    id: str
    name: str
    language: str
    number: str  # as published, e.g. "0800 32 123"
    hours: str
    source: str
    chat: str = ""  # the web address, as written
    chat_spoken: str = ""  # the web address as a voice should say it, in the line's language
    transfer_to: tuple[Target, ...] = ()  # numbers or SIP addresses the line's operator gave us, tried in order
    hours_open: Schedule = Schedule()  # when the line takes transferred calls; its number is said at any hour
    whisper: str = ""  # what the answering volunteer hears before the caller is put through, in the line's language
    chat_hours: str = ""  # when the chat is open, in words in the line's language ("'s avonds"): chats are not 24/7

    def open_targets(self, instant: datetime | None) -> tuple[int, ...]:
        """The indexes of the targets that take calls at ``instant`` (None: at any hour, for timing)."""
        if instant is None:
            return tuple(range(len(self.transfer_to)))
        if not self.hours_open.is_open(instant):
            return ()
        return tuple(i for i, target in enumerate(self.transfer_to) if target.hours.is_open(instant))

    @property
    def spoken_number(self) -> str:
        """The number digit by digit, groups separated by commas, for text-to-speech."""
        return ", ".join(" ".join(group) for group in self.number.split())


# How a language's prompts reach the caller (settings.yaml, languages.<code>.speak_with).
SPEAK_AUDIO = "audio"  # the files of `ivr audio build` (gTTS) or `ivr audio import` (people), else <Say>
SPEAK_SAY = "say"  # Twilio's <Say> with the language's voice, for every prompt
SPEAK_WITH = (SPEAK_AUDIO, SPEAK_SAY)


@dataclass(frozen=True, slots=True)
class LanguageSettings:
    """How one language is spoken and which line serves it."""

    code: str  # nl, fr, de, en
    name: str  # the language's name in itself, e.g. "Français"
    say_language: str  # Twilio <Say> language, e.g. "nl-BE"
    voice: str  # Twilio <Say> voice
    helpline: str  # id of the listening line for this language
    words_per_second: float  # for estimating how long a prompt takes to say
    gtts_lang: str
    gtts_tld: str
    espeak_voice: str
    speech_language: str = ""  # Twilio's speech-recognition language for <Gather>, e.g. "nl-BE" (no de-BE: de-DE)
    speak_with: str = "audio"  # SPEAK_AUDIO: built or recorded audio where there is some; SPEAK_SAY: always <Say>

    @property
    def said(self) -> bool:
        """Whether every prompt of this language is spoken by Twilio's <Say> voice, never played from a file."""
        return self.speak_with == SPEAK_SAY


@dataclass(frozen=True, slots=True)
class CalledNumber:
    """What one of our Twilio numbers serves: a Dutch and a French number can share a deployment."""

    default_language: str
    flow: str
    speech: bool | None = None  # speech input on this number; None: the deployment's setting


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    """Whether callers may speak instead of pressing keys. Off by default: Twilio charges for every speech <Gather>."""

    enabled: bool
    min_confidence: float  # below it (or with no Confidence at all) what was heard counts as a wrong key


@dataclass(frozen=True, slots=True)
class Budgets:
    """Seconds, from the call's first second unless said otherwise, that the caller checker allows (ivr.checker)."""

    time_to_human: float  # language key at the end of its welcome sentence -> how to reach a person heard
    talk_now: float  # seconds of audio after the language key, then the talk-now key, until the line
    silent_after_language: float  # language key, then nothing -> own line's number and 112 heard
    any_behaviour: float  # whatever the caller does -> a line they understand and 112 heard (or connected)
    wrong_language: float  # another language's key, then the way back -> own language's way to a person heard
    announcement: float  # the longest announcement, in estimated seconds (ivr announce set refuses longer)


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Deployment settings from ``config/settings.yaml``."""

    languages: Mapping[str, LanguageSettings]  # every language the flows may use
    offered: tuple[str, ...]  # languages callers can choose, in menu order
    default_language: str
    default_flow: str  # name of the flow served when the called number names none
    called_numbers: Mapping[str, CalledNumber]  # called number (E.164) -> what it serves
    ring_timeout: int  # seconds a transfer target may ring
    budgets: Budgets  # what the caller checker holds every call to (ivr.checker)
    welcome_names: tuple[str, ...]  # helpline ids every caller must hear with their line (e.g. emergency)
    speech: SpeechSettings


@dataclass(frozen=True, slots=True)
class Speech:
    """Words to say in one language. ``key`` names the prompt for the audio catalogue."""

    key: str
    lang: str
    text: str


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: int


PromptPart = Speech | Pause


# What the talk-now key does for a call, which decides how prompts may describe it: where the
# line has transfer targets it tries to connect; elsewhere it only says the line's number.
SAYS_NUMBER = "number"
CONNECTS = "connect"
TALK_MODES = (SAYS_NUMBER, CONNECTS)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What to say, per language: a sequence of speech and pauses.

    ``by_lang`` is said when the talk-now key says the line's number; ``connect_by_lang``, when
    given, is said instead when the key tries to connect (prompts that promise a conversation).
    """

    by_lang: Mapping[str, tuple[PromptPart, ...]]
    connect_by_lang: Mapping[str, tuple[PromptPart, ...]] | None = None

    def parts(self, lang: str, mode: str = SAYS_NUMBER) -> tuple[PromptPart, ...]:
        if mode == CONNECTS and self.connect_by_lang is not None:
            return self.connect_by_lang.get(lang, ())
        return self.by_lang.get(lang, ())

    def speeches(self) -> Iterator[Speech]:
        """Every speech of this prompt, in every language and either wording, each once."""
        seen: set[tuple[str, str]] = set()
        for by_lang in (self.by_lang, self.connect_by_lang or {}):
            for parts in by_lang.values():
                for part in parts:
                    if isinstance(part, Speech) and (part.key, part.lang) not in seen:
                        seen.add((part.key, part.lang))
                        yield part


def phrase(text: str) -> str:
    """Words as compared with what a caller said: casefolded, punctuation gone, one space between words."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())


# What a caller may say instead of pressing a key: language -> phrase (see phrase()) -> key.
Words = Mapping[str, Mapping[str, str]]
NO_WORDS: Words = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Retry:
    """How often to re-prompt, and with what, before giving up on a menu."""

    retries: int
    reprompt: Prompt


@dataclass(frozen=True, slots=True)
class MenuNode:
    id: str
    prompt: Prompt
    options: Mapping[str, str]  # key -> node id
    timeout: int
    no_input: Retry
    wrong_key: Retry
    after_retries: str  # node id after the last retry
    words: Words = field(default_factory=lambda: NO_WORDS)  # what may be said for each option, per language
    speech_prompt: Prompt = field(default_factory=lambda: Prompt(frozen_map()))  # said after the prompt when speech is on
    not_understood: Prompt | None = None  # re-prompt for speech that matched nothing (None: the wrong-key one)


@dataclass(frozen=True, slots=True)
class LanguageNode:
    """Asks for a language; its prompt is said in every offered language."""

    id: str
    prompt: Prompt
    choices: Mapping[str, str]  # key -> language code (only offered languages)
    next: str
    timeout: int
    no_input: Retry
    wrong_key: Retry
    after_retries: str
    talk_now: str  # node reached with the talk-now key before a language is chosen
    words: Words = field(default_factory=lambda: NO_WORDS)  # what may be said for each choice: every language's words count here
    not_understood: Prompt | None = None  # re-prompt for speech that matched nothing (None: the wrong-key one)


@dataclass(frozen=True, slots=True)
class MessageNode:
    """Says something, then ``after`` (what the caller can press), then goes to ``next``."""

    id: str
    prompt: Prompt
    after: Prompt
    next: str
    timeout: int


# TransferNode.helpline values that are not helpline ids.
LANGUAGE_LINE = "language"  # the line of the caller's language
EVERY_LINE = "every"  # each offered language's line, said in that language: for callers who chose none


@dataclass(frozen=True, slots=True)
class TransferNode:
    """Connects to a helpline, or says its number when it cannot be dialled.

    With ``helpline: every`` it never dials: it says ``call_yourself`` in every offered
    language (the called number's default first), each naming its own language's line.
    """

    id: str
    helpline: str  # a helpline id, LANGUAGE_LINE or EVERY_LINE
    connecting: Prompt  # said before dialling
    call_yourself: Prompt  # said when there is no target or every target failed
    after: Prompt  # what the caller can press after hearing the number
    timeout: int
    unreachable: Prompt = field(default_factory=lambda: Prompt(frozen_map()))  # said first after every target failed


@dataclass(frozen=True, slots=True)
class GoodbyeNode:
    id: str
    prompt: Prompt


Node = MenuNode | LanguageNode | MessageNode | TransferNode | GoodbyeNode


@dataclass(frozen=True, slots=True)
class GlobalKeys:
    """Keys that work in every menu after the language choice."""

    talk_now: str
    repeat: str
    main_menu: str
    words: Words = field(default_factory=lambda: NO_WORDS)  # what may be said for each of these keys, per language

    def as_map(self) -> Mapping[str, str]:
        return {self.talk_now: "talk_now", self.repeat: "repeat", self.main_menu: "main_menu"}


@dataclass(frozen=True, slots=True)
class Crisis:
    """Words of crisis (suicide, dying, danger, emergency) said anywhere in a call, where speech is on.

    They win over every other word and over the confidence threshold: the caller goes straight
    to the talk-now line (connected, or its number) after ``prompt``, which names 112.
    """

    words: Mapping[str, tuple[str, ...]]  # language -> phrases (see phrase())
    prompt: Prompt


def key_uses(keys: GlobalKeys, nodes: Mapping[str, Node], start: str) -> dict[str, str]:
    """What each key does somewhere in a flow, the first use named: the global keys, the language keys (the
    welcome's choose a language in every menu: the way back), each menu's options."""
    used = {key: f"the {name.replace('_', '-')} key" for key, name in keys.as_map().items()}
    for node in nodes.values():
        if isinstance(node, LanguageNode):
            where = "in every menu" if node.id == start else f"at {node.id}"
            used = {key: f"the key that chooses {lang} {where}" for key, lang in node.choices.items()} | used
        elif isinstance(node, MenuNode):
            used = {key: f"an option of {node.id}" for key in node.options} | used
    return used


@dataclass(frozen=True, slots=True)
class TextMessage:
    """The line's number by text message, offered once a language is chosen and the line's number and 112
    are said (ivr.texting): ``key`` is used nowhere else in the flow; ``body`` is the message per language,
    as written (the number as published, the chat address and its hours), never anything about the call."""

    key: str
    offer: Prompt  # says that a message will appear on the caller's phone
    on_its_way: Prompt  # said at once when the key is pressed: the message is on its way, and the number again
    body: Mapping[str, str]  # language -> the message


@dataclass(frozen=True, slots=True)
class Flow:
    """A whole call flow, checked and ready to serve."""

    name: str
    file: str
    start: str
    main_menu: str
    talk_now: str  # node reached with the talk-now key
    keys: GlobalKeys
    nodes: Mapping[str, Node]
    rescue: Prompt  # said by the fallback URL and after any internal error
    # The welcome's language keys choose a language in every node after it too (the way back from a wrong one).
    language_keys_everywhere: bool = False
    crisis: Crisis | None = None  # what said words of crisis lead to, where speech is on
    rescue_connecting: Prompt = field(default_factory=lambda: Prompt(frozen_map()))  # said when the rescue dials
    text_message: TextMessage | None = None  # the line's number by text message, where the deployment sends them

    def before_language(self, node_id: str) -> bool:
        """Whether a caller at ``node_id`` has chosen no language yet: the language menu, or every line's numbers."""
        node = self.nodes.get(node_id)
        return isinstance(node, LanguageNode) or (isinstance(node, TransferNode) and node.helpline == EVERY_LINE)

    def text_key_taken(self) -> str | None:
        """What the text-message key already does elsewhere in the flow (None: nothing, as it must be)."""
        message = self.text_message
        return key_uses(self.keys, self.nodes, self.start).get(message.key) if message is not None else None

    def language_choices(self) -> Mapping[str, str]:
        """Key -> language of the welcome, where those keys choose a language after it as well ({} otherwise)."""
        start = self.nodes.get(self.start)
        if self.language_keys_everywhere and isinstance(start, LanguageNode):
            return start.choices
        return {}


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything loaded at start-up: settings, helplines and the flow to serve."""

    settings: CallSettings
    helplines: Mapping[str, Helpline]
    flows: Mapping[str, Flow]

    def line_for(self, lang: str) -> Helpline:
        return self.helplines[self.settings.languages[lang].helpline]

    def serving(self, called: str) -> CalledNumber:
        """What a call to ``called`` gets; unknown numbers get the deployment's defaults."""
        found = self.settings.called_numbers.get(called)
        if found is not None:
            return found
        return CalledNumber(self.settings.default_language, self.settings.default_flow)
