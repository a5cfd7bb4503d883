"""No secret on a path that is neither signed by Twilio nor behind the operators' password.

The secrets: a SIP target's username and password, and the lines' transfer targets (numbers
and SIP addresses the lines gave the helpline, not for publication). Every route of the app is
requested, with every method, without a signature and without credentials, on the Procfile's
own process; operator pages show the targets masked and never a SIP credential.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.app import create_app
from ivr.cli import main
from ivr.settings import Settings
from ivr.stats.store import migrate
from support import CALL, DATA, PUBLIC, TOKEN, TwilioClient, TwiML, free_port, procfile_env, procfile_web

USERNAME, PASSWORD = "nacht-user", "s3cr3t-Pa55-for-the-pbx"
NIGHT, DAY = "sip:nacht@pbx.tele-onthaal.example", "sip:dag@pbx.tele-onthaal.example"
DUTCH_NUMBER, FRENCH_NUMBER = "+3290000001", "+3290000002"
SECRETS = (USERNAME, PASSWORD, NIGHT.removeprefix("sip:"), DAY.removeprefix("sip:"), DUTCH_NUMBER[1:], FRENCH_NUMBER[1:])
ADMIN, METRICS = "operators-pw-4821", "metrics-token-7730"
CALLED = "+3225550101"  # tests/data/config's called number (French); any other To gets the Dutch line's rescue


def config_with_targets(tmp_path: Path) -> Path:
    """tests/data/config with tests/data/transfers' lines, and a private number for Télé-Accueil too."""
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    text = (DATA / "transfers" / "helplines.yaml").read_text(encoding="utf-8")
    old = "    hours: jour et nuit\n"
    assert old in text
    (config / "helplines.yaml").write_text(text.replace(old, old + f'    transfer_to: ["{FRENCH_NUMBER}"]\n'), encoding="utf-8")
    return config


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"operator:{password}".encode()).decode()


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


# --- every route, every method, on the Procfile's process ------------------------------------------------

QUERY = urlencode({"line": "tele_onthaal", "flow": "mini", "lang": "nl", "node": "line", "t": "0", "days": "1"})
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PATH_VALUES = {"filename": "simulator.js", "lang": "nl", "name": "0" * 64}


def paths(app: Flask) -> Iterator[str]:
    """Each rule of the app with plausible values in its variables, with and without a query."""
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<path:{name}>", PATH_VALUES[name]).replace(f"<{name}>", PATH_VALUES[name])
        assert "<" not in path, rule.rule
        yield path
        yield f"{path}?{QUERY}"


def bodies() -> Iterator[tuple[bytes, dict[str, str]]]:
    """What a request may carry: nothing, Twilio's form for our number, another number, none, and JSON."""
    yield b"", {}
    form = "application/x-www-form-urlencoded"
    for to in (CALLED, "+3225550100", ""):
        fields = {**CALL, "To": to, "Digits": "0", "DialCallStatus": "busy", "ErrorCode": "11200"}
        yield urlencode(fields).encode(), {"Content-Type": form}
        yield urlencode(fields).encode(), {"Content-Type": form, "X-Twilio-Signature": "forged="}
    yield json.dumps({"to": CALLED}).encode(), {"Content-Type": "application/json"}


def sweep(base: str, paths: list[str], headers: dict[str, str]) -> list[tuple[str, str, int, str]]:
    """(method, path, status, everything answered) for every path, method and body."""
    address = urlsplit(base)
    answers = []
    for path in paths:
        for method in METHODS:
            for body, more in bodies() if method not in ("GET", "HEAD") else [(b"", {})]:
                connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=15)
                try:
                    connection.request(method, path, body=body or None, headers={**headers, **more})
                    response = connection.getresponse()
                    head = "".join(f"{name}: {value}\n" for name, value in response.getheaders())
                    text = head + response.read().decode("utf-8", errors="replace")
                finally:
                    connection.close()
                answers.append((method, path, response.status, text))
    return answers


