"""One call flow (``ivr/flows/*.yaml``): prompts, words, nodes, and the checks of its graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ivr.checks import check_flow
from ivr.errors import ConfigError
from ivr.loading.document import (
    NODE_ID,
    REQUIRED,
    Field,
    Section,
    boolean,
    did_you_mean,
    keys,
    load_document,
    node_of,
)
from ivr.loading.flow_marks import STARTS, Exit, ExitName, FlowMarks, Option, Start
from ivr.loading.node_kinds import MENU_KEYS, NODE_KEYS, RETRIES, RETRY, TIMEOUT
from ivr.loading.prompts import FlowContext, parse_prompt, parse_words
from ivr.loading.text_message import check_text_key, parse_text_message
from ivr.model import (
    EVERY_LINE,
    LANGUAGE_LINE,
    NO_WORDS,
    CallSettings,
    Crisis,
    Flow,
    GlobalKeys,
    GoodbyeNode,
    Helpline,
    LanguageNode,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    Retry,
    Speech,
    TransferNode,
    frozen_map,
    phrase,
)
from ivr.yamlio import Mark, YMap, YNode, YScalar


@dataclass
class _Defaults:
    timeout: int = TIMEOUT.absent or 0
    no_input: Retry | None = None
    wrong_key: Retry | None = None
    after_retries: str | None = None
    after_retries_at: Mark | None = None  # where 'defaults: after_retries:' names it
    not_understood: Prompt | None = None


def _parse_retry(ctx: FlowContext, node: YNode | None, key: str) -> Retry | None:
    doc = ctx.doc
    body = doc.mapping(node, "retries and re-prompt")
    if body is None:
        return None
    fields = doc.fields(body, *keys(RETRY))
    retries = RETRIES.read(doc, fields)
    with doc.at("reprompt"):
        reprompt = parse_prompt(ctx, fields.get("reprompt"), f"{key}.reprompt")
    return Retry(retries, reprompt) if retries is not None else None


def _target(ctx: FlowContext, fields: dict[str, YNode], name: str) -> str:
    """The node named under ``name`` ("" when absent or not a name: its error is reported)."""
    with ctx.doc.at(name):
        value = ctx.doc.text(fields.get(name), "a node name") if name in fields else None
        return value or ""


def _exit(ctx: FlowContext, fields: dict[str, YNode], node_id: str, name: ExitName) -> str:
    """The node named by a node's ``next``, ``after_retries`` or ``talk_now``, its place recorded."""
    target = _target(ctx, fields, name)
    if target:
        ctx.marks.links[Exit(node_id, name)] = fields[name].mark
    return target


# --- a flow's top-level keys, declared once (nodes, prompts and menus are read by the code below) ---------------

GLOBAL_KEYS = ("talk_now", "repeat", "main_menu")
KEYS = Section(
    "the keys that work in every menu",
    tuple(Field(name, node_of, REQUIRED, f"the key for {name.replace('_', ' ')} in every menu") for name in GLOBAL_KEYS),
)
KEYS_FIELD = KEYS.under("keys", "the keys that work in every menu")
START: Field[YNode] = Field("start", node_of, REQUIRED, "the node a call starts at")
EVERYWHERE = Field("language_keys_everywhere", boolean, False, "the welcome's language keys choose a language in every menu")
FLOW = Section(
    "a document",
    (
        START,
        Field("main_menu", node_of, REQUIRED, "the node the main-menu key goes to"),
        Field("talk_now", node_of, REQUIRED, "the node the talk-now key goes to"),
        KEYS_FIELD,
        Field("nodes", node_of, REQUIRED, "the nodes, by name"),
        Field("rescue", node_of, REQUIRED, "what a caller hears when something goes wrong: the numbers and 112"),
        Field("defaults", node_of, None, "defaults for menus"),
        Field("words", node_of, None, "the words a caller may say instead of the global keys"),
        EVERYWHERE,
        Field("crisis", node_of, None, "the words that take a caller straight to the line"),
        Field("rescue_connecting", node_of, None, "the rescue said while the line is rung"),
        Field("text_message", node_of, None, "the offer of the line's number by text message, its key and its text"),
    ),
)


