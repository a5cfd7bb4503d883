"""The Flask blueprint Twilio calls: read the request, ask the engine, answer TwiML.

Glue only. Whatever happens inside a webhook, Twilio gets a 200 with TwiML that tells
the caller how to reach a listening line (a 5xx or an HTML page would make Twilio say
"an application error has occurred" and hang up), or a 403 for a bad signature.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Request, Response, current_app, g, request, url_for
from werkzeug.exceptions import HTTPException

from ivr.engine import Action, Dial, Engine, Gather, Say, Turn
from ivr.loader import E164
from ivr.logs import call_ref, emit, get_logger
from ivr.model import Catalog, Speech
from ivr.security import SIGNATURE_HEADER, is_signed_by_twilio, signed_url
from ivr.settings import Settings
from ivr.state import State, read_state
from ivr.twiml import CONTENT_TYPE, Links, render

bp = Blueprint("voice", __name__)
log = get_logger()

EXTENSION = "ivr"
# Distinct answers kept rendered, per app. Building TwiML with twilio.twiml costs more than
# the rest of a request; the shipped flow has a few hundred distinct answers, and the bound
# keeps odd (signed but unusual) states from growing memory.
RENDER_CACHE_SIZE = 1024
ROUTES = {"voice.start": "start", "voice.step": "step", "voice.dial": "dial", "voice.fallback": "fallback"}


@dataclass
class Service:
    """What the blueprint needs, stored in ``app.extensions['ivr']`` (never in module globals)."""

    settings: Settings
    catalog: Catalog
    engine: Engine
    rescue_by_number: dict[str, str] = field(default_factory=dict)
    rescue_default: str = ""
    audio_url: Callable[[Speech], str | None] = lambda speech: None
    _rendered: Callable[[tuple[Action, ...], str | None, str, tuple[tuple[Speech, str | None], ...]], str] = field(
        init=False, repr=False
    )
    # Caller ID for a transfer when the request does not give our number (the loader insists on
    # one when any line has transfer targets), so that the line never sees the caller's.
    own_number: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._rendered = functools.lru_cache(maxsize=RENDER_CACHE_SIZE)(self._render)
        self.own_number = next(iter(self.catalog.settings.called_numbers), None)

    def twiml(self, turn: Turn, caller_id: str | None) -> str:
        """``turn`` as TwiML, rendered once per distinct answer.

        The document is a pure function of the key: the engine's actions (node names checked
        against the flow, bounded counters, prompts from the catalog), our caller ID when there
        is a <Dial>, the URL root, and the audio URL of each prompt as chosen now (so a file
        removed after start-up is spoken, not played). Of the request, only our own number
        (checked as E.164) and the URL root are in it: never what the caller sent.
        """
        audio = tuple((part, self.audio_url(part)) for part in _speeches(turn.actions))
        dials = any(isinstance(action, Dial) for action in turn.actions)
        return self._rendered(turn.actions, caller_id if dials else None, request.script_root, audio)

    def _render(
        self, actions: tuple[Action, ...], caller_id: str | None, root: str, audio: tuple[tuple[Speech, str | None], ...]
    ) -> str:
        urls = dict(audio)  # ``root`` is in the key because url_for() below depends on it
        links = Links(
            step_url=lambda s: _state_url("voice.step", s),
            dial_url=lambda s: _state_url("voice.dial", s),
            audio_url=lambda speech: urls.get(speech),
        )
        return render(Turn(actions, "", "", ""), self.catalog.settings.languages, links, caller_id)

    def build_rescues(self) -> None:
        """Render the rescue documents once, so the error path cannot fail on flow data."""
        links = Links(step_url=lambda s: "", dial_url=lambda s: "", audio_url=lambda s: None)
        languages = self.catalog.settings.languages
        self.rescue_default = render(self.engine.rescue(""), languages, links, self.own_number)
        for number in self.catalog.settings.called_numbers:
            self.rescue_by_number[number] = render(self.engine.rescue(number), languages, links, number)

    def rescue(self, called: str) -> str:
        return self.rescue_by_number.get(called, self.rescue_default)


class TwilioRequest(Request):
    """Flask's request, reading the url-encoded form Twilio POSTs in one step.

    Every webhook request reads its whole form (the signature covers every field), and
    Werkzeug's general path (stream wrappers, a parser object, content-type options) costs
    more than parsing the fields themselves. The fields are parsed as Werkzeug parses them
    (same function, same options, same result); any other body, or one without a usable
    Content-Length, takes Werkzeug's path, which also answers 413 above MAX_CONTENT_LENGTH.
    """

    def _load_form_data(self) -> None:
        length = self.content_length
        limit = self.max_content_length
        if (
            "form" in self.__dict__
            or self.mimetype != "application/x-www-form-urlencoded"
            or length is None
            or (limit is not None and length > limit)
            or "_cached_data" in self.__dict__  # get_data() read the body already
        ):
            super()._load_form_data()
            return
        body = self.environ["wsgi.input"].read(length)
        try:
            # "werkzeug.url_quote" keeps a %-escape that is not UTF-8 as it was sent, as Werkzeug does.
            fields = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        except ValueError:  # not UTF-8: no fields, as Werkzeug does
            fields = []
        cls = self.parameter_storage_class
        self.__dict__.update(form=cls(fields), files=cls())


def service() -> Service:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def _state_url(endpoint: str, state: State) -> str:
    return url_for(endpoint) + "?" + urlencode(state.to_query())


def _speeches(actions: tuple[Action, ...]) -> list[Speech]:
    return [part for a in actions if isinstance(a, Say | Gather) for part in a.parts if isinstance(part, Speech)]


def _request() -> Request:
    """This request itself: Flask's ``request`` is a proxy, looked up again on every use."""
    return request._get_current_object()  # type: ignore[attr-defined, no-any-return]


