"""Turn the YAML files into the frozen model, or into a list of located errors.

This is the only place that reads configuration documents. It checks everything at
once (settings, helplines, every flow, the graph of every flow) and raises a single
:class:`ConfigErrors` listing every problem with ``file:line:column``, the path inside
the document, and what to do about it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType

from ivr.checks import check_flow, typed_numbers
from ivr.errors import ConfigError, ConfigErrors
from ivr.hours import WINDOW_HELP, HoursError, Schedule, Window, parse_date, parse_window
from ivr.model import (
    CONNECTS,
    EVERY_LINE,
    LANGUAGE_LINE,
    NO_WORDS,
    PHONE_KEYS,
    SAYS_NUMBER,
    SIP_VARIABLES,
    TALK_MODES,
    CalledNumber,
    CallSettings,
    Catalog,
    Flow,
    GlobalKeys,
    GoodbyeNode,
    Helpline,
    LanguageNode,
    LanguageSettings,
    MenuNode,
    MessageNode,
    Node,
    Pause,
    Prompt,
    PromptPart,
    Retry,
    Speech,
    SpeechSettings,
    Target,
    TransferNode,
    Words,
    frozen_map,
    phrase,
    spoken_key,
)
from ivr.timing import DurationOf, check_calls
from ivr.voices import TABLE as VOICE_TABLE
from ivr.voices import SpeechEngines, table_checked, twilio_voices
from ivr.yamlio import Mark, YMap, YNode, YScalar, YSeq, format_key, read_yaml

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
NODE_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
PLACEHOLDER = re.compile(r"\{([a-z_]+):([a-z0-9_]+)\}")
# [0-9] and not \d: only ASCII digits; at most 6 before the dot, far more than any setting needs.
PLAIN_INTEGER = re.compile(r"[0-9]{1,6}")
PLAIN_NUMBER = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")
NUMBER_FIX = "write it with the digits 0-9 only (and one dot for a fraction, e.g. 2.5): no _, exponent, sign or other script"


def default_config_dir() -> Path:
    """``IVR_CONFIG`` or ``./config``, falling back to the folder beside the package."""
    if env := os.environ.get("IVR_CONFIG"):
        return Path(env)
    here = Path("config")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "config"


def default_flows_dir() -> Path:
    """``IVR_FLOWS`` or the flows shipped inside the package."""
    if env := os.environ.get("IVR_FLOWS"):
        return Path(env)
    return Path(__file__).resolve().parent / "flows"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if choices:
        return "expected one of: " + ", ".join(sorted(choices))
    return ""


def _boolean(doc: _Doc, node: YNode) -> bool | None:
    """``true`` or ``false``, as YAML 1.2 writes them; anything else is an error."""
    value = doc.text(node, "true or false")
    if value in ("true", "false"):
        return value == "true"
    if value is not None:
        doc.error(node.mark, f"{value!r} is not true or false", "write true or false")
    return None


@dataclass
class _Doc:
    """Error collection with a breadcrumb path, for one file."""

    file: str
    errors: list[ConfigError]
    path: list[str] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)

    @contextmanager
    def at(self, key: str | int) -> Iterator[None]:
        self.path.append(f"[{key}]" if isinstance(key, int) else format_key(key))
        try:
            yield
        finally:
            self.path.pop()

    def where(self) -> str:
        return ".".join(self.path).replace(".[", "[")

    def error(self, mark: Mark, message: str, hint: str = "") -> None:
        self.errors.append(ConfigError(mark, self.where(), message, hint))

    # --- shapes -------------------------------------------------------------------

    def mapping(self, node: YNode | None, what: str) -> YMap | None:
        if isinstance(node, YMap):
            return node
        if node is not None:
            self.error(node.mark, f"expected {what} (a mapping of keys to values)", "indent the keys under this one")
        return None

    def fields(self, node: YMap, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, YNode]:
        known = required + optional
        found: dict[str, YNode] = {}
        for key, value in node.items:
            if key.text in known:
                found[key.text] = value
            else:
                with self.at(key.text):
                    self.error(key.mark, f"unknown key {key.text!r}", _did_you_mean(key.text, known))
        for name in required:
            if name not in found:
                self.error(node.mark, f"missing required key {name!r}", f"add '{name}:' here")
        return found

    def text(self, node: YNode | None, what: str = "text") -> str | None:
        if isinstance(node, YScalar):
            if node.implicit_type == "null" or node.text == "":
                self.error(node.mark, f"expected {what}, found nothing", "write a value after the colon")
                return None
            return node.text
        if node is not None:
            self.error(node.mark, f"expected {what}, found a {'mapping' if isinstance(node, YMap) else 'list'}")
        return None

    # Python's int() and float() read "1_00" as 100, "١٠" and "１０" as 10, "1e1" and " +10 " too, and a
    # 5,000-digit int() raises: a number in our files is plain ASCII digits, short, and checked here first.
    def integer(self, node: YNode | None, key: str, low: int, high: int) -> int | None:
        """The whole number under ``key`` (``node``), from ``low`` to ``high``."""
        with self.at(key):
            raw = self.text(node, "a whole number")
            if raw is None or node is None:
                return None
            if not PLAIN_INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
                self.error(node.mark, f"expected a whole number from {low} to {high}, got {raw!r}", NUMBER_FIX)
                return None
            return int(raw)

    def number(self, node: YNode | None, key: str, low: float, high: float) -> float | None:
        """The number under ``key`` (``node``), from ``low`` to ``high``."""
        with self.at(key):
            raw = self.text(node, "a number")
            if raw is None or node is None:
                return None
            if not PLAIN_NUMBER.fullmatch(raw) or not low <= float(raw) <= high:
                self.error(node.mark, f"expected a number from {low} to {high}, got {raw!r}", NUMBER_FIX)
                return None
            return float(raw)

    def sequence(self, node: YNode | None, what: str) -> tuple[YNode, ...]:
        if isinstance(node, YSeq):
            return node.items
        if node is not None:
            self.error(node.mark, f"expected {what} (a list)", "write it as [a, b] or as lines starting with '- '")
        return ()

    def phone_key(self, key: YScalar) -> str | None:
        if key.text in PHONE_KEYS:
            return key.text
        if key.implicit_type and not key.quoted:
            self.error(
                key.mark,
                f"menu key {key.text} is not a phone key: YAML 1.1 reads it unquoted as {key.implicit_type}",
                'quote it, and use a single key: "1" … "9", "0", "*" or "#"',
            )
        else:
            self.error(key.mark, f"menu key {key.text!r} is not a phone key", 'use one key: "0"-"9", "*" or "#"')
        return None


def _load_doc(path: Path, errors: list[ConfigError]) -> tuple[_Doc, YMap | None]:
    doc = _Doc(_display(path), errors)
    root, problems = read_yaml(path, doc.file)
    for p in problems:
        errors.append(ConfigError(p.mark, p.path, p.message, p.hint))
    return doc, doc.mapping(root, "a document") if root is not None else None


# --- settings.yaml ---------------------------------------------------------------------


def parse_settings(
    path: Path, errors: list[ConfigError], engines: SpeechEngines | None = None
) -> tuple[CallSettings | None, dict[str, Mark]]:
    """Parse settings; also return the marks of fields that later checks point at."""
    doc, root = _load_doc(path, errors)
    if root is None:
        return None, {}
    before = len(errors)
    f = doc.fields(
        root,
        ("offered_languages", "default_language", "languages", "flow"),
        ("called_numbers", "ring_timeout", "budgets", "welcome_names", "speech"),
    )
    languages: dict[str, LanguageSettings] = {}
    with doc.at("languages"):
        langs = doc.mapping(f.get("languages"), "the languages")
        for key, value in langs.items if langs else ():
            with doc.at(key.text):
                if not re.fullmatch(r"[a-z]{2}", key.text):
                    doc.error(key.mark, f"language code {key.text!r} is not two lowercase letters", "use nl, fr, de, en")
                    continue
                body = doc.mapping(value, "the language's settings")
                if body is None:
                    continue
                lf = doc.fields(
                    body,
                    ("name", "say_language", "voice", "helpline", "words_per_second"),
                    ("gtts", "espeak_voice", "speech_language"),
                )
                gtts_lang, gtts_tld = key.text, "com"
                if "gtts" in lf:
                    with doc.at("gtts"):
                        g = doc.mapping(lf["gtts"], "gTTS settings")
                        if g:
                            gf = doc.fields(g, ("lang",), ("tld",))
                            gtts_lang = doc.text(gf.get("lang")) or gtts_lang
                            if "tld" in gf:
                                gtts_tld = doc.text(gf["tld"]) or gtts_tld
                wps = doc.number(lf.get("words_per_second"), "words_per_second", 0.5, 6.0) if "words_per_second" in lf else None
                values = [doc.text(lf.get(n)) if n in lf else None for n in ("name", "say_language", "voice", "helpline")]
                espeak = doc.text(lf["espeak_voice"]) if "espeak_voice" in lf else key.text
                if all(v is not None for v in values) and wps is not None and espeak:
                    name, say_language, voice, helpline = (v or "" for v in values)
                    _check_voices(doc, lf, say_language, voice, gtts_lang, espeak, engines or SpeechEngines())
                    # Twilio recognises nl-BE and fr-BE, but there is no de-BE: German is recognised as de-DE.
                    heard_as = (doc.text(lf["speech_language"]) if "speech_language" in lf else None) or say_language
                    languages[key.text] = LanguageSettings(
                        key.text, name, say_language, voice, helpline, wps, gtts_lang, gtts_tld, espeak, heard_as
                    )
                doc.marks[f"languages.{key.text}.helpline"] = (lf.get("helpline") or body).mark
    offered: list[str] = []
    with doc.at("offered_languages"):
        for item in doc.sequence(f.get("offered_languages"), "the offered languages"):
            code = doc.text(item, "a language code")
            if code is None:
                continue
            if code not in languages and langs is not None:
                doc.error(
                    item.mark, f"language {code!r} is not configured under 'languages'", _did_you_mean(code, list(languages))
                )
            elif code in offered:
                doc.error(item.mark, f"language {code!r} is listed twice", "remove one")
            else:
                offered.append(code)
        if "offered_languages" in f and not offered and len(errors) == before:
            doc.error(f["offered_languages"].mark, "no language is offered", "list at least one language")
    default = None
    with doc.at("default_language"):
        default = doc.text(f.get("default_language"), "a language code")
        if default is not None and default not in offered and offered:
            doc.error(f["default_language"].mark, f"default language {default!r} is not offered", _did_you_mean(default, offered))
    flow_name = doc.text(f.get("flow"), "a flow name") if "flow" in f else None
    called: dict[str, CalledNumber] = {}
    with doc.at("called_numbers"):
        cn = doc.mapping(f.get("called_numbers"), "called numbers") if "called_numbers" in f else None
        for key, value in cn.items if cn else ():
            with doc.at(key.text):
                if not E164.fullmatch(key.text):
                    doc.error(key.mark, f"{key.text!r} is not an E.164 number", 'write it quoted, like "+3225550100"')
                    continue
                body = doc.mapping(value, "what this number serves")
                if body is None:
                    continue
                bf = doc.fields(body, ("default_language",), ("flow", "speech"))
                lang = doc.text(bf.get("default_language"))
                if lang is not None and lang not in offered:
                    doc.error(bf["default_language"].mark, f"language {lang!r} is not offered", _did_you_mean(lang, offered))
                    continue
                fl = doc.text(bf["flow"]) if "flow" in bf else flow_name
                speech_on = _boolean(doc, bf["speech"]) if "speech" in bf else None
                if lang and fl:
                    called[key.text] = CalledNumber(lang, fl, speech_on)
                    doc.marks[f"called_numbers.{key.text}.flow"] = (bf.get("flow") or key).mark
    ring = doc.integer(f["ring_timeout"], "ring_timeout", 5, 120) if "ring_timeout" in f else 20
    human, talk, silence = 20.0, 12.0, 60.0
    if "budgets" in f:
        with doc.at("budgets"):
            b = doc.mapping(f["budgets"], "time budgets")
            if b:
                bf = doc.fields(b, (), ("time_to_human", "talk_now", "silence"))
                human = (doc.number(bf["time_to_human"], "time_to_human", 1, 120) if "time_to_human" in bf else human) or human
                talk = (doc.number(bf["talk_now"], "talk_now", 1, 120) if "talk_now" in bf else talk) or talk
                silence = (doc.number(bf["silence"], "silence", 1, 300) if "silence" in bf else silence) or silence
    welcome_names: list[str] = []
    with doc.at("welcome_names"):
        for index, item in enumerate(doc.sequence(f.get("welcome_names"), "helpline ids")):
            line_id = doc.text(item, "a helpline id")
            if line_id is not None:
                welcome_names.append(line_id)
                doc.marks[f"welcome_names[{index}]"] = item.mark
    speech = SpeechSettings()
    if "speech" in f:
        with doc.at("speech"):
            sb = doc.mapping(f["speech"], "speech input settings")
            if sb:
                sf = doc.fields(sb, (), ("enabled", "min_confidence"))
                enabled = _boolean(doc, sf["enabled"]) if "enabled" in sf else speech.enabled
                confidence = (
                    doc.number(sf["min_confidence"], "min_confidence", 0.0, 1.0)
                    if "min_confidence" in sf
                    else speech.min_confidence
                )
                speech = SpeechSettings(bool(enabled), speech.min_confidence if confidence is None else confidence)
    doc.marks["flow"] = (f.get("flow") or root).mark
    doc.marks["called_numbers"] = (f.get("called_numbers") or root).mark
    if len(errors) > before or default is None or flow_name is None or ring is None:
        return None, doc.marks
    return CallSettings(
        languages=frozen_map(languages),  # type: ignore[arg-type]
        offered=tuple(offered),
        default_language=default,
        default_flow=flow_name,
        called_numbers=frozen_map(called),  # type: ignore[arg-type]
        ring_timeout=ring,
        time_to_human_budget=human,
        talk_now_budget=talk,
        silence_budget=silence,
        welcome_names=tuple(welcome_names),
        speech=speech,
    ), doc.marks


# --- helplines.yaml --------------------------------------------------------------------

SHORT_NUMBER_HINT = (
    "Twilio cannot dial Belgian short numbers such as 106, 107, 108, 112 or 1813 (errors 13223/13224): "
    "put only an E.164 number that the line's operator gave you in transfer_to, or leave it empty "
    "so that callers hear the number to call"
)


def _is_short_number(raw: str) -> bool:
    digits = re.sub(r"[^0-9]", "", raw)
    if raw.strip().startswith("+32"):
        return len(digits) - 2 < 8  # Belgian national numbers have 8 or 9 digits
    return len(digits) <= 6


SIP_ADDRESS = re.compile(r"sips?:[A-Za-z0-9._~+-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(;transport=(udp|tcp|tls))?")
CREDENTIALS_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


def _parse_schedule(doc: _Doc, node: YNode | None, holidays: set[date]) -> Schedule:
    """``["mon-fri 09:00-17:00", …]`` → a Schedule (closed on ``holidays``); nothing: always open."""
    if node is None:
        return Schedule()
    windows: list[Window] = []
    for index, item in enumerate(doc.sequence(node, 'opening windows, like ["mon-fri 09:00-17:00"]')):
        with doc.at(index):
            text = doc.text(item, "an opening window")
            if text is None:
                continue
            try:
                windows.append(parse_window(text))
            except HoursError as exc:
                doc.error(item.mark, str(exc), WINDOW_HELP)
    return Schedule(tuple(windows), frozenset(holidays))


def _parse_target(doc: _Doc, item: YNode, holidays: set[date]) -> Target | None:
    """A transfer target: an E.164 number as a string, or ``{address, credentials, hours_open}``."""
    fields: dict[str, YNode] = {}
    if isinstance(item, YMap):
        fields = doc.fields(item, ("address",), ("credentials", "hours_open"))
        node: YNode | None = fields.get("address")
    else:
        node = item
    with doc.at("address") if isinstance(item, YMap) else _nullcontext():
        raw = doc.text(node, "an E.164 number or a SIP address") if node is not None else None
        if raw is None or node is None:
            return None
        if raw.startswith(("sip:", "sips:")):
            if ":" in raw.split(":", 1)[1].split("@", 1)[0] or not SIP_ADDRESS.fullmatch(raw):
                doc.error(
                    node.mark,
                    f"{raw.split('@')[-1]!r}: not a SIP address like sip:listeners@pbx.example.org",
                    "no user password in the address: name credentials, and set them in the environment",
                )
                return None
        elif _is_short_number(raw):
            doc.error(node.mark, f"{raw!r} is a short number and cannot be dialled", SHORT_NUMBER_HINT)
            return None
        elif not E164.fullmatch(raw):
            doc.error(
                node.mark,
                f"{raw!r} is not an E.164 number or a SIP address",
                'write a number as "+32" and the number without its 0, or sip:user@host',
            )
            return None
    credentials = ""
    if "credentials" in fields:
        with doc.at("credentials"):
            credentials = doc.text(fields["credentials"], "a name") or ""
            if not raw.startswith(("sip:", "sips:")):
                doc.error(fields["credentials"].mark, "only a SIP address takes credentials", "remove credentials here")
            elif not CREDENTIALS_NAME.fullmatch(credentials):
                doc.error(
                    fields["credentials"].mark,
                    f"{credentials!r} must be capital letters, digits and _",
                    f"e.g. TELE_ONTHAAL: the service then reads {SIP_VARIABLES.format(name='TELE_ONTHAAL')}",
                )
    with doc.at("hours_open"):
        hours = _parse_schedule(doc, fields.get("hours_open"), holidays)
    return Target(raw, hours, credentials)


def parse_helplines(
    path: Path,
    errors: list[ConfigError],
    languages: Mapping[str, LanguageSettings] | None,
    settings_marks: Mapping[str, Mark],
    our_numbers: Collection[str] = (),
) -> dict[str, Helpline] | None:
    """Parse helplines; ``our_numbers`` (``called_numbers``) can never be transfer targets."""
    doc, root = _load_doc(path, errors)
    if root is None:
        return None
    before = len(errors)
    lines: dict[str, Helpline] = {}
    dialled: dict[str, str] = {}  # each transfer target, and the line it belongs to
    f = doc.fields(root, ("helplines",), ("holidays",))
    holidays: set[date] = set()
    with doc.at("holidays"):
        for index, item in enumerate(doc.sequence(f.get("holidays"), "dates, like 2026-12-25")):
            with doc.at(index):
                text = doc.text(item, "a date")
                try:
                    holidays.add(parse_date(text or ""))
                except HoursError as exc:
                    if text is not None:
                        doc.error(item.mark, str(exc), "write each holiday as YYYY-MM-DD")
    with doc.at("helplines"):
        body = doc.mapping(f.get("helplines"), "the helplines")
        for key, value in body.items if body else ():
            with doc.at(key.text):
                if not NODE_ID.fullmatch(key.text):
                    doc.error(
                        key.mark,
                        f"helpline id {key.text!r} must be lowercase letters, digits and _",
                        "rename it, e.g. tele_onthaal",
                    )
                    continue
                entry = doc.mapping(value, "the helpline's details")
                if entry is None:
                    continue
                ef = doc.fields(
                    entry,
                    ("name", "number", "hours", "source"),
                    ("language", "chat", "chat_spoken", "transfer_to", "hours_open", "whisper"),
                )
                name, number, hours, source = (
                    doc.text(ef.get(n)) if n in ef else None for n in ("name", "number", "hours", "source")
                )
                lang = doc.text(ef["language"]) if "language" in ef else ""
                if number is not None and not re.fullmatch(r"[0-9]+( [0-9]+)*", number):
                    with doc.at("number"):
                        doc.error(
                            ef["number"].mark,
                            f"number {number!r} must be digits in groups separated by single spaces",
                            'write it as published, e.g. "0800 32 123"',
                        )
                    number = None
                with doc.at("hours_open"):
                    line_hours = _parse_schedule(doc, ef.get("hours_open"), holidays)
                targets: list[Target] = []
                with doc.at("transfer_to"):
                    for index, item in enumerate(doc.sequence(ef.get("transfer_to"), "numbers or SIP addresses to transfer to")):
                        with doc.at(index):
                            target = _parse_target(doc, item, holidays)
                            if target is None:
                                continue
                            if target.address in our_numbers:
                                doc.error(
                                    item.mark,
                                    f"{target.address} is one of our own numbers (called_numbers in settings.yaml): the"
                                    " transfer would ring this phone menu, not the line",
                                    "put only numbers that the line's operator gave us here",
                                )
                            elif target.address in dialled:
                                doc.error(
                                    item.mark,
                                    f"{target.address} is listed twice"
                                    if dialled[target.address] == key.text
                                    else f"{target.address} is already a transfer target of {dialled[target.address]}",
                                    "each target once, under the line whose operator gave it: a caller must reach the"
                                    " line they chose, and a busy target is not rung again",
                                )
                            else:
                                dialled[target.address] = key.text
                                targets.append(target)
                whisper = doc.text(ef["whisper"], "what the volunteer hears") if "whisper" in ef else ""
                if whisper and any(c.isdigit() for c in whisper):
                    with doc.at("whisper"):
                        doc.error(ef["whisper"].mark, "a whisper says no number", "say where the call comes from, in words")
                chat = doc.text(ef["chat"]) if "chat" in ef else ""
                chat_spoken = doc.text(ef["chat_spoken"]) if "chat_spoken" in ef else ""
                if chat and not chat_spoken:
                    doc.error(
                        ef["chat"].mark,
                        "a chat address needs the words a voice should say for it",
                        f'add chat_spoken: in the line\'s language, e.g. "{chat.replace(".", " dot ")}" for {chat}',
                    )
                if name and number and hours and source and chat is not None and chat_spoken is not None and lang is not None:
                    lines[key.text] = Helpline(
                        key.text, name, lang, number, hours, source, chat, chat_spoken, tuple(targets), line_hours, whisper or ""
                    )
    if languages is not None:
        for code, ls in languages.items():
            if ls.helpline not in lines and len(errors) == before:
                mark = settings_marks.get(f"languages.{code}.helpline", Mark(doc.file, 1, 1))
                errors.append(
                    ConfigError(
                        mark,
                        f"languages.{code}.helpline",
                        f"unknown helpline {ls.helpline!r}",
                        _did_you_mean(ls.helpline, list(lines)),
                    )
                )
    if len(errors) > before:
        return None
    return lines


def _check_voices(
    doc: _Doc, lf: dict[str, YNode], say_language: str, voice: str, gtts_lang: str, espeak: str, engines: SpeechEngines
) -> None:
    """Every voice and language name exists: a misspelt one is answered by Twilio or Google with another voice, or silence."""
    table = twilio_voices()
    checked = f"the table in ivr/{VOICE_TABLE}, checked {table_checked()}"
    if say_language not in table:
        with doc.at("say_language"):
            hint = _did_you_mean(say_language, list(table))
            doc.error(lf["say_language"].mark, f"say_language {say_language!r} has no Twilio voice in {checked}", hint)
    elif voice not in table[say_language]:
        with doc.at("voice"):
            hint = (
                _did_you_mean(voice, list(table[say_language]))
                + f" (the {say_language} voices: {', '.join(table[say_language])})"
            )
            doc.error(lf["voice"].mark, f"voice {voice!r} is not a Twilio {say_language} voice in {checked}", hint)
    if engines.gtts_languages is not None and gtts_lang not in engines.gtts_languages:
        with doc.at("gtts"):
            mark = lf["gtts"].mark if "gtts" in lf else lf["say_language"].mark
            doc.error(mark, f"gTTS has no language {gtts_lang!r}", _did_you_mean(gtts_lang, sorted(engines.gtts_languages)))
    if engines.espeak_voices is not None and espeak not in engines.espeak_voices:
        with doc.at("espeak_voice"):
            mark = lf["espeak_voice"].mark if "espeak_voice" in lf else lf["say_language"].mark
            close = difflib.get_close_matches(espeak, sorted(engines.espeak_voices), n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + "`espeak-ng --voices` lists them"
            doc.error(mark, f"espeak-ng has no voice {espeak!r}", hint)


# --- flows ------------------------------------------------------------------------------


@dataclass
class _FlowContext:
    doc: _Doc
    name: str
    settings: CallSettings
    helplines: Mapping[str, Helpline]
    keys: GlobalKeys | None = None

    def expand(self, text: str, lang: str, mark: Mark) -> str:
        """Replace placeholders with the words to say; report numbers typed by hand (see typed_numbers)."""
        line_id = self.settings.languages[lang].helpline

        def sub(m: re.Match[str]) -> str:
            what, ref = m.group(1), m.group(2)
            if what == "key":
                if self.keys is None:
                    return m.group(0)
                keys = {"talk_now": self.keys.talk_now, "repeat": self.keys.repeat, "main_menu": self.keys.main_menu}
                if ref not in keys:
                    self.doc.error(mark, f"unknown key name {ref!r} in {m.group(0)}", _did_you_mean(ref, list(keys)))
                    return m.group(0)
                return spoken_key(keys[ref], lang)
            line = self.helplines.get(line_id if ref == "line" else ref)
            if line is None:
                self.doc.error(mark, f"unknown helpline {ref!r} in {m.group(0)}", _did_you_mean(ref, ["line", *self.helplines]))
                return m.group(0)
            # Voices read web addresses badly: a prompt says the line's own spoken form of it.
            fields = {"number": line.spoken_number, "name": line.name, "chat": line.chat_spoken, "hours": line.hours}
            if what not in fields:
                self.doc.error(
                    mark, f"unknown placeholder {m.group(0)}", "use {number:ID}, {name:ID}, {chat:ID}, {hours:ID} or {key:NAME}"
                )
                return m.group(0)
            return fields[what]

        pieces: list[tuple[str, bool]] = []  # literal text, and what each placeholder says
        done = 0
        for m in PLACEHOLDER.finditer(text):
            pieces += [(text[done : m.start()], False), (sub(m), True)]
            done = m.end()
        pieces.append((text[done:], False))
        numbers = {re.sub(r"[^0-9]", "", line.number): line.id for line in self.helplines.values()}
        for message, hint in typed_numbers(pieces, numbers):
            self.doc.error(mark, message, hint)
        return "".join(piece for piece, _ in pieces)


TALK_NOW_KEY = "{key:talk_now}"
MODE_WORDS = {SAYS_NUMBER: "the talk-now key says the line's number", CONNECTS: "the talk-now key tries to connect"}


def _reachable_modes(ctx: _FlowContext, lang: str) -> tuple[str, ...]:
    """The talk-now wordings callers of ``lang`` can hear with this configuration (see Engine.talk_mode)."""
    line = ctx.helplines.get(ctx.settings.languages[lang].helpline)
    if line is None or not line.transfer_to:
        return (SAYS_NUMBER,)
    if line.hours_open.always and any(target.hours.always for target in line.transfer_to):
        return (CONNECTS,)
    return (CONNECTS, SAYS_NUMBER)  # closed at some hours: the number, then


def _texts(ctx: _FlowContext, body: YMap, key: str, required: tuple[str, ...], *, talk_now_ok: bool) -> dict[str, Speech]:
    """``{lang: text}`` → one Speech per language; reports unknown and missing languages."""
    doc = ctx.doc
    found: dict[str, Speech] = {}
    for lang_key, text_node in body.items:
        with doc.at(lang_key.text):
            lang = lang_key.text
            if lang not in ctx.settings.languages:
                hint = _did_you_mean(lang, [*ctx.settings.languages, *MODE_WORDS])
                if lang_key.implicit_type and not lang_key.quoted:
                    hint = f"YAML 1.1 reads an unquoted {lang} as {lang_key.implicit_type}; {hint}"
                doc.error(lang_key.mark, f"unknown language {lang!r}", hint)
                continue
            text = doc.text(text_node, "the words to say")
            if text is None or lang not in ctx.settings.offered:
                found.setdefault(lang, Speech(key, lang, ""))
                continue
            if TALK_NOW_KEY in text and not talk_now_ok:
                doc.error(
                    text_node.mark,
                    "this text offers the talk-now key, which connects on some configurations and only says a number on others",
                    "write the item as  connect: {nl: …}  and  number: {nl: …}  so each call hears what the key really does",
                )
            spoken = " ".join(ctx.expand(text, lang, text_node.mark).split())
            found[lang] = Speech(key, lang, spoken)
    for lang in required:
        if lang not in found:
            doc.error(
                body.mark,
                f"no {ctx.settings.languages[lang].name} ({lang}) text",
                f"add '{lang}: \"…\"' (every offered language needs every prompt)",
            )
    return {lang: speech for lang, speech in found.items() if speech.text}


def _parse_prompt(ctx: _FlowContext, node: YNode | None, key: str, required: bool = True) -> Prompt:
    """A prompt is ``{lang: text}`` or a list of ``{lang: text}``, ``{pause: seconds}`` and
    ``{connect: {lang: text}, number: {lang: text}}`` items (words for what the talk-now key does)."""
    doc = ctx.doc
    offered = ctx.settings.offered
    if node is None:
        return Prompt(frozen_map())  # type: ignore[arg-type]
    items: tuple[YNode, ...] = node.items if isinstance(node, YSeq) else (node,)
    parts: dict[str, dict[str, list[PromptPart]]] = {mode: {lang: [] for lang in offered} for mode in TALK_MODES}
    varies = False
    for index, item in enumerate(items):
        with doc.at(index) if isinstance(node, YSeq) else _nullcontext():
            body = doc.mapping(item, 'text per language, like  nl: "…"')
            if body is None:
                continue
            if body.get("pause") is not None:
                doc.fields(body, ("pause",))
                seconds = doc.integer(body.get("pause"), "pause", 1, 30)
                if seconds:
                    for mode in TALK_MODES:
                        for lang in offered:
                            parts[mode][lang].append(Pause(seconds))
                continue
            if any(k.text in MODE_WORDS for k, _ in body.items):
                varies = True
                modes = doc.fields(body, (), TALK_MODES)
                for mode in TALK_MODES:
                    with doc.at(mode):
                        wording = doc.mapping(modes.get(mode), f"text per language for when {MODE_WORDS[mode]}")
                        needed = tuple(lang for lang in offered if mode in _reachable_modes(ctx, lang))
                        if wording is None:
                            if mode not in modes and needed:
                                doc.error(
                                    body.mark,
                                    f"no wording for when {MODE_WORDS[mode]}, which {', '.join(needed)} callers hear",
                                    f"add '{mode}:' with a text per language",
                                )
                            continue
                        for lang, speech in _texts(ctx, wording, f"{key}.{index}.{mode}", needed, talk_now_ok=True).items():
                            parts[mode][lang].append(speech)
                continue
            for lang, speech in _texts(ctx, body, f"{key}.{index}", offered, talk_now_ok=False).items():
                for mode in TALK_MODES:
                    parts[mode][lang].append(speech)
    if not required and not any(parts[SAYS_NUMBER].values()) and not any(parts[CONNECTS].values()):
        return Prompt(frozen_map())  # type: ignore[arg-type]
    by_mode = {mode: frozen_map({lang: tuple(p) for lang, p in by_lang.items()}) for mode, by_lang in parts.items()}
    return Prompt(by_mode[SAYS_NUMBER], by_mode[CONNECTS] if varies else None)  # type: ignore[arg-type]


def _parse_words(ctx: _FlowContext, node: YNode | None, keys: Mapping[str, str], taken: Words = NO_WORDS) -> Words:
    """``{key: {lang: [phrase, …]}}`` → language → phrase → key, for callers who speak instead of pressing.

    ``keys`` maps each name allowed in the document ("1", or "talk_now") to the key it stands for;
    ``taken`` holds phrases that already mean another key here (the global keys' words).
    """
    doc = ctx.doc
    found: dict[str, dict[str, str]] = {lang: {} for lang in ctx.settings.offered}
    body = doc.mapping(node, "what callers may say for each key") if node is not None else None
    for name_node, by_lang_node in body.items if body else ():
        with doc.at(name_node.text):
            key = keys.get(name_node.text)
            if key is None:
                doc.error(name_node.mark, f"{name_node.text!r} is not a key here", _did_you_mean(name_node.text, list(keys)))
                continue
            by_lang = doc.mapping(by_lang_node, "phrases per language, like  nl: [praten]")
            if by_lang is None:
                continue
            seen: set[str] = set()
            for lang_key, phrases in by_lang.items:
                with doc.at(lang_key.text):
                    lang = lang_key.text
                    if lang not in ctx.settings.languages:
                        doc.error(lang_key.mark, f"unknown language {lang!r}", _did_you_mean(lang, list(ctx.settings.languages)))
                        continue
                    seen.add(lang)
                    for index, item in enumerate(doc.sequence(phrases, "a list of phrases")):
                        with doc.at(index):
                            text = doc.text(item, "a phrase")
                            said = phrase(text or "")
                            if text is not None and not said:
                                doc.error(item.mark, f"{text!r} has no words to recognise", "write a word, e.g. praten")
                            if not said or lang not in found:
                                continue
                            other = found[lang].get(said) or taken.get(lang, {}).get(said)
                            if other is not None and other != key:
                                doc.error(item.mark, f"{text!r} already means key {other} here", "give each key its own words")
                                continue
                            found[lang][said] = key
            for lang in ctx.settings.offered:
                if lang not in seen:
                    doc.error(by_lang.mark, f"no {ctx.settings.languages[lang].name} ({lang}) words", f"add '{lang}: [\"…\"]'")
    return MappingProxyType({lang: MappingProxyType(words) for lang, words in found.items() if words})


@contextmanager
def _nullcontext() -> Iterator[None]:
    yield


@dataclass
class _Defaults:
    timeout: int = 6
    no_input: Retry | None = None
    wrong_key: Retry | None = None
    after_retries: str | None = None


def _parse_retry(ctx: _FlowContext, node: YNode | None, key: str) -> Retry | None:
    doc = ctx.doc
    body = doc.mapping(node, "retries and re-prompt")
    if body is None:
        return None
    f = doc.fields(body, ("retries", "reprompt"))
    retries = doc.integer(f.get("retries"), "retries", 0, 5)
    with doc.at("reprompt"):
        reprompt = _parse_prompt(ctx, f.get("reprompt"), f"{key}.reprompt")
    return Retry(retries, reprompt) if retries is not None else None


def _target(ctx: _FlowContext, fields: dict[str, YNode], name: str) -> str:
    with ctx.doc.at(name):
        value = ctx.doc.text(fields.get(name), "a node name") if name in fields else None
        if value is not None:
            ctx.doc.marks[ctx.doc.where()] = fields[name].mark
        return value or ""


MENU_FIELDS = ("timeout", "no_input", "wrong_key", "after_retries")


def _menu_common(ctx: _FlowContext, f: dict[str, YNode], key: str, d: _Defaults) -> tuple[int, Retry, Retry, str] | None:
    doc = ctx.doc
    timeout = doc.integer(f["timeout"], "timeout", 1, 30) if "timeout" in f else d.timeout
    with doc.at("no_input"):
        no_input = _parse_retry(ctx, f["no_input"], f"{key}.no_input") if "no_input" in f else d.no_input
    with doc.at("wrong_key"):
        wrong_key = _parse_retry(ctx, f["wrong_key"], f"{key}.wrong_key") if "wrong_key" in f else d.wrong_key
    after = _target(ctx, f, "after_retries") if "after_retries" in f else d.after_retries
    node = f.get("prompt")
    mark = node.mark if node else Mark(doc.file, 1, 1)
    for name, value in (("no_input", no_input), ("wrong_key", wrong_key), ("after_retries", after)):
        if value is None:
            doc.error(mark, f"no {name} for this menu", f"add '{name}:' here or under 'defaults:'")
    if timeout is None or no_input is None or wrong_key is None or not after:
        return None
    if "after_retries" not in f:
        doc.marks[doc.where() + ".after_retries"] = doc.marks.get("defaults.after_retries", mark)
    return timeout, no_input, wrong_key, after


def _parse_menu(ctx: _FlowContext, node_id: str, body: YMap, d: _Defaults) -> Node | None:
    doc = ctx.doc
    f = doc.fields(body, ("kind", "prompt", "options"), (*MENU_FIELDS, "words"))
    key = f"{ctx.name}/{node_id}"
    with doc.at("prompt"):
        prompt = _parse_prompt(ctx, f.get("prompt"), f"{key}.prompt")
    options: dict[str, str] = {}
    with doc.at("options"):
        opts = doc.mapping(f.get("options"), "keys and the nodes they lead to")
        for k, v in opts.items if opts else ():
            with doc.at(k.text):
                phone_key = doc.phone_key(k)
                target = doc.text(v, "a node name")
                if phone_key and target:
                    if ctx.keys and phone_key in ctx.keys.as_map():
                        doc.error(
                            k.mark,
                            f"key {phone_key} is already the {ctx.keys.as_map()[phone_key].replace('_', '-')} key in every menu",
                            "choose another key for this option",
                        )
                        continue
                    options[phone_key] = target
                    doc.marks[doc.where()] = v.mark
    with doc.at("words"):
        words = _parse_words(ctx, f.get("words"), {k: k for k in options}, ctx.keys.words if ctx.keys else NO_WORDS)
    common = _menu_common(ctx, f, key, d)
    if common is None or not options:
        return None
    return MenuNode(node_id, prompt, frozen_map(options), *common, words)  # type: ignore[arg-type]


def _parse_language(ctx: _FlowContext, node_id: str, body: YMap, d: _Defaults) -> Node | None:
    doc = ctx.doc
    f = doc.fields(body, ("kind", "prompt", "choices", "next"), (*MENU_FIELDS, "talk_now", "words"))
    key = f"{ctx.name}/{node_id}"
    with doc.at("prompt"):
        prompt = _parse_prompt(ctx, f.get("prompt"), f"{key}.prompt")
    choices: dict[str, str] = {}
    written: dict[str, str] = {}  # also the choices of languages this deployment does not offer
    with doc.at("choices"):
        ch = doc.mapping(f.get("choices"), "keys and the languages they choose")
        for k, v in ch.items if ch else ():
            with doc.at(k.text):
                phone_key = doc.phone_key(k)
                lang = doc.text(v, "a language code")
                if lang is not None and lang not in ctx.settings.languages:
                    hint = _did_you_mean(lang, list(ctx.settings.languages))
                    if isinstance(v, YScalar) and v.implicit_type and not v.quoted:
                        hint = f"YAML 1.1 reads an unquoted {lang} as {v.implicit_type}; {hint}"
                    doc.error(v.mark, f"unknown language {lang!r}", hint)
                    continue
                if phone_key and lang:
                    written[phone_key] = lang
                if phone_key and lang and lang in ctx.settings.offered:
                    choices[phone_key] = lang
        for lang in ctx.settings.offered:
            if ch is not None and lang not in choices.values():
                doc.error(
                    ch.mark, f"no key chooses {lang!r}, which is offered", f'add a key for it, e.g. "{len(choices) + 1}": {lang}'
                )
    nxt = _target(ctx, f, "next")
    common = _menu_common(ctx, f, key, d)
    if common is None or not nxt:
        return None
    # The talk-now key before a language is chosen: where silence leads, unless said otherwise.
    talk_now = _target(ctx, f, "talk_now") if "talk_now" in f else common[3]
    if "talk_now" not in f:
        doc.marks[doc.where() + ".talk_now"] = doc.marks.get(doc.where() + ".after_retries", body.mark)
    with doc.at("words"):
        words = _parse_words(ctx, f.get("words"), {k: k for k in written})
    # Words for a language that is not offered here choose nothing.
    words = MappingProxyType({lang: MappingProxyType({p: k for p, k in w.items() if k in choices}) for lang, w in words.items()})
    return LanguageNode(node_id, prompt, frozen_map(choices), nxt, *common, talk_now, words)  # type: ignore[arg-type]


def _parse_message(ctx: _FlowContext, node_id: str, body: YMap, d: _Defaults) -> Node | None:
    doc = ctx.doc
    f = doc.fields(body, ("kind", "prompt", "next"), ("after", "timeout"))
    key = f"{ctx.name}/{node_id}"
    with doc.at("prompt"):
        prompt = _parse_prompt(ctx, f.get("prompt"), f"{key}.prompt")
    with doc.at("after"):
        after = _parse_prompt(ctx, f.get("after"), f"{key}.after", required=False)
    timeout = doc.integer(f["timeout"], "timeout", 1, 30) if "timeout" in f else d.timeout
    nxt = _target(ctx, f, "next")
    if not nxt or timeout is None:
        return None
    return MessageNode(node_id, prompt, after, nxt, timeout)


def _parse_transfer(ctx: _FlowContext, node_id: str, body: YMap, d: _Defaults) -> Node | None:
    doc = ctx.doc
    f = doc.fields(body, ("kind", "helpline", "call_yourself"), ("connecting", "after", "timeout"))
    key = f"{ctx.name}/{node_id}"
    line = doc.text(f.get("helpline"), "a helpline id, 'language' or 'every'") if "helpline" in f else None
    if line is not None and line not in (LANGUAGE_LINE, EVERY_LINE) and line not in ctx.helplines:
        with doc.at("helpline"):
            doc.error(
                f["helpline"].mark, f"unknown helpline {line!r}", _did_you_mean(line, [LANGUAGE_LINE, EVERY_LINE, *ctx.helplines])
            )
        line = None
    with doc.at("connecting"):
        connecting = _parse_prompt(ctx, f.get("connecting"), f"{key}.connecting", required=False)
    with doc.at("call_yourself"):
        call_yourself = _parse_prompt(ctx, f.get("call_yourself"), f"{key}.call_yourself")
        _require_number(ctx, f.get("call_yourself"), call_yourself)
    with doc.at("after"):
        after = _parse_prompt(ctx, f.get("after"), f"{key}.after", required=False)
    timeout = doc.integer(f["timeout"], "timeout", 1, 30) if "timeout" in f else d.timeout
    if line is None or timeout is None:
        return None
    return TransferNode(node_id, line, connecting, call_yourself, after, timeout)


def _require_number(ctx: _FlowContext, node: YNode | None, prompt: Prompt) -> None:
    """A prompt that ends a call or replaces a transfer must say a helpline number."""
    numbers = {line.spoken_number for line in ctx.helplines.values()}
    for lang, parts in prompt.by_lang.items():
        said = " ".join(p.text for p in parts if isinstance(p, Speech))
        if parts and not any(n in said for n in numbers) and node is not None:
            ctx.doc.error(
                node.mark, f"the {lang} text does not say a helpline number", "add {number:line} so the caller knows whom to call"
            )


def _parse_goodbye(ctx: _FlowContext, node_id: str, body: YMap, d: _Defaults) -> Node | None:
    doc = ctx.doc
    f = doc.fields(body, ("kind", "prompt"))
    with doc.at("prompt"):
        prompt = _parse_prompt(ctx, f.get("prompt"), f"{ctx.name}/{node_id}.prompt")
        _require_number(ctx, f.get("prompt"), prompt)
    return GoodbyeNode(node_id, prompt)


NODE_KINDS: dict[str, Callable[[_FlowContext, str, YMap, _Defaults], Node | None]] = {
    "language": _parse_language,
    "menu": _parse_menu,
    "message": _parse_message,
    "transfer": _parse_transfer,
    "goodbye": _parse_goodbye,
}


def parse_flow(
    path: Path,
    errors: list[ConfigError],
    settings: CallSettings,
    helplines: Mapping[str, Helpline],
    node_marks: dict[str, Mark] | None = None,
) -> Flow | None:
    """Parse and check one flow; ``node_marks`` (if given) receives where each node is defined."""
    doc, root = _load_doc(path, errors)
    if root is None:
        return None
    before = len(errors)
    ctx = _FlowContext(doc, path.stem, settings, helplines)
    f = doc.fields(root, ("start", "main_menu", "talk_now", "keys", "nodes", "rescue"), ("defaults", "words"))
    with doc.at("keys"):
        kb = doc.mapping(f.get("keys"), "the keys that work in every menu")
        if kb is not None:
            kf = doc.fields(kb, ("talk_now", "repeat", "main_menu"))
            chosen: dict[str, str] = {}
            for name in ("talk_now", "repeat", "main_menu"):
                if name in kf and isinstance(kf[name], YScalar):
                    with doc.at(name):
                        k = doc.phone_key(kf[name])  # type: ignore[arg-type]
                        if k and k in chosen.values():
                            doc.error(kf[name].mark, f"key {k} is used twice", "give each global key its own key")
                        elif k:
                            chosen[name] = k
            if len(chosen) == 3:
                with doc.at("words"):
                    words = _parse_words(ctx, f.get("words"), chosen) if "words" in f else NO_WORDS
                ctx.keys = GlobalKeys(chosen["talk_now"], chosen["repeat"], chosen["main_menu"], words)
    targets = {name: _target(ctx, f, name) for name in ("start", "main_menu", "talk_now")}
    defaults = _Defaults()
    if "defaults" in f:
        with doc.at("defaults"):
            db = doc.mapping(f["defaults"], "defaults for menus")
            if db is not None:
                df = doc.fields(db, (), MENU_FIELDS)
                if "timeout" in df:
                    defaults.timeout = doc.integer(df["timeout"], "timeout", 1, 30) or defaults.timeout
                for name in ("no_input", "wrong_key"):
                    if name in df:
                        with doc.at(name):
                            setattr(defaults, name, _parse_retry(ctx, df[name], f"{ctx.name}/defaults.{name}"))
                if "after_retries" in df:
                    defaults.after_retries = _target(ctx, df, "after_retries")
    with doc.at("rescue"):
        rescue = _parse_prompt(ctx, f.get("rescue"), f"{ctx.name}/rescue")
        _require_number(ctx, f.get("rescue"), rescue)
    nodes: dict[str, Node] = {}
    node_marks = {} if node_marks is None else node_marks
    with doc.at("nodes"):
        nb = doc.mapping(f.get("nodes"), "the nodes")
        for key, value in nb.items if nb else ():
            with doc.at(key.text):
                if not NODE_ID.fullmatch(key.text):
                    doc.error(
                        key.mark,
                        f"node name {key.text!r} must start with a letter and use only a-z, 0-9 and _",
                        "rename it, e.g. main_menu",
                    )
                    continue
                node_marks[key.text] = key.mark
                body = doc.mapping(value, "the node's details")
                if body is None:
                    continue
                kind_node = body.get("kind")
                kind = doc.text(kind_node, "a node kind") if kind_node is not None else None
                if kind_node is None:
                    doc.error(
                        body.mark, "missing required key 'kind'", "add 'kind:' with one of: " + ", ".join(sorted(NODE_KINDS))
                    )
                    continue
                if kind is None:
                    continue
                parser = NODE_KINDS.get(kind)
                if parser is None:
                    with doc.at("kind"):
                        doc.error(kind_node.mark, f"unknown node kind {kind!r}", _did_you_mean(kind, list(NODE_KINDS)))
                    continue
                parsed = parser(ctx, key.text, body, defaults)
                if parsed is not None:
                    nodes[key.text] = parsed
    if len(errors) > before or ctx.keys is None:
        return None
    flow = Flow(
        name=path.stem,
        file=doc.file,
        start=targets["start"],
        main_menu=targets["main_menu"],
        talk_now=targets["talk_now"],
        keys=ctx.keys,
        nodes=frozen_map(nodes),  # type: ignore[arg-type]
        rescue=rescue,
    )
    errors.extend(check_flow(flow, node_marks, doc.marks, Mark(doc.file, 1, 1)))
    if len(errors) > before:
        return None
    return flow


def load_catalog(
    config_dir: Path | None = None,
    flows_dir: Path | None = None,
    duration_of: DurationOf | None = None,
    engines: SpeechEngines | None = None,
) -> Catalog:
    """Load and check settings, helplines and every flow, including the timing of every served call.

    ``duration_of`` gives the real length of a prompt's audio when known (else words per second are used).

    Raises:
        ConfigErrors: listing every problem found, each with file, line and a fix.
    """
    config_dir = config_dir or default_config_dir()
    flows_dir = flows_dir or default_flows_dir()
    errors: list[ConfigError] = []
    settings_path = config_dir / "settings.yaml"
    helplines_path = config_dir / "helplines.yaml"
    settings, settings_marks = parse_settings(settings_path, errors, engines)
    helplines = parse_helplines(
        helplines_path,
        errors,
        settings.languages if settings else None,
        settings_marks,
        settings.called_numbers if settings else (),
    )
    flow_files = sorted(flows_dir.glob("*.yaml"))
    if not flow_files:
        errors.append(
            ConfigError(
                Mark(_display(flows_dir), 1, 1), "", "no *.yaml call flow in this folder", "add a flow file or set IVR_FLOWS"
            )
        )
    flows: dict[str, Flow] = {}
    flow_marks: dict[str, dict[str, Mark]] = {}
    if settings is not None and helplines is not None:
        for index, name in enumerate(settings.welcome_names):
            if name not in helplines:
                where = f"welcome_names[{index}]"
                mark = settings_marks.get(where, Mark(_display(settings_path), 1, 1))
                errors.append(ConfigError(mark, where, f"unknown helpline {name!r}", _did_you_mean(name, list(helplines))))
        dialling = [line_id for line_id, line in helplines.items() if line.transfer_to]
        if dialling and not settings.called_numbers:
            # Without a number of ours, <Dial> shows the line the caller's own number.
            errors.append(
                ConfigError(
                    settings_marks.get("called_numbers", Mark(_display(settings_path), 1, 1)),
                    "called_numbers",
                    f"{', '.join(dialling)} in helplines.yaml transfer calls, but no number of ours is listed to show"
                    " the line as caller ID (the line would see the caller's own number)",
                    'add this service\'s Twilio number, e.g. called_numbers: {"+3225550100": {default_language: nl}}',
                )
            )
        for path in flow_files:
            flow = parse_flow(path, errors, settings, helplines, flow_marks.setdefault(path.stem, {}))
            if flow is not None:
                flows[flow.name] = flow
        wanted = {"flow": settings.default_flow} | {
            f"called_numbers.{n}.flow": c.flow for n, c in settings.called_numbers.items()
        }
        for where, name in wanted.items():
            if name not in flows and not errors:
                mark = settings_marks.get(where, Mark(_display(settings_path), 1, 1))
                errors.append(
                    ConfigError(mark, where, f"no flow named {name!r} in {_display(flows_dir)}", _did_you_mean(name, list(flows)))
                )
    if errors or settings is None or helplines is None:
        raise ConfigErrors(errors)
    catalog = Catalog(
        settings=settings,
        helplines=frozen_map(helplines),  # type: ignore[arg-type]
        flows=frozen_map(flows),  # type: ignore[arg-type]
        sources=(str(settings_path), str(helplines_path), *map(str, flow_files)),
    )
    # Only a complete catalog can be walked call by call: time to a human, silence, the welcome.
    errors.extend(check_calls(catalog, flow_marks, duration_of))
    if errors:
        raise ConfigErrors(errors)
    return catalog
