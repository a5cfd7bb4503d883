"""One guard for the operator pages (``/admin``, ``/metrics``, ``/simulator``), and log lines that
summarise refusals instead of writing one per request.

**Who may enter.** In development mode (``IVR_DEV_MODE``) everyone. Otherwise the admin password
with HTTP basic auth (any user name), and on ``/metrics`` also ``IVR_METRICS_TOKEN`` as a bearer
token; with neither configured the page does not exist (404). Both are compared in constant time
(digests of equal length, so not even the length leaks).

**Guessing.** Wrong attempts are counted per client (the peer's address, or behind a trusted proxy
the address it saw) and per kind of credential: the password and the metrics token have a bucket
each, so a scraper's token is never held back by guesses at the password. Past ``failures`` wrong
attempts in a client's window, each of its attempts waits ``delay`` seconds before it is compared,
and a wrong one gets 429 with ``Retry-After`` until the window is over. The right password or token
is never refused, even from a client over the limit (behind a proxy that is not trusted, every
operator shares the guesser's address): it only waits like every attempt of that client, so that
how fast the answer comes says nothing about the guess. A long random password is what makes
guessing hopeless; the limit makes each guess cost a second per connection.

**State** is in each worker's memory: a client that reaches several workers has a count in each,
and a restart starts afresh. At most ``clients`` windows (a client's, in one bucket) are kept; the
oldest are forgotten first, so a flood from many addresses cannot grow memory.

**Log lines.** A :class:`Tally` writes the first event of its window at once (a mistyped password, a
rotated auth token show up right away) and, when there were more, one line at the window's end with
the counts. Never the address, never what was typed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, Response, abort, current_app, request

from ivr.logs import get_logger
from ivr.settings import Settings

GUARD = "ivr.guard"
log = get_logger()
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Limits:
    failures: int = 10  # wrong attempts a client may make in a window before it is slowed and refused
    window: float = 60.0  # seconds of a client's window, from its first wrong attempt
    delay: float = 1.0  # seconds each attempt of a client over the limit waits before it is compared
    clients: int = 10_000  # windows kept, all buckets together
    summary: float = 60.0  # seconds between two summary lines


class Tally:
    """Counts events of one kind; logs the first of a window with its details, then the window's counts.

    The summary is written by a timer when the window ends (a thread, or a greenlet under gevent),
    started by the window's first event in this process (a worker forked with no window open has
    none), or by :func:`flush_all` when a worker stops.
    """

    def __init__(self, summary: str, seconds: float) -> None:
        self.summary, self.seconds = summary, seconds
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        _TALLIES.add(self)

    def add(self, name: str, first: Callable[[], None] | None = None) -> None:
        """Count one ``name``; ``first`` writes the line of a window's first event."""
        with self._lock:
            opened = not self._counts
            self._counts[name] += 1
            if opened:
                self._timer = threading.Timer(self.seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if opened and first is not None:
            first()

    def flush(self, *, quiet: bool = False) -> None:
        """End the window: one line with its counts, unless it held only the event already logged."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if counts.total() > 1 and not quiet:
            log.warning(self.summary, extra=dict(counts) | {"count": counts.total()})


_TALLIES: weakref.WeakSet[Tally] = weakref.WeakSet()


def flush_all(*, quiet: bool = False) -> None:
    """End every open window of this process (a worker that stops: its last summaries; ``quiet``: drop them)."""
    for tally in list(_TALLIES):
        tally.flush(quiet=quiet)


@dataclass
class _Window:
    started: float
    failures: int = 0


@dataclass
class Guard:
    """Wrong attempts per (bucket, client), in fixed windows; in this process's memory."""

    settings: Settings
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = field(
        default=lambda seconds: time.sleep(seconds)
    )  # looked up at each call: gevent's once patched
    windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: Tally = field(init=False)
    signatures: Tally = field(init=False)

    def __post_init__(self) -> None:
        seconds = self.limits.summary
        self.attempts = Tally("operator pages: wrong passwords or tokens in the last window (429: past the limit)", seconds)
        self.signatures = Tally("requests refused for a missing or wrong Twilio signature in the last window", seconds)

    def over_limit(self, bucket: str, client: str) -> int:
        """Seconds left in the window of a client over the limit, else 0."""
        with self.lock:
            window = self.windows.get((bucket, client))
            now = self.clock()
            if window is None or window.failures < self.limits.failures or now - window.started >= self.limits.window:
                return 0
            return max(1, math.ceil(window.started + self.limits.window - now))

    def failed(self, bucket: str, client: str) -> bool:
        """Count a wrong attempt; True when it is the one that brings the client to the limit."""
        with self.lock:
            now, key = self.clock(), (bucket, client)
            window = self.windows.get(key)
            if window is None or now - window.started >= self.limits.window:
                self.windows.pop(key, None)
                if len(self.windows) >= self.limits.clients:
                    for old in sorted(self.windows, key=lambda k: self.windows[k].started)[: max(1, self.limits.clients // 10)]:
                        del self.windows[old]
                window = self.windows[key] = _Window(now)
            window.failures += 1
            return window.failures == self.limits.failures


# The operator pages act on a click (/simulator places calls): no other site may frame them to borrow one.
NOT_FRAMED = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def install_guard(app: Flask, settings: Settings, limits: Limits | None = None) -> Guard:
    app.extensions[GUARD] = guard = Guard(settings, limits or Limits())
    app.after_request(_not_framed)
    return guard


def _not_framed(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers.update(NOT_FRAMED)
    return response


def guard() -> Guard:
    return current_app.extensions[GUARD]  # type: ignore[no-any-return]


def client_address(settings: Settings) -> str:
    """Who is asking: the peer, or behind a proxy (IVR_TRUST_PROXY) the address that proxy saw.

    The proxy appends the address it saw to X-Forwarded-For: the last entry is that one; any
    earlier entry came from the client, which could vary it to escape the limit.
    """
    if settings.trust_proxy:
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.remote_addr or "-"


def _same(given: str, secret: str | None) -> bool:
    digest = hashlib.sha256
    return secret is not None and hmac.compare_digest(digest(given.encode()).digest(), digest(secret.encode()).digest())


def require_operator(realm: str, *, token: bool = False) -> Response | None:
    """None when this request may see an operator page, else the answer to send (401, 429; 404 raised).

    ``token``: the metrics token is accepted too, as a bearer token.
    """
    g = guard()
    settings = g.settings
    if settings.dev_mode:
        return None
    if settings.admin_password is None and not (token and settings.metrics_token):
        abort(404)  # never open in production without a password
    header = request.headers.get("Authorization", "")
    if token and header[:7].lower() == "bearer ":
        bucket, given, secret = "token", header[7:].strip(), settings.metrics_token
    else:
        auth = request.authorization
        given = (auth.password or "") if auth is not None and auth.type == "basic" else ""
        bucket, secret = "password", settings.admin_password
    asked = Response("Authentication required\n", 401, {"WWW-Authenticate": realm, "Content-Type": TEXT})
    if not given:
        return asked  # a browser's first request carries no password: asked for, not counted or logged
    client = client_address(settings)
    wait = g.over_limit(bucket, client)
    if wait:
        g.sleep(g.limits.delay)  # the right answer waits as long as a wrong one: no timing tells them apart
    if _same(given, secret):
        return None
    reached = g.failed(bucket, client)
    status = 429 if wait else 401

    def first() -> None:
        log.warning(
            "operator pages: wrong password or token (the others of this window are counted, not logged one by one)",
            extra={"route": request.path, "status": status},
        )

    g.attempts.add("refused" if wait else "failed", first)
    if reached:
        g.attempts.add("clients")  # brought to the limit
    if wait:
        return Response(
            f"Too many wrong attempts: try again in {wait} s\n", 429, {"Retry-After": str(wait), "Content-Type": TEXT}
        )
    return asked
