"""``config/settings.yaml``: languages, voices, called numbers, budgets, speech."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.errors import ConfigError
from ivr.loading.document import (
    E164,
    REQUIRED,
    Document,
    Field,
    Section,
    Values,
    boolean,
    choice,
    did_you_mean,
    load_document,
    node_of,
    number,
    text_of,
    whole,
)
from ivr.model import (
    SPEAK_AUDIO,
    SPEAK_WITH,
    Budgets,
    CalledNumber,
    CallSettings,
    LanguageSettings,
    SpeechSettings,
    frozen_map,
)
from ivr.voices import TABLE as VOICE_TABLE
from ivr.voices import SpeechEngines, table_checked, twilio_voices
from ivr.yamlio import Mark, YNode

# --- settings.yaml: each mapping's keys declared once -------------------------------------------------------

GTTS_LANG = Field("lang", text_of(), REQUIRED, "gTTS's language for the built audio")
GTTS_TLD = Field("tld", text_of(), "com", "the Google domain gTTS asks, which chooses the accent")
GTTS = Section("gTTS settings", (GTTS_LANG, GTTS_TLD))
NAME = Field("name", text_of(), REQUIRED, "the language's name in itself, e.g. Français")
SAY_LANGUAGE = Field("say_language", text_of(), REQUIRED, "Twilio's <Say> language, e.g. nl-BE")
VOICE = Field("voice", text_of(), REQUIRED, "Twilio's <Say> voice")
HELPLINE = Field("helpline", text_of(), REQUIRED, "the id of the listening line for this language (helplines.yaml)")
WORDS_PER_SECOND = number("words_per_second", 0.5, 6, REQUIRED, "to estimate how long a prompt takes to say")
GTTS_FIELD = GTTS.under("gtts", "gTTS's language and domain (default: the language code and com)")
ESPEAK_VOICE = Field("espeak_voice", text_of(), None, "espeak-ng's voice (default: the language code)")
# Twilio recognises nl-BE and fr-BE, but there is no de-BE: German is recognised as de-DE.
SPEECH_LANGUAGE = Field("speech_language", text_of(), None, "Twilio's speech-recognition language (default: say_language)")
SPEAK_WITH_FIELD = Field(
    "speak_with",
    choice(SPEAK_WITH, "audio or say", " (audio: the files of `ivr audio build`; say: Twilio's voice)"),
    SPEAK_AUDIO,
    "the built audio, or Twilio's <Say> voice for every prompt of the language",
)
LANGUAGE = Section(
    "the language's settings",
    (NAME, SAY_LANGUAGE, VOICE, HELPLINE, WORDS_PER_SECOND, GTTS_FIELD, ESPEAK_VOICE, SPEECH_LANGUAGE, SPEAK_WITH_FIELD),
)

CALLED_LANGUAGE = Field("default_language", text_of(), REQUIRED, "the language this number's callers hear first")
CALLED_FLOW = Field("flow", text_of(), None, "the flow this number serves (default: the document's flow)")
# None: the deployment's speech setting.
CALLED_SPEECH = Field("speech", boolean, None, "speech input on this number, true or false")
CALLED = Section("what this number serves", (CALLED_LANGUAGE, CALLED_FLOW, CALLED_SPEECH))

# The caller checker's budgets (ivr.checker): the default of each is also its most, so that a config may
# tighten a budget but never loosen it.
_TIGHTER = "; a config may tighten a budget, never loosen it"
BUDGETS = (
    number("time_to_human", 1, 12, 12, "seconds from the call's start to how to reach a person" + _TIGHTER),
    number("talk_now", 1, 12, 12, "seconds of audio after the language key then the talk-now key" + _TIGHTER),
    number("silent_after_language", 1, 35, 35, "seconds until a caller who only chose a language hears the line" + _TIGHTER),
    number("any_behaviour", 1, 60, 60, "seconds until any caller hears a line they understand and 112" + _TIGHTER),
    number("wrong_language", 1, 25, 25, "seconds until a caller back from a wrong language hears the way to a person" + _TIGHTER),
    number("announcement", 1, 15, 15, "the longest operators' announcement, in estimated seconds" + _TIGHTER),
)
# Names of earlier versions, with what replaced them.
RENAMED_BUDGETS = {"silence": "any_behaviour"}
BUDGET = Section("time budgets", BUDGETS, RENAMED_BUDGETS, one="budget")

# Off unless turned on: Twilio charges for every <Gather> that listens for speech.
ENABLED = Field("enabled", boolean, False, "callers may speak instead of pressing keys")
MIN_CONFIDENCE = number("min_confidence", 0, 1, 0.5, "below it, what speech recognition heard is a wrong key")
SPEECH = Section("speech input settings", (ENABLED, MIN_CONFIDENCE))

OFFERED: Field[YNode] = Field("offered_languages", node_of, REQUIRED, "the languages of the menu, in the order they are offered")
DEFAULT_LANGUAGE = Field("default_language", text_of("a language code"), REQUIRED, "the language of a caller who chooses none")
LANGUAGES: Field[YNode] = Field("languages", node_of, REQUIRED, "how each language is spoken and which line serves it")
FLOW = Field("flow", text_of("a flow name"), REQUIRED, "the flow a number serves unless it names another")
CALLED_NUMBERS: Field[YNode] = Field("called_numbers", node_of, None, "our Twilio numbers, and what each serves")
RING_TIMEOUT = whole("ring_timeout", 5, 120, 20, "seconds a transfer target may ring before the next is tried")
BUDGETS_FIELD = BUDGET.under("budgets", "the caller checker's budgets, in seconds")
WELCOME_NAMES: Field[YNode] = Field("welcome_names", node_of, None, "the helplines the welcome names, by id")
SPEECH_FIELD = SPEECH.under("speech", "speech input")
SETTINGS = Section(
    "a document",
    (OFFERED, DEFAULT_LANGUAGE, LANGUAGES, FLOW, CALLED_NUMBERS, RING_TIMEOUT, BUDGETS_FIELD, WELCOME_NAMES, SPEECH_FIELD),
)


@dataclass(frozen=True, slots=True)
class SettingsMarks:
    """Where the values that later checks point at are written (a typed key each, never a path string).

    A lookup for a language or number that was not read is an error (KeyError), never a silent ``file:1:1``.
    """

    flow: Mark  # 'flow', else the document
    called_numbers: Mark  # 'called_numbers', else the document
    helplines: Mapping[str, Mark] = field(default_factory=dict)  # language code -> its 'helpline'
    called_flows: Mapping[str, Mark] = field(default_factory=dict)  # number -> its 'flow', else its key
    welcome_names: tuple[Mark, ...] = ()

    def helpline(self, code: str) -> Mark:
        return _known(self.helplines, code, "languages")

    def called_flow(self, number: str) -> Mark:
        return _known(self.called_flows, number, "called_numbers")


def _known(marks: Mapping[str, Mark], key: str, where: str) -> Mark:
    if key not in marks:
        raise KeyError(f"{where}.{key} was not read from settings.yaml: no place to point at")
    return marks[key]


def parse_settings(
    path: Path, errors: list[ConfigError], engines: SpeechEngines | None = None
) -> tuple[CallSettings | None, SettingsMarks]:
    """Parse settings; also return the marks of fields that later checks point at."""
    doc, root = load_document(path, errors)
    if root is None:
        start = Mark(doc.file, 1, 1)
        return None, SettingsMarks(start, start)
    top = SETTINGS.read(doc, root)
    assert top is not None  # root is a mapping
    languages, helplines = _languages(doc, top[LANGUAGES], engines or SpeechEngines())
    offered = _offered(doc, top[OFFERED], languages, top[LANGUAGES] is not None)
    default = top[DEFAULT_LANGUAGE]
    if default is not None and default not in offered and offered:
        with doc.at(DEFAULT_LANGUAGE.key):
            doc.error(top.mark(DEFAULT_LANGUAGE), f"default language {default!r} is not offered", did_you_mean(default, offered))
    flow_name = top[FLOW]
    called, called_flows = _called_numbers(doc, top[CALLED_NUMBERS], offered, flow_name)
    welcome_names: list[str] = []
    welcome_marks: list[Mark] = []
    with doc.at(WELCOME_NAMES.key):
        for item in doc.sequence(top[WELCOME_NAMES], "helpline ids"):
            line_id = doc.text(item, "a helpline id")
            if line_id is not None:
                welcome_names.append(line_id)
                welcome_marks.append(item.mark)
    budgets = top[BUDGETS_FIELD] or BUDGET.absent(root)
    speech = top[SPEECH_FIELD] or SPEECH.absent(root)
    marks = SettingsMarks(top.mark(FLOW), top.mark(CALLED_NUMBERS), helplines, called_flows, tuple(welcome_marks))
    ring, confidence, enabled = top[RING_TIMEOUT], speech[MIN_CONFIDENCE], speech[ENABLED]
    seconds = [budgets[budget] for budget in BUDGETS]
    if doc.failed or default is None or flow_name is None or ring is None or confidence is None:
        return None, marks
    human, talk, silent, anything, wrong, announcement = (float(v or 0) for v in seconds)
    return CallSettings(
        languages=frozen_map(languages),
        offered=tuple(offered),
        default_language=default,
        default_flow=flow_name,
        called_numbers=frozen_map(called),
        ring_timeout=ring,
        budgets=Budgets(human, talk, silent, anything, wrong, announcement),
        welcome_names=tuple(welcome_names),
        speech=SpeechSettings(bool(enabled), confidence),
    ), marks


def _languages(doc: Document, node: YNode | None, engines: SpeechEngines) -> tuple[dict[str, LanguageSettings], dict[str, Mark]]:
    """``languages``: each code's settings, and where each names its helpline."""
    languages: dict[str, LanguageSettings] = {}
    helplines: dict[str, Mark] = {}
    with doc.at(LANGUAGES.key):
        body = doc.mapping(node, "the languages")
        for key, value in body.items if body else ():
            code = key.text
            with doc.at(code):
                if not re.fullmatch(r"[a-z]{2}", code):
                    doc.error(key.mark, f"language code {code!r} is not two lowercase letters", "use nl, fr, de, en")
                    continue
                read = LANGUAGE.read(doc, value)
                if read is None:
                    continue
                helplines[code] = read.mark(HELPLINE)
                name, say_language, voice, helpline = read[NAME], read[SAY_LANGUAGE], read[VOICE], read[HELPLINE]
                wps, speak_with = read[WORDS_PER_SECOND], read[SPEAK_WITH_FIELD]
                gtts = read[GTTS_FIELD]
                gtts_lang, gtts_tld = (gtts[GTTS_LANG] or code, gtts[GTTS_TLD] or "com") if gtts else (code, "com")
                espeak = read[ESPEAK_VOICE] if ESPEAK_VOICE.key in read.nodes else code
                if name is None or say_language is None or voice is None or helpline is None or wps is None:
                    continue
                if not espeak or not speak_with:
                    continue
                _check_voices(doc, read, say_language, voice, gtts_lang, espeak, engines)
                heard_as = read[SPEECH_LANGUAGE] or say_language
                languages[code] = LanguageSettings(
                    code, name, say_language, voice, helpline, wps, gtts_lang, gtts_tld, espeak, heard_as, speak_with
                )
    return languages, helplines