@pytest.mark.slow
def test_no_route_answers_a_secret_without_a_signature_or_the_operators_password(tmp_path: Path) -> None:
    config = config_with_targets(tmp_path)
    variables = {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_PUBLIC_URL": PUBLIC,
        "IVR_CONFIG": str(config),
        "IVR_FLOWS": str(DATA / "flows"),
        "IVR_SIP_TO_NIGHT_USERNAME": USERNAME,
        "IVR_SIP_TO_NIGHT_PASSWORD": PASSWORD,
        "IVR_ADMIN_PASSWORD": ADMIN,
        "IVR_METRICS_TOKEN": METRICS,
        "IVR_LOG_KEY": "log-key-for-the-secrets-test",
    }
    every = sorted(set(paths(create_app(Settings.from_env(variables)))))
    assert "/voice/fallback" in every and "/admin/stats.csv" in every and "/simulator/api/step" in every
    env = procfile_env(free_port(), **variables)
    migrate(f"sqlite:///{env['IVR_STATS_DB']}")  # as the Procfile's release step does
    output = tmp_path / "output.log"
    with procfile_web(env, output) as base:
        strangers = sweep(base, every, {})
        operators = sweep(base, every, {"Authorization": basic(ADMIN)})
        operators += sweep(base, ["/metrics"], {"Authorization": f"Bearer {METRICS}"})
        walked = walk_the_simulator_to_a_transfer(base)
        # Last: wrong passwords lock the simulator for a minute, even for the right one.
        wrong = sweep(base, ["/admin", "/metrics", "/simulator", "/simulator/api/call"], {"Authorization": basic("guess")})
    for method, path, status, text in strangers + wrong + operators:
        assert status < 500, (method, path, status, text)
        assert not leaked(text), (method, path, status, leaked(text), text)
    assert not leaked(output.read_text(encoding="utf-8"))
    # The sweep reached what it is about: the fallback answered, pages were refused or shown.
    fallback = [text for method, path, status, text in strangers if path == "/voice/fallback" and method in ("GET", "POST")]
    assert fallback and all("1 1 2" in text and "<Dial" not in text for text in fallback)
    pages = ("/admin", "/admin/stats.csv", "/metrics", "/simulator", "/simulator/diagram")
    assert {status for method, path, status, text in strangers if method == "GET" and path.split("?")[0] in pages} == {401}
    assert any(path == "/simulator" and status == 200 and "…01" in text for method, path, status, text in operators)
    assert any(path == "/admin" and status == 200 for method, path, status, text in operators)
    assert walked["number"] in ("sip:…le", "…01") and not leaked(json.dumps(walked))


def test_no_page_of_the_service_may_be_framed_by_another_site(tmp_path: Path) -> None:
    """Every route, asked by a stranger and by an operator: each HTML answer forbids framing (the simulator places
    calls, /admin shows what the line does); TwiML and the other answers are left as they are."""
    variables = {"TWILIO_AUTH_TOKEN": TOKEN, "IVR_PUBLIC_URL": PUBLIC, "IVR_ADMIN_PASSWORD": ADMIN, "IVR_METRICS_TOKEN": METRICS}
    app = create_app(replace(Settings.from_env(variables), database_url=f"sqlite:///{tmp_path / 'stats.sqlite3'}"))
    migrate(f"sqlite:///{tmp_path / 'stats.sqlite3'}")
    client = app.test_client()
    kinds: set[str] = set()
    for path in sorted(set(paths(app))):
        for headers in ({}, {"Authorization": basic(ADMIN)}):
            with client.get(path, headers=headers) as answer:
                kinds.add(answer.mimetype)
                if answer.mimetype == "text/html":
                    assert answer.headers.get("X-Frame-Options") == "DENY", (path, answer.status_code)
                    assert answer.headers.get("Content-Security-Policy") == "frame-ancestors 'none'", path
                else:
                    assert "X-Frame-Options" not in answer.headers, (path, answer.mimetype)
    assert {"text/html", "text/xml"} <= kinds  # /admin and /simulator were shown, and the fallback's TwiML


