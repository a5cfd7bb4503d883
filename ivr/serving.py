"""How gunicorn serves the app (the Procfile's ``--config python:ivr.serving``).

- **gevent workers.** Each connection is a greenlet, not a thread or a process: idle and
  slow clients (a socket held open, one byte a second) cost a little memory and never
  hold back a caller's request. Sync and threaded workers give each connection a worker
  or a thread, so a handful of idle sockets starves every call.
- **Loaded once, in the master** (``preload_app``). The flows, settings and helplines are
  read and checked before any worker starts; a worker that dies or times out is forked
  again from that memory and never reads the disk. ``kill -HUP`` (``ivr reload``) is the
  one way to take new files: the master loads and checks them, and keeps what it serves
  when they are broken.
- **Statistics of every worker** (see :mod:`ivr.stats.gunicorn`): the metrics' multi-process
  folder, and each worker's last counts written when it stops.
- **No query string in what gunicorn prints.** Twilio puts ``From`` and ``Digits`` in the
  query string of GET requests, and gunicorn names the request's URI when one fails.
- **Connections held by others cost a slot, not the line** (:class:`Worker`): 6,000 per worker
  and the open-file limit raised to match; a body that has not arrived within ``BODY_SECONDS``
  of its headers gets 408 and the connection is closed (gunicorn bounds the wait for headers with
  ``keepalive``, the body not at all); one summary line a minute of what the connections did.
- **Shutdown and restart lose nothing they were given** (:meth:`Worker.handle_exit`).
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import io
import logging
import os
import re
import resource
import socket
import struct
import termios
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gevent import monkey

# Before anything opens a socket or takes a lock: the app is loaded in the master, then forked.
monkey.patch_all()

import gevent  # noqa: E402 - after patching, as gevent requires
import gunicorn.sock  # noqa: E402 - not its ssl_context by name: gunicorn would read it as the setting
from gevent.pool import Group, Pool  # noqa: E402
from gevent.server import StreamServer  # noqa: E402
from gunicorn.arbiter import Arbiter  # noqa: E402
from gunicorn.http.body import LengthReader  # noqa: E402
from gunicorn.workers.ggevent import GeventWorker  # noqa: E402

from ivr.settings import WEB_CONCURRENCY  # noqa: E402

# The statistics' hooks: metrics counted across every worker (prometheus_client's multi-process
# folder, prepared when that module is imported, before the app), and a worker's last counts written.
from ivr.stats.gunicorn import child_exit, on_exit, worker_exit  # noqa: E402, F401 - gunicorn reads them here

worker_class = "ivr.serving.Worker"  # gunicorn's gevent worker, and what follows
workers = WEB_CONCURRENCY.value(os.environ)
# Per worker, idle and slow sockets included: above what a few thousand sockets held open by
# anyone can fill (see docs/deploying.md, "Connections held open"); each costs a few kB when idle.
worker_connections = 6000
preload_app = True
timeout = 20
graceful_timeout = 10
keepalive = 75  # above what load balancers keep idle connections open (60 s on most)
accesslog = None  # an access line names the URL: see docs/privacy.md
control_socket_disable = True  # gunicorn 27's control socket: one path per user, shared by every instance

QUERY = re.compile(r"\?\S*")


class NoQueryStrings(logging.Filter):
    """Cuts query strings out of gunicorn's lines (``Error handling request GET /voice?From=…``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = QUERY.sub("?…", message), ()
        return True


_FORMAT = {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s", "datefmt": "[%Y-%m-%d %H:%M:%S %z]"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_query_strings": {"()": NoQueryStrings}},
    "formatters": {"generic": _FORMAT},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "filters": ["no_query_strings"],
            "stream": "ext://sys.stderr",
        },
        "nowhere": {"class": "logging.NullHandler"},
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        # With a logging configuration gunicorn logs every request here, whatever accesslog says.
        "gunicorn.access": {"level": "INFO", "handlers": ["nowhere"], "propagate": False},
    },
    "root": {"level": "INFO", "handlers": []},
}


def on_reload(arbiter: Arbiter) -> None:
    """``kill -HUP``: load and check the files on disk; take them only if they are valid."""
    from ivr.app import reload_app

    reload_app(arbiter.app.wsgi())


# --- connections: limits, deadlines, counts, and a shutdown that loses nothing -----------------------

