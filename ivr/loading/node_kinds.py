"""The keys of each kind of node in a flow, declared once: name, required or not, meaning.

:mod:`ivr.loading.flow_file` reads a node's mapping against its kind's table (an unknown key or a
missing one is reported there) and reads each value with the code its checks need (a prompt, a
node name, a helpline); the flow guide's table of node kinds is written from these tables by cog.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.loading.document import REQUIRED, Field, node_of, whole

# The numbers of a flow: key, range, default (REQUIRED: none), meaning.
TIMEOUT = whole("timeout", 1, 30, 6, "seconds the node waits for a key once its words are said (default: `defaults:`, else 6)")
RETRIES = whole("retries", 0, 5, REQUIRED, "how often a menu asks again before going on")


def _required(key: str, meaning: str) -> Field[Any]:
    return Field(key, node_of, REQUIRED, meaning)


def _optional(key: str, meaning: str) -> Field[Any]:
    return Field(key, node_of, None, meaning)


KIND = _required("kind", "what the node does: language, menu, message, transfer or goodbye")
PROMPT = _required("prompt", "what the caller hears (a prompt in every offered language)")
NEXT = _required("next", "the node the call goes on to")

RETRY = (RETRIES, _optional("reprompt", "said before the prompt again (a prompt; absent: the prompt alone)"))
MENU_COMMON = (
    TIMEOUT,
    _optional("no_input", "after silence: `retries` and a `reprompt` (default: `defaults:`)"),
    _optional("wrong_key", "after a key that does nothing here: `retries` and a `reprompt` (default: `defaults:`)"),
    _optional("after_retries", "the node once the retries are used up (default: `defaults:`)"),
    _optional("not_understood", "said when the caller's words matched nothing (default: `defaults:`)"),
)
MENU_KEYS = tuple(f.key for f in MENU_COMMON)  # what `defaults:` may give every menu

NODE_KEYS: Mapping[str, tuple[Field[Any], ...]] = {
    "language": (
        KIND,
        PROMPT,
        _required("choices", "phone key → language code (nl, fr, de, en): every offered language needs one"),
        NEXT,
        *MENU_COMMON,
        _optional("talk_now", "the node of the talk-now key before a language is chosen (default: `after_retries`)"),
        _optional("words", "words a caller may say for each language, per language"),
    ),
    "menu": (
        KIND,
        PROMPT,
        _required("options", "phone key → the node it leads to"),
        *MENU_COMMON,
        _optional("words", "words a caller may say for each option, per language"),
        _optional("speech_prompt", "said after the prompt when speech is on (how to say what they want)"),
    ),
    "message": (KIND, PROMPT, NEXT, _optional("after", "said after the message: what the caller can press"), TIMEOUT),
    "transfer": (
        KIND,
        _required("helpline", "a helpline id, `language` (the caller's language's line) or `every` (no language chosen)"),
        _required("call_yourself", "the line's number, said when no transfer target is open or none answered"),
        _optional("connecting", "said before the line is rung"),
        _optional("after", "said after the number: what the caller can press"),
        TIMEOUT,
        _optional("unreachable", "said when every transfer target failed, before `call_yourself`"),
    ),
    "goodbye": (KIND, _required("prompt", "the last words of the call: they must say a helpline number")),
}


def node_kinds_table() -> str:
    """The flow guide's table of node kinds (Markdown), from :data:`NODE_KEYS`."""
    rows = ["| kind | key | required | meaning |", "| --- | --- | --- | --- |"]
    for kind, fields in NODE_KEYS.items():
        for field in fields:
            if field is not KIND:
                rows.append(f"| `{kind}` | `{field.key}` | {'yes' if field.required else ''} | {field.meaning} |")
    return "\n".join(rows) + "\n"
