"""TwiML read back: what a caller hears, and what the call waits for next.

The one TwiML follower: ``ivr simulate``, ``/simulator`` and the tests all read the webhook's
answers with :func:`read_twiml`. Given a :class:`SpeechIndex` it also finds the flow's speech
behind each ``<Say>`` and ``<Play>`` (language, node, length); without one it reads the
document alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

from ivr.model import Catalog, Speech
from ivr.review_script import flow_prompts, node_prompts
from ivr.timing import word_count


class SimulationError(Exception):
    """The webhook did not answer with TwiML a caller could follow; the message says why."""


def estimate_seconds(text: str, words_per_second: float) -> float:
    """Seconds to say ``text`` at ``words_per_second``, counting words as the load-time timing check does."""
    return round(word_count(text) / words_per_second, 1) if words_per_second > 0 else 0.0


# --- what a caller hears and what the call waits for -------------------------------------


@dataclass(frozen=True, slots=True)
class Said:
    """One <Say>, <Play> or <Pause> given to the caller: words (when known), their language and duration."""

    verb: str  # say, play, pause
    text: str
    lang: str  # language code (nl, fr, …); "" for a pause, unknown audio, or no index
    seconds: float
    url: str = ""  # the audio file of a <Play>
    voice: str = ""  # the <Say> voice and language, e.g. "Polly.Isabelle-Neural fr-BE"
    language: str = ""  # the <Say> language attribute as written, e.g. "fr-BE"

    @property
    def tag(self) -> str:
        return self.verb.capitalize()


@dataclass(frozen=True, slots=True)
class Listen:
    """A <Gather>: say ``heard``, then wait ``timeout`` seconds for one key sent to ``action``."""

    action: str
    timeout: int
    heard: tuple[Said, ...]
    speech: bool = False  # input="dtmf speech": the caller may speak instead of pressing a key
    input: str = "dtmf"  # the input attribute as written
    num_digits: str | None = None  # the numDigits attribute as written (None: absent)
    tag = "Gather"


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    tag = "Redirect"


@dataclass(frozen=True, slots=True)
class Ring:
    """A <Dial>: ring ``numbers`` at once; the outcome goes to ``action`` (none: go on with the next verb)."""

    numbers: tuple[str, ...]  # E.164 numbers and SIP addresses
    action: str | None
    timeout: int
    whisper: str = ""  # the URL of what the volunteer hears before the bridge ("": none)
    tag = "Dial"

    @property
    def number(self) -> str:
        """The numbers as a caller's screen would list them."""
        return ", ".join(self.numbers)


@dataclass(frozen=True, slots=True)
class HungUp:
    """A <Hangup>: the call ends here (the engine's Hangup is the action that writes it)."""

    tag = "Hangup"


Verb = Said | Listen | Redirect | Ring | HungUp
AnyVerb = TypeVar("AnyVerb", Said, Listen, Redirect, Ring, HungUp)


@dataclass(frozen=True, slots=True)
class ReadAnswer:
    """A TwiML answer, read: its verbs in order, and the flow node its speech belongs to ("" when unknown)."""

    verbs: tuple[Verb, ...]
    node: str = ""

    def tags(self) -> list[str]:
        """The top-level verbs' TwiML names, in order."""
        return [verb.tag for verb in self.verbs]

    def first(self, kind: type[AnyVerb]) -> AnyVerb | None:
        """The first top-level verb of ``kind``, or None."""
        return next((verb for verb in self.verbs if isinstance(verb, kind)), None)

    def heard(self) -> Iterator[Said]:
        """Everything said, in order, those inside a <Gather> included."""
        for verb in self.verbs:
            if isinstance(verb, Said):
                yield verb
            elif isinstance(verb, Listen):
                yield from verb.heard

    def said(self) -> str:
        """The words of every <Say>, in order, joined by spaces."""
        return " ".join(heard.text for heard in self.heard() if heard.verb == "say")

    def next_urls(self) -> Iterator[str]:
        """The URLs Twilio may request next: <Gather> and <Dial> actions, <Redirect>s."""
        for verb in self.verbs:
            if isinstance(verb, Listen | Ring) and verb.action:
                yield verb.action
            elif isinstance(verb, Redirect) and verb.url:
                yield verb.url

    def state(self) -> dict[str, str]:
        """The call state in the first URL Twilio may request next ({} when the call ends here)."""
        return query_of(next(self.next_urls(), ""))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# --- the index from TwiML back to the flow -------------------------------------------------


