"""A phone in the browser: ``/simulator``, for trying a call without dialling Twilio.

The page never holds the auth token. Its script posts to ``/simulator/api/call`` and
``/simulator/api/step``; the server signs each request as Twilio would and sends it,
in-process, to the real voice webhook (:mod:`ivr.simulate`), then returns the TwiML with
what it says and waits for, as JSON. So the browser drives exactly what Twilio drives.

Access: open when ``IVR_DEV_MODE`` is on; otherwise only with HTTP basic auth against
``IVR_ADMIN_PASSWORD`` (any user name); with neither, the simulator does not exist (404).
Wrong passwords are limited by the guard of every operator page (:mod:`ivr.guard`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from markupsafe import Markup

from ivr.graph import GraphvizMissing, diagram, to_dot, to_svg
from ivr.guard import require_operator
from ivr.hours import HoursError, brussels_moment, describe_moment
from ivr.logs import get_logger
from ivr.model import Catalog, masked_address
from ivr.service import SIMULATED_MOMENT, service
from ivr.simulate import (
    CALL_SID,
    DIAL_STATUSES,
    SAID_CONFIDENCE,
    Answer,
    HungUp,
    InProcessCaller,
    Listen,
    Redirect,
    Ring,
    Said,
    SimulationError,
    SpeechIndex,
    Verb,
    line_number_at,
    new_call_sid,
    speech_index,
)

bp = Blueprint(
    "simulator",
    __name__,
    url_prefix="/simulator",
    template_folder="templates",
    static_folder="static/simulator",
    static_url_path="/static",
)
log = get_logger()

STATE = "ivr.simulator"
REALM = 'Basic realm="helpline-ivr simulator", charset="UTF-8"'
MAX_DIGITS = 20  # the webhook treats anything but one key as a wrong key; this only bounds the request
SIP_SECRET = "(set in the environment)"
MAX_SPEECH = 200  # a spoken answer to a menu; this only bounds the request
MAX_AT = 40  # "2026-12-25 03:00"; this only bounds the request
MAX_HOSTS = 8  # speech indexes kept (one per host name the page was opened on)


@dataclass
class SimulatorState:
    """Per-app caches: diagrams by (flow, language) and speech indexes by host."""

    svgs: dict[tuple[str, str], str] = field(default_factory=dict)
    indexes: dict[str, SpeechIndex] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def install_simulator(app: Flask) -> None:
    """Register ``/simulator`` on ``app`` (it guards itself: see the module docstring)."""
    app.extensions[STATE] = SimulatorState()
    app.register_blueprint(bp)


def _state() -> SimulatorState:
    return current_app.extensions[STATE]  # type: ignore[no-any-return]


@bp.before_request
def require_access() -> Response | None:
    return require_operator(REALM)  # wrong passwords limited per client: see ivr.guard


# --- the diagram -------------------------------------------------------------------------------


def _inline_svg(svg: str) -> str:
    """Graphviz's SVG without its XML prolog and DOCTYPE, ready to put inside HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def _diagram_html(catalog: Catalog, flow_name: str, lang: str) -> str:
    """The flow as inline SVG; a list of its nodes when Graphviz is not installed.

    Either way each node's element has the id ``node-<node id>``, which the page highlights.
    """
    state = _state()
    with state.lock:
        cached = state.svgs.get((flow_name, lang))
    if cached is not None:
        return cached
    chart = diagram(catalog, catalog.flows[flow_name], lang, masked=True)
    try:
        html = _inline_svg(to_svg(to_dot(chart)))
    except (GraphvizMissing, RuntimeError) as exc:
        log.warning("simulator: no SVG diagram, showing a list", extra={"error": str(exc)})
        items = "".join(
            f'<li id="{Markup.escape(box.svg_id)}"><strong>{Markup.escape(box.title)}</strong> {Markup.escape(box.detail)}</li>'
            for box in chart.boxes
        )
        html = f'<ul class="node-list">{items}</ul>'
    with state.lock:
        state.svgs[(flow_name, lang)] = html
    return html


# --- JSON ------------------------------------------------------------------------------------------


