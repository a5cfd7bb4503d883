"""The texts of a flow: prompts in every language (placeholders expanded, numbers checked), both wordings of
the talk-now key, and the words a caller may say instead of a key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from types import MappingProxyType

from ivr.loading.document import (
    REQUIRED,
    Document,
    did_you_mean,
    whole,
)
from ivr.loading.flow_marks import Recorder
from ivr.model import (
    CONNECTS,
    NO_WORDS,
    SAYS_NUMBER,
    TALK_MODES,
    CallSettings,
    GlobalKeys,
    Helpline,
    Pause,
    Prompt,
    PromptPart,
    Speech,
    Words,
    frozen_map,
    phrase,
    spoken_key,
)
from ivr.number_guard import line_numbers, typed_numbers
from ivr.yamlio import Mark, YMap, YNode, YSeq

PLACEHOLDER = re.compile(r"\{([a-z_]+):([a-z0-9_]+)\}")


@dataclass
class FlowContext:
    doc: Document
    name: str
    settings: CallSettings
    helplines: Mapping[str, Helpline]
    keys: GlobalKeys | None = None
    text_key: str = ""  # the text-message key, said by {key:text_message} (ivr.loading.text_message)
    marks: Recorder = field(default_factory=Recorder)  # where the flow names its nodes, for the checks of its graph

    def expand(self, text: str, lang: str, mark: Mark) -> str:
        """Replace placeholders with the words to say; report numbers typed by hand (see typed_numbers)."""
        line_id = self.settings.languages[lang].helpline

        def sub(m: re.Match[str]) -> str:
            what, ref = m.group(1), m.group(2)
            if what == "key":
                if self.keys is None:
                    return m.group(0)
                keys = {"talk_now": self.keys.talk_now, "repeat": self.keys.repeat, "main_menu": self.keys.main_menu}
                keys |= {"text_message": self.text_key} if self.text_key else {}
                if ref not in keys:
                    self.doc.error(mark, f"unknown key name {ref!r} in {m.group(0)}", did_you_mean(ref, list(keys)))
                    return m.group(0)
                return spoken_key(keys[ref], lang)
            line = self.helplines.get(line_id if ref == "line" else ref)
            if line is None:
                self.doc.error(mark, f"unknown helpline {ref!r} in {m.group(0)}", did_you_mean(ref, ["line", *self.helplines]))
                return m.group(0)
            # Voices read web addresses badly: a prompt says the line's own spoken form of it.
            fields = {
                "number": line.spoken_number,
                "name": line.name,
                "chat": line.chat_spoken,
                "chat_hours": line.chat_hours,
                "hours": line.hours,
            }
            if what not in fields:
                self.doc.error(
                    mark,
                    f"unknown placeholder {m.group(0)}",
                    "use {number:ID}, {name:ID}, {chat:ID}, {chat_hours:ID}, {hours:ID} or {key:NAME}",
                )
                return m.group(0)
            if not fields[what]:
                self.doc.error(
                    mark, f"{line.id} has no {what} in helplines.yaml, which {m.group(0)} says", f"add {what}: to {line.id}"
                )
                return m.group(0)
            return fields[what]

        pieces: list[tuple[str, bool]] = []  # literal text, and what each placeholder says
        done = 0
        for m in PLACEHOLDER.finditer(text):
            pieces += [(text[done : m.start()], False), (sub(m), True)]
            done = m.end()
        pieces.append((text[done:], False))
        for message, hint in typed_numbers(pieces, line_numbers(self.helplines.values()), lang):
            self.doc.error(mark, message, hint)
        return "".join(piece for piece, _ in pieces)


PAUSE = whole("pause", 1, 30, REQUIRED, "seconds of silence inside a prompt")
TALK_NOW_KEY = "{key:talk_now}"
MODE_WORDS = {SAYS_NUMBER: "the talk-now key says the line's number", CONNECTS: "the talk-now key tries to connect"}


def reachable_modes(ctx: FlowContext, lang: str) -> tuple[str, ...]:
    """The talk-now wordings callers of ``lang`` can hear with this configuration (see Engine.talk_mode)."""
    line = ctx.helplines.get(ctx.settings.languages[lang].helpline)
    if line is None or not line.transfer_to:
        return (SAYS_NUMBER,)
    if line.hours_open.always and any(target.hours.always for target in line.transfer_to):
        return (CONNECTS,)
    return (CONNECTS, SAYS_NUMBER)  # closed at some hours: the number, then


def texts(ctx: FlowContext, body: YMap, key: str, required: tuple[str, ...], *, talk_now_ok: bool) -> dict[str, Speech]:
    """``{lang: text}`` → one Speech per language; reports unknown and missing languages."""
    doc = ctx.doc
    found: dict[str, Speech] = {}
    for lang_key, text_node in body.items:
        with doc.at(lang_key.text):
            lang = lang_key.text
            if lang not in ctx.settings.languages:
                hint = did_you_mean(lang, [*ctx.settings.languages, *MODE_WORDS])
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


def parse_prompt(ctx: FlowContext, node: YNode | None, key: str, required: bool = True) -> Prompt:
    """A prompt is ``{lang: text}`` or a list of ``{lang: text}``, ``{pause: seconds}`` and
    ``{connect: {lang: text}, number: {lang: text}}`` items (words for what the talk-now key does)."""
    doc = ctx.doc
    offered = ctx.settings.offered
    if node is None:
        return Prompt(frozen_map())
    items: tuple[YNode, ...] = node.items if isinstance(node, YSeq) else (node,)
    parts: dict[str, dict[str, list[PromptPart]]] = {mode: {lang: [] for lang in offered} for mode in TALK_MODES}
    varies = False
    for index, item in enumerate(items):
        with doc.at(index) if isinstance(node, YSeq) else nullcontext():
            body = doc.mapping(item, 'text per language, like  nl: "…"')
            if body is None:
                continue
            if body.get("pause") is not None:
                body_fields = doc.fields(body, ("pause",))
                seconds = PAUSE.read(doc, body_fields)
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
                        needed = tuple(lang for lang in offered if mode in reachable_modes(ctx, lang))
                        if wording is None:
                            if mode not in modes and needed:
                                doc.error(
                                    body.mark,
                                    f"no wording for when {MODE_WORDS[mode]}, which {', '.join(needed)} callers hear",
                                    f"add '{mode}:' with a text per language",
                                )
                            continue
                        for lang, speech in texts(ctx, wording, f"{key}.{index}.{mode}", needed, talk_now_ok=True).items():
                            parts[mode][lang].append(speech)
                continue
            for lang, speech in texts(ctx, body, f"{key}.{index}", offered, talk_now_ok=False).items():
                for mode in TALK_MODES:
                    parts[mode][lang].append(speech)
    if not required and not any(parts[SAYS_NUMBER].values()) and not any(parts[CONNECTS].values()):
        return Prompt(frozen_map())
    by_mode = {mode: frozen_map({lang: tuple(p) for lang, p in by_lang.items()}) for mode, by_lang in parts.items()}
    return Prompt(by_mode[SAYS_NUMBER], by_mode[CONNECTS] if varies else None)


def parse_words(ctx: FlowContext, node: YNode | None, keys: Mapping[str, str], taken: Words = NO_WORDS) -> Words:
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
                doc.error(name_node.mark, f"{name_node.text!r} is not a key here", did_you_mean(name_node.text, list(keys)))
                continue
            by_lang = doc.mapping(by_lang_node, "phrases per language, like  nl: [praten]")
            if by_lang is None:
                continue
            seen: set[str] = set()
            for lang_key, phrases in by_lang.items:
                with doc.at(lang_key.text):
                    lang = lang_key.text
                    if lang not in ctx.settings.languages:
                        doc.error(lang_key.mark, f"unknown language {lang!r}", did_you_mean(lang, list(ctx.settings.languages)))
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
