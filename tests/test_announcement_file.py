"""The announcement file is read only when it is a regular file of a sane size: a FIFO or a huge file in its place
is no announcement and one warning, and never holds back a call (the Procfile's own process, and the real CLI); nor
does a character no TwiML document may carry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

from ivr.announcements import MAX_FILE_BYTES
from support import CALL, DATA, SERVING_TOKEN, TwiML, free_port, procfile_env, procfile_web, signed_call

ON = {"text": {"nl": "Tele-Onthaal is vanavond erg druk."}, "start": "2026-01-01T00:00+01:00", "end": "2099-12-31T00:00+01:00"}
HUGE = 300 * 1024 * 1024  # a sparse file: its size without the disk space


def to_the_line(base: str) -> tuple[TwiML, float]:
    """A Dutch caller who presses 1, then 0, and every target busy: the answer that says the number (an announcement
    comes after it), and how long the answer to 0 took."""
    welcome = signed_call(base, fields={"To": CALL["To"]})
    action = urlsplit(welcome.gather_action())
    menu = signed_call(base, f"{action.path}?{action.query}", {"Digits": "1"})
    action = urlsplit(menu.gather_action())
    started = time.monotonic()
    answer = signed_call(base, f"{action.path}?{action.query}", {"Digits": "0"})
    took = time.monotonic() - started
    while (dial := answer.root.find("Dial")) is not None:
        action = urlsplit(dial.attrib["action"])
        answer = signed_call(base, f"{action.path}?{action.query}", {"DialCallStatus": "busy"})
    return answer, took


def test_a_fifo_a_huge_file_or_a_forbidden_character_is_no_announcement_one_warning_and_no_wait(tmp_path: Path) -> None:
    file = tmp_path / "announcement.json"
    os.mkfifo(file)  # opened for reading, it would wait for a writer for ever
    env = procfile_env(
        free_port(),
        TWILIO_AUTH_TOKEN=SERVING_TOKEN,
        IVR_CONFIG=str(DATA / "config"),
        IVR_FLOWS=str(DATA / "flows"),
        IVR_ANNOUNCEMENT_FILE=str(file),
    )
    output = tmp_path / "output.log"
    with procfile_web(env, output) as base:
        for _ in range(3):
            answer, took = to_the_line(base)
            assert answer.status == 200 and took < 2 and "druk" not in answer.spoken()
            assert "Bel Tele-Onthaal: 1 0 6." in answer.texts()
        file.unlink()
        with open(file, "wb") as huge:
            huge.truncate(HUGE)
        for _ in range(3):
            answer, took = to_the_line(base)
            assert answer.status == 200 and took < 1 and "druk" not in answer.spoken()
        file.unlink()
        for text in ("Tele-Onthaal is \x01vanavond erg druk.", "Tele-Onthaal is \ud800vanavond erg druk."):
            file.write_text(json.dumps({**ON, "text": {"nl": text}}), encoding="ascii")  # row 37: written by hand
            for _ in range(2):
                answer, _ = to_the_line(base)
                ElementTree.fromstring(answer.body)  # well-formed: Twilio takes it
                assert "druk" not in answer.spoken() and "Bel Tele-Onthaal: 1 0 6." in answer.texts()
            file.unlink()
        file.write_text(json.dumps(ON), encoding="utf-8")
        answer, _ = to_the_line(base)
        texts = answer.texts()
        assert texts.index("Tele-Onthaal is vanavond erg druk.") > texts.index("Bel Tele-Onthaal: 1 0 6.")
    printed = output.read_text(encoding="utf-8")
    assert printed.count("character 17 of the text is U+0001 (a control character)") == 1, printed
    assert printed.count("character 17 of the text is U+D800 (half of a surrogate pair, alone)") == 1, printed
    assert printed.count("is not a regular file (a FIFO, a device or a folder)") == 1, printed
    assert printed.count(f"holds {HUGE:,} bytes; an announcement takes at most {MAX_FILE_BYTES:,}") == 1, printed


def show(file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IVR_ANNOUNCEMENT_FILE": str(file), "IVR_CONFIG": str(DATA / "config"), "IVR_FLOWS": str(DATA / "flows")}
    ivr = str(Path(sys.executable).parent / "ivr")
    return subprocess.run([ivr, "announce", "show"], env=env, capture_output=True, text=True, timeout=30)


def test_ivr_announce_show_says_what_is_wrong_with_a_fifo_a_folder_or_a_huge_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    shown = show(fifo)
    assert shown.returncode == 1 and "is not a regular file" in shown.stderr and "callers hear no announcement" in shown.stderr
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert "is not a regular file" in show(folder).stderr
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as out:
        out.truncate(HUGE)
    shown = show(huge)
    assert shown.returncode == 1 and f"holds {HUGE:,} bytes" in shown.stderr
    link = tmp_path / "link.json"  # a symlink to a regular file is read (where a deploy may keep it)
    (tmp_path / "real.json").write_text(json.dumps(ON), encoding="utf-8")
    link.symlink_to(tmp_path / "real.json")
    shown = show(link)
    assert shown.returncode == 0 and "nl: Tele-Onthaal is vanavond erg druk." in shown.stdout
