"""A caller without a phone: drives the real voice webhook in-process, exactly as Twilio does.

Each request is a form POST signed with the app's own auth token (``X-Twilio-Signature``),
so it goes through the same signature check, engine and TwiML renderer as a real call.
The TwiML answers are parsed back into what a caller would hear and what the call
waits for. The terminal command (``ivr simulate``) and the browser phone (``/simulator``)
both use this module; neither has an engine of its own.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

from flask import Flask

from ivr.audio_web import EXTENSION as AUDIO_EXTENSION
from ivr.audio_web import PromptAudio
from ivr.model import Catalog, Flow, LanguageNode, MenuNode, Node, Prompt, Speech
from ivr.security import SIGNATURE_HEADER, sign
from ivr.timing import says_number, word_count
from ivr.web import EXTENSION, Service

WEBHOOK_PATHS = ("/voice", "/voice/step", "/voice/dial", "/voice/whisper")
DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
CONNECTED = frozenset({"completed", "answered"})
MAX_TURNS = 60  # a flow always ends a silent call long before this; it only stops a runaway script
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
LOCAL_BASE = "http://localhost"  # where in-process requests go, unless told the real host


class SimulationError(Exception):
    """The webhook did not answer with TwiML a caller could follow; the message says why."""


# --- how long things take to say ----------------------------------------------------------


def estimate_seconds(text: str, words_per_second: float) -> float:
    """Seconds to say ``text`` at ``words_per_second``, counting words as the load-time timing check does."""
    return round(word_count(text) / words_per_second, 1) if words_per_second > 0 else 0.0


# --- what a caller hears and what the call waits for -------------------------------------


@dataclass(frozen=True, slots=True)
class Heard:
    """One <Say>, <Play> or <Pause>: words (when known), their language and duration."""

    verb: str  # say, play, pause
    text: str
    lang: str  # language code (nl, fr, …); "" for a pause or unknown audio
    seconds: float
    url: str = ""  # the audio file of a <Play>
    voice: str = ""  # the <Say> voice and language, e.g. "Polly.Isabelle-Neural fr-BE"


@dataclass(frozen=True, slots=True)
class Listen:
    """A <Gather>: say ``heard``, then wait ``timeout`` seconds for one key sent to ``action``."""

    action: str
    timeout: int
    heard: tuple[Heard, ...]
    speech: bool = False  # input="dtmf speech": the caller may speak instead of pressing a key


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str


@dataclass(frozen=True, slots=True)
class Ring:
    """A <Dial>: ring ``number``; the outcome goes to ``action`` (none: go on with the next verb)."""

    number: str
    action: str | None
    timeout: int
    whisper: str = ""  # the URL of what the volunteer hears before the bridge ("": none)


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


Verb = Heard | Listen | Redirect | Ring | HangUp


@dataclass(frozen=True, slots=True)
class Answer:
    """The webhook's answer to one request, parsed."""

    url: str  # the request's path and query
    twiml: str
    verbs: tuple[Verb, ...]
    node: str  # the flow node the call is at ("" when unknown)
    lang: str

    def heard(self) -> Iterator[Heard]:
        """Everything said, in order, those inside a <Gather> included."""
        return _heard(self.verbs)


# --- the index from TwiML back to the flow -------------------------------------------------