BODY_SECONDS = 5.0  # from the end of a request's headers to the end of its body: Twilio's form is one packet
BODY_READ_AHEAD = 64 * 1024  # the app's MAX_CONTENT_LENGTH: a larger body is refused (413) unread
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
REPORT_SECONDS = 60.0  # one summary line per worker per interval (none when nothing connected)
DRAIN_SECONDS = 0.3  # at shutdown: connections the kernel had accepted are taken and served
# Then connections that have sent nothing for this long are closed: a client whose next request was on
# its way when the worker was told to stop has had time to send it (after that, every answer closes).
IDLE_CLOSE_SECONDS = 2.0
MASTER_CLOSE_SECONDS = 0.25  # how long a stopping worker waits to learn whether the master still listens
_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
# Classic BPF on the listening socket, which sees each packet from its TCP header: a packet with the SYN
# flag (a new connection) is dropped; the rest (handshakes under way completing) pass.
_DROP_NEW_CONNECTIONS = b"".join(
    struct.pack("HBBI", *instruction)
    for instruction in (
        (0x30, 0, 0, 13),  # load the byte of TCP flags
        (0x45, 0, 1, 0x02),  # SYN set: next instruction, else skip it
        (0x06, 0, 0, 0),  # drop
        (0x06, 0, 0, 0xFFFFFFFF),  # keep
    )
)


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit (inherited by the workers) to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


open_files = raise_open_file_limit(workers * (worker_connections + 100))


