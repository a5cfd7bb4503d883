"""``config/settings.yaml``: languages, voices, called numbers, budgets, speech."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from ivr.errors import ConfigError
from ivr.loading.document import (
    E164,
    Document,
    Number,
    boolean,
    did_you_mean,
    load_document,
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

# --- settings.yaml ---------------------------------------------------------------------


# Every number of settings.yaml, declared once: key, range, default (None: required), meaning.
RING_TIMEOUT = Number("ring_timeout", 5, 120, 20, "seconds a transfer target may ring before the next is tried", whole=True)
# The caller checker's budgets (ivr.checker): the default of each is also its most, so that a config may
# tighten a budget but never loosen it.
_TIGHTER = "; a config may tighten a budget, never loosen it"
BUDGETS = (
    Number("time_to_human", 1, 12, 12, "seconds from the call's start to how to reach a person" + _TIGHTER),
    Number("talk_now", 1, 12, 12, "seconds of audio after the language key then the talk-now key" + _TIGHTER),
    Number("silent_after_language", 1, 35, 35, "seconds until a caller who only chose a language hears the line" + _TIGHTER),
    Number("any_behaviour", 1, 60, 60, "seconds until any caller hears a line they understand and 112" + _TIGHTER),
    Number("wrong_language", 1, 25, 25, "seconds until a caller back from a wrong language hears the way to a person" + _TIGHTER),
    Number("announcement", 1, 15, 15, "the longest operators' announcement, in estimated seconds" + _TIGHTER),
)
# Names of earlier versions, with what replaced them.
RENAMED_BUDGETS = {"silence": "any_behaviour"}
MIN_CONFIDENCE = Number("min_confidence", 0, 1, 0.5, "below it, what speech recognition heard is a wrong key")
WORDS_PER_SECOND = Number("words_per_second", 0.5, 6, None, "to estimate how long a prompt takes to say")


def parse_settings(
    path: Path, errors: list[ConfigError], engines: SpeechEngines | None = None
) -> tuple[CallSettings | None, dict[str, Mark]]:
    """Parse settings; also return the marks of fields that later checks point at."""
    doc, root = load_document(path, errors)
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
                    ("gtts", "espeak_voice", "speech_language", "speak_with"),
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
                wps = WORDS_PER_SECOND.read(doc, lf)
                values = [doc.text(lf.get(n)) if n in lf else None for n in ("name", "say_language", "voice", "helpline")]
                espeak = doc.text(lf["espeak_voice"]) if "espeak_voice" in lf else key.text
                speak_with = _speak_with(doc, lf)
                if all(v is not None for v in values) and wps is not None and espeak and speak_with:
                    name, say_language, voice, helpline = (v or "" for v in values)
                    _check_voices(doc, lf, say_language, voice, gtts_lang, espeak, engines or SpeechEngines())
                    # Twilio recognises nl-BE and fr-BE, but there is no de-BE: German is recognised as de-DE.
                    heard_as = (doc.text(lf["speech_language"]) if "speech_language" in lf else None) or say_language
                    languages[key.text] = LanguageSettings(
                        key.text, name, say_language, voice, helpline, wps, gtts_lang, gtts_tld, espeak, heard_as, speak_with
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
                    item.mark, f"language {code!r} is not configured under 'languages'", did_you_mean(code, list(languages))
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
            doc.error(f["default_language"].mark, f"default language {default!r} is not offered", did_you_mean(default, offered))
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
                    doc.error(bf["default_language"].mark, f"language {lang!r} is not offered", did_you_mean(lang, offered))
                    continue
                fl = doc.text(bf["flow"]) if "flow" in bf else flow_name
                speech_on = boolean(doc, bf["speech"]) if "speech" in bf else None
                if lang and fl:
                    called[key.text] = CalledNumber(lang, fl, speech_on)
                    doc.marks[f"called_numbers.{key.text}.flow"] = (bf.get("flow") or key).mark
    ring = RING_TIMEOUT.whole_number(doc, f)
    budgets: dict[str, YNode] = {}
    if "budgets" in f:
        with doc.at("budgets"):
            b = doc.mapping(f["budgets"], "time budgets")
            for old, new in RENAMED_BUDGETS.items():
                found = b.get(old) if b else None
                if found is not None:
                    with doc.at(old):
                        doc.error(found.mark, f"budget {old!r} is now called {new!r}", f"rename it to {new}")
            known = (*(n.key for n in BUDGETS), *RENAMED_BUDGETS)
            budgets = doc.fields(b, (), known) if b else {}
    with doc.at("budgets"):
        budget_values = [budget.read(doc, budgets) for budget in BUDGETS]
    welcome_names: list[str] = []
    with doc.at("welcome_names"):
        for index, item in enumerate(doc.sequence(f.get("welcome_names"), "helpline ids")):
            line_id = doc.text(item, "a helpline id")
            if line_id is not None:
                welcome_names.append(line_id)
                doc.marks[f"welcome_names[{index}]"] = item.mark
    speech_fields: dict[str, YNode] = {}
    with doc.at("speech"):
        if "speech" in f:
            sb = doc.mapping(f["speech"], "speech input settings")
            speech_fields = doc.fields(sb, (), ("enabled", MIN_CONFIDENCE.key)) if sb else {}
        # Off unless turned on: Twilio charges for every <Gather> that listens for speech.
        enabled = boolean(doc, speech_fields["enabled"]) if "enabled" in speech_fields else False
        confidence = MIN_CONFIDENCE.read(doc, speech_fields)
    doc.marks["flow"] = (f.get("flow") or root).mark
    doc.marks["called_numbers"] = (f.get("called_numbers") or root).mark
    if len(errors) > before or default is None or flow_name is None or ring is None or confidence is None:
        return None, doc.marks
    if any(value is None for value in budget_values):
        return None, doc.marks
    human, talk, silent, anything, wrong, announcement = (float(v or 0) for v in budget_values)
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
    ), doc.marks


def _speak_with(doc: Document, lf: dict[str, YNode]) -> str | None:
    """``speak_with``: the built audio (the default) or Twilio's <Say> voice for every prompt of the language."""
    if "speak_with" not in lf:
        return SPEAK_AUDIO
    with doc.at("speak_with"):
        value = doc.text(lf["speak_with"], "audio or say")
        if value is not None and value not in SPEAK_WITH:
            hint = did_you_mean(value, list(SPEAK_WITH)) + " (audio: the files of `ivr audio build`; say: Twilio's voice)"
            doc.error(lf["speak_with"].mark, f"speak_with {value!r} is neither audio nor say", hint)
            return None
        return value