def _prompts(node: Node) -> Iterator[Prompt]:
    for name in ("prompt", "after", "connecting", "call_yourself"):
        prompt = getattr(node, name, None)
        if isinstance(prompt, Prompt):
            yield prompt
    if isinstance(node, MenuNode | LanguageNode):
        yield node.no_input.reprompt
        yield node.wrong_key.reprompt


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
            for node_id, prompt in self._all_prompts(flow):
                for speech in prompt.speeches():
                    self._add(speech, node_id)

    @staticmethod
    def _all_prompts(flow: Flow) -> Iterator[tuple[str, Prompt]]:
        for node in flow.nodes.values():
            for prompt in _prompts(node):
                yield node.id, prompt
        yield "rescue", flow.rescue

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

    def say(self, text: str, say_language: str, voice: str) -> tuple[Heard, str]:
        """A <Say>, and the node whose prompt it is ("" when not from a flow)."""
        lang = self.lang_of(say_language)
        speech, node = self.by_text.get((lang, text), (None, ""))
        seconds = self.seconds(speech, text, lang, played=False)
        return Heard("say", text, lang, seconds, voice=f"{voice} {say_language}".strip()), node

    def play(self, url: str) -> tuple[Heard, str]:
        found = self.by_url.get(url)
        if found is None:
            return Heard("play", "", "", 0.0, url=url), ""
        speech, node = found
        return Heard("play", speech.text, speech.lang, self.seconds(speech, speech.text, speech.lang, played=True), url=url), node


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def parse_twiml(body: str, index: SpeechIndex) -> tuple[tuple[Verb, ...], str]:
    """The verbs of a TwiML document, and the node named by the speech in it ("" if none).

    Raises:
        SimulationError: not a TwiML <Response>.
    """
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise SimulationError(f"the webhook's answer is not XML: {exc}") from exc
    if root.tag != "Response":
        raise SimulationError(f"the webhook's answer is not a TwiML <Response> but <{root.tag}>")
    nodes: list[str] = []

    def heard(element: ElementTree.Element) -> Heard | None:
        if element.tag == "Say":
            said, node = index.say(element.text or "", element.get("language", ""), element.get("voice", ""))
            nodes.append(node)
            return said
        if element.tag == "Play":
            played, node = index.play((element.text or "").strip())
            nodes.append(node)
            return played
        if element.tag == "Pause":
            seconds = _int(element.get("length"), 1)
            return Heard("pause", "", "", float(seconds))
        return None

    verbs: list[Verb] = []
    for element in root:
        said = heard(element)
        if said is not None:
            verbs.append(said)
        elif element.tag == "Gather":
            inner = tuple(h for h in (heard(child) for child in element) if h is not None)
            speech = "speech" in element.get("input", "dtmf").split()
            verbs.append(Listen(element.get("action", ""), _int(element.get("timeout"), 5), inner, speech))
        elif element.tag == "Redirect":
            verbs.append(Redirect((element.text or "").strip()))
        elif element.tag == "Dial":
            targets = [child for child in element if child.tag in ("Number", "Sip")]
            number = ", ".join((child.text or "").strip() for child in targets) or (element.text or "").strip()
            whisper = next((child.get("url", "") for child in targets if child.get("url")), "")
            verbs.append(Ring(number, element.get("action"), _int(element.get("timeout"), 30), whisper))
        elif element.tag == "Hangup":
            verbs.append(HangUp())
        else:
            raise SimulationError(f"the simulator does not know the TwiML verb <{element.tag}>")
    return tuple(verbs), next((node for node in nodes if node), "")


# --- the caller --------------------------------------------------------------------------


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def audio_seconds(app: Flask) -> Callable[[Speech], float | None]:
    """How long each prompt's built audio lasts, from the app's audio manifest (None: not built)."""
    audio: PromptAudio | None = app.extensions.get(AUDIO_EXTENSION)
    return audio.manifest.duration_of if audio is not None else (lambda speech: None)


def speech_index(app: Flask, base_url: str = LOCAL_BASE) -> SpeechIndex:
    """The index of ``app``'s speech, with the audio URLs the webhook gives requests to ``base_url``."""
    svc: Service = app.extensions[EXTENSION]
    # Audio URLs can depend on the request's host, so they are worked out inside one.
    with app.test_request_context(base_url=base_url):
        return SpeechIndex(svc.catalog, svc.audio_url, audio_seconds(app))


