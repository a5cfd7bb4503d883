"""Counting on the request path, writing off it.

The request path only adds to an in-memory :class:`~ivr.stats.batch.Batch` under a lock
held for microseconds. A background loop swaps the batch out every ``interval`` seconds
and writes it in one transaction, in a real OS thread: under gunicorn's gevent workers
the loop is a greenlet and the write goes to a gevent thread pool of one thread (a database driver
blocks the thread it runs in, and in a gevent worker that would be every request);
under a sync or threaded server the loop is a plain thread. Either way a request never
waits for the database.

SQLAlchemy is imported by the first write, in that thread, so that it does not delay
the start of a worker.

A write that fails, or that takes longer than ``write_timeout`` (a server that accepts
connections but answers nothing), loses its batch: the events are counted as dropped
(the ``on_dropped`` callback: a metric and a warning line), never retried, so memory stays
bounded. While a write hangs, later batches are dropped too, until it returns.

Processes: gunicorn may load the app in its master and fork workers from it. Threads do
not survive a fork, so the loop starts in the process that records first, and a process
that finds itself forked starts afresh (its own batch, loop and connections).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ivr.logs import get_logger
from ivr.settings import DEFAULT_RETENTION_DAYS
from ivr.stats.batch import Batch
from ivr.stats.events import CallEnd, TurnEvent

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = get_logger()
_RECORDERS: weakref.WeakSet[Recorder] = weakref.WeakSet()  # the recorders that run in this process


def close_all() -> None:
    """Write what every recorder of this process counted (gunicorn's worker_exit: see ivr.stats.gunicorn)."""
    for recorder in list(_RECORDERS):
        recorder.close()


def gevent_patched() -> bool:
    """Whether gevent has replaced threading (gunicorn's gevent worker, or ivr.serving)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


class OffLoop:
    """Runs blocking calls in a real OS thread and waits for them without blocking other requests."""

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads  # under gevent, calls run at most this many at once; the others wait their turn
        self._gevent = gevent_patched()
        self._executor: ThreadPoolExecutor | None = None
        self._pool: Any = None  # gevent's ThreadPool, under gevent

    def run(self, fn: Callable[[], object], timeout: float) -> bool:
        """Run ``fn``; True when it finished within ``timeout`` (its exception is raised), False when it
        is still running (it goes on in its thread, and its result is ignored)."""
        if self._gevent:
            import gevent
            from gevent.threadpool import ThreadPool

            if self._pool is None:
                # A thread of our own (not the hub's shared pool): the writes always run in the
                # same thread, whose memory is reused from one write to the next.
                self._pool = ThreadPool(self._threads)
            failed: list[BaseException] = []

            def call() -> None:
                # The exception is handed to the caller, not to gevent, whose hub would print its
                # traceback on stderr (lines that are not JSON) at every failed write.
                try:
                    fn()
                except BaseException as exc:  # noqa: BLE001 - raised again below, in the caller
                    failed.append(exc)

            result = self._pool.spawn(call)
            if not gevent.wait([result], timeout=timeout):
                return False
            if failed:
                raise failed[0]
            return True
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._threads + 1, thread_name_prefix="ivr-stats-db")
        future: Future[object] = self._executor.submit(fn)
        try:
            future.result(timeout=timeout)
        except FutureTimeout:
            return False
        return True


@dataclass(frozen=True)
class RecorderConfig:
    database_url: str
    retention_days: int = DEFAULT_RETENTION_DAYS
    interval: float = 0.5  # seconds between writes: shorter writes hold the interpreter in short bursts
    write_timeout: float = 5.0  # a write slower than this loses its batch
    finish_every: float = 10.0  # seconds between two summings-up of the calls that are over


class Recorder:
    """Statistics for one app: ``turn()`` and ``end()`` on the request path, everything else off it."""

    def __init__(self, config: RecorderConfig, on_dropped: Callable[[int, str], None], clock: Callable[[], float] = time.time):
        self.config = config
        self.on_dropped = on_dropped
        self.clock = clock
        self._pid = -1
        self._lock = threading.Lock()
        self._batch = Batch()
        self._wake = threading.Event()
        self._engine: Engine | None = None
        self._closer: weakref.finalize[[], Recorder] | None = None  # disposes of _engine, once
        self._offloop: OffLoop | None = None
        self._flushing = threading.Lock()  # one flush at a time (the loop's, close()'s, a test's)
        self._busy = False  # a write is running (or hanging) in the OS thread
        self._finished = 0.0  # time.monotonic() of the last summing-up
        self._ready = False  # the schema was checked and the retention applied
        self._checkpoint_owed = False  # a sum-up's checkpoint did not go through (see store.checkpoint)
        self._stopped = False

    # --- the request path -------------------------------------------------------------------------

    def turn(self, event: TurnEvent) -> None:
        self._started()
        with self._lock:
            self._batch.add_turn(event)

    def end(self, event: CallEnd) -> None:
        self._started()
        with self._lock:
            self._batch.add_end(event)

    def _started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # First use in this process (or a fork of the one that had the loop): start afresh.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._batch = Batch()
            self._wake = threading.Event()
            if self._closer is not None:
                self._closer.detach()  # the engine of the process this one was forked from is that process's
            self._engine, self._closer = None, None
            self._offloop = OffLoop()
            self._flushing = threading.Lock()
            self._busy = False
            self._ready = False
            self._stopped = False
            loop_args = (weakref.ref(self), self._pid, self._wake, self.config.interval)
            threading.Thread(target=Recorder._loop, args=loop_args, name="ivr-stats", daemon=True).start()
            _RECORDERS.add(self)

    # --- off the request path ---------------------------------------------------------------------

    @staticmethod
    def _loop(ref: weakref.ref[Recorder], pid: int, wake: threading.Event, interval: float) -> None:
        """Flush every ``interval`` seconds, until the recorder is closed or forgotten (its app is gone)."""
        while True:
            wake.wait(interval)
            wake.clear()
            recorder = ref()
            if recorder is None or recorder._stopped or pid != os.getpid():
                return
            due = time.monotonic() - recorder._finished >= recorder.config.finish_every
            recorder.flush(finish=due)
            del recorder

    def flush(self, timeout: float | None = None, *, finish: bool = True) -> bool:
        """Write what was counted so far (and, with ``finish``, sum up the calls that are over); True when
        it was written."""
        with self._flushing:
            return self._flush(timeout, finish)

    def _flush(self, timeout: float | None, finish: bool) -> bool:
        with self._lock:
            batch, self._batch = self._batch, Batch()
        if batch.overflow:
            self.on_dropped(batch.overflow, "too many calls in progress for one batch")
        if self._busy:
            if batch:
                self.on_dropped(batch.events, "the previous write to the database has not returned")
            return False
        offloop = self._offloop or OffLoop()
        self._busy = True
        done = False
        try:
            done = offloop.run(lambda: self._write(batch, finish), timeout or self.config.write_timeout)
        except Exception as exc:  # noqa: BLE001 - any database error: the batch is lost, calls go on
            self._busy = False
            from ivr.stats.store import StatsNotMigrated

            # Only the type: a driver's message can quote the statement's parameters.
            reason = str(exc) if isinstance(exc, StatsNotMigrated) else f"database error: {type(exc).__name__}"
            self.on_dropped(batch.events, reason)  # 0 events: the warning (rate-limited) still says why
            self._dispose()
            return False
        if not done:
            if batch:
                self.on_dropped(batch.events, "the database did not answer in time")
            return False  # _busy stays set until the hanging write returns (see _write)
        return True

    def _dispose(self) -> None:
        """After a failed write (it has returned: nothing is stuck in it): close the kept connection, take a new one."""
        closer, self._engine, self._closer = self._closer, None, None
        if closer is not None:
            closer()  # disposes of the engine, and forgets it

    def _write(self, batch: Batch, finish: bool) -> None:
        try:
            # Here, not at the top: SQLAlchemy takes longer to import than the app takes to start.
            from ivr.stats import store

            if self._engine is None:
                self._engine = store.make_engine(self.config.database_url)
                # Its kept connection is closed when the recorder goes, or at the next failed write.
                self._closer = weakref.finalize(self, self._engine.dispose)
            now = self.clock()
            with self._engine.begin() as conn:
                if not self._ready:
                    store.check_migrated(conn, self.config.database_url)
                    pruned = store.prune(conn, now, self.config.retention_days)
                    if pruned:
                        log.info("statistics: older hourly counts pruned", extra={"count": pruned})
                if batch:
                    store.write_batch(conn, batch)
                finished = 0
                if finish:
                    finished = store.finish_calls(conn, now)
                    self._finished = time.monotonic()
            self._ready = True
            if finished or self._checkpoint_owed:
                owed = not store.checkpoint(self._engine)
                if owed and not self._checkpoint_owed:
                    log.warning(
                        "statistics: the write-ahead log could not be emptied after a sum-up (busy); tried again at each write"
                    )
                self._checkpoint_owed = owed
        finally:
            self._busy = False

    def close(self) -> None:
        """Write what is left (when a gunicorn worker stops), and stop the loop."""
        if self._pid != os.getpid() or self._stopped:
            return
        self._stopped = True
        self._wake.set()
        self.flush()
        if not self._busy:  # a write still hanging keeps its connection; the process is ending anyway
            self._dispose()
