"""The statistics' edges in the app: counting each answered webhook request, ``/voice/status``
and ``/metrics``.

Counting happens in an ``after_request`` function of the app, from what the voice blueprint
left in ``g`` (its :class:`~ivr.web.Answering`, with the engine's Turn) and the response's
status: the webhook code itself holds a single line for the statistics. Whatever goes wrong here, the answer Twilio
gets is the one the webhook made; the event is counted as dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from ivr.audio_web import AUDIO_EXTENSION, PromptAudio
from ivr.engine import Turn
from ivr.guard import guard, require_operator
from ivr.logs import call_ref, get_logger
from ivr.model import EVERY_LINE, Catalog, LanguageNode, TransferNode
from ivr.service import SERVICE_EXTENSION, service
from ivr.settings import Settings
from ivr.state import read_state
from ivr.stats import metrics
from ivr.stats.events import (
    NO_LANGUAGE,
    NO_LINE,
    NO_TARGET,
    CallEnd,
    Timing,
    TurnEvent,
    TurnFacts,
    call_status,
    dial_result,
    dialled_target,
    duration_bucket,
    stats_call_keys,
)
from ivr.stats.recorder import Recorder, RecorderConfig
from ivr.texting import TEXTED as TEXT_ROUTE
from ivr.texting import Text
from ivr.timing import SpeechClock
from ivr.web import Answering, signature_problem

STATS = "ivr.stats"
log = get_logger()
status_bp = Blueprint("voice_status", __name__)


@dataclass
class Stats:
    """What the statistics need in a request, in ``app.extensions['ivr.stats']``."""

    settings: Settings
    catalog: Catalog
    timing: Timing
    recorder: Recorder | None  # None: no database configured; the metrics still count
    alerts: metrics.Alerts
    no_language: frozenset[tuple[str, str]]  # (flow, node) where no language has been chosen yet
    clock: Callable[[], float] = time.time  # the server's time, for hourly buckets

    def texted(self, text: Text, outcome: str) -> None:
        """The outcome of a text message (ivr.text_sender, off the request path): counted, never told to the caller."""
        counted = f"text_{outcome}"  # text_accepted, text_refused, text_failed, text_dropped: as in the log
        metrics.turn(TEXT_ROUTE, counted)
        if self.recorder is not None:
            facts = TurnFacts(0.0, None, None, 0)
            self.recorder.turn(TurnEvent(self.clock(), "-", text.flow, TEXT_ROUTE, text.lang, counted, facts))

    def dropped(self, count: int, reason: str) -> None:
        metrics.DROPPED.inc(count)
        self.alerts.dropped(count, reason)


def stats() -> Stats:
    return current_app.extensions[STATS]  # type: ignore[no-any-return]


def _catalog_facts(app: Flask, catalog: Catalog) -> tuple[Timing, frozenset[tuple[str, str]]]:
    """What counting needs to know of ``catalog``: the timing of its prompts, and where no language is chosen."""
    audio: PromptAudio | None = app.extensions.get(AUDIO_EXTENSION)
    speech_clock = SpeechClock(
        {code: language.words_per_second for code, language in catalog.settings.languages.items()},
        audio.manifest.duration_of if audio is not None and audio.manifest.entries else None,
    )
    no_language = frozenset(
        (flow.name, node.id)
        for flow in catalog.flows.values()
        for node in flow.nodes.values()
        if isinstance(node, LanguageNode) or (isinstance(node, TransferNode) and node.helpline == EVERY_LINE)
    )
    return Timing(catalog, speech_clock), no_language


def reload_stats(app: Flask, catalog: Catalog) -> None:
    """After a reload (``kill -HUP``): count against the new flows, with the same recorder and alerts."""
    current = app.extensions[STATS]
    current.catalog = catalog
    current.timing, current.no_language = _catalog_facts(app, catalog)


def close_stats(app: Flask) -> None:
    """Write what ``app`` counted and stop its writer (a process that ends before the next write: ``ivr simulate``)."""
    installed: Stats | None = app.extensions.get(STATS)
    if installed is not None and installed.recorder is not None:
        installed.recorder.close()


def install_stats(app: Flask, settings: Settings, catalog: Catalog) -> Stats:
    """Count every webhook request of ``app``, and add ``/voice/status`` and ``/metrics`` (the app factory adds ``/admin``)."""
    timing, no_language = _catalog_facts(app, catalog)
    result = Stats(settings, catalog, timing, None, metrics.Alerts(), no_language)
    if settings.database_url is not None:
        config = RecorderConfig(settings.database_url, retention_days=settings.stats_retention_days)
        result.recorder = Recorder(config, result.dropped)
    app.extensions[STATS] = result
    texts = app.extensions[SERVICE_EXTENSION].texts
    if texts is not None:
        texts.counted.append(result.texted)  # each message's outcome, as a turn of its own (no call, no number)
    app.after_request(_count)
    app.register_blueprint(status_bp)
    app.add_url_rule("/metrics", "metrics", _metrics)
    return result


def _count(response: Response) -> Response:
    """Counts one request of the voice blueprint (the app calls this after every request)."""
    at: Answering | None = g.get("ivr")
    if at is None:  # not a webhook of the voice blueprint
        return response
    s = stats()
    try:
        # Only what the signature check has read already: an unsigned body (a fallback request, a flood) stays unread.
        params: Mapping[str, str] = request.form if at.signed and request.method == "POST" else {}
        _count_webhook(s, at, params, response.status_code)
    except Exception:  # noqa: BLE001 - statistics never change an answer
        s.dropped(1, "error while counting a request")
    return response


def _count_webhook(s: Stats, at: Answering, params: Mapping[str, str], status: int) -> None:
    route = at.route
    if status == 403:
        metrics.REFUSED.labels(route).inc()
        s.alerts.forbidden(route)
        return
    if at.started is not None:
        metrics.latency(route, time.perf_counter() - at.started)
    turn = at.turn
    if route == "whisper":
        return  # a volunteer's whisper before a transfer: no caller's turn, and never a rescue
    if turn is None:  # the fallback URL, or the rescue after an error
        # Their warning and error lines are written by the webhook itself (ivr.web). An unsigned fallback
        # hit may be anyone's: counted apart, so that it pages nobody alone and is no caller on /admin.
        if route == "fallback":
            outcome = "fallback" if at.signed else "fallback_unsigned"
            metrics.FALLBACKS.labels("true" if at.signed else "false").inc()
            s.alerts.fallback(signed=at.signed)
        else:
            outcome = "rescue"
            metrics.RESCUES.inc()
        metrics.turn(route, outcome)
        if s.recorder is not None:
            facts = s.timing.facts(Turn((), "rescue", NO_LANGUAGE, outcome))
            s.recorder.turn(TurnEvent(s.clock(), "-", _flow_called(s, params), "rescue", NO_LANGUAGE, outcome, facts))
        return
    metrics.turn(route, turn.outcome)
    facts = s.timing.facts(turn)
    if facts.transfers:
        metrics.TRANSFERS.labels("started").inc(facts.transfers)
    dial = dial_result(params.get("DialCallStatus")) if route == "dial" else None
    if dial is not None:
        metrics.TRANSFERS.labels(dial).inc()
        if dial != "connected":
            metrics.TRANSFER_FAILURES.labels(dial).inc()
        s.alerts.transfer(failed=dial != "connected")
    if s.recorder is None:
        return
    flow = turn.state.flow if turn.state is not None else _flow_called(s, params)
    lang = NO_LANGUAGE if (flow, turn.node) in s.no_language else turn.lang
    now = s.clock()
    call, before = stats_call_keys(s.settings.log_key, params.get("CallSid"), now)  # never the log line's reference
    line, target = _dialled(s, params) if dial is not None else (NO_LINE, NO_TARGET)
    s.recorder.turn(TurnEvent(now, call, flow, turn.node, lang, turn.outcome, facts, dial, line, target, before))


def _dialled(s: Stats, params: Mapping[str, str]) -> tuple[str, int]:
    """The line and target position a /voice/dial request reports on: the state in its signed URL, as the engine
    resolved it to answer (the target it names is the one that <Dial> rang)."""
    state = service().engine.resolve(read_state(request.args), params.get("To", ""))
    return dialled_target(s.catalog, state) or (NO_LINE, NO_TARGET)


def _flow_called(s: Stats, params: Mapping[str, str]) -> str:
    """The flow of the number called (a turn without a state: a call's start, the fallback, the rescue)."""
    called = params.get("To", "")
    return s.catalog.serving(called if called in s.catalog.settings.called_numbers else "").flow


# --- /voice/status: Twilio's status callback --------------------------------------------------------


def _signed(settings: Settings) -> bool:
    if settings.auth_token is None:  # development mode, as for the voice webhooks
        return True
    # The webhooks' own check: the header before the body, the field-count guard, then twilio's validator.
    return signature_problem(service()) is None


@status_bp.post("/voice/status")
def call_status_callback() -> Response:
    """The end of a call (``CallStatus`` completed, busy, failed, no-answer, canceled): 204, always."""
    s = stats()
    if not _signed(s.settings):
        metrics.REFUSED.labels("status").inc()
        s.alerts.forbidden("status")
        guard().signatures.add(  # the first of a window is logged, then a count: a flood writes two lines
            "refused",
            lambda: log.warning(
                "request refused: missing or wrong Twilio signature",
                extra={"route": "status", "outcome": "forbidden", "status": 403},
            ),
        )
        return Response(
            "Forbidden: missing or invalid X-Twilio-Signature\n", status=403, content_type="text/plain; charset=utf-8"
        )
    params = request.form
    status = call_status(params.get("CallStatus"))
    call = call_ref(s.settings.log_key, params.get("CallSid"))  # the log's reference
    if status is not None and s.recorder is not None:
        now = s.clock()
        key, before = stats_call_keys(s.settings.log_key, params.get("CallSid"), now)
        s.recorder.end(CallEnd(now, key, status, duration_bucket(params.get("CallDuration")), before))
    log.info("call status", extra={"route": "status", "outcome": status or "not_over", "call": call, "status": 204})
    return Response(status=204)


@status_bp.errorhandler(Exception)
def status_error(exc: Exception) -> Response | HTTPException:
    """Twilio ignores the status callback's answer; an error is still never a 5xx."""
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        return exc
    log.error("status callback failed", extra={"route": "status", "outcome": "error", "status": 204}, exc_info=exc)
    return Response(status=204)


# --- /metrics ------------------------------------------------------------------------------------------


def _metrics() -> Response:
    refused = require_operator('Basic realm="helpline-ivr admin"', token=True)  # the token has its own bucket
    if refused is not None:
        return refused
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.exposition(), status=200, content_type=CONTENT_TYPE_LATEST)
