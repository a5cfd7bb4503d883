"""Operator announcements: checked each time they are read; a broken one is no announcement and a warning."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.announcements import Announcement, AnnouncementError, AnnouncementSource, parse

LANGS = ("nl", "fr", "de", "en")
BUSY = (
    '{"text": {"fr": "Télé-Accueil est très sollicité ce soir."}, '
    '"start": "2026-11-30T18:00+01:00", "end": "2026-12-01T06:00+01:00"}'
)


def test_an_announcement_is_active_between_start_and_end() -> None:
    announcement = parse(BUSY, LANGS)
    assert announcement.text == {"fr": "Télé-Accueil est très sollicité ce soir."}
    assert not announcement.active(datetime(2026, 11, 30, 16, 59, tzinfo=UTC))  # 17:59 in Brussels
    assert announcement.active(datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    assert not announcement.active(datetime(2026, 12, 1, 5, 0, tzinfo=UTC))  # 06:00 in Brussels: over
    assert parse(announcement.to_json(), LANGS) == announcement


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{", "not JSON"),
        ("[" * 5000 + "]" * 5000, "not JSON"),  # nested too deep: an error, not a crash
        ('{"text": {"fr": "x"}, "start": "2026-11-30T18:00+01:00"}', "nothing else"),
        ('{"text": {"xx": "x"}, "start": "2026-11-30T18:00+01:00", "end": "2026-12-01T06:00+01:00"}', "not offered"),
        ('{"text": {"fr": "Appelez le 107"}, "start": "2026-11-30T18:00+01:00", "end": "2026-12-01T06:00+01:00"}', "digit"),
        ('{"text": {"fr": "Appelez le ١٠٧"}, "start": "2026-11-30T18:00+01:00", "end": "2026-12-01T06:00+01:00"}', "digit"),
        ('{"text": {"fr": "x"}, "start": "2026-11-30T18:00", "end": "2026-12-01T06:00+01:00"}', "no time zone"),
        ('{"text": {"fr": "x"}, "start": "tonight", "end": "2026-12-01T06:00+01:00"}', "not a date and time"),
        ('{"text": {"fr": "x"}, "start": "2026-12-01T06:00+01:00", "end": "2026-11-30T18:00+01:00"}', "after 'start'"),
        ('{"text": {"fr": "' + "x" * 201 + '"}, "start": "2026-11-30T18:00+01:00", "end": "2026-12-01T06:00+01:00"}', "1 to 200"),
    ],
)
def test_a_broken_announcement_says_what_is_wrong(raw: str, fragment: str) -> None:
    with pytest.raises(AnnouncementError, match=fragment):
        parse(raw, LANGS)


def test_a_file_is_read_again_when_it_changes_and_a_broken_one_warns_once(tmp_path: Path) -> None:
    file = tmp_path / "announcement.json"
    source = AnnouncementSource(LANGS, file=file)
    assert source.current() == (None, None)  # no file: nothing, and nothing wrong
    file.write_text(BUSY, encoding="utf-8")
    found, warning = source.current()
    assert isinstance(found, Announcement) and warning is None
    file.write_text("{broken", encoding="utf-8")
    os.utime(file, ns=(1, 1))  # a different modification time, whatever the file system's resolution
    found, warning = source.current()
    assert found is None and warning is not None and "not JSON" in warning
    assert source.current() == (None, None)  # the same broken file: no warning on every call
    file.unlink()
    assert source.current() == (None, None)


def test_a_value_from_the_environment_is_read_once(tmp_path: Path) -> None:
    source = AnnouncementSource(LANGS, value=BUSY.replace("très", "tres"))
    first = source.current()
    assert first[0] is not None and source.current() == (first[0], None)
    broken = AnnouncementSource(LANGS, value='{"text": {}}')
    assert broken.current()[1] is not None and broken.current() == (None, None)


def test_a_file_that_cannot_be_read_warns_once_until_it_changes(tmp_path: Path) -> None:
    file = tmp_path / "announcement.json"
    file.write_bytes(BUSY.replace("très", "tr\xe8s").encode("latin-1"))  # saved as Latin-1, not UTF-8
    source = AnnouncementSource(LANGS, file=file)
    found, warning = source.current()
    assert found is None and warning is not None and "not UTF-8" in warning
    assert source.current() == (None, None)  # not once per call
    file.write_text(BUSY, encoding="utf-8")
    assert source.current()[0] is not None