def _not_understood(ctx: FlowContext, fields: dict[str, YNode], key: str, defaults: _Defaults) -> Prompt | None:
    """The re-prompt for speech that matched nothing: it speaks of no key (the caller spoke)."""
    if "not_understood" not in fields:
        return defaults.not_understood
    with ctx.doc.at("not_understood"):
        return parse_prompt(ctx, fields["not_understood"], f"{key}.not_understood")


def _menu_common(
    ctx: FlowContext, body: YMap, fields: dict[str, YNode], node_id: str, defaults: _Defaults
) -> tuple[int, Retry, Retry, str] | None:
    doc = ctx.doc
    key = f"{ctx.name}/{node_id}"
    timeout = TIMEOUT.read(doc, fields) if "timeout" in fields else defaults.timeout
    with doc.at("no_input"):
        no_input = _parse_retry(ctx, fields["no_input"], f"{key}.no_input") if "no_input" in fields else defaults.no_input
    with doc.at("wrong_key"):
        wrong_key = _parse_retry(ctx, fields["wrong_key"], f"{key}.wrong_key") if "wrong_key" in fields else defaults.wrong_key
    after = _exit(ctx, fields, node_id, "after_retries") if "after_retries" in fields else defaults.after_retries
    mark = (fields.get("prompt") or body).mark
    for name, value in (("no_input", no_input), ("wrong_key", wrong_key), ("after_retries", after)):
        if value is None:
            doc.error(mark, f"no {name} for this menu", f"add '{name}:' here or under 'defaults:'")
    if timeout is None or no_input is None or wrong_key is None or not after:
        return None
    if "after_retries" not in fields:
        ctx.marks.links[Exit(node_id, "after_retries")] = defaults.after_retries_at or mark
    return timeout, no_input, wrong_key, after


def _parse_menu(ctx: FlowContext, node_id: str, body: YMap, defaults: _Defaults) -> Node | None:
    doc = ctx.doc
    fields = doc.fields(body, *keys(NODE_KEYS["menu"]))
    key = f"{ctx.name}/{node_id}"
    with doc.at("prompt"):
        prompt = parse_prompt(ctx, fields.get("prompt"), f"{key}.prompt")
    with doc.at("speech_prompt"):
        speech_prompt = parse_prompt(ctx, fields.get("speech_prompt"), f"{key}.speech_prompt", required=False)
    options: dict[str, str] = {}
    with doc.at("options"):
        option_nodes = doc.mapping(fields.get("options"), "keys and the nodes they lead to")
        for key_node, value_node in option_nodes.items if option_nodes else ():
            with doc.at(key_node.text):
                phone_key = doc.phone_key(key_node)
                target = doc.text(value_node, "a node name")
                if phone_key and target:
                    if ctx.keys and phone_key in ctx.keys.as_map():
                        doc.error(
                            key_node.mark,
                            f"key {phone_key} is already the {ctx.keys.as_map()[phone_key].replace('_', '-')} key in every menu",
                            "choose another key for this option",
                        )
                        continue
                    options[phone_key] = target
                    ctx.marks.links[Option(node_id, phone_key)] = value_node.mark
    with doc.at("words"):
        words = parse_words(ctx, fields.get("words"), {k: k for k in options}, ctx.keys.words if ctx.keys else NO_WORDS)
    common = _menu_common(ctx, body, fields, node_id, defaults)
    if common is None or not options:
        return None
    return MenuNode(
        node_id, prompt, frozen_map(options), *common, words, speech_prompt, _not_understood(ctx, fields, key, defaults)
    )


