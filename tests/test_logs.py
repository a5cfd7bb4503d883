"""Logs are JSON lines a call can be followed by, and nothing in them says who called or what they pressed."""

from __future__ import annotations

import io
import json
import logging
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask

from ivr.app import create_app
from ivr.logs import ALLOWED_FIELDS, JsonFormatter, call_ref
from ivr.security import sign
from ivr.settings import Settings
from ivr.simulate import Ring
from support import CALL, DATA, TwilioClient, TwiML, free_port, procfile_env, procfile_web

LOG_KEY = b"test-log-key"
REQUIRED = {"ts", "level", "event", "route", "node", "lang", "outcome", "latency_ms", "call"}
ALLOWED = {"ts", "level", "event", "exception", "at", *ALLOWED_FIELDS}

# Everything Twilio tells us about a caller, with values that cannot appear in a log by chance.
CALLER = {
    "From": "+32470123456",
    "Caller": "+32470123456",
    "To": "+3225550100",
    "Called": "+3225550100",
    "FromCity": "KORTRIJK",
    "FromZip": "8500",
    "CallerName": "Jan Peeters",
    "ForwardedFrom": "+32470999888",
}
SPEECH = "Ik heet Jan Peeters en ik woon in de Kerkstraat twaalf"
ODD_KEYS = "4815162342"  # a wrong key press of ten digits: the digits must not reach the log


def forbidden(pressed: list[str]) -> list[str]:
    """Strings no log line may contain: numbers in every form, the CallSid, what was pressed and said."""
    numbers = ["+32470123456", "32470123456", "0470123456", "470123456", "+3225550100", "3225550100", "025550100"]
    numbers += ["+32470999888", "470999888"]
    sids = [CALL["CallSid"], CALL["CallSid"][2:], CALL["AccountSid"]]
    said = [SPEECH, "Peeters", "Kerkstraat", "KORTRIJK"]
    sequences = ["".join(pressed), ODD_KEYS, "١٢"]
    return numbers + sids + said + sequences


def lines_of(buffer: io.StringIO) -> list[dict[str, object]]:
    text = buffer.getvalue()
    assert text.endswith("\n"), text[-200:]
    return [json.loads(line) for line in text.splitlines()]  # every line is one JSON object


@pytest.fixture
def mini(settings: Settings) -> Flask:
    return create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", log_key=LOG_KEY))


def whole_call(caller: TwilioClient, pressed: list[str], monkeypatch: pytest.MonkeyPatch, app: Flask) -> list[str]:
    """A call through every path: silence, wrong keys, menus, repeat, transfers failing, the number, a crash."""
    outcomes = []

    def follow(answer: TwiML, digits: str | None = None, **fields: str) -> TwiML:
        if digits is not None:
            pressed.append(digits)
            url = answer.gather_action()
        elif "DialCallStatus" in fields:
            url = answer.dial().action or ""
        else:
            url = answer.redirect()
        next_answer = caller.follow(url, digits, **CALLER, **fields)
        assert next_answer.status == 200, next_answer.body
        outcomes.append(next_answer.body)
        return next_answer

    answer = caller.post("/voice", CALLER)
    answer = follow(answer)  # silence at the welcome
    answer = follow(answer, ODD_KEYS)  # ten keys at once: a wrong key
    answer = follow(answer, "1")  # Nederlands
    answer = follow(answer, "3", SpeechResult=SPEECH)  # the breathing message (and speech Twilio transcribed)
    answer = follow(answer, "9")  # again
    answer = follow(answer)  # silence: back to the menu
    answer = follow(answer, "7")  # a wrong key
    answer = follow(answer, "١٢")  # Arabic-Indic digits: wrong again, so on to the line
    assert answer.read.first(Ring) is not None, answer.body
    answer = follow(answer, DialCallStatus="busy")  # the second transfer target
    answer = follow(answer, DialCallStatus="no-answer")  # nobody: the number is said
    answer = follow(answer, "9")  # the number again
    follow(answer)  # silence: the call ends
    assert caller.post("/voice/fallback", {**CALLER, "ErrorCode": "11200"}).status == 200
    assert caller.post("/voice/step?lang=nl&node=main", {**CALLER, "Digits": "3"}, signature="forged").status == 403
    # A number configured for GET: everything Twilio sends is in the query string. Refused.
    query = urlencode({**CALL, **CALLER, "Digits": "5"})
    path = f"/voice/step?flow=mini&lang=nl&ni=0&node=main&t=0&wk=0&{query}"
    get = caller.client.get(path, headers={"X-Twilio-Signature": sign(caller.token, caller.public + path, {})})
    assert get.status_code == 405
    pressed.append("5")

    def explode(*args: object) -> None:
        raise RuntimeError(f"caller {CALLER['From']} pressed {ODD_KEYS} and said {SPEECH}")

    monkeypatch.setattr(app.extensions["ivr"].engine, "on_input", explode)
    assert caller.post("/voice/step?flow=mini&lang=nl&node=main", {**CALLER, "Digits": ODD_KEYS}).status == 200
    return outcomes


