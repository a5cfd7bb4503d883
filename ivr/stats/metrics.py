"""Prometheus metrics (``prometheus_client``), and the same alert conditions as warning log lines.

Under gunicorn the metrics are in the library's multi-process mode: every worker writes its
values to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by :mod:`ivr.stats.gunicorn` before the
app is loaded), and ``/metrics`` adds up every worker's, dead ones included, so counts are
right whichever worker answered. Without that variable (tests, ``flask run``) the values
live in the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest, multiprocess

from ivr.logs import get_logger
from ivr.stats import alert_rules as rules
from ivr.stats.alert_rules import CALL_ROUTES

log = get_logger()
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Our own registry: nothing else a process imports ends up in /metrics.
REGISTRY = CollectorRegistry(auto_describe=True)
disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series only add noise to every scrape

TURNS = Counter("ivr_turns", "Webhook requests answered, by route and outcome", ["route", "outcome"], registry=REGISTRY)
LATENCY = Histogram(
    "ivr_request_seconds",
    "Time from the signature check to the TwiML, by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
# signed="true": Twilio could not use our answer; "false": anyone can send it (or Twilio, with a rotated token).
FALLBACKS = Counter(
    "ivr_fallback_hits",
    "Requests to the Voice Fallback URL, by whether Twilio's signature was valid",
    ["signed"],
    registry=REGISTRY,
)
RESCUES = Counter("ivr_rescues", "Requests answered with the rescue TwiML after an error", registry=REGISTRY)
REFUSED = Counter(
    "ivr_refused_signatures",
    "Requests refused (403) for a missing or wrong Twilio signature, by route",
    ["route"],
    registry=REGISTRY,
)
TRANSFERS = Counter("ivr_transfers", "Transfers started, and how each attempt ended", ["result"], registry=REGISTRY)
TRANSFER_FAILURES = Counter(
    "ivr_transfer_failures", "Transfer attempts that did not connect, by result", ["result"], registry=REGISTRY
)
DROPPED = Counter("ivr_statistics_dropped", "Statistics events lost (database error, timeout, full batch)", registry=REGISTRY)


def turn(route: str, outcome: str) -> None:
    TURNS.labels(route, outcome).inc()


def latency(route: str, seconds: float) -> None:
    LATENCY.labels(route).observe(seconds)


def exposition() -> bytes:
    """Every metric in Prometheus' text format, added up over all workers in multi-process mode."""
    if os.environ.get(MULTIPROC_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@dataclass
class AlertWindow:
    """Events in the last ``seconds``, for alert conditions."""

    seconds: float
    times: deque[float] = field(default_factory=deque)

    def add(self, now: float, n: int = 1) -> None:
        self.times.extend([now] * n)
        self.count(now)

    def count(self, now: float) -> int:
        while self.times and self.times[0] < now - self.seconds:
            self.times.popleft()
        return len(self.times)


@dataclass
class Alerts:
    """The conditions of docs/alerts.yml (both from :mod:`ivr.stats.alert_rules`), checked in each process, as
    warning log lines.

    For operators without Prometheus: 2 or more transfer attempts in 15 minutes that did not
    connect, half of them or more; 20 refused requests in 5 minutes; statistics dropped; and (an
    error: a page) fallback hits without a valid signature in the same 10 minutes as refused
    signatures on a call's webhooks, which is what a rotated auth token looks like; each at
    most once per ``quiet`` seconds. A fallback or rescue hit has its own line already
    (``fallback URL called``, ``webhook failed; rescue TwiML sent``: see ivr.web).
    """

    clock: Callable[[], float] = time.monotonic
    quiet: float = 300.0
    transfers: AlertWindow = field(default_factory=lambda: AlertWindow(rules.TRANSFER_WINDOW))
    failures: AlertWindow = field(default_factory=lambda: AlertWindow(rules.TRANSFER_WINDOW))
    refused: AlertWindow = field(default_factory=lambda: AlertWindow(rules.REFUSED_WINDOW))
    refused_calls: AlertWindow = field(default_factory=lambda: AlertWindow(rules.FALLBACK_WINDOW))  # refused on CALL_ROUTES
    unsigned_fallbacks: AlertWindow = field(default_factory=lambda: AlertWindow(rules.FALLBACK_WINDOW))
    _last: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _warn(self, name: str, message: str, level: int = logging.WARNING, **fields: object) -> None:
        now = self.clock()
        with self._lock:
            if now - self._last.get(name, -1e18) < self.quiet:
                return
            self._last[name] = now
        log.log(level, f"alert: {message}", extra=fields)

    def transfer(self, failed: bool) -> None:
        now = self.clock()
        with self._lock:
            self.transfers.add(now)
            if failed:
                self.failures.add(now)
            attempts, failures = self.transfers.count(now), self.failures.count(now)
        if failed and rules.transfers_failing(failures, attempts):
            self._warn("transfers", f"transfers are failing: {failures} of the last {attempts} attempts in 15 minutes")

    def forbidden(self, route: str) -> None:
        now = self.clock()
        with self._lock:
            self.refused.add(now)
            refused = self.refused.count(now)
            if route in CALL_ROUTES:
                self.refused_calls.add(now)
        if refused >= rules.REFUSED_BURST:
            self._warn("refused", "a burst of requests refused for their signature", count=refused)
        self._rotated_token(now)

    def fallback(self, signed: bool) -> None:
        """A hit on the fallback URL. Unsigned alone is anyone's (its warning line is enough); with
        refused signatures on a call's webhooks, callers are failing: both signatures are wrong."""
        if signed:
            return
        now = self.clock()
        with self._lock:
            self.unsigned_fallbacks.add(now)
        self._rotated_token(now)

    def _rotated_token(self, now: float) -> None:
        with self._lock:
            unsigned, refused = self.unsigned_fallbacks.count(now), self.refused_calls.count(now)
        if unsigned and refused:
            self._warn(
                "rotated",
                "the fallback URL is called without a valid signature while calls are refused for theirs: "
                "a rotated TWILIO_AUTH_TOKEN or a wrong IVR_PUBLIC_URL? callers hear only the numbers",
                logging.ERROR,
                count=unsigned,
            )

    def dropped(self, count: int, reason: str) -> None:
        self._warn("dropped", "statistics dropped; calls are not affected", count=count, error=reason)