def _parse_language(ctx: FlowContext, node_id: str, body: YMap, defaults: _Defaults) -> Node | None:
    doc = ctx.doc
    fields = doc.fields(body, *keys(NODE_KEYS["language"]))
    key = f"{ctx.name}/{node_id}"
    with doc.at("prompt"):
        prompt = parse_prompt(ctx, fields.get("prompt"), f"{key}.prompt")
    choices: dict[str, str] = {}
    written: dict[str, str] = {}  # also the choices of languages this deployment does not offer
    with doc.at("choices"):
        choice_nodes = doc.mapping(fields.get("choices"), "keys and the languages they choose")
        for key_node, value_node in choice_nodes.items if choice_nodes else ():
            with doc.at(key_node.text):
                phone_key = doc.phone_key(key_node)
                lang = doc.text(value_node, "a language code")
                if lang is not None and lang not in ctx.settings.languages:
                    hint = did_you_mean(lang, list(ctx.settings.languages))
                    if isinstance(value_node, YScalar) and value_node.implicit_type and not value_node.quoted:
                        hint = f"YAML 1.1 reads an unquoted {lang} as {value_node.implicit_type}; {hint}"
                    doc.error(value_node.mark, f"unknown language {lang!r}", hint)
                    continue
                if phone_key and lang:
                    written[phone_key] = lang
                if phone_key and lang and lang in ctx.settings.offered:
                    choices[phone_key] = lang
        for lang in ctx.settings.offered:
            if choice_nodes is not None and lang not in choices.values():
                doc.error(
                    choice_nodes.mark,
                    f"no key chooses {lang!r}, which is offered",
                    f'add a key for it, e.g. "{len(choices) + 1}": {lang}',
                )
    next_node = _exit(ctx, fields, node_id, "next")
    common = _menu_common(ctx, body, fields, node_id, defaults)
    if common is None or not next_node:
        return None
    # The talk-now key before a language is chosen: where silence leads, unless said otherwise.
    if "talk_now" in fields:
        talk_now = _exit(ctx, fields, node_id, "talk_now")
    else:
        talk_now = common[3]
        ctx.marks.links[Exit(node_id, "talk_now")] = ctx.marks.links[Exit(node_id, "after_retries")]
    with doc.at("words"):
        words = parse_words(ctx, fields.get("words"), {k: k for k in written})
    # Words for a language that is not offered here choose nothing.
    words = MappingProxyType({lang: MappingProxyType({p: k for p, k in w.items() if k in choices}) for lang, w in words.items()})
    return LanguageNode(
        node_id, prompt, frozen_map(choices), next_node, *common, talk_now, words, _not_understood(ctx, fields, key, defaults)
    )


def _parse_message(ctx: FlowContext, node_id: str, body: YMap, defaults: _Defaults) -> Node | None:
    doc = ctx.doc
    fields = doc.fields(body, *keys(NODE_KEYS["message"]))
    key = f"{ctx.name}/{node_id}"
    with doc.at("prompt"):
        prompt = parse_prompt(ctx, fields.get("prompt"), f"{key}.prompt")
    with doc.at("after"):
        after = parse_prompt(ctx, fields.get("after"), f"{key}.after", required=False)
    timeout = TIMEOUT.read(doc, fields) if "timeout" in fields else defaults.timeout
    next_node = _exit(ctx, fields, node_id, "next")
    if not next_node or timeout is None:
        return None
    return MessageNode(node_id, prompt, after, next_node, timeout)


def _parse_transfer(ctx: FlowContext, node_id: str, body: YMap, defaults: _Defaults) -> Node | None:
    doc = ctx.doc
    fields = doc.fields(body, *keys(NODE_KEYS["transfer"]))
    key = f"{ctx.name}/{node_id}"
    line = doc.text(fields.get("helpline"), "a helpline id, 'language' or 'every'") if "helpline" in fields else None
    if line is not None and line not in (LANGUAGE_LINE, EVERY_LINE) and line not in ctx.helplines:
        with doc.at("helpline"):
            doc.error(
                fields["helpline"].mark,
                f"unknown helpline {line!r}",
                did_you_mean(line, [LANGUAGE_LINE, EVERY_LINE, *ctx.helplines]),
            )
        line = None
    with doc.at("connecting"):
        connecting = parse_prompt(ctx, fields.get("connecting"), f"{key}.connecting", required=False)
    with doc.at("call_yourself"):
        call_yourself = parse_prompt(ctx, fields.get("call_yourself"), f"{key}.call_yourself")
        _require_number(ctx, fields.get("call_yourself"), call_yourself)
    with doc.at("after"):
        after = parse_prompt(ctx, fields.get("after"), f"{key}.after", required=False)
    with doc.at("unreachable"):
        unreachable = parse_prompt(ctx, fields.get("unreachable"), f"{key}.unreachable", required=False)
    timeout = TIMEOUT.read(doc, fields) if "timeout" in fields else defaults.timeout
    if line is None or timeout is None:
        return None
    return TransferNode(node_id, line, connecting, call_yourself, after, timeout, unreachable)


