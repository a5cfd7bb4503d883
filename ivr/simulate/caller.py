"""A caller without a phone: drives the real voice webhook in-process, exactly as Twilio does.

Each request is a form POST signed with the app's own auth token (``X-Twilio-Signature``),
so it goes through the same signature check, engine and TwiML renderer as a real call.
The answers are read with :mod:`ivr.simulate.reading`. The terminal command
(``ivr simulate``) and the browser phone (``/simulator``) both use this module; neither
has an engine of its own.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from flask import Flask

from ivr.audio_web import AUDIO_EXTENSION, PromptAudio
from ivr.engine import CONNECTED
from ivr.model import LanguageNode, Speech
from ivr.security import SIGNATURE_HEADER, sign
from ivr.service import SERVICE_EXTENSION, Service
from ivr.simulate.reading import (
    HungUp,
    Listen,
    ReadAnswer,
    Redirect,
    Ring,
    Said,
    SimulationError,
    SpeechIndex,
    Verb,
    read_twiml,
)
from ivr.timing import says_number, word_count

WEBHOOK_PATHS = ("/voice", "/voice/step", "/voice/dial", "/voice/whisper")
DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
MAX_TURNS = 60  # a flow always ends a silent call long before this; it only stops a runaway script
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
LOCAL_BASE = "http://localhost"  # where in-process requests go, unless told the real host


@dataclass(frozen=True, slots=True)
class Answer:
    """The webhook's answer to one request, read."""

    url: str  # the request's path and query
    twiml: str
    verbs: tuple[Verb, ...]
    node: str  # the flow node the call is at ("" when unknown)
    lang: str

    def heard(self) -> Iterator[Said]:
        """Everything said, in order, those inside a <Gather> included."""
        return ReadAnswer(self.verbs).heard()


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def audio_seconds(app: Flask) -> Callable[[Speech], float | None]:
    """How long each prompt's built audio lasts, from the app's audio manifest (None: not built)."""
    audio: PromptAudio | None = app.extensions.get(AUDIO_EXTENSION)
    return audio.manifest.duration_of if audio is not None else (lambda speech: None)


def speech_index(app: Flask, base_url: str = LOCAL_BASE) -> SpeechIndex:
    """The index of ``app``'s speech, with the audio URLs the webhook gives requests to ``base_url``."""
    service: Service = app.extensions[SERVICE_EXTENSION]
    # Audio URLs can depend on the request's host, so they are worked out inside one.
    with app.test_request_context(base_url=base_url):
        return SpeechIndex(service.catalog, service.audio_url, audio_seconds(app))


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
        caller: str = "anonymous",
    ) -> None:
        """``base_url``: the host the requests seem to come to (the browser simulator passes its own); ``caller``:
        the caller's number (Twilio's ``From``), which the webhook needs for nothing but a text message."""
        self.app = app
        self.service: Service = app.extensions[SERVICE_EXTENSION]
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
            "From": caller,
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
        document = read_twiml(body, self.index)
        state = document.state()
        node = state.get("node") or document.node
        self.lang = state.get("lang") or next((h.lang for h in document.heard() if h.lang), self.lang)
        return Answer(path, body, document.verbs, node, self.lang)

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
        return " ".join(heard.text for heard in read_twiml(body, self.index).heard() if heard.text)

    def press(self, action: str, digits: str) -> Answer:
        return self.request(action, {"Digits": digits})

    def language_key(self, answer: Answer, lang: str) -> str | None:
        """The key that chooses ``lang`` at a language menu, or None when ``answer`` is not one."""
        flow_name = ReadAnswer(answer.verbs).state().get("flow", "")
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


# --- a whole call, for the terminal ----------------------------------------------------------


SAY = "say:"  # a caller's answer that is speech, not keys
SAID_CONFIDENCE = "0.9"


class Caller(Protocol):
    """Who is on the phone: decides keys and transfer outcomes, and hears everything."""

    def hear(self, heard: Said, answer: Answer) -> None: ...

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


def line_number_at(heard: Said, numbers: Mapping[str, str]) -> tuple[float, str] | None:
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

    def hear(heard: Said, answer: Answer) -> None:
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
            if isinstance(verb, Said):
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
            elif isinstance(verb, HungUp):
                report.ended_by = "transfer" if connected else "hangup"
                return report
        if follow is None:
            report.ended_by = "hangup"  # Twilio hangs up after the last verb
            return report
        answer = call.request(*follow)
    report.ended_by = "turn limit"
    return report
