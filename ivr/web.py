"""The Flask blueprint Twilio calls: read the request, ask the engine, answer TwiML.

Glue only. Whatever happens inside a webhook, Twilio gets a 200 with TwiML that tells
the caller how to reach a listening line (a 5xx or an HTML page would make Twilio say
"an application error has occurred" and hang up), or a 403 for a bad signature.
The service it answers with (catalog, engine, rendered TwiML) is built in :mod:`ivr.service`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException

from ivr.engine import Turn
from ivr.guard import guard
from ivr.logs import call_ref, get_logger
from ivr.security import SIGNATURE_HEADER, is_signed_by_twilio, signed_url
from ivr.service import Service, service
from ivr.state import UntrustedState, read_state
from ivr.texting import answer
from ivr.twiml import CONTENT_TYPE, EMPTY_RESPONSE, whisper_twiml
from ivr.understanding import Recognised

bp = Blueprint("voice", __name__)
log = get_logger()

ROUTES = {
    "voice.start": "start",
    "voice.step": "step",
    "voice.dial": "dial",
    "voice.fallback": "fallback",
    "voice.whisper": "whisper",
}
MAX_FIELDS = 200  # Twilio's voice requests carry 20 to 40 fields
PATHS = {
    "/voice": "start",
    "/voice/step": "step",
    "/voice/dial": "dial",
    "/voice/fallback": "fallback",
    "/voice/whisper": "whisper",
}


@dataclass(slots=True)
class Answering:
    """One webhook request as it is answered, in ``g.ivr``: made by the signature check, read by the log
    line and by the statistics, so that each fact is taken from the request once."""

    route: str  # ROUTES' name of the webhook
    started: float | None  # time.perf_counter() when the webhook began
    signed: bool = False  # signed by Twilio (or checks off in development): the form may be read
    call: str = "-"  # keyed hash of the CallSid (ivr.logs.call_ref), once signed
    turn: Turn | None = None  # the engine's answer (the statistics' turn)


def _sent() -> Mapping[str, str]:
    """What Twilio sent: the POSTed form (the webhooks take POST only, see the routes)."""
    return request.form


def _called(svc: Service, params: Mapping[str, str]) -> str:
    """Our number that was called, when it is one of ours, else ""."""
    called = params.get("To", "")
    return called if called in svc.catalog.settings.called_numbers else ""


def _twiml(body: str) -> Response:
    return Response(body, status=200, content_type=f"{CONTENT_TYPE}; charset=utf-8")


def _route() -> str:
    # By path when routing failed (a 405 has no endpoint).
    return ROUTES.get(request.endpoint or "") or PATHS.get(request.path, "other")


def answering() -> Answering:
    """This request's :class:`Answering` (a request that never reached the signature check gets one now)."""
    found: Answering | None = g.get("ivr")
    if found is None:
        found = g.ivr = Answering(_route(), None)
    return found


def _signed(at: Answering, svc: Service) -> None:
    """Mark ``at`` signed, with the keyed hash of its CallSid (one per request: the log line's and the statistics').

    Before this, the form is not read: an unsigned request costs no parsing (see the limits
    in ivr.app) and its CallSid may be anyone's.
    """
    at.signed = True
    try:
        at.call = call_ref(svc.settings.log_key, _sent().get("CallSid"))
    except Exception:  # noqa: BLE001 - a body that cannot be read: a line without a reference
        at.call = "-"