def _require_number(ctx: FlowContext, node: YNode | None, prompt: Prompt) -> None:
    """A prompt that ends a call or replaces a transfer must say a helpline number."""
    numbers = {line.spoken_number for line in ctx.helplines.values()}
    for lang, parts in prompt.by_lang.items():
        said = " ".join(p.text for p in parts if isinstance(p, Speech))
        if parts and not any(n in said for n in numbers) and node is not None:
            ctx.doc.error(
                node.mark, f"the {lang} text does not say a helpline number", "add {number:line} so the caller knows whom to call"
            )


def _parse_goodbye(ctx: FlowContext, node_id: str, body: YMap, defaults: _Defaults) -> Node | None:
    doc = ctx.doc
    fields = doc.fields(body, *keys(NODE_KEYS["goodbye"]))
    with doc.at("prompt"):
        prompt = parse_prompt(ctx, fields.get("prompt"), f"{ctx.name}/{node_id}.prompt")
        _require_number(ctx, fields.get("prompt"), prompt)
    return GoodbyeNode(node_id, prompt)


NODE_KINDS: dict[str, Callable[[FlowContext, str, YMap, _Defaults], Node | None]] = {
    "language": _parse_language,
    "menu": _parse_menu,
    "message": _parse_message,
    "transfer": _parse_transfer,
    "goodbye": _parse_goodbye,
}


def _parse_crisis(ctx: FlowContext, node: YNode) -> Crisis | None:
    """``crisis: {words: {lang: [phrase, …]}, prompt: {lang: text}}``: words that lead straight to the line and 112."""
    doc = ctx.doc
    with doc.at("crisis"):
        body = doc.mapping(node, "crisis words and what to say")
        if body is None:
            return None
        fields = doc.fields(body, ("words", "prompt"))
        with doc.at("prompt"):
            prompt = parse_prompt(ctx, fields.get("prompt"), f"{ctx.name}/crisis.prompt")
            _require_number(ctx, fields.get("prompt"), prompt)
        words: dict[str, tuple[str, ...]] = {}
        with doc.at("words"):
            by_lang = doc.mapping(fields.get("words"), "phrases per language, like  nl: [zelfdoding]")
            for lang_key, phrases in by_lang.items if by_lang else ():
                with doc.at(lang_key.text):
                    if lang_key.text not in ctx.settings.languages:
                        doc.error(
                            lang_key.mark,
                            f"unknown language {lang_key.text!r}",
                            did_you_mean(lang_key.text, list(ctx.settings.languages)),
                        )
                        continue
                    said = [phrase(doc.text(item, "a phrase") or "") for item in doc.sequence(phrases, "a list of phrases")]
                    words[lang_key.text] = tuple(p for p in said if p)
            for lang in ctx.settings.offered:
                if by_lang is not None and not words.get(lang):
                    doc.error(
                        by_lang.mark, f"no {ctx.settings.languages[lang].name} ({lang}) crisis words", f"add '{lang}: [\"…\"]'"
                    )
        return Crisis(frozen_map(words), prompt)


def _check_language_keys(ctx: FlowContext, nodes: Mapping[str, Node], start: str, start_mark: Mark, marks: FlowMarks) -> None:
    """Where the welcome's language keys work everywhere, no option may use one of them."""
    welcome = nodes.get(start)
    if not isinstance(welcome, LanguageNode):
        ctx.doc.report(
            ConfigError(
                start_mark,
                "language_keys_everywhere",
                "language_keys_everywhere needs a language node as 'start'",
                "start with a node of kind: language, or remove language_keys_everywhere",
            )
        )
        return
    for node in nodes.values():
        if isinstance(node, MenuNode):
            for key in node.options:
                if key in welcome.choices:
                    option = Option(node.id, key)
                    language = ctx.settings.languages[welcome.choices[key]].name
                    ctx.doc.report(
                        ConfigError(
                            marks.link(option),
                            option.path,
                            f"key {key} chooses {language} in every menu (language_keys_everywhere)",
                            "give this option a key the welcome does not use",
                        )
                    )