def test_a_whole_call_logs_one_json_line_per_request_and_nothing_about_the_caller(
    mini: Flask, json_log: io.StringIO, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, at every level
    pressed: list[str] = []
    whole_call(TwilioClient(mini.test_client()), pressed, monkeypatch, mini)

    text = json_log.getvalue()
    everything = lines_of(json_log)
    for bad in forbidden(pressed):
        assert bad not in text, f"{bad!r} is in the log"
    # The two failed transfers of this one call are 2 of 2 in the window: the in-process alert says so, once.
    alerts = [line for line in everything if line["event"].startswith("alert: ")]
    assert [line["event"] for line in alerts] == ["alert: transfers are failing: 2 of the last 2 attempts in 15 minutes"], text
    lines = [line for line in everything if line not in alerts]
    # One line per request: 13 in the call, the fallback, the refusal, the refused GET and the crash.
    assert len(lines) == 17, text
    for line in lines:
        assert REQUIRED <= set(line), line
        assert set(line) <= ALLOWED, line
        if line.get("status") != 405:  # refused by routing, before any work is timed
            assert isinstance(line["latency_ms"], float) and 0 <= line["latency_ms"] < 5000, line
    # The call can be followed by its keyed hash, which is not the CallSid.
    assert {line["call"] for line in lines if line["outcome"] != "forbidden"} == {call_ref(LOG_KEY, CALL["CallSid"])}
    assert {line["call"] for line in lines if line["outcome"] == "forbidden"} == {"-"}  # an unsigned form is not read
    outcomes = [line["outcome"] for line in lines]
    assert outcomes[:4] == ["start", "no_input", "wrong_key", "language"]
    assert {"option", "repeat", "retries_exhausted", "transfer_failed", "end_after_number"} <= set(outcomes)
    assert outcomes[-4:] == ["fallback", "forbidden", "forbidden", "rescue"]
    assert [line["route"] for line in lines][-4:] == ["fallback", "step", "step", "step"]
    assert [line["level"] for line in lines][-4:] == ["warning", "warning", "warning", "error"]
    assert [line.get("status") for line in lines][-3:-1] == [403, 405]
    crash = lines[-1]
    assert crash["exception"] == "RuntimeError" and str(crash["at"]).startswith("test_logs.py:")
    assert len(str(crash["error_id"])) == 12

    # Whatever any other library logged (Flask, werkzeug, twilio) carries nothing either.
    others = "\n".join(logging.Formatter().format(r) for r in caplog.records if r.name != "ivr")
    for bad in forbidden(pressed):
        assert bad not in others


def test_the_call_reference_is_a_keyed_hash() -> None:
    sid = CALL["CallSid"]
    assert call_ref(b"key-1", sid) == call_ref(b"key-1", sid)
    assert call_ref(b"key-1", sid) != call_ref(b"key-2", sid)  # without the key, the hash cannot be matched to a CallSid
    assert call_ref(b"key-1", sid) != call_ref(b"key-1", sid[:-1] + "0")
    assert sid not in call_ref(b"key-1", sid) and len(call_ref(b"key-1", sid)) == 16
    assert call_ref(b"key-1", None) == call_ref(b"key-1", "") == "-"


def test_the_log_key_comes_from_the_environment() -> None:
    token = {"TWILIO_AUTH_TOKEN": "token"}
    assert Settings.from_env(token | {"IVR_LOG_KEY": "from-config"}).log_key == b"from-config"
    derived = Settings.from_env(token).log_key
    assert derived and derived != b"token"  # derived from the token, never the token itself
    assert Settings.from_env({"TWILIO_AUTH_TOKEN": "other"}).log_key != derived


def test_exception_messages_and_unknown_fields_never_reach_a_line() -> None:
    record = logging.LogRecord("ivr", logging.ERROR, __file__, 1, "webhook failed", (), None)
    try:
        raise ValueError(f"bad digits {ODD_KEYS} from {CALLER['From']}")
    except ValueError:
        record.exc_info = sys.exc_info()
    record.route, record.From, record.digits = "step", CALLER["From"], ODD_KEYS
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["exception"] == "ValueError" and data["route"] == "step"
    assert "From" not in data and "digits" not in data
    assert ODD_KEYS not in line and CALLER["From"] not in line


@pytest.mark.serving
def test_the_procfile_process_writes_only_json_lines_without_caller_data(tmp_path: Path) -> None:
    """The real thing: gunicorn as the Procfile runs it, a whole call over HTTP, then all it printed."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = procfile_env(port, TWILIO_AUTH_TOKEN="log-token", IVR_PUBLIC_URL=base)
    env |= {"IVR_CONFIG": str(DATA / "config"), "IVR_FLOWS": str(DATA / "flows"), "IVR_LOG_KEY": "procfile-log-key"}
    output = tmp_path / "output.log"
    pressed: list[str] = []

    def post(path: str, fields: dict[str, str], signature: str | None = None) -> tuple[int, str]:
        form = {**CALL, **CALLER, **fields}
        request = urllib.request.Request(
            base + path,
            data=urlencode(form).encode(),
            method="POST",
            headers={"X-Twilio-Signature": signature or sign("log-token", base + path, form)},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as refused:
            refused.close()
            return refused.code, ""

    with procfile_web(env, output):
        status, body = post("/voice", {})
        for digits in ("1", ODD_KEYS, "1", "9", "0"):
            answer = TwiML(status, "text/xml", body)
            action = urlsplit(answer.gather_action())
            pressed.append(digits)
            status, body = post(f"{action.path}?{action.query}", {"Digits": digits, "SpeechResult": SPEECH})
            assert status == 200, body
        assert post("/voice/fallback", {})[0] == 200
        assert post("/voice", {}, signature="forged")[0] == 403

    printed = output.read_text(encoding="utf-8")
    for bad in forbidden(pressed):
        assert bad not in printed, f"{bad!r} is in the process output"
    assert "POST /voice" not in printed  # gunicorn's access log stays off
    ours = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    requests = [line for line in ours if "route" in line]
    assert len(requests) == 8, printed
    signed = [line for line in requests if line["outcome"] != "forbidden"]
    assert {line["call"] for line in signed} == {call_ref(b"procfile-log-key", CALL["CallSid"])}
    # Everything else is gunicorn's own start and stop lines.
    for line in printed.splitlines():
        assert line.startswith("{") or "[INFO]" in line, line
