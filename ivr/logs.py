"""Structured, anonymous logs: one JSON object per line.

Callers of a mental-health line are entitled to anonymity. Log records carry only what
the service decided (route, node, language, outcome, latency) and a keyed hash of the
CallSid, so one call's steps can be followed without identifying it. Never pass a phone
number, the digits pressed or speech text to these functions.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
import time
from collections.abc import Mapping

LOGGER_NAME = "ivr"
# Fields a record may carry beyond the message; anything else is dropped by the formatter.
ALLOWED_FIELDS = ("route", "node", "lang", "outcome", "latency_ms", "call", "status", "error_id", "error", "count", "files")


def call_ref(log_key: bytes, call_sid: str | None) -> str:
    """A stable, anonymous reference to a call (keyed hash of its CallSid)."""
    if not call_sid:
        return "-"
    return hmac.digest(log_key, call_sid.encode("utf-8", "replace"), "sha256").hex()[:16]


# One encoder for every line (json.dumps with options builds a new one per call); str() for
# anything unexpected, so that a log line never fails.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _utc(created: float, _last: list[tuple[int, str]] = [(-1, "")]) -> str:  # noqa: B006 - the cache, on purpose
    """``created`` as 2024-01-31T12:00:00.123Z; the part up to the second is formatted once per second."""
    second = int(created)
    cached, text = _last[0]
    if cached != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last[0] = (second, text)
    return f"{text}.{int((created - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats records as single-line JSON with a fixed set of fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {"ts": _utc(record.created), "level": record.levelname.lower(), "event": record.getMessage()}
        attributes = record.__dict__
        for name in ALLOWED_FIELDS:
            if name in attributes:
                data[name] = attributes[name]
        if record.exc_info and record.exc_info[0] is not None:
            # Type and place only: exception messages can quote request data.
            data["exception"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                data["at"] = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        return _ENCODER.encode(data)


def emit(logger: logging.Logger, level: int, event: str, fields: Mapping[str, object], exc: BaseException | None = None) -> None:
    """Log one event with ``fields`` (names from ALLOWED_FIELDS), as ``logger.log`` would, minus its cost.

    ``logger.log`` looks up the calling file and line on every call, which the JSON lines never
    show; on the webhook's hot path that lookup costs more than the rest of the record.
    """
    if logger.isEnabledFor(level):
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
        logger.handle(logger.makeRecord(logger.name, level, "", 0, event, (), exc_info, extra=dict(fields)))


def get_logger() -> logging.Logger:
    """The service's logger, writing JSON lines to stderr once configured."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_ivr_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._ivr_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = True
    return logger
