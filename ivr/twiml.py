"""Render engine turns as TwiML: the only module that imports ``twilio.twiml``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather as GatherVerb
from twilio.twiml.voice_response import VoiceResponse

from ivr.engine import Action, Dial, Gather, Hangup, Say
from ivr.model import LanguageSettings, Pause, PromptPart, Speech
from ivr.state import State

CONTENT_TYPE = "text/xml"
EMPTY_RESPONSE = str(VoiceResponse().to_xml())  # a whisper that failed: the call goes through without one


@dataclass(frozen=True, slots=True)
class Links:
    """How the web layer addresses its own URLs and audio files."""

    step_url: Callable[[State], str]
    dial_url: Callable[[State], str]
    audio_url: Callable[[Speech], str | None]
    whisper_url: Callable[[str], str] = lambda line: ""  # the whisper of a line, for the answering volunteer
    sip_credentials: Callable[[str], tuple[str, str] | None] = lambda name: None  # from the environment only


def _speak(
    target: VoiceResponse | GatherVerb, parts: tuple[PromptPart, ...], languages: Mapping[str, LanguageSettings], links: Links
) -> None:
    for part in parts:
        if isinstance(part, Pause):
            target.pause(length=part.seconds)
            continue
        url = links.audio_url(part)
        if url is not None:
            target.play(url)
        else:
            lang = languages[part.lang]
            target.say(part.text, voice=lang.voice, language=lang.say_language)


def render(
    actions: tuple[Action, ...], languages: Mapping[str, LanguageSettings], links: Links, caller_id: str | None = None
) -> str:
    """The TwiML document for the engine's ``actions``: one <Response>, no leading whitespace."""
    response = VoiceResponse()
    for action in actions:
        if isinstance(action, Say):
            _speak(response, action.parts, languages, links)
        elif isinstance(action, Gather):
            url = links.step_url(action.state)
            speech: dict[str, object] = {}
            if action.listen is not None:
                # One recognition language per <Gather>; the node's words as hints; "auto" ends on a pause.
                speech = {"language": action.listen.language, "speech_timeout": "auto"}
                if action.listen.hints:
                    speech["hints"] = ", ".join(action.listen.hints)
            gather = response.gather(
                action=url,
                method="POST",
                input="dtmf speech" if action.listen is not None else "dtmf",
                num_digits=1,
                timeout=action.timeout,
                finish_on_key="",  # so that "#" can be a menu key like any other
                **speech,
            )
            _speak(gather, action.parts, languages, links)
            # Twilio goes on with the next verb when nobody presses a key: that is the silence path.
            response.redirect(url, method="POST")
        elif isinstance(action, Dial):
            # answerOnBridge: the caller hears ringing until a volunteer answers, not silence.
            options: dict[str, object] = {"timeout": action.timeout, "answer_on_bridge": True}
            if action.state is not None:
                options |= {"action": links.dial_url(action.state), "method": "POST"}
            if caller_id:
                # The line sees our number, not the caller's: callers stay anonymous.
                options["caller_id"] = caller_id
            dial = response.dial(**options)
            url = links.whisper_url(action.whisper) if action.whisper else ""
            whisper = {"url": url, "method": "POST"} if url else {}
            for target in action.targets:
                if not target.is_sip:
                    dial.number(target.address, **whisper)
                    continue
                login = links.sip_credentials(target.credentials) if target.credentials else None
                secret = {"username": login[0], "password": login[1]} if login else {}
                dial.sip(target.address, **secret, **whisper)
        elif isinstance(action, Hangup):
            response.hangup()
    return str(response.to_xml())


def whisper_twiml(text: str, lang: LanguageSettings) -> str:
    """What the volunteer hears before the bridge, in the line's language (empty: nothing)."""
    response = VoiceResponse()
    if text:
        response.say(text, voice=lang.voice, language=lang.say_language)
    return str(response.to_xml())