def walk_the_simulator_to_a_transfer(base: str) -> dict[str, str]:
    """An operator's call in /simulator: Dutch, then talk now, until a target rings."""
    address = urlsplit(base)
    headers = {"Authorization": basic(ADMIN), "Content-Type": "application/json"}

    def post(path: str, body: dict[str, str]) -> dict[str, object]:
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=15)
        try:
            connection.request("POST", path, body=json.dumps(body).encode(), headers=headers)
            text = connection.getresponse().read().decode()
        finally:
            connection.close()
        assert not leaked(text), text
        return json.loads(text)  # type: ignore[no-any-return]

    answer = post("/simulator/api/call", {})
    for digits in ("1", "0"):
        action = next(v["action"] for v in answer["verbs"] if v["verb"] == "gather")  # type: ignore[attr-defined]
        answer = post("/simulator/api/step", {"call": str(answer["call"]), "url": action, "digits": digits})
    return next(v for v in answer["verbs"] if v["verb"] == "dial")  # type: ignore[attr-defined, no-any-return]


# --- Twilio still gets what it needs -------------------------------------------------------------------


@pytest.fixture
def app(settings: Settings, tmp_path: Path) -> Flask:
    credentials = {"TO_NIGHT": (USERNAME, PASSWORD)}
    return create_app(
        replace(settings, config_dir=config_with_targets(tmp_path), flows_dir=DATA / "flows", sip_credentials=credentials)
    )


def dial_of(answer: TwiML) -> list[tuple[str, str, dict[str, str]]]:
    dial = answer.root.find("Dial")
    assert dial is not None, answer.body
    return [(child.tag, (child.text or "").strip(), dict(child.attrib)) for child in dial]


def test_a_signed_fallback_still_rings_every_target_with_its_credentials(twilio: TwilioClient, valid_twiml) -> None:
    dutch = valid_twiml(twilio.post("/voice/fallback", {"To": "+3225550100"}))  # not ours: the first line's rescue
    sip = {"username": USERNAME, "password": PASSWORD}
    assert [(tag, address) for tag, address, _ in dial_of(dutch)] == [("Sip", NIGHT), ("Number", DUTCH_NUMBER), ("Sip", DAY)]
    assert dial_of(dutch)[0][2] == sip and dutch.root.find("Dial").attrib["callerId"] == CALLED  # type: ignore[union-attr]
    french = valid_twiml(twilio.post("/voice/fallback", {"To": CALLED}))
    assert [address for _, address, _ in dial_of(french)] == [FRENCH_NUMBER]
    assert "1 1 2" in french.spoken() and french.verbs()[-1] == "Hangup"


def test_the_same_fallback_unsigned_says_the_numbers_and_112_only(twilio: TwilioClient, valid_twiml) -> None:
    for signature in ("", "forged="):
        for to in (CALLED, "+3225550100"):
            answer = valid_twiml(twilio.post("/voice/fallback", {"To": to}, signature=signature))
            assert set(answer.verbs()) == {"Say", "Hangup"} and "1 0 6" in answer.spoken() and "1 1 2" in answer.spoken()
            assert not leaked(answer.body), answer.body
    assert not leaked(twilio.client.get("/voice/fallback").get_data(as_text=True))