def _sent(req: Request) -> Mapping[str, str]:
    """What Twilio sent: the POSTed form, or the query string of a GET."""
    return req.form if req.method == "POST" else req.args


def _called(svc: Service, params: Mapping[str, str]) -> str:
    """Our number that was called, when it is one of ours, else ""."""
    called = params.get("To", "")
    return called if called in svc.catalog.settings.called_numbers else ""


def _twiml(body: str) -> Response:
    return Response(body, status=200, content_type=f"{CONTENT_TYPE}; charset=utf-8")


def _route() -> str:
    return ROUTES.get(request.endpoint or "", "other")


def _call_of(svc: Service, req: Request) -> str:
    """The keyed hash of the request's CallSid (see ivr.logs.call_ref)."""
    try:
        return call_ref(svc.settings.log_key, _sent(req).get("CallSid"))
    except Exception:  # noqa: BLE001 - a body that cannot be read: a line without a reference
        return "-"


def _log(
    level: int,
    event: str,
    *,
    outcome: str,
    node: str | None = None,
    lang: str | None = None,
    exc_info: BaseException | None = None,
    **more: object,
) -> None:
    """One line per answered request, always with the same fields, and nothing the caller said or is."""
    ctx = g._get_current_object()
    started: float | None = getattr(ctx, "ivr_started", None)
    latency = round((time.perf_counter() - started) * 1000, 2) if started is not None else None
    call: str | None = getattr(ctx, "ivr_call", None)
    if call is None:  # the signature check did not get that far (an error before it)
        call = ctx.ivr_call = _call_of(service(), _request())
    fields = {"route": _route(), "node": node, "lang": lang, "outcome": outcome, "latency_ms": latency, "call": call}
    emit(log, level, event, fields | more, exc_info)


def _answer(params: Mapping[str, str], make_turn: Callable[[Engine, str], Turn]) -> Response:
    svc = service()
    to = params.get("To", "")
    called = _called(svc, params)
    try:
        turn = make_turn(svc.engine, called)
        body = svc.twiml(turn, to if E164.fullmatch(to) else svc.own_number)
    except Exception as exc:  # noqa: BLE001 - the caller must hear the rescue, whatever broke
        error_id = uuid.uuid4().hex[:12]
        _log(logging.ERROR, "webhook failed; rescue TwiML sent", node="rescue", outcome="rescue", exc_info=exc, error_id=error_id)
        return _twiml(svc.rescue(called))
    g.ivr_turn = turn  # for the statistics (ivr.stats.web), counted after the request
    _log(logging.INFO, "turn", node=turn.node, lang=turn.lang, outcome=turn.outcome)
    return _twiml(body)


@bp.before_request
def require_twilio_signature() -> Response | None:
    ctx = g._get_current_object()  # `g` is a proxy too: resolved once
    ctx.ivr_started = time.perf_counter()
    req = _request()
    svc = service()
    ctx.ivr_call = _call_of(svc, req)
    if svc.settings.auth_token is None:
        log.warning(
            "SIGNATURE CHECKS ARE OFF: IVR_DEV_MODE is set and TWILIO_AUTH_TOKEN is not; never run like this in production",
            extra={"route": _route(), "call": ctx.ivr_call},
        )
        return None
    url = signed_url(svc.settings.public_url, req.scheme, req.host, req.full_path)
    form = req.form if req.method == "POST" else {}
    if is_signed_by_twilio(svc.settings.auth_token, url, form, req.headers.get(SIGNATURE_HEADER)):
        return None
    _log(logging.WARNING, "request refused: missing or wrong Twilio signature", outcome="forbidden", status=403)
    return Response("Forbidden: missing or invalid X-Twilio-Signature\n", status=403, content_type="text/plain; charset=utf-8")


@bp.route("/voice", methods=["GET", "POST"])
def start() -> Response:
    return _answer(_sent(_request()), lambda engine, called: engine.start(called))


@bp.route("/voice/step", methods=["GET", "POST"])
def step() -> Response:
    req = _request()
    params = _sent(req)
    claimed, digits = read_state(req.args), params.get("Digits")
    return _answer(params, lambda engine, called: engine.on_input(claimed, digits, called))


@bp.route("/voice/dial", methods=["GET", "POST"])
def dial() -> Response:
    req = _request()
    params = _sent(req)
    claimed, status = read_state(req.args), params.get("DialCallStatus")
    return _answer(params, lambda engine, called: engine.on_dial(claimed, status, called))


@bp.route("/voice/fallback", methods=["GET", "POST"])
def fallback() -> Response:
    """Twilio's Voice Fallback URL: needs no state, says the lines' numbers and 112."""
    _log(logging.WARNING, "fallback URL called", node="rescue", outcome="fallback")
    svc = service()
    return _twiml(svc.rescue(_called(svc, _sent(_request()))))


@bp.errorhandler(Exception)
def rescue_on_error(exc: Exception) -> Response | HTTPException:
    """Anything that escaped a view (or a before_request hook) still gets rescue TwiML."""
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        return exc
    error_id = uuid.uuid4().hex[:12]
    _log(logging.ERROR, "unhandled error; rescue TwiML sent", node="rescue", outcome="rescue", exc_info=exc, error_id=error_id)
    svc = service()
    try:
        called = _called(svc, _sent(_request()))
    except Exception:  # noqa: BLE001 - the request itself is what broke: the default rescue
        called = ""
    return _twiml(svc.rescue(called))