class InProcessCaller:
    """One simulated call to ``app``: every request signed like Twilio's, answered by the real webhook."""

    def __init__(
        self,
        app: Flask,
        *,
        called: str = "",
        call_sid: str | None = None,
        base_url: str = LOCAL_BASE,
        index: SpeechIndex | None = None,
    ) -> None:
        """``base_url``: the host the requests seem to come to (the browser simulator passes its own)."""
        self.app = app
        self.service: Service = app.extensions[EXTENSION]
        self.base_url = base_url.rstrip("/")
        self.index = index or speech_index(app, self.base_url)
        settings = self.service.settings
        # The webhook checks the signature of IVR_PUBLIC_URL + path, or else of the URL the request came to.
        self.signed_base = settings.public_url or self.base_url
        self.token = settings.auth_token
        self.client = app.test_client()
        self.call_sid = call_sid or new_call_sid()
        self.fields = {
            "CallSid": self.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": "anonymous",  # the simulator has no caller number, and the webhook must not need one
            "To": called,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        self.lang = ""

    def webhook_path(self, url: str) -> str:
        """The path and query of a URL from the TwiML, if it is one of this service's voice webhook URLs.

        Raises:
            SimulationError: any other URL (another path, or another host).
        """
        parts = urlsplit(url)
        ours = {urlsplit(self.base_url).netloc, urlsplit(self.signed_base).netloc}
        if parts.path not in WEBHOOK_PATHS or parts.fragment or (parts.netloc and parts.netloc not in ours):
            raise SimulationError(f"not a voice webhook URL of this service: {url!r}")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def request(self, url: str, extra: Mapping[str, str] | None = None) -> Answer:
        """POST to ``url`` (from the TwiML) with the call's fields and ``extra``, signed.

        Raises:
            SimulationError: the URL is not the webhook's, or the answer is not TwiML.
        """
        path = self.webhook_path(url)
        form = {**self.fields, **(extra or {})}
        headers = {SIGNATURE_HEADER: sign(self.token, self.signed_base + path, form)} if self.token else {}
        response = self.client.post(path, data=form, headers=headers, base_url=self.base_url)
        body = response.get_data(as_text=True)
        if response.status_code != 200:
            raise SimulationError(f"the webhook answered {response.status_code}: {body.strip()[:200]}")
        verbs, said_node = parse_twiml(body, self.index)
        state = next((_query(url) for url in _urls(verbs)), {})
        node = state.get("node") or said_node
        self.lang = state.get("lang") or next((h.lang for h in _heard(verbs) if h.lang), self.lang)
        return Answer(path, body, verbs, node, self.lang)

    def start(self) -> Answer:
        return self.request("/voice")

    def whisper(self, ring: Ring) -> str:
        """What the volunteer who answers hears before the bridge ("" when nothing, or when it fails)."""
        if not ring.whisper:
            return ""
        try:
            path = self.webhook_path(ring.whisper)
        except SimulationError:
            return ""
        headers = {SIGNATURE_HEADER: sign(self.token, self.signed_base + path, self.fields)} if self.token else {}
        body = self.client.post(path, data=self.fields, headers=headers, base_url=self.base_url).get_data(as_text=True)
        return " ".join(heard.text for heard in _heard(parse_twiml(body, self.index)[0]) if heard.text)

    def press(self, action: str, digits: str) -> Answer:
        return self.request(action, {"Digits": digits})

    def dial_ended(self, action: str, status: str) -> Answer:
        return self.request(action, {"DialCallStatus": status, "DialCallDuration": "0"})

    def language_key(self, answer: Answer, lang: str) -> str | None:
        """The key that chooses ``lang`` at a language menu, or None when ``answer`` is not one."""
        flow_name = _query(next(_urls(answer.verbs), "")).get("flow", "")
        flow = self.service.catalog.flows.get(flow_name)
        node = flow.nodes.get(answer.node) if flow else None
        if not isinstance(node, LanguageNode):
            return None
        return next((key for key, choice in node.choices.items() if choice == lang), None)

    def node_kind(self, answer: Answer) -> str:
        for flow in self.service.catalog.flows.values():
            node = flow.nodes.get(answer.node)
            if node is not None:
                return type(node).__name__.removesuffix("Node").lower()
        return ""

    def line_numbers(self) -> dict[str, str]:
        """Spoken number -> name, for the listening lines of every language."""
        catalog = self.service.catalog
        lines = {catalog.line_for(lang).id: catalog.line_for(lang) for lang in catalog.settings.languages}
        return {line.spoken_number: line.name for line in lines.values()}


def _urls(verbs: tuple[Verb, ...]) -> Iterator[str]:
    for verb in verbs:
        if isinstance(verb, Listen) and verb.action:
            yield verb.action
        elif isinstance(verb, Redirect) and verb.url:
            yield verb.url
        elif isinstance(verb, Ring) and verb.action:
            yield verb.action


def _heard(verbs: tuple[Verb, ...]) -> Iterator[Heard]:
    for verb in verbs:
        if isinstance(verb, Heard):
            yield verb
        elif isinstance(verb, Listen):
            yield from verb.heard


# --- a whole call, for the terminal ----------------------------------------------------------


SAY = "say:"  # a caller's answer that is speech, not keys
SAID_CONFIDENCE = "0.9"


class Caller(Protocol):
    """Who is on the phone: decides keys and transfer outcomes, and hears everything."""

    def hear(self, heard: Heard, answer: Answer) -> None: ...

    def key(self, listen: Listen, answer: Answer) -> str | None:
        """Digits to press, SAY + words to speak, "" for silence, None to hang up."""
        ...

    def ring(self, ring: Ring, answer: Answer) -> str:
        """The DialCallStatus of the transfer."""
        ...


@dataclass
class CallReport:
    """What happened: nodes visited, audio heard, and when a human (or their number) was reached."""

    path: list[str] = field(default_factory=list)
    seconds_heard: float = 0.0
    to_human: float | None = None  # seconds of audio before a transfer rang or a line's number was said
    human: str = ""  # what was reached
    ended_by: str = ""  # "hangup" (the service), "caller", "turn limit"

    def visit(self, node: str) -> None:
        if node and (not self.path or self.path[-1] != node):
            self.path.append(node)


def line_number_at(heard: Heard, numbers: Mapping[str, str]) -> tuple[float, str] | None:
    """Seconds into ``heard`` at which a line's number has been said once, and the line's name."""
    found = [(heard.text.find(spoken), spoken) for spoken in numbers if says_number(heard.text, spoken)]
    if not found or heard.verb == "pause":
        return None
    start, spoken = min(found)
    words_before = word_count(heard.text[: start + len(spoken)])
    total = max(word_count(heard.text), 1)
    return round(heard.seconds * words_before / total, 1), numbers[spoken]


def run_call(call: InProcessCaller, caller: Caller) -> CallReport:
    """Play a whole call: start, then follow the TwiML until the call ends.

    Raises:
        SimulationError: the webhook answered something a caller could not follow.
    """
    report = CallReport()
    numbers = call.line_numbers()

    def hear(heard: Heard, answer: Answer) -> None:
        caller.hear(heard, answer)
        if report.to_human is None and heard.verb != "pause":
            reached = line_number_at(heard, numbers)
            if reached is not None:
                report.to_human = round(report.seconds_heard + reached[0], 1)
                report.human = f"{reached[1]}'s number"
        report.seconds_heard = round(report.seconds_heard + heard.seconds, 1)

    connected = False
    answer = call.start()
    for _ in range(MAX_TURNS):
        report.visit(answer.node)
        follow: tuple[str, dict[str, str]] | None = None
        for verb in answer.verbs:
            if isinstance(verb, Heard):
                hear(verb, answer)
            elif isinstance(verb, Listen):
                for heard in verb.heard:
                    hear(heard, answer)
                digits = caller.key(verb, answer)
                if digits is None:
                    report.ended_by = "caller"
                    return report
                if digits.startswith(SAY):
                    # As Twilio sends what it recognised; a clear, confident recognition.
                    follow = (verb.action, {"SpeechResult": digits.removeprefix(SAY), "Confidence": SAID_CONFIDENCE})
                    break
                if digits:
                    follow = (verb.action, {"Digits": digits})
                    break
            elif isinstance(verb, Redirect):
                follow = (verb.url, {})
                break
            elif isinstance(verb, Ring):
                if report.to_human is None:
                    report.to_human = report.seconds_heard
                    report.human = f"a transfer to {verb.number}"
                status = caller.ring(verb, answer)
                connected = status in CONNECTED
                if verb.action:
                    follow = (verb.action, {"DialCallStatus": status, "DialCallDuration": "0"})
                    break
                if connected:
                    report.ended_by = "transfer"
                    return report
            elif isinstance(verb, HangUp):
                report.ended_by = "transfer" if connected else "hangup"
                return report
        if follow is None:
            report.ended_by = "hangup"  # Twilio hangs up after the last verb
            return report
        answer = call.request(*follow)
    report.ended_by = "turn limit"
    return report


# --- playing audio ----------------------------------------------------------------------------

PLAYERS = (
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "error")),
    ("play", ("-q",)),
    ("mpv", ("--no-video", "--really-quiet")),
    ("aplay", ("-q",)),
)


