"""Operator announcements: a short message per language, with a start and an end, set without a deploy.

An announcement ("Télé-Accueil is very busy tonight") lives where every instance of the service
sees it: the ``IVR_ANNOUNCEMENT`` variable on a PaaS (changing it restarts the app, with no build),
or the file named by ``IVR_ANNOUNCEMENT_FILE`` on a VM (read again whenever it changes). It is read
and checked each time: a broken one means no announcement and a warning, never a broken call.
``ivr announce`` writes and checks it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from ivr.characters import HINT as CHARACTER_HINT
from ivr.characters import forbidden
from ivr.number_guard import typed_numbers

MAX_CHARS = 200  # a sentence or two: it is said before the line's number, whose budget it shares
MAX_FILE_BYTES = 64 * 1024  # far more than 200 characters in every language, escaped as JSON
DIGIT = re.compile(r"\d")  # every number a caller hears comes from config/helplines.yaml, never from here


class AnnouncementError(ValueError):
    """An announcement that cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Announcement:
    """What to say, per language, between ``start`` and ``end`` (aware datetimes)."""

    text: Mapping[str, str]
    start: datetime
    end: datetime

    def active(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def to_json(self) -> str:
        return json.dumps(
            {"text": dict(self.text), "start": self.start.isoformat(), "end": self.end.isoformat()}, ensure_ascii=False
        )


def _instant(raw: object, name: str) -> datetime:
    if not isinstance(raw, str):
        raise AnnouncementError(f"'{name}' must be a date and time like 2026-12-24T18:00+01:00")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise AnnouncementError(f"'{name}' {raw!r} is not a date and time like 2026-12-24T18:00+01:00") from None
    if value.tzinfo is None:
        raise AnnouncementError(f"'{name}' {raw!r} has no time zone: add it, e.g. +01:00 (winter) or +02:00 (summer)")
    return value


def parse(raw: str, languages: tuple[str, ...], numbers: Mapping[str, str] = MappingProxyType({})) -> Announcement:
    """An announcement from its JSON text; raises :class:`AnnouncementError` saying what is wrong.

    ``numbers``: each line's number as digits, to its id (see :func:`ivr.number_guard.line_numbers`), which the
    text may not spell either.
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise AnnouncementError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"text", "start", "end"}:
        raise AnnouncementError('expected {"text": {"fr": "…"}, "start": "…", "end": "…"} and nothing else')
    texts = data["text"]
    if not isinstance(texts, dict) or not texts:
        raise AnnouncementError('\'text\' must give the words per language, e.g. {"fr": "…"}')
    for lang, text in texts.items():
        if lang not in languages:
            raise AnnouncementError(f"'text' has language {lang!r}, which is not offered ({', '.join(languages)})")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHARS:
            raise AnnouncementError(f"the {lang} text must be 1 to {MAX_CHARS} characters")
        problem = forbidden(text)
        if problem is not None:
            raise AnnouncementError(f"the {lang} text: {problem}; {CHARACTER_HINT}")
        if DIGIT.search(text):
            raise AnnouncementError(
                f"the {lang} text has a digit: numbers callers hear come only from config/helplines.yaml, "
                "and the line's number follows the announcement anyway"
            )
        spelled = typed_numbers([(text, False)], numbers, lang)  # numbers in words: "één nul zes", "honderdvijf"
        if spelled:
            raise AnnouncementError(
                f"the {lang} text: {spelled[0][0].replace('the prompt', 'it')}: numbers callers hear come only from "
                "config/helplines.yaml, and the line's number follows the announcement anyway"
            )
    start, end = _instant(data["start"], "start"), _instant(data["end"], "end")
    if end <= start:
        raise AnnouncementError("'end' must come after 'start'")
    return Announcement(MappingProxyType({k: " ".join(v.split()) for k, v in texts.items()}), start, end)


NOT_REGULAR = "is not a regular file (a FIFO, a device or a folder): write it with `ivr announce set`"


def read_file(path: Path, info: os.stat_result) -> str:
    """The text of the announcement file described by ``info``; raises :class:`AnnouncementError` or OSError.

    Read only when it is a regular file of at most ``MAX_FILE_BYTES``: a FIFO (or a device) would block the
    worker that answers calls, and a huge file would stall it. ``O_NONBLOCK`` and the check after opening
    cover a file swapped for a FIFO in between.
    """
    if not stat.S_ISREG(info.st_mode):
        raise AnnouncementError(f"{path} {NOT_REGULAR}")
    if info.st_size > MAX_FILE_BYTES:
        raise AnnouncementError(f"{path} holds {info.st_size:,} bytes; an announcement takes at most {MAX_FILE_BYTES:,}")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise AnnouncementError(f"{path} {NOT_REGULAR}")
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise AnnouncementError(f"{path} holds more than {MAX_FILE_BYTES:,} bytes; an announcement takes at most that")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnnouncementError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None


@dataclass
class AnnouncementSource:
    """Where the announcement is read from: a value set at start (``IVR_ANNOUNCEMENT``) or a file, read again when it changes.

    ``current()`` is called on every call that reaches a line; what it read is kept until the file
    changes, so a broken announcement is warned about once, not on every call.
    """

    languages: tuple[str, ...]
    value: str | None = None
    file: Path | None = None
    numbers: Mapping[str, str] = field(default_factory=dict)  # the lines' numbers (see parse)
    _seen: object = None
    _current: Announcement | None = None

    def current(self) -> tuple[Announcement | None, str | None]:
        """The announcement (None: there is none), and a warning the first time one cannot be used."""
        raw: str | None = self.value
        seen: object = ("value", self.value)
        if self.file is not None:
            try:
                info = os.stat(self.file)  # follows a symlink; opens nothing
            except FileNotFoundError:
                self._seen, self._current = None, None
                return None, None  # no file: no announcement, and nothing wrong
            except OSError as exc:
                return self._refused(("stat", exc.errno), f"announcement file cannot be read: {exc}")
            seen = (info.st_dev, info.st_ino, info.st_mode, info.st_mtime_ns, info.st_size)
            if seen == self._seen:
                return self._current, None
            try:
                raw = read_file(self.file, info)
            except AnnouncementError as exc:
                return self._refused(seen, f"announcement ignored: {exc}")
            except OSError as exc:
                return self._refused(seen, f"announcement file cannot be read: {exc}")
        if seen == self._seen:
            return self._current, None
        self._seen, self._current = seen, None
        if not raw or not raw.strip():
            return None, None
        try:
            self._current = parse(raw, self.languages, self.numbers)
        except AnnouncementError as exc:
            return None, f"announcement ignored: {exc}"
        return self._current, None

    def _refused(self, seen: object, warning: str) -> tuple[None, str | None]:
        """No announcement; the warning only when this is new (the same broken file is not warned about on every call)."""
        if seen == self._seen:
            return None, None
        self._seen, self._current = seen, None
        return None, warning