def parse_flow(
    path: Path,
    errors: list[ConfigError],
    settings: CallSettings,
    helplines: Mapping[str, Helpline],
) -> tuple[Flow | None, FlowMarks]:
    """Parse and check one flow; also return where it names its nodes, which later checks point at."""
    doc, root = load_document(path, errors)
    if root is None:
        return None, FlowMarks()
    ctx = FlowContext(doc, path.stem, settings, helplines)
    top = FLOW.read(doc, root)
    assert top is not None  # root is a mapping
    fields = dict(top.nodes)
    everywhere = top[EVERYWHERE] or False
    with doc.at(KEYS_FIELD.key):
        keys = top[KEYS_FIELD]
        if keys is not None:
            chosen: dict[str, str] = {}
            for name in GLOBAL_KEYS:
                written = keys.nodes.get(name)
                if isinstance(written, YScalar):
                    with doc.at(name):
                        pressed = doc.phone_key(written)
                        if pressed and pressed in chosen.values():
                            doc.error(written.mark, f"key {pressed} is used twice", "give each global key its own key")
                        elif pressed:
                            chosen[name] = pressed
            if len(chosen) == 3:
                with doc.at("words"):
                    words = parse_words(ctx, fields.get("words"), chosen) if "words" in fields else NO_WORDS
                ctx.keys = GlobalKeys(chosen["talk_now"], chosen["repeat"], chosen["main_menu"], words)
    targets: dict[Start, str] = {}
    for name in STARTS:
        targets[name] = _target(ctx, fields, name)
        if targets[name]:
            ctx.marks.starts[name] = fields[name].mark
    defaults = _Defaults()
    if "defaults" in fields:
        with doc.at("defaults"):
            defaults_body = doc.mapping(fields["defaults"], "defaults for menus")
            if defaults_body is not None:
                default_fields = doc.fields(defaults_body, (), MENU_KEYS)
                if "timeout" in default_fields:
                    defaults.timeout = TIMEOUT.read(doc, default_fields) or defaults.timeout
                for name in ("no_input", "wrong_key"):
                    if name in default_fields:
                        with doc.at(name):
                            setattr(defaults, name, _parse_retry(ctx, default_fields[name], f"{ctx.name}/defaults.{name}"))
                if "after_retries" in default_fields:
                    defaults.after_retries = _target(ctx, default_fields, "after_retries")
                    defaults.after_retries_at = default_fields["after_retries"].mark
                defaults.not_understood = _not_understood(ctx, default_fields, f"{ctx.name}/defaults", defaults)
    with doc.at("rescue"):
        rescue = parse_prompt(ctx, fields.get("rescue"), f"{ctx.name}/rescue")
        _require_number(ctx, fields.get("rescue"), rescue)
    with doc.at("rescue_connecting"):
        rescue_connecting = parse_prompt(ctx, fields.get("rescue_connecting"), f"{ctx.name}/rescue_connecting", required=False)
    crisis = _parse_crisis(ctx, fields["crisis"]) if "crisis" in fields else None
    text_message = parse_text_message(ctx, fields["text_message"]) if "text_message" in fields else None
    nodes: dict[str, Node] = {}
    with doc.at("nodes"):
        node_bodies = doc.mapping(fields.get("nodes"), "the nodes")
        for key, value in node_bodies.items if node_bodies else ():
            with doc.at(key.text):
                if not NODE_ID.fullmatch(key.text):
                    doc.error(
                        key.mark,
                        f"node name {key.text!r} must start with a letter and use only a-z, 0-9 and _",
                        "rename it, e.g. main_menu",
                    )
                    continue
                ctx.marks.nodes[key.text] = key.mark
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
                        doc.error(kind_node.mark, f"unknown node kind {kind!r}", did_you_mean(kind, list(NODE_KINDS)))
                    continue
                parsed = parser(ctx, key.text, body, defaults)
                if parsed is not None:
                    nodes[key.text] = parsed
    marks = ctx.marks.done()
    if everywhere:
        _check_language_keys(ctx, nodes, targets["start"], top.mark(START), marks)
    if text_message is not None and ctx.keys is not None:
        check_text_key(ctx, text_message, ctx.keys, nodes, targets["start"], marks)
    if doc.failed or ctx.keys is None:
        return None, marks
    flow = Flow(
        name=path.stem,
        file=doc.file,
        start=targets["start"],
        main_menu=targets["main_menu"],
        talk_now=targets["talk_now"],
        keys=ctx.keys,
        nodes=frozen_map(nodes),
        rescue=rescue,
        language_keys_everywhere=everywhere,
        crisis=crisis,
        rescue_connecting=rescue_connecting,
        text_message=text_message,
    )
    for error in check_flow(flow, marks):
        doc.report(error)
    if doc.failed:
        return None, marks
    return flow, marks
