"""The blueprint's service: the loaded catalog, its engine and the rendered TwiML, built complete.

Built by :func:`build_service` when the app starts (and again on a reload) and kept in
``app.extensions['ivr']``; the webhooks read it with :func:`service`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import current_app, request, url_for

from ivr.announcements import Announcement, AnnouncementSource
from ivr.engine import Action, Dial, Engine, Gather, Say, Turn
from ivr.fallback import Rescue, rescues
from ivr.logs import get_logger
from ivr.model import Catalog, Speech
from ivr.number_guard import line_numbers
from ivr.settings import Settings, SettingsError
from ivr.startup import credentials_message, missing_credentials
from ivr.state import State
from ivr.text_sender import TextSender, text_sender
from ivr.twiml import Links, render

log = get_logger()

SERVICE_EXTENSION = "ivr"
LOADED = "ivr.loaded"  # ivr.startup.Loaded: the hash of the files served, since when, the last refused reload
# Distinct answers kept rendered, per app: a turn's TwiML is rendered once. Removing this cache costs
# 0.17 of the idiomatic peer's throughput (bench/ab.py, bench/results/ab.json). The bound keeps odd
# (signed but unusual) states from growing memory.
RENDER_CACHE_SIZE = 1024

RenderKey = tuple[Turn, str | None, str, tuple[tuple[Speech, str | None], ...]]


@dataclass(frozen=True)
class Service:
    """What the blueprint needs, built complete by :func:`build_service` and stored in ``app.extensions['ivr']``."""

    settings: Settings
    catalog: Catalog
    engine: Engine
    audio_url: Callable[[Speech], str | None]  # <Play> when the prompt's audio is built, else <Say>
    rescue_by_number: Mapping[str, Rescue]  # the rescue TwiML per called number ("": any other), rendered at start
    # Caller ID for a transfer when the request does not give our number (the loader insists on
    # one when any line has transfer targets), so that the line never sees the caller's.
    own_number: str | None
    texts: TextSender | None = None  # the line's number by text message (None: off)
    _rendered: Callable[[RenderKey], str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rendered", functools.lru_cache(maxsize=RENDER_CACHE_SIZE)(self._render))

    def twiml(self, turn: Turn, called: str) -> str:
        """``turn`` as TwiML, rendered once per distinct answer.

        The document is a pure function of the key: the engine's actions (node names checked
        against the flow, bounded counters, prompts from the catalog), our caller ID when there
        is a <Dial>, the URL root, and the audio URL of each prompt as chosen now (so a file
        removed after start-up is spoken, not played). Of the request, only our own number
        (one of called_numbers) and the URL root are in it: never what the caller sent.
        """
        audio = tuple((part, self.audio_url(part)) for part in _speeches(turn.actions))
        dials = any(isinstance(action, Dial) for action in turn.actions)
        # Behind a proxy, IVR_PUBLIC_URL (with any path prefix it has) is where Twilio reaches us;
        # else root-relative URLs, which Twilio resolves against the URL it just called.
        root = self.settings.public_url or request.script_root
        return self._rendered((turn, self.caller_id(called) if dials else None, root, audio))

    def _render(self, key: RenderKey) -> str:
        turn, caller_id, root, audio = key
        urls = dict(audio)
        links = Links(
            step_url=lambda s: _state_url(root, "voice.step", s),
            dial_url=lambda s: _state_url(root, "voice.dial", s),
            audio_url=lambda speech: urls.get(speech),
            whisper_url=lambda line: _whisper_url(root, line),
            sip_credentials=self.settings.sip_credentials.get,
        )
        return render(turn.actions, self.catalog.settings.languages, links, caller_id)

    def rescue(self, called: str, *, signed: bool) -> str:
        """The rescue for ``called``: the one that dials only for a request signed by Twilio (it names
        the transfer targets and holds their SIP credentials); anyone else hears the numbers and 112."""
        found = self.rescue_by_number.get(called) or self.rescue_by_number[""]
        return found.dials if signed else found.speaks

    def caller_id(self, called: str) -> str | None:
        """What a transfer shows the line: the number called when it is ours (see ``_called``), else our first.

        Never a number from the request that is not in ``called_numbers``: a forged or odd ``To``
        must not make us show a line someone else's number.
        """
        return called or self.own_number


# The Brussels moment /simulator's picker chose, set around its own in-process requests only: a
# context variable, so no other request (a caller's, on another greenlet or thread) ever sees it.
SIMULATED_MOMENT: ContextVar[datetime | None] = ContextVar("ivr_simulated_moment", default=None)


def now_utc() -> datetime:
    return SIMULATED_MOMENT.get() or datetime.now(UTC)


def build_service(
    settings: Settings,
    catalog: Catalog,
    audio_url: Callable[[Speech], str | None],
    clock: Callable[[], datetime | None] = now_utc,
    texts: TextSender | None = None,
) -> Service:
    """The blueprint's service for ``catalog``, complete: an engine on ``clock`` (the real one, or the
    moment ``ivr simulate --at`` names) with the operators' announcement, and the rescue documents rendered once;
    ``texts``: the text-message sender to keep (a reload), else a new one where the settings turn texts on.

    Raises:
        SettingsError: a SIP target names credentials that are not in the environment.
    """
    missing = missing_credentials(catalog, settings.sip_credentials)
    if missing:
        raise SettingsError(credentials_message(missing))
    source = AnnouncementSource(
        catalog.settings.offered, settings.announcement, settings.announcement_file, line_numbers(catalog.helplines.values())
    )

    def notice() -> Announcement | None:
        found, warning = source.current()
        if warning is not None:
            log.warning(warning)  # once per change; callers hear no announcement, never a broken call
        return found

    own_number = next(iter(catalog.settings.called_numbers), None)
    return Service(
        settings=settings,
        catalog=catalog,
        engine=Engine(catalog, clock, notice),
        audio_url=audio_url,
        # Rendered once, so the error path cannot fail on flow data.
        rescue_by_number=rescues(catalog, settings.sip_credentials.get),
        own_number=own_number,
        texts=texts or text_sender(settings.texts),
    )


def service() -> Service:
    return current_app.extensions[SERVICE_EXTENSION]  # type: ignore[no-any-return]


def _whisper_url(root: str, line: str) -> str:
    path = url_for("voice.whisper")[len(request.script_root) :]
    return root + path + "?" + urlencode({"line": line})


def _state_url(root: str, endpoint: str, state: State) -> str:
    """``root`` followed by the endpoint's path within this app, and the state."""
    path = url_for(endpoint)[len(request.script_root) :]
    return root + path + "?" + urlencode(state.to_query())


def _speeches(actions: tuple[Action, ...]) -> list[Speech]:
    return [part for a in actions if isinstance(a, Say | Gather) for part in a.parts if isinstance(part, Speech)]