@dataclass
class SpeechIndex:
    """Finds the flow's speech behind a <Say> text or a <Play> URL: its language, node and length."""

    catalog: Catalog
    audio_url: Callable[[Speech], str | None]
    audio_seconds: Callable[[Speech], float | None] = lambda speech: None
    by_text: dict[tuple[str, str], tuple[Speech, str]] = field(default_factory=dict)
    by_url: dict[str, tuple[Speech, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for flow in self.catalog.flows.values():
            for node in flow.nodes.values():
                for prompt in node_prompts(node):
                    for speech in prompt.speeches():
                        self._add(speech, node.id)
            for name, _, prompt in flow_prompts(flow):
                for speech in prompt.speeches():
                    self._add(speech, name)

    def _add(self, speech: Speech, node_id: str) -> None:
        self.by_text.setdefault((speech.lang, speech.text), (speech, node_id))
        url = self.audio_url(speech)
        if url:
            self.by_url.setdefault(url, (speech, node_id))

    def lang_of(self, say_language: str) -> str:
        for code, lang in self.catalog.settings.languages.items():
            if lang.say_language == say_language:
                return code
        return ""

    def seconds(self, speech: Speech | None, text: str, lang: str, *, played: bool) -> float:
        """The audio file's length for a <Play>; an estimate from the words for a <Say>."""
        if speech is not None and played:
            measured = self.audio_seconds(speech)
            if measured is not None:
                return round(measured, 1)
        settings = self.catalog.settings.languages.get(lang)
        return estimate_seconds(text, settings.words_per_second if settings else 2.5)

    def say(self, text: str, say_language: str, voice: str) -> tuple[Said, str]:
        """A <Say>, and the node whose prompt it is ("" when not from a flow)."""
        lang = self.lang_of(say_language)
        speech, node = self.by_text.get((lang, text), (None, ""))
        seconds = self.seconds(speech, text, lang, played=False)
        return Said("say", text, lang, seconds, voice=f"{voice} {say_language}".strip(), language=say_language), node

    def play(self, url: str) -> tuple[Said, str]:
        found = self.by_url.get(url)
        if found is None:
            return Said("play", "", "", 0.0, url=url), ""
        speech, node = found
        return Said("play", speech.text, speech.lang, self.seconds(speech, speech.text, speech.lang, played=True), url=url), node


# --- reading -------------------------------------------------------------------------------------


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def read_twiml(body: str, index: SpeechIndex | None = None) -> ReadAnswer:
    """The verbs of a TwiML document, and the node named by the speech in it ("" if none).

    Raises:
        SimulationError: not a TwiML <Response>, or a verb a caller's call cannot have.
    """
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise SimulationError(f"the webhook's answer is not XML: {exc}") from exc
    if root.tag != "Response":
        raise SimulationError(f"the webhook's answer is not a TwiML <Response> but <{root.tag}>")
    nodes: list[str] = []

    def heard(element: ElementTree.Element) -> Said | None:
        if element.tag == "Say":
            text, language, voice = element.text or "", element.get("language", ""), element.get("voice", "")
            if index is None:
                return Said("say", text, "", 0.0, voice=f"{voice} {language}".strip(), language=language)
            said, node = index.say(text, language, voice)
            nodes.append(node)
            return said
        if element.tag == "Play":
            url = (element.text or "").strip()
            if index is None:
                return Said("play", "", "", 0.0, url=url)
            played, node = index.play(url)
            nodes.append(node)
            return played
        if element.tag == "Pause":
            return Said("pause", "", "", float(_int(element.get("length"), 1)))
        return None

    verbs: list[Verb] = []
    for element in root:
        said = heard(element)
        if said is not None:
            verbs.append(said)
        elif element.tag == "Gather":
            inner = tuple(h for h in (heard(child) for child in element) if h is not None)
            kinds = element.get("input", "dtmf")
            verbs.append(
                Listen(
                    element.get("action", ""),
                    _int(element.get("timeout"), 5),
                    inner,
                    "speech" in kinds.split(),
                    kinds,
                    element.get("numDigits"),
                )
            )
        elif element.tag == "Redirect":
            verbs.append(Redirect((element.text or "").strip()))
        elif element.tag == "Dial":
            targets = [child for child in element if child.tag in ("Number", "Sip")]
            numbers = tuple((target.text or "").strip() for target in targets) or ((element.text or "").strip(),)
            whisper = next((target.get("url", "") for target in targets if target.get("url")), "")
            verbs.append(Ring(numbers, element.get("action"), _int(element.get("timeout"), 30), whisper))
        elif element.tag == "Hangup":
            verbs.append(HungUp())
        else:
            raise SimulationError(f"the simulator does not know the TwiML verb <{element.tag}>")
    return ReadAnswer(tuple(verbs), next((node for node in nodes if node), ""))