def _log(
    at: Answering,
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
    latency = round((time.perf_counter() - at.started) * 1000, 2) if at.started is not None else None
    fields = {"route": at.route, "node": node, "lang": lang, "outcome": outcome, "latency_ms": latency, "call": at.call}
    log.log(level, event, exc_info=exc_info, extra=fields | more)


def respond(svc: Service, called: str, turn: Turn) -> Response:
    """The one way a webhook answers: the engine's turn as TwiML, and one log line.

    Anything that fails on the way (the engine, the rendering) goes to :func:`rescue_on_error`,
    the one rescue path.
    """
    body = svc.twiml(turn, called)
    at = answering()
    at.turn = turn  # for the statistics (ivr.stats.web), counted after the request
    _log(at, logging.INFO, "turn", node=turn.node, lang=turn.lang, outcome=turn.outcome)
    return _twiml(body)


def signature_problem(svc: Service) -> str | None:
    """Why this request is not signed by Twilio, or None when it is.

    The header is checked before the form is read, so a flood of unsigned requests costs
    no form parsing; the fields are read only to check a signature that was sent.
    """
    assert svc.settings.auth_token is not None
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return f"no {SIGNATURE_HEADER} header"
    # Werkzeug limits a url-encoded body's size (MAX_CONTENT_LENGTH) but not its number of fields
    # (MAX_FORM_PARTS is for multipart), and 60 kB can hold 8,000 of them, each parsed and then
    # signed over: tens of ms of CPU for a forged header. Count the separators first (C speed).
    if request.get_data(cache=True).count(b"&") >= MAX_FIELDS:
        return f"more than {MAX_FIELDS} fields: not a request of Twilio's (the form was not parsed)"
    url = signed_url(svc.settings.public_url, request.scheme, request.host, request.full_path)
    if not is_signed_by_twilio(svc.settings.auth_token, url, request.form, signature):
        return "the signature does not match: another auth token, or a URL other than IVR_PUBLIC_URL"
    return None


@bp.before_request
def require_twilio_signature() -> Response | None:
    g.ivr = at = Answering(_route(), time.perf_counter())
    svc = service()
    if svc.settings.auth_token is None:
        _signed(at, svc)
        log.warning(
            "SIGNATURE CHECKS ARE OFF: IVR_DEV_MODE is set and TWILIO_AUTH_TOKEN is not; never run like this in production",
            extra={"route": at.route, "call": at.call},
        )
        return None
    if at.route == "fallback":
        return None  # public content: it checks the signature itself, and answers anyway
    problem = signature_problem(svc)
    if problem is None:
        _signed(at, svc)
        return None
    refused = "request refused: missing or wrong Twilio signature"
    # The first of a window is logged with why, then a count (ivr.guard): a flood writes two lines, not one each.
    guard().signatures.add("refused", lambda: _log(at, logging.WARNING, refused, outcome="forbidden", status=403, error=problem))
    return Response("Forbidden: missing or invalid X-Twilio-Signature\n", status=403, content_type="text/plain; charset=utf-8")


# POST only: with GET, Twilio would put From, To and Digits in the query string, which
# routers and proxies log. `ivr twilio connect` sets POST; a GET gets 405 (see ivr.app).
@bp.post("/voice")
def start() -> Response:
    svc = service()
    called = _called(svc, _sent())
    return respond(svc, called, svc.engine.start(called))


@bp.post("/voice/step")
def step() -> Response:
    svc, params = service(), _sent()
    called, claimed = _called(svc, params), read_state(request.args)
    turn = svc.engine.on_input(claimed, params.get("Digits"), called, _recognised(params))
    return respond(svc, called, _texting(svc, claimed, params, turn))


def _texting(svc: Service, claimed: UntrustedState, params: Mapping[str, str], turn: Turn) -> Turn:
    """The text-message offer, or the answer to its key (ivr.texting); the send starts, and the webhook answers at once."""
    caller = params.get("From")
    may = svc.texts is not None and svc.texts.may_text(caller)
    turn, text = answer(svc.catalog, claimed, params.get("Digits"), turn, may)
    if text is not None and svc.texts is not None and caller:
        svc.texts.send(caller, text)
    return turn


def _recognised(params: Mapping[str, str]) -> Recognised | None:
    """Twilio's SpeechResult and Confidence (which it may leave out); never logged."""
    text = params.get("SpeechResult")
    if not text:
        return None
    try:
        confidence: float | None = float(params.get("Confidence", ""))
    except ValueError:
        confidence = None
    if confidence is not None and not 0.0 <= confidence <= 1.0:  # also NaN
        confidence = None
    return Recognised(text, confidence)


@bp.post("/voice/dial")
def dial() -> Response:
    svc, params = service(), _sent()
    called, claimed = _called(svc, params), read_state(request.args)
    return respond(svc, called, _texting(svc, claimed, params, svc.engine.on_dial(claimed, params.get("DialCallStatus"), called)))


@bp.post("/voice/whisper")
def whisper() -> Response:
    """What the volunteer who answers a transfer hears before the caller is put through.

    It never fails: on any error it answers an empty <Response/>, and the call goes through
    without a whisper. It says where the call comes from, never anything about the caller.
    """
    try:
        svc = service()
        line = svc.catalog.helplines[request.args.get("line", "")]
        lang = svc.catalog.settings.languages[line.language]
        body = whisper_twiml(line.whisper, lang)
        _log(answering(), logging.INFO, "whisper", node="whisper", lang=line.language, outcome="whisper")
    except Exception as exc:  # noqa: BLE001 - a whisper must never stop a transfer
        failed = "whisper failed; the call goes through without one"
        _log(answering(), logging.ERROR, failed, outcome="whisper_failed", exc_info=exc)
        body = EMPTY_RESPONSE
    return _twiml(body)


# Twilio's fallback request is its usual form and two more fields (ErrorCode, ErrorUrl): about
# 1 kB. A larger body is not Twilio's, and is not read at all.
FALLBACK_BODY_LIMIT = 8 * 1024


@bp.route("/voice/fallback", methods=["GET", "POST"])
def fallback() -> Response:
    """Twilio's Voice Fallback URL: says the lines' numbers and 112, and never refuses.

    It takes no input, so a wrong or missing signature (a rotated auth token, a host other
    than IVR_PUBLIC_URL) is a warning, not a 403: when the main URL fails, this is what
    stands between a caller and Twilio's "application error". Only a signed request gets
    the rescue that also rings the line's targets; any other gets the one that only speaks,
    which is public.
    It reads no flow state; the rescue documents were rendered at start-up. GET is
    accepted (the number may be set up that way) and its query string is never read.
    """
    svc, at = service(), answering()
    called, problem = "", None
    if request.method == "POST" and (request.content_length or 0) > FALLBACK_BODY_LIMIT:
        problem = "a body too large to be Twilio's (not read)"
    elif svc.settings.auth_token is not None:
        problem = signature_problem(svc)
    if problem is None:
        if request.method == "POST":
            _signed(at, svc)
            called = _called(svc, _sent())
        else:
            at.signed = True  # a GET: no form to read, no CallSid
        _log(at, logging.WARNING, "fallback URL called", node="rescue", outcome="fallback")
    else:
        _log(
            at,
            logging.WARNING,
            "fallback URL called without a valid signature; answered anyway, without dialling",
            node="rescue",
            outcome="fallback_unsigned",
            error=problem,
        )
    return _twiml(svc.rescue(called, signed=at.signed))


def refuse_other_methods(exc: HTTPException) -> HTTPException:
    """405 for a GET on a webhook (see the routes), with a line that says what to change."""
    if request.path.startswith("/voice"):
        # A number set up with GET webhooks: its calls go to the fallback URL until it is fixed.
        _log(
            answering(),
            logging.WARNING,
            "request refused: the webhooks take POST only; set the number's webhooks to POST",
            outcome="forbidden",
            status=405,
        )
    return exc


@bp.errorhandler(Exception)
def rescue_on_error(exc: Exception) -> Response | HTTPException:
    """The one rescue path: whatever failed in a webhook (the engine, the rendering, a hook), the caller
    hears the rescue TwiML rendered at start, with status 200, and the log gets one line with an error id."""
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        return exc
    if request.endpoint == "voice.whisper":  # a volunteer, not a caller: let the call go through
        return _twiml(EMPTY_RESPONSE)
    error_id = uuid.uuid4().hex[:12]
    at = answering()
    _log(at, logging.ERROR, "webhook failed; rescue TwiML sent", node="rescue", outcome="rescue", exc_info=exc, error_id=error_id)
    svc = service()
    try:
        called = _called(svc, _sent()) if at.signed else ""
    except Exception:  # noqa: BLE001 - the request itself is what broke: the default rescue
        called = ""
    return _twiml(svc.rescue(called, signed=at.signed))