def _check_voices(
    doc: Document, lf: dict[str, YNode], say_language: str, voice: str, gtts_lang: str, espeak: str, engines: SpeechEngines
) -> None:
    """Every voice and language name exists: a misspelt one is answered by Twilio or Google with another voice, or silence."""
    table = twilio_voices()
    checked = f"the table in ivr/{VOICE_TABLE}, checked {table_checked()}"
    if say_language not in table:
        with doc.at("say_language"):
            hint = did_you_mean(say_language, list(table))
            doc.error(lf["say_language"].mark, f"say_language {say_language!r} has no Twilio voice in {checked}", hint)
    elif voice not in table[say_language]:
        with doc.at("voice"):
            hint = (
                did_you_mean(voice, list(table[say_language])) + f" (the {say_language} voices: {', '.join(table[say_language])})"
            )
            doc.error(lf["voice"].mark, f"voice {voice!r} is not a Twilio {say_language} voice in {checked}", hint)
    if engines.gtts_languages is not None and gtts_lang not in engines.gtts_languages:
        with doc.at("gtts"):
            mark = lf["gtts"].mark if "gtts" in lf else lf["say_language"].mark
            doc.error(mark, f"gTTS has no language {gtts_lang!r}", did_you_mean(gtts_lang, sorted(engines.gtts_languages)))
    if engines.espeak_voices is not None and espeak not in engines.espeak_voices:
        with doc.at("espeak_voice"):
            mark = lf["espeak_voice"].mark if "espeak_voice" in lf else lf["say_language"].mark
            close = difflib.get_close_matches(espeak, sorted(engines.espeak_voices), n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + "`espeak-ng --voices` lists them"
            doc.error(mark, f"espeak-ng has no voice {espeak!r}", hint)
