"""A flow's ``text_message``: the key that sends the line's number by SMS, what is said, and the message."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ivr.errors import ConfigError
from ivr.loading.document import did_you_mean
from ivr.loading.flow_marks import FlowMarks
from ivr.loading.prompts import PLACEHOLDER, FlowContext, parse_prompt
from ivr.model import GlobalKeys, Node, Speech, TextMessage, frozen_map, key_uses
from ivr.number_guard import line_numbers, typed_numbers
from ivr.yamlio import Mark, YNode, YScalar

# A message is written, not said: the number as published and the chat address as written.
WRITTEN = ("name", "number", "chat", "chat_hours", "hours")


def _written(ctx: FlowContext, text: str, lang: str, mark: Mark) -> str:
    line_id = ctx.settings.languages[lang].helpline

    def sub(m: re.Match[str]) -> str:
        what, ref = m.group(1), m.group(2)
        line = ctx.helplines.get(line_id if ref == "line" else ref)
        if line is None or what not in WRITTEN:
            hint = (
                did_you_mean(ref, ["line", *ctx.helplines])
                if line is None
                else "use {name:…}, {number:…}, {chat:…}, {chat_hours:…}"
            )
            ctx.doc.error(mark, f"unknown placeholder {m.group(0)} in a text message", hint)
            return m.group(0)
        value = str(getattr(line, what))
        if not value:
            ctx.doc.error(
                mark, f"{line.id} has no {what} in helplines.yaml, which {m.group(0)} writes", f"add {what}: to {line.id}"
            )
        return value

    pieces: list[tuple[str, bool]] = []  # literal text, and what each placeholder writes
    done = 0
    for m in PLACEHOLDER.finditer(text):
        pieces += [(text[done : m.start()], False), (sub(m), True)]
        done = m.end()
    pieces.append((text[done:], False))
    for message, hint in typed_numbers(pieces, line_numbers(ctx.helplines.values()), lang):
        ctx.doc.error(mark, message, hint)  # every number comes from helplines.yaml, in a message too
    return " ".join("".join(piece for piece, _ in pieces).split())


def parse_text_message(ctx: FlowContext, node: YNode) -> TextMessage | None:
    """``text_message: {key: "#", offer: {lang: …}, on_its_way: {lang: …}, body: {lang: …}}``."""
    doc = ctx.doc
    with doc.at("text_message"):
        fields = doc.mapping(node, "the key, what is said and the message")
        if fields is None:
            return None
        f = doc.fields(fields, ("key", "offer", "on_its_way", "body"))
        key_node = f.get("key")
        with doc.at("key"):
            key = doc.phone_key(key_node) if isinstance(key_node, YScalar) else None
            if key is not None:
                ctx.marks.text_key = key_node.mark if key_node is not None else fields.mark
                ctx.text_key = key
        with doc.at("offer"):
            offer = parse_prompt(ctx, f.get("offer"), f"{ctx.name}/text_message.offer")
        with doc.at("on_its_way"):
            on_its_way = parse_prompt(ctx, f.get("on_its_way"), f"{ctx.name}/text_message.on_its_way")
            for lang, parts in on_its_way.by_lang.items():
                line = ctx.helplines.get(ctx.settings.languages[lang].helpline)
                said = " ".join(p.text for p in parts if isinstance(p, Speech))
                if line is not None and line.spoken_number not in said:
                    doc.error(
                        fields.mark,
                        f"the {lang} text does not say the line's number",
                        "add {number:line}: the caller hears it again",
                    )
        body: dict[str, str] = {}
        with doc.at("body"):
            by_lang = doc.mapping(f.get("body"), "the message per language")
            for lang_key, text_node in by_lang.items if by_lang else ():
                with doc.at(lang_key.text):
                    lang = lang_key.text
                    text = doc.text(text_node, "the message")
                    if lang not in ctx.settings.languages:
                        doc.error(lang_key.mark, f"unknown language {lang!r}", did_you_mean(lang, list(ctx.settings.languages)))
                    elif text is not None and lang in ctx.settings.offered:
                        body[lang] = _written(ctx, text, lang, text_node.mark)
            for lang in ctx.settings.offered:
                if by_lang is not None and lang not in body:
                    doc.error(by_lang.mark, f"no {ctx.settings.languages[lang].name} ({lang}) message", f"add '{lang}: \"…\"'")
        if key is None or not body:
            return None
        return TextMessage(key, offer, on_its_way, frozen_map(body))


def check_text_key(
    ctx: FlowContext, message: TextMessage, keys: GlobalKeys, nodes: Mapping[str, Node], start: str, marks: FlowMarks
) -> None:
    """The text-message key means nothing else anywhere in the flow (the caller checker says so too, ivr.checker)."""
    used = key_uses(keys, nodes, start)
    if message.key in used:
        where = "text_message.key"
        free = [key for key in "123456789*0#" if key not in used]
        hint = f"choose a key used nowhere else: {', '.join(free)}" if free else "free a key for it"
        ctx.doc.errors.append(
            ConfigError(marks.text_message_key(), where, f"key {message.key} is already {used[message.key]}", hint)
        )