def _offered(doc: Document, node: YNode | None, languages: Mapping[str, LanguageSettings], configured: bool) -> list[str]:
    """``offered_languages``: each configured, none twice, at least one."""
    offered: list[str] = []
    with doc.at(OFFERED.key):
        for item in doc.sequence(node, "the offered languages"):
            code = doc.text(item, "a language code")
            if code is None:
                continue
            if code not in languages and configured:
                doc.error(
                    item.mark, f"language {code!r} is not configured under 'languages'", did_you_mean(code, list(languages))
                )
            elif code in offered:
                doc.error(item.mark, f"language {code!r} is listed twice", "remove one")
            else:
                offered.append(code)
        if node is not None and not offered and not doc.failed:
            doc.error(node.mark, "no language is offered", "list at least one language")
    return offered


def _called_numbers(
    doc: Document, node: YNode | None, offered: list[str], flow_name: str | None
) -> tuple[dict[str, CalledNumber], dict[str, Mark]]:
    """``called_numbers``: what each of our numbers serves, and where each names its flow."""
    called: dict[str, CalledNumber] = {}
    flows: dict[str, Mark] = {}
    with doc.at(CALLED_NUMBERS.key):
        body = doc.mapping(node, "called numbers") if node is not None else None
        for key, value in body.items if body else ():
            with doc.at(key.text):
                if not E164.fullmatch(key.text):
                    doc.error(key.mark, f"{key.text!r} is not an E.164 number", 'write it quoted, like "+3225550100"')
                    continue
                read = CALLED.read(doc, value)
                if read is None:
                    continue
                lang = read[CALLED_LANGUAGE]
                if lang is not None and lang not in offered:
                    doc.error(read.mark(CALLED_LANGUAGE), f"language {lang!r} is not offered", did_you_mean(lang, offered))
                    continue
                fl = read[CALLED_FLOW] if CALLED_FLOW.key in read.nodes else flow_name
                if lang and fl:
                    called[key.text] = CalledNumber(lang, fl, read[CALLED_SPEECH])
                    flows[key.text] = read.nodes.get(CALLED_FLOW.key, key).mark
    return called, flows


