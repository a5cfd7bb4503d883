"""What a caller's words mean at a node: a key, words of crisis, or not understood. Pure.

Speech recognition's text is turned into a key here and then dropped, so no speech is ever kept;
the engine (:mod:`ivr.engine`) asks for the meaning and also offers the same phrases as hints.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.model import EVERY_LINE, Flow, LanguageNode, MenuNode, Node, TransferNode, phrase

# What said words can mean besides a key.
CRISIS = "crisis"
NOT_UNDERSTOOD = "not_understood"


@dataclass(frozen=True, slots=True)
class Recognised:
    """What speech recognition made of the caller's words. Never logged, never stored."""

    text: str
    confidence: float | None  # Twilio may leave it out


def words_at(flow: Flow, node: Node, lang: str) -> dict[str, str]:
    """Phrase -> key: what may be said at ``node`` (every language's words at a language menu and after every line)."""
    if isinstance(node, TransferNode) and node.helpline == EVERY_LINE:
        start = flow.nodes[flow.start]
        node = start if isinstance(start, LanguageNode) else node
    if isinstance(node, LanguageNode):
        words = {said: key for by_lang in node.words.values() for said, key in by_lang.items()}
        # "help", "hulp", "aide", "Hilfe": where the talk-now key leads, in any language.
        talk_now = {
            said: key for by_lang in flow.keys.words.values() for said, key in by_lang.items() if key == flow.keys.talk_now
        }
        return talk_now | words
    words = dict(flow.keys.words.get(lang, {}))
    if isinstance(node, MenuNode):
        start = flow.nodes[flow.start]
        if flow.language_choices() and isinstance(start, LanguageNode):
            words |= {said: key for by_lang in start.words.values() for said, key in by_lang.items()}
        words |= node.words.get(lang, {})
    return words


def understand(flow: Flow, node: Node, lang: str, recognised: Recognised, min_confidence: float) -> str:
    """What the caller's words mean here: CRISIS, one key, or NOT_UNDERSTOOD.

    Words of crisis win over everything, the confidence threshold included (the caller's language's once
    one is chosen, every language's before). Otherwise, at ``min_confidence`` or above, the
    longest phrase said decides (a tie between keys, or too little confidence: not understood).
    A phrase matches at the start of a word, so "ademhaling" is heard in "ademhalingsoefening".
    """
    said = f" {phrase(recognised.text)}"
    if flow.crisis is not None:
        before = flow.before_language(node.id)
        crisis = [w for by_lang in flow.crisis.words.values() for w in by_lang] if before else flow.crisis.words.get(lang, ())
        if any(f" {words}" in said for words in crisis):
            return CRISIS
    if recognised.confidence is None or recognised.confidence < min_confidence:
        return NOT_UNDERSTOOD
    matched = [(len(words), key) for words, key in words_at(flow, node, lang).items() if f" {words}" in said]
    longest = max((length for length, _ in matched), default=0)
    keys = {key for length, key in matched if length == longest}
    return keys.pop() if len(keys) == 1 else NOT_UNDERSTOOD