def test_a_signed_request_that_fails_gets_the_rescue_that_rings(
    twilio: TwilioClient, valid_twiml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ivr.engine.Engine.start", lambda *a, **k: 1 / 0)
    answer = valid_twiml(twilio.post("/voice", {"To": CALLED}))
    assert [address for _, address, _ in dial_of(answer)] == [FRENCH_NUMBER]


# --- what operators see ---------------------------------------------------------------------------------


def test_the_simulator_shows_targets_masked_and_never_a_sip_credential(settings: Settings, tmp_path: Path) -> None:
    credentials = {"TO_NIGHT": (USERNAME, PASSWORD)}
    config = config_with_targets(tmp_path)
    app = create_app(
        replace(settings, config_dir=config, flows_dir=DATA / "flows", sip_credentials=credentials, admin_password=ADMIN)
    )
    app.extensions["ivr"].engine.clock = lambda: datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Sunday 01:30: the night PBX
    client = app.test_client()
    auth = {"Authorization": basic(ADMIN)}
    page = client.get("/simulator", headers=auth).get_data(as_text=True)
    diagram = client.get("/simulator/diagram?flow=mini&lang=nl", headers=auth).get_data(as_text=True)
    for html in (page, diagram):
        assert "sip:…le" in html and "…01" in html and not leaked(html), leaked(html)
    welcome = client.post("/simulator/api/call", json={}, headers=auth).get_json()
    answer = welcome
    for digits in ("1", "0"):
        action = next(v for v in answer["verbs"] if v["verb"] == "gather")["action"]
        answer = client.post(
            "/simulator/api/step", json={"call": welcome["call"], "url": action, "digits": digits}, headers=auth
        ).get_json()
    ring = next(v for v in answer["verbs"] if v["verb"] == "dial")
    assert ring["number"] == "sip:…le" and ring["whisper"] == "Een oproep via het keuzemenu van de hulplijnen."
    shown = answer["twiml"]
    assert 'password="(set in the environment)"' in shown and 'username="(set in the environment)"' in shown, shown
    assert ">sip:…le</Sip>" in shown, shown
    assert not leaked(json.dumps(answer, ensure_ascii=False)), answer["twiml"]


# --- the export, served by a host that checks nobody -----------------------------------------------------


def export(config: Path, *options: str) -> tuple[str, dict[str, TwiML]]:
    folder = config.parent / "out"
    shutil.rmtree(folder, ignore_errors=True)
    args = ["fallback", "export", str(folder), "--config", str(config), "--flows", str(DATA / "flows")]
    result = CliRunner(env={"IVR_SIP_TO_NIGHT_USERNAME": USERNAME, "IVR_SIP_TO_NIGHT_PASSWORD": PASSWORD}).invoke(
        main, [*args, *options]
    )
    assert result.exit_code == 0, result.output
    return result.output, {p.name: TwiML(200, "text/xml", p.read_text(encoding="utf-8")) for p in folder.iterdir()}


def test_the_export_only_speaks_unless_asked_and_never_holds_sip_credentials(
    tmp_path: Path, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    config = config_with_targets(tmp_path)
    output, files = export(config)
    assert set(files) == {"fallback.xml", "fallback-3225550101.xml"}
    for answer in files.values():
        valid_twiml(answer)
        assert set(answer.verbs()) == {"Say", "Hangup"} and not leaked(answer.body), answer.body
    output, files = export(config, "--with-private-targets")
    default, french = files["fallback.xml"], files["fallback-3225550101.xml"]
    for answer in files.values():
        valid_twiml(answer)
        assert USERNAME not in answer.body and PASSWORD not in answer.body and NIGHT not in answer.body
        assert "http" not in answer.body and answer.verbs()[-1] == "Hangup"
    assert [(tag, address) for tag, address, _ in dial_of(default)] == [("Number", DUTCH_NUMBER), ("Sip", DAY)]
    assert [(tag, address) for tag, address, _ in dial_of(french)] == [("Number", FRENCH_NUMBER)]
    assert default.root.find("Dial").attrib["callerId"] == CALLED  # type: ignore[union-attr]
    assert f"not rung by these files (SIP targets with credentials): {NIGHT}" in output
    assert PASSWORD not in output and USERNAME not in output
