"""The Flask blueprint Twilio calls: read the request, ask the engine, answer TwiML.

Glue only. Whatever happens inside a webhook, Twilio gets a 200 with TwiML that tells
the caller how to reach a listening line (a 5xx or an HTML page would make Twilio say
"an application error has occurred" and hang up), or a 403 for a bad signature.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from ivr.engine import Engine, Turn
from ivr.loader import E164
from ivr.logs import call_ref, get_logger
from ivr.model import Catalog, Speech
from ivr.security import SIGNATURE_HEADER, is_signed_by_twilio, signed_url
from ivr.settings import Settings
from ivr.state import State, read_state
from ivr.twiml import CONTENT_TYPE, Links, render

bp = Blueprint("voice", __name__)
log = get_logger()

EXTENSION = "ivr"


@dataclass
class Service:
    """What the blueprint needs, stored in ``app.extensions['ivr']`` (never in module globals)."""

    settings: Settings
    catalog: Catalog
    engine: Engine
    rescue_by_number: dict[str, str] = field(default_factory=dict)
    rescue_default: str = ""
    audio_url: Callable[[Speech], str | None] = lambda speech: None

    def build_rescues(self) -> None:
        """Render the rescue documents once, so the error path cannot fail on flow data."""
        links = Links(step_url=lambda s: "", dial_url=lambda s: "", audio_url=lambda s: None)
        languages = self.catalog.settings.languages
        self.rescue_default = render(self.engine.rescue(""), languages, links)
        for number in self.catalog.settings.called_numbers:
            self.rescue_by_number[number] = render(self.engine.rescue(number), languages, links, number)

    def rescue(self, called: str) -> str:
        return self.rescue_by_number.get(called, self.rescue_default)


def service() -> Service:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def _state_url(endpoint: str, state: State) -> str:
    return url_for(endpoint) + "?" + urlencode(state.to_query())


def _links(svc: Service) -> Links:
    return Links(
        step_url=lambda s: _state_url("voice.step", s),
        dial_url=lambda s: _state_url("voice.dial", s),
        audio_url=svc.audio_url,
    )


def _called() -> str:
    called = request.values.get("To", "")
    return called if called in service().catalog.settings.called_numbers else ""


def _twiml(body: str) -> Response:
    return Response(body, status=200, content_type=f"{CONTENT_TYPE}; charset=utf-8")


def _answer(route: str, make_turn: Callable[[Engine, str], Turn]) -> Response:
    svc = service()
    started = time.perf_counter()
    called = _called()
    ref = call_ref(svc.settings.log_key, request.values.get("CallSid"))
    try:
        turn = make_turn(svc.engine, called)
        to = request.values.get("To", "")
        caller_id = to if E164.fullmatch(to) else None
        body = render(turn, svc.catalog.settings.languages, _links(svc), caller_id)
    except Exception as exc:  # noqa: BLE001 - the caller must hear the rescue, whatever broke
        error_id = uuid.uuid4().hex[:12]
        log.error("webhook failed; rescue TwiML sent", exc_info=exc, extra={"route": route, "call": ref, "error_id": error_id})
        return _twiml(svc.rescue(called))
    log.info(
        "turn",
        extra={
            "route": route,
            "node": turn.node,
            "lang": turn.lang,
            "outcome": turn.outcome,
            "call": ref,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return _twiml(body)


@bp.before_request
def require_twilio_signature() -> Response | None:
    svc = service()
    if svc.settings.auth_token is None:
        log.warning(
            "SIGNATURE CHECKS ARE OFF: IVR_DEV_MODE is set and TWILIO_AUTH_TOKEN is not; never run like this in production",
            extra={"route": request.path},
        )
        return None
    url = signed_url(svc.settings.public_url, request.scheme, request.host, request.full_path)
    form = request.form if request.method == "POST" else {}
    if is_signed_by_twilio(svc.settings.auth_token, url, form, request.headers.get(SIGNATURE_HEADER)):
        return None
    log.warning("request refused: missing or wrong Twilio signature", extra={"route": request.path, "status": 403})
    return Response("Forbidden: missing or invalid X-Twilio-Signature\n", status=403, content_type="text/plain; charset=utf-8")


@bp.route("/voice", methods=["GET", "POST"])
def start() -> Response:
    return _answer("start", lambda engine, called: engine.start(called))


@bp.route("/voice/step", methods=["GET", "POST"])
def step() -> Response:
    claimed = read_state(request.args)
    digits = request.form.get("Digits") if request.method == "POST" else request.args.get("Digits")
    return _answer("step", lambda engine, called: engine.on_input(claimed, digits, called))


@bp.route("/voice/dial", methods=["GET", "POST"])
def dial() -> Response:
    claimed = read_state(request.args)
    status = request.values.get("DialCallStatus")
    return _answer("dial", lambda engine, called: engine.on_dial(claimed, status, called))


@bp.route("/voice/fallback", methods=["GET", "POST"])
def fallback() -> Response:
    """Twilio's Voice Fallback URL: needs no state, says the lines' numbers and 112."""
    svc = service()
    log.warning(
        "fallback URL called", extra={"route": "fallback", "call": call_ref(svc.settings.log_key, request.values.get("CallSid"))}
    )
    return _twiml(svc.rescue(_called()))


@bp.errorhandler(Exception)
def rescue_on_error(exc: Exception) -> Response | HTTPException:
    """Anything that escaped a view (or a before_request hook) still gets rescue TwiML."""
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        return exc
    error_id = uuid.uuid4().hex[:12]
    log.error("unhandled error; rescue TwiML sent", exc_info=exc, extra={"route": request.path, "error_id": error_id})
    return _twiml(service().rescue(_called()))
