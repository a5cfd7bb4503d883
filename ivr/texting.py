"""The line's number by text message, in the call: who is offered it, where, and what the key does.

Pure, like the engine: no Flask, no twilio, no I/O. The engine's turn is worked out without the
offer (the caller checker times exactly those turns: the offer comes after the line's number and
112, so it moves no budget); :func:`answer` then adds the offer, or turns the key into the
answer and the message to send, for a caller who may receive one. The caller's number is read
here only to say yes or no; it is never kept, and never part of a turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ivr.engine import Action, Dial, Gather, Say, Turn
from ivr.model import LANGUAGE_LINE, Catalog, Flow, TransferNode
from ivr.state import State, UntrustedState

# A Belgian mobile number (045x to 049x). Liège's landlines also start with +324 (+3242…, +3243…), and
# carry one digit fewer: a landline cannot receive a text.
BELGIAN_MOBILE = re.compile(r"\+324[5-9][0-9]{7}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
TEXTED = "text_message"  # the turn's outcome when the key was pressed


@dataclass(frozen=True, slots=True)
class Text:
    """A message to send to the caller of this request: the flow and language it was offered in, and its body."""

    flow: str
    lang: str
    body: str


def may_receive(caller: str | None, countries: Iterable[str] = ()) -> bool:
    """Whether ``caller`` (Twilio's ``From``) may be offered a text: a Belgian mobile, or a number in one of the
    allowed ``countries`` (prefixes like "+31"). Never a withheld, anonymous or malformed caller ID."""
    if not caller:
        return False
    if BELGIAN_MOBILE.fullmatch(caller):
        return True
    return bool(E164.fullmatch(caller)) and any(caller.startswith(prefix) for prefix in countries)


def _told(flow: Flow, gather: Gather) -> bool:
    """Whether ``gather`` follows the caller's own line's number and 112 (a transfer that said the number)."""
    node = flow.nodes.get(gather.state.node)
    return isinstance(node, TransferNode) and node.helpline == LANGUAGE_LINE


def _texted(state: State | None) -> State | None:
    return replace(state, texted=True) if state is not None else None


def _remembered(turn: Turn) -> Turn:
    """``turn`` with every state it links to marked texted: the offer is made once per call."""
    actions: list[Action] = []
    for action in turn.actions:
        if isinstance(action, Gather):
            action = replace(action, state=replace(action.state, texted=True))
        elif isinstance(action, Dial) and action.state is not None:
            action = replace(action, state=_texted(action.state))
        actions.append(action)
    return replace(turn, actions=tuple(actions), state=_texted(turn.state))


def answer(catalog: Catalog, claimed: UntrustedState, digits: str | None, turn: Turn, texts: bool) -> tuple[Turn, Text | None]:
    """The engine's ``turn`` for a caller who ``texts`` (may receive a message, and the deployment sends them).

    Where the turn ends listening after the line's number and 112, the offer is said first. Where the
    caller pressed the key there, they hear at once that the message is on its way and the number
    again, and the message is returned to be sent. Once sent, the call's state says so, and the
    offer is not made again.
    """
    if claimed.texted:
        return _remembered(turn), None
    gather = turn.actions[-1] if turn.actions else None
    if not texts or not isinstance(gather, Gather):
        return turn, None
    flow = catalog.flows[gather.state.flow]
    message = flow.text_message
    if message is None or not _told(flow, gather):
        return turn, None
    lang = gather.state.lang
    if digits == message.key and turn.outcome == "repeat" and claimed.node == gather.state.node:
        said = Say(message.on_its_way.parts(lang))
        sent = Turn(
            (said, replace(gather, state=replace(gather.state, texted=True))), turn.node, lang, TEXTED, _texted(turn.state)
        )
        return sent, Text(flow.name, lang, message.body[lang])
    offered = replace(gather, parts=message.offer.parts(lang) + gather.parts)
    return replace(turn, actions=(*turn.actions[:-1], offered)), None