def _check_voices(
    doc: Document, read: Values, say_language: str, voice: str, gtts_lang: str, espeak: str, engines: SpeechEngines
) -> None:
    """Every voice and language name exists: a misspelt one is answered by Twilio or Google with another voice, or silence."""
    table = twilio_voices()
    checked = f"the table in ivr/{VOICE_TABLE}, checked {table_checked()}"
    if say_language not in table:
        with doc.at("say_language"):
            hint = did_you_mean(say_language, list(table))
            doc.error(read.mark(SAY_LANGUAGE), f"say_language {say_language!r} has no Twilio voice in {checked}", hint)
    elif voice not in table[say_language]:
        with doc.at("voice"):
            hint = (
                did_you_mean(voice, list(table[say_language])) + f" (the {say_language} voices: {', '.join(table[say_language])})"
            )
            doc.error(read.mark(VOICE), f"voice {voice!r} is not a Twilio {say_language} voice in {checked}", hint)
    if engines.gtts_languages is not None and gtts_lang not in engines.gtts_languages:
        with doc.at("gtts"):
            mark = (read.nodes.get(GTTS_FIELD.key) or read.nodes[SAY_LANGUAGE.key]).mark
            doc.error(mark, f"gTTS has no language {gtts_lang!r}", did_you_mean(gtts_lang, sorted(engines.gtts_languages)))
    if engines.espeak_voices is not None and espeak not in engines.espeak_voices:
        with doc.at("espeak_voice"):
            mark = (read.nodes.get(ESPEAK_VOICE.key) or read.nodes[SAY_LANGUAGE.key]).mark
            close = difflib.get_close_matches(espeak, sorted(engines.espeak_voices), n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + "`espeak-ng --voices` lists them"
            doc.error(mark, f"espeak-ng has no voice {espeak!r}", hint)