def _heard_json(heard: Said, numbers: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "verb": heard.verb,
        "text": heard.text,
        "lang": heard.lang,
        "seconds": heard.seconds,
        "url": heard.url,
        "voice": heard.voice,
        "line_at": None,
    }
    reached = line_number_at(heard, numbers)
    if reached is not None:
        data["line_at"], data["line"] = reached
    return data


def _verb_json(verb: Verb, numbers: dict[str, str], whisper: str = "") -> dict[str, Any]:
    if isinstance(verb, Said):
        return _heard_json(verb, numbers)
    if isinstance(verb, Listen):
        return {
            "verb": "gather",
            "action": verb.action,
            "timeout": verb.timeout,
            "speech": verb.speech,
            "heard": [_heard_json(h, numbers) for h in verb.heard],
        }
    if isinstance(verb, Redirect):
        return {"verb": "redirect", "url": verb.url}
    if isinstance(verb, Ring):
        number = ", ".join(masked_address(n) for n in verb.numbers)
        return {"verb": "dial", "number": number, "action": verb.action, "timeout": verb.timeout, "whisper": whisper}
    assert isinstance(verb, HungUp)
    return {"verb": "hangup"}


def _answer_json(call: InProcessCaller, answer: Answer, called: str) -> dict[str, Any]:
    numbers = call.line_numbers()
    catalog = call.service.catalog
    return {
        "call": call.call_sid,
        "to": called,
        "flow": catalog.serving(called).flow,
        "node": answer.node,
        "kind": call.node_kind(answer),
        "lang": answer.lang,
        "request": answer.url,
        "verbs": [_verb_json(verb, numbers, call.whisper(verb) if isinstance(verb, Ring) else "") for verb in answer.verbs],
        "twiml": _shown_twiml(answer.twiml),
    }


def _shown_twiml(twiml: str) -> str:
    """The TwiML as the page shows it: transfer targets masked, SIP credentials replaced by a note.

    They go to Twilio in the TwiML, never to a page: an operator needs only to see which target rings.
    """
    root = ElementTree.fromstring(twiml)  # the webhook's own answer, just read by ivr.simulate
    for dial in root.iter("Dial"):
        for target in dial:
            target.text = masked_address((target.text or "").strip())
            for secret in ("username", "password"):
                if secret in target.attrib:
                    target.attrib[secret] = SIP_SECRET
    return twiml[: max(twiml.find("<Response"), 0)] + ElementTree.tostring(root, encoding="unicode")


def _bad(message: str) -> tuple[Response, int]:
    return jsonify(error=message), 400


def _caller(body: dict[str, Any]) -> InProcessCaller | str:
    """The call the page's request continues (or starts), or what is wrong with the request."""
    called = body.get("to") or ""
    numbers = service().catalog.settings.called_numbers
    if not isinstance(called, str) or (called and called not in numbers):
        return "'to' must be one of the configured called numbers, or empty"
    sid = body.get("call")
    if sid is not None and not (isinstance(sid, str) and CALL_SID.fullmatch(sid)):
        return "'call' must be the CallSid the simulator gave"
    base = request.host_url.rstrip("/")
    state = _state()
    with state.lock:
        index = state.indexes.get(base)
    if index is None:
        index = speech_index(current_app._get_current_object(), base)  # type: ignore[attr-defined]
        with state.lock:
            if len(state.indexes) >= MAX_HOSTS:
                state.indexes.clear()  # odd Host headers must not grow memory
            state.indexes[base] = index
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return InProcessCaller(app, called=called, call_sid=sid or new_call_sid(), base_url=base, index=index)


def _json_body() -> dict[str, Any] | None:
    # JSON only: a cross-site form cannot send it without a CORS preflight, which we never allow.
    if not request.is_json:
        return None
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested thousands deep: the decoder recurses; silent=True only covers ValueError
        return None
    return body if isinstance(body, dict) else None


# --- routes --------------------------------------------------------------------------------------


