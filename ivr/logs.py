"""Structured, anonymous logs: one JSON object per line.

Callers of a mental-health line are entitled to anonymity. Log records carry only what
the service decided (route, node, language, outcome, latency) and a keyed hash of the
CallSid, so one call's steps can be followed without identifying it. Never pass a phone
number, the digits pressed or speech text in a record.

Modules log with ``logging.getLogger("ivr")`` (``get_logger()``) and ``extra={…}``;
``configure_logging()`` (called by ``create_app`` and the CLI) puts the JSON handler on it.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

LOGGER_NAME = "ivr"
# Fields a record may carry beyond the message; anything else is dropped by the formatter.
ALLOWED_FIELDS = (
    "route",
    "node",
    "lang",
    "outcome",
    "latency_ms",
    "call",
    "status",
    "error_id",
    "error",
    "count",
    "files",
    "failed",  # this and the next two: the counts of ivr.guard's summary lines
    "refused",
    "clients",
    "connections",
)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)  # one encoder for every line


def call_ref(log_key: bytes, call_sid: str | None) -> str:
    """A stable, anonymous reference to a call (keyed hash of its CallSid)."""
    if not call_sid:
        return "-"
    return hmac.digest(log_key, call_sid.encode("utf-8", "replace"), "sha256").hex()[:16]


class JsonFormatter(logging.Formatter):
    """Formats records as single-line JSON with a fixed set of fields."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        data: dict[str, object] = {"ts": ts, "level": record.levelname.lower(), "event": record.getMessage()}
        for name in ALLOWED_FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            # Type and place only: exception messages can quote request data.
            data["exception"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                data["at"] = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        return _JSON.encode(data)


def get_logger() -> logging.Logger:
    """The service's logger."""
    return logging.getLogger(LOGGER_NAME)


def configure_logging() -> logging.Logger:
    """Write the service's records to stderr as JSON lines (once, however often it is called)."""
    logger = get_logger()
    # Our lines name no thread: records need not look it up (the logging HOWTO's "Optimization").
    # gevent's workers would each be "MainThread" anyway; the process id stays, gunicorn prints it.
    logging.logThreads = False
    logging.logMultiprocessing = False
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return logger


@contextmanager
def quiet_service_logs() -> Iterator[None]:
    """Warnings only from the service's logger, for commands that play calls in-process (``ivr simulate``,
    ``ivr test``): a JSON line per webhook would interleave with what they print."""
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