class Player:
    """Plays what the caller hears through a local audio player; says why once when it cannot."""

    def __init__(self, call: InProcessCaller, notice: Callable[[str], None]) -> None:
        self.call = call
        self.notice = notice
        self.command = next(((path, args) for name, args in PLAYERS if (path := shutil.which(name))), None)
        self.espeak = shutil.which("espeak-ng")
        self.enabled = True
        if self.command is None:
            self._stop("--play: no audio player found (install ffmpeg or sox); showing text only")

    def _stop(self, why: str) -> None:
        if self.enabled:
            self.notice(why)
        self.enabled = False

    def play(self, heard: Heard) -> None:
        if not self.enabled or self.command is None or heard.verb == "pause":
            return
        with tempfile.TemporaryDirectory(prefix="ivr-play-") as folder:
            file = Path(folder) / ("prompt.mp3" if heard.verb == "play" else "prompt.wav")
            if not self._fetch(heard, file):
                return
            player, args = self.command
            done = subprocess.run([player, *args, str(file)], capture_output=True, timeout=120, check=False)
            if done.returncode != 0:
                said = done.stderr.decode(errors="replace").strip()[:200]
                self._stop(f"--play: {Path(player).name} could not play audio: {said}")

    def _fetch(self, heard: Heard, file: Path) -> bool:
        if heard.verb == "play":
            parts = urlsplit(heard.url)
            if parts.netloc and not heard.url.startswith((self.call.base_url, self.call.signed_base)):
                self._stop("--play: prompts are served from another host; showing text only")
                return False
            response = self.call.client.get(parts.path, base_url=self.call.base_url)
            if response.status_code != 200:
                self._stop(f"--play: {parts.path} answered {response.status_code}")
                return False
            file.write_bytes(response.get_data())
            return True
        if self.espeak is None:
            self._stop("--play: <Say> text needs espeak-ng to be heard (apt-get install espeak-ng)")
            return False
        settings = self.call.service.catalog.settings.languages.get(heard.lang)
        voice = settings.espeak_voice if settings else "en"
        command = [self.espeak, "-v", voice, "-w", str(file), heard.text]
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            self._stop(f"--play: espeak-ng failed: {done.stderr.decode(errors='replace').strip()[:200]}")
            return False
        return True