class Counts:
    """What one worker's connections did since the last summary line (no address, no request)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.open, self.peak = capacity, 0, 0
        self.accepted = self.timed_out = self.refused = 0

    def opened(self) -> None:
        self.accepted += 1
        self.open += 1
        self.peak = max(self.peak, self.open)

    def report(self, log: logging.Logger, *, last: bool = False) -> None:
        """One line, then start counting again; nothing when no connection came and none is open."""
        if not (self.accepted or self.open or last):
            return
        names = ("accepted", "timed_out", "refused", "open", "peak", "capacity")
        fields = {name: getattr(self, name) for name in names}
        full = self.peak >= self.capacity  # new connections waited in the kernel's queue, or were dropped there
        event = "connections: every slot was taken" if full else "connections"
        log.log(logging.WARNING if full else logging.INFO, event, extra={"connections": fields})
        self.accepted = self.timed_out = self.refused = 0
        self.peak = self.open


class _Wait:
    """gunicorn's wait for a request's headers (``keepalive`` seconds), counted when it runs out.

    While it waits, the connection is in ``waiting``: at shutdown those with nothing to read are closed.
    """

    def __init__(self, seconds: float, expired: Callable[[], None], waiting: dict[Any, _Wait]) -> None:
        self.timer, self.expired, self.waiting, self.closing = gevent.Timeout(seconds), expired, waiting, False
        self.since = time.monotonic()

    def __enter__(self) -> None:
        self.waiting[gevent.getcurrent()] = self
        self.timer.start()

    def __exit__(self, kind: object, error: object, traceback: object) -> bool:
        self.timer.close()
        self.waiting.pop(gevent.getcurrent(), None)
        if error is self.timer:
            if not self.closing:
                self.expired()
            return True  # gunicorn reads "no request" and closes the connection
        return False


class DeadlineBody:
    """A request's body (gunicorn's ``wsgi.input``) whose reads end at a deadline.

    Past it a read raises ``TimeoutError``: werkzeug takes that for a client gone and answers 400,
    and the connection is closed after that answer, so its greenlet is free again.
    """

    def __init__(self, body: Any, req: Any, deadline: float, expired: Callable[[], None]) -> None:
        self.body, self.req, self.deadline, self.expired, self.ended = body, req, deadline, expired, False

    def _within(self, read: Callable[..., Any], *args: Any) -> Any:
        timer = gevent.Timeout(max(self.deadline - time.monotonic(), 0.0))
        timer.start()
        try:
            return read(*args)
        except gevent.Timeout as error:
            if error is not timer:
                raise
            self.req.force_close()
            self.expired()
            raise TimeoutError(f"the request's body did not arrive within {BODY_SECONDS:g} s") from None
        finally:
            timer.close()

    def read(self, size: int | None = None) -> bytes:
        data: bytes = self._within(self.body.read, size)
        self.ended = self.ended or not data and size != 0
        return data

    def readline(self, size: int | None = None) -> bytes:
        data: bytes = self._within(self.body.readline, size)
        self.ended = self.ended or not data and size != 0
        return data

    def readlines(self, size: int | None = None) -> list[bytes]:
        return [line for line in iter(lambda: self.readline(), b"")][: size or None]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def complete(self) -> bool:
        """Whether nothing of the body is left on the connection (else the next request cannot be read)."""
        reader = self.body.reader
        return self.ended or (isinstance(reader, LengthReader) and reader.length == 0)


def master_listens(listeners: Iterable[socket.socket]) -> bool:
    """Whether the master still holds one of ``listeners`` open: a reload or a worker replaced, not a
    shutdown. True when it cannot be told (then the listening socket is left as it is)."""
    inodes = {f"socket:[{os.fstat(s.fileno()).st_ino}]" for s in listeners}
    folder = f"/proc/{os.getppid()}/fd"
    try:
        return any(os.readlink(f"{folder}/{fd}") in inodes for fd in os.listdir(folder))
    except OSError:
        return True


def unread_bytes(client: socket.socket) -> int:
    """How many bytes the kernel holds for ``client`` that nobody has read (without reading or waiting)."""
    pending = bytearray(4)
    fcntl.ioctl(client.fileno(), termios.FIONREAD, pending)
    return int.from_bytes(pending, "little")


def refuse_new_connections(listener: socket.socket) -> None:
    """Make the kernel drop new connections to ``listener`` (they are refused once it is closed); handshakes
    under way complete, and what the kernel accepted stays in its queue for :meth:`Worker.handle_exit` to serve."""
    if listener.family not in (socket.AF_INET, socket.AF_INET6):
        return  # the filter reads TCP flags; a Unix socket is left as it is
    program = ctypes.create_string_buffer(_DROP_NEW_CONNECTIONS)
    count = len(_DROP_NEW_CONNECTIONS) // 8
    listener.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, struct.pack("HL", count, ctypes.addressof(program)))


class Worker(GeventWorker):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's gevent worker, with deadlines and counts on its connections and a shutdown that loses nothing."""

    wsgi: Callable[..., Any]

    def init_process(self) -> None:
        from ivr.logs import get_logger

        self.counts, self.ivr_log = Counts(self.worker_connections), get_logger()
        self.waiting: dict[Any, _Wait] = {}  # connection's greenlet -> its wait for a request
        self.clients: dict[Any, Any] = {}  # connection's greenlet -> its socket
        self.stopping = False
        self.taken = Group()  # connections taken from the listening socket's queue at shutdown
        if open_files < self.worker_connections + 100:
            self.ivr_log.warning(
                "the open-file limit is below worker_connections: connections past it are refused; raise LimitNOFILE",
                extra={"count": open_files},
            )
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app = self.wsgi

        def close_unread(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            answer = app(environ, start_response)
            body = environ.get("wsgi.input")
            if isinstance(body, DeadlineBody) and not body.complete():
                body.req.force_close()  # answered without reading it all (a 403, a 413): close, rather than wait for the rest
            return answer

        self.wsgi = close_unread

    def run(self) -> None:
        """gunicorn's gevent worker's loop, but with gevent's own ``max_accept``.

        gunicorn sets it to 1 when there are several workers, to spread connections between them. Measured
        here (``bench/shutdown.py``, two workers), that left 26 to 40 of wrk's 50 busy keep-alive clients'
        connections waiting in the kernel's queue for seconds, and a reload's reconnections for over 15 s.
        """
        reporter = gevent.spawn(self._report_every, REPORT_SECONDS)
        servers = []
        try:
            for listener in self.sockets:
                listener.setblocking(1)
                # TLS ends at the proxy or the platform's router, as a rule; kept for a gunicorn certfile.
                tls = {"ssl_context": gunicorn.sock.ssl_context(self.cfg)} if self.cfg.is_ssl else {}
                handle = functools.partial(self.handle, listener)
                server = StreamServer(listener, handle=handle, spawn=Pool(self.worker_connections), **tls)
                server.start()
                servers.append(server)
            while self.alive:
                self.notify()
                gevent.sleep(1.0)
            for server in servers:
                server.close()  # stop accepting; what is in progress is answered
            deadline = time.monotonic() + self.cfg.graceful_timeout
            while any(server.pool.free_count() != server.pool.size for server in servers) or self.taken:
                if time.monotonic() >= deadline:
                    self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
                    break
                self.notify()
                gevent.sleep(0.1)
            for server in servers:
                server.stop(timeout=1)
            self.taken.kill(timeout=1)
        finally:
            reporter.kill()
            self.counts.report(self.ivr_log, last=True)

    def _report_every(self, seconds: float) -> None:
        while True:
            gevent.sleep(seconds)
            self.counts.report(self.ivr_log)

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        self.counts.opened()
        self.clients[gevent.getcurrent()] = client
        try:
            super().handle(listener, client, addr)
        finally:
            self.counts.open -= 1
            self.clients.pop(gevent.getcurrent(), None)

    def timeout_ctx(self) -> _Wait:
        return _Wait(self.cfg.keepalive, self._timed_out, self.waiting)

    def _timed_out(self) -> None:
        self.counts.timed_out += 1

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        """A body of up to ``BODY_READ_AHEAD`` bytes (Twilio's are 1 to 2 kB) is read before the app sees the
        request, within ``BODY_SECONDS``: one that does not arrive costs a waiting greenlet and a 408, not
        a request in the app. A larger one is the app's to refuse, and its reads end at the same deadline."""
        deadline = time.monotonic() + BODY_SECONDS
        reader = req.body.reader
        if isinstance(reader, LengthReader) and 0 < (expected := reader.length) <= BODY_READ_AHEAD:
            body = None
            with gevent.Timeout(BODY_SECONDS, False):
                body = req.body.read()
            if body is None:
                self._timed_out()
                sock.sendall(REQUEST_TIMEOUT)
                raise StopIteration()  # gunicorn closes the connection
            if len(body) < expected:  # the client closed before the end: nobody to answer
                raise StopIteration()
            req.body = io.BytesIO(body)
        else:
            req.body = DeadlineBody(req.body, req, deadline, self._timed_out)
        if self.stopping:
            req.force_close()  # answered, then closed: the client takes its next request elsewhere
        return super().handle_request(listener_name, req, sock, addr)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        self.counts.refused += 1  # not a request we take: a malformed or oversized one (gunicorn answers 4xx)
        super().handle_error(req, client, addr, exc)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: stop, losing nothing that was given. gunicorn answers every request in progress (with
        ``Connection: close``) for up to ``graceful_timeout``; what it would drop is the connections the
        kernel had accepted but no worker had taken yet, reset when the last listening socket closes.
        On a shutdown (the master no longer listens) new connections are dropped by the kernel first,
        then those accepted are taken and served for ``DRAIN_SECONDS``; on a reload the listening socket
        stays open for the new workers, which take them."""
        if not self.stopping:  # sent twice when the whole process group is told: once is enough
            self.stopping = True
            gevent.spawn(self._stop_gracefully)

    def _stop_gracefully(self) -> None:
        listeners = list(self.sockets)
        deadline = time.monotonic() + MASTER_CLOSE_SECONDS
        while master_listens(listeners) and time.monotonic() < deadline:
            gevent.sleep(0.02)  # the master may be told at the same moment (a whole process group stopped)
        if not master_listens(listeners):
            try:
                for listener in listeners:
                    refuse_new_connections(listener)
            except OSError:
                pass  # no socket filters here: what arrives in the last instant may be reset
            gevent.sleep(DRAIN_SECONDS)  # handshakes under way complete meanwhile
            for listener in listeners:
                self._take_waiting(listener)
        self.alive = False
        while True:
            self._close_idle()
            gevent.sleep(0.25)

    def _take_waiting(self, listener: Any) -> None:
        """Accept every connection waiting in ``listener``'s queue, at once: under steady keep-alive traffic
        gevent's server leaves some there for seconds, and closing the socket would reset them."""
        while True:
            try:
                fd, addr = listener._accept()
            except (BlockingIOError, InterruptedError):
                return
            client = socket.socket(listener.family, listener.type, listener.proto, fileno=fd)
            self.taken.spawn(self.handle, listener, client, addr)

    def _close_idle(self) -> None:
        """Close the connections that have waited ``IDLE_CLOSE_SECONDS`` for a request with nothing to read:
        the worker then exits without waiting out ``graceful_timeout``. One whose request has begun to
        arrive is answered first; one that has just had its answer may still be sending its next request."""
        now = time.monotonic()
        for greenlet, wait in list(self.waiting.items()):
            if now - wait.since < IDLE_CLOSE_SECONDS:
                continue
            client = self.clients.get(greenlet)
            try:
                if client is None or unread_bytes(client):
                    continue
            except OSError:
                pass  # already closed: ending its wait frees it
            wait.closing = True
            greenlet.kill(wait.timer, block=False)  # ends the wait as its time-out would: no answer, a clean close