@bp.get("")
def page() -> str:
    running = service()
    catalog = running.catalog
    flow_name = catalog.settings.default_flow
    lang = catalog.settings.default_language
    return render_template(
        "simulator/page.html",
        diagram=Markup(_diagram_html(catalog, flow_name, lang)),
        flow=flow_name,
        lang=lang,
        languages=catalog.settings.offered,
        called_numbers=sorted(catalog.settings.called_numbers),
        signed=running.settings.auth_token is not None,
    )


@bp.get("/diagram")
def diagram_fragment() -> Response | tuple[Response, int]:
    """The diagram of one flow in one language, as an HTML fragment (the page swaps it in)."""
    catalog = service().catalog
    flow_name = request.args.get("flow", "")
    lang = request.args.get("lang", "")
    if flow_name not in catalog.flows or lang not in catalog.settings.offered:
        return _bad("unknown flow or language")
    return Response(_diagram_html(catalog, flow_name, lang), content_type="text/html; charset=utf-8")


@bp.post("/api/call")
def api_call() -> Response | tuple[Response, int]:
    """Start a call: the webhook's answer to Twilio's first request."""
    body = _json_body()
    if body is None:
        return _bad("send a JSON object")
    call = _caller({**body, "call": None})
    if isinstance(call, str):
        return _bad(call)
    return _run(call, lambda: call.start(), body)


@bp.post("/api/step")
def api_step() -> Response | tuple[Response, int]:
    """Continue a call: follow a <Gather> action with a key, a <Redirect> (silence), or a <Dial> action."""
    body = _json_body()
    if body is None:
        return _bad("send a JSON object")
    call = _caller(body)
    if isinstance(call, str):
        return _bad(call)
    if not body.get("call"):
        return _bad("'call' is required: start with /simulator/api/call")
    url = body.get("url")
    digits = body.get("digits")
    speech = body.get("speech")
    status = body.get("dial_status")
    if not isinstance(url, str):
        return _bad("'url' must be the action or redirect URL from the last answer")
    try:
        call.webhook_path(url)
    except SimulationError as exc:
        return _bad(str(exc))
    extra: dict[str, str] = {}
    if digits is not None:
        if not isinstance(digits, str) or len(digits) > MAX_DIGITS:
            return _bad(f"'digits' must be text of at most {MAX_DIGITS} keys")
        extra["Digits"] = digits
    if speech is not None:
        if not isinstance(speech, str) or len(speech) > MAX_SPEECH:
            return _bad(f"'speech' must be text of at most {MAX_SPEECH} characters")
        # As Twilio sends what it recognised: a clear, confident recognition.
        extra |= {"SpeechResult": speech, "Confidence": SAID_CONFIDENCE}
    if status is not None:
        if status not in DIAL_STATUSES:
            return _bad(f"'dial_status' must be one of: {', '.join(DIAL_STATUSES)}")
        extra |= {"DialCallStatus": status, "DialCallDuration": "0"}
    return _run(call, lambda: call.request(url, extra), body)


def _moment(body: dict[str, Any]) -> tuple[datetime | None, str] | str:
    """The page's "at" (a Brussels date and time; empty: now) and a note, or what is wrong with it."""
    at = body.get("at")
    if at is None or at == "":
        return None, ""
    if not isinstance(at, str) or len(at) > MAX_AT:
        return "'at' must be a Brussels date and time, YYYY-MM-DD HH:MM"
    try:
        return brussels_moment(at)
    except HoursError as exc:
        return f"'at': {exc}"


def _run(call: InProcessCaller, step: Callable[[], Answer], body: dict[str, Any]) -> Response | tuple[Response, int]:
    moment = _moment(body)
    if isinstance(moment, str):
        return _bad(moment)
    instant, note = moment
    token = SIMULATED_MOMENT.set(instant)  # the webhook's engine reads it, for this request only
    try:
        answer = step()
    except SimulationError as exc:
        log.error("simulator: the webhook's answer could not be followed", extra={"error": str(exc)})
        return jsonify(error=str(exc)), 502
    finally:
        SIMULATED_MOMENT.reset(token)
    at = {"at": describe_moment(instant) if instant else None, "note": note}
    return jsonify(_answer_json(call, answer, call.fields["To"]) | at)
