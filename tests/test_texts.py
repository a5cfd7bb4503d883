"""The line's number by text message: offered after the line's number and 112 to a caller with a mobile number,
sent once, off the request path, through the real twilio client to a local stand-in for Twilio's Messages API."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from click.testing import CliRunner

from ivr.app import create_app
from ivr.checker import check, check_calls, format_findings
from ivr.cli import main
from ivr.errors import ConfigErrors
from ivr.loader import load_catalog
from ivr.model import Catalog
from ivr.security import sign
from ivr.settings import Settings, SettingsError, TextSettings
from ivr.stats.store import migrate
from ivr.stats.web import STATS
from support import (
    CALL,
    SHIPPED_CONFIG,
    SHIPPED_FLOWS,
    TOKEN,
    TwilioClient,
    TwiML,
    app_for,
    free_port,
    procfile_env,
    procfile_web,
)

ACCOUNT = "AC" + "1" * 32
SENDER = "+32460000001"
CALLER = CALL["From"]  # +32470123456: a Belgian mobile
# Every way the caller's number could be written down: E.164, without "+", national, grouped.
TRACES = ("32470123456", "470123456", "0470123456", "0470 12 34 56", "470 12 34 56", "4 7 0 1 2 3 4 5 6")
BODY_NL = "Tele-Onthaal: bel 106, dag en nacht, gratis en anoniem. Chat 's avonds: tele-onthaal.be"
OFFER_NL = "Om dit nummer in een sms te krijgen, druk op hekje."
ON_ITS_WAY_NL = "Een bericht met het nummer is onderweg. Het nummer is 1 0 6."


@dataclass
class StandIn:
    """Twilio's Messages API as a local HTTP server: what it received, and what it answers."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 201
    answer: dict[str, Any] = field(default_factory=dict)
    hold: threading.Event | None = None  # set: answer; unset: keep the request waiting (a slow API)
    answered: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    found: list[StandIn] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            api = found[0]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            api.received.append({"path": self.path, "form": parse_qs(raw), "authorization": self.headers.get("Authorization")})
            if api.hold is not None:
                api.hold.wait(10)
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            body = api.answer or {
                "sid": "SM" + "2" * 32,
                "account_sid": ACCOUNT,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
            }
            data = json.dumps(body).encode()
            self.send_response(api.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            api.answered.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.append(StandIn(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found[0]
    if found[0].hold is not None:
        found[0].hold.set()
    server.shutdown()
    server.server_close()


def text_settings(stand_in: StandIn, countries: tuple[str, ...] = ()) -> TextSettings:
    return TextSettings(ACCOUNT, (ACCOUNT, TOKEN), SENDER, "", countries, stand_in.url)


@pytest.fixture
def texting(settings: Settings, stand_in: StandIn, tmp_path: Path) -> TwilioClient:
    return app_for(replace(settings, texts=text_settings(stand_in), metrics_token="mt"), tmp_path)


def counted(client: TwilioClient, outcome: str) -> float:
    """The text messages counted with ``outcome`` on /metrics (this process's, every test's)."""
    page = client.client.get("/metrics", headers={"Authorization": "Bearer mt"}).get_data(as_text=True)
    found = f'ivr_turns_total{{outcome="text_{outcome}",route="text_message"}} '
    return sum(float(line.removeprefix(found)) for line in page.splitlines() if line.startswith(found))


def to_the_line(twilio: TwilioClient, lang_key: str = "1", **fields: str) -> TwiML:
    """A caller who chooses a language, then stays silent: the line's number and 112, then the gather."""
    welcome = twilio.post("/voice", fields)
    first = twilio.follow(welcome.gather_action(), lang_key, **fields)
    return twilio.follow(first.redirect(), None, **fields)


def wait_for(event: threading.Event) -> None:
    assert event.wait(10), "the stand-in got no request"


def settle(client: TwilioClient) -> None:
    """Until the send under way has been counted."""
    texts = client.client.application.extensions["ivr"].texts
    assert texts is not None and texts.wait(10)


# --- what the caller hears, and the one request Twilio receives -------------------------------------------


def test_the_key_sends_one_message_with_the_line_and_the_caller_hears_the_number_again(
    texting: TwilioClient, twilio: TwilioClient, stand_in: StandIn, valid_twiml: Callable[..., TwiML]
) -> None:
    told = valid_twiml(to_the_line(texting))
    said = told.spoken()
    assert OFFER_NL in said and "Er verschijnt dan een bericht op je telefoon." in said
    # After the line's number and 112, which are said exactly as without texts: no budget moves.
    assert said.index("bel 1 1 2") < said.index(OFFER_NL)
    assert said.startswith(to_the_line(twilio).spoken().split(" Druk op 9")[0])
    sent = valid_twiml(texting.follow(told.gather_action(), "#"))
    assert sent.status == 200
    assert sent.texts()[0] == ON_ITS_WAY_NL
    assert sent.state()["sms"] == "1"
    settle(texting)
    assert len(stand_in.received) == 1
    request = stand_in.received[0]
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request["form"] == {"To": [CALLER], "From": [SENDER], "Body": [BODY_NL]}
    assert request["authorization"] == "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    # Once per call: no offer any more, and the key only says the number again.
    again = texting.follow(sent.gather_action(), "9")
    assert OFFER_NL not in again.spoken() and again.state()["sms"] == "1"
    twice = texting.follow(again.gather_action(), "#")
    assert ON_ITS_WAY_NL not in twice.spoken() and "1 0 6" in twice.spoken()
    settle(texting)
    assert len(stand_in.received) == 1


def test_a_messaging_service_sends_instead_of_a_number(settings: Settings, stand_in: StandIn, tmp_path: Path) -> None:
    service = "MG" + "3" * 32
    texts = replace(text_settings(stand_in), sender="", messaging_service=service)
    client = app_for(replace(settings, texts=texts), tmp_path)
    client.follow(to_the_line(client, "2").gather_action(), "#")
    settle(client)
    form = stand_in.received[0]["form"]
    assert form["MessagingServiceSid"] == [service] and "From" not in form
    body = "Télé-Accueil : appelez le 107, jour et nuit, gratuitement et anonymement."
    assert form["Body"] == [f"{body} Tchat l'après-midi et le soir : tele-accueil.be"]


@pytest.mark.parametrize(
    ("caller", "countries"),
    [
        ("anonymous", ()),
        ("", ()),
        ("+266696687", ()),  # Twilio's "anonymous" caller ID
        ("+3243123456", ()),  # a Liège landline: +324, one digit fewer
        ("+3225550199", ()),  # a Brussels landline
        ("+31612345678", ()),  # a Dutch mobile, with no allow-list
        ("+31612345678", ("+33",)),
        ("client:alice", ("+31",)),
    ],
)
def test_no_offer_and_no_message_without_a_mobile_number(
    settings: Settings, stand_in: StandIn, tmp_path: Path, caller: str, countries: tuple[str, ...]
) -> None:
    client = app_for(replace(settings, texts=text_settings(stand_in, countries)), tmp_path)
    told = to_the_line(client, From=caller)
    assert OFFER_NL not in told.spoken()
    pressed = client.follow(told.gather_action(), "#", From=caller)
    assert ON_ITS_WAY_NL not in pressed.spoken() and "1 0 6" in pressed.spoken()
    time.sleep(0.2)
    assert stand_in.received == []


def test_a_foreign_mobile_is_offered_a_text_with_its_country_allowed(
    settings: Settings, stand_in: StandIn, tmp_path: Path
) -> None:
    client = app_for(replace(settings, texts=text_settings(stand_in, ("+31",))), tmp_path)
    told = to_the_line(client, From="+31612345678")
    assert OFFER_NL in told.spoken()
    client.follow(told.gather_action(), "#", From="+31612345678")
    settle(client)
    assert stand_in.received[0]["form"]["To"] == ["+31612345678"]


def test_off_by_default_nowhere_before_a_language_nor_in_the_rescue(twilio: TwilioClient, texting: TwilioClient) -> None:
    # Off: the shipped settings have no TWILIO_ACCOUNT_SID and no sender.
    assert "hekje" not in to_the_line(twilio).spoken()
    # On, but no language chosen: every line's number (every_line), the fallback, the rescue.
    welcome = texting.post("/voice")
    every = texting.follow(welcome.redirect())
    assert "1 0 6" in every.spoken() and "hekje" not in every.spoken() and "SMS" not in every.spoken()
    assert "hekje" not in texting.post("/voice/fallback").spoken()
    broken = texting.post("/voice/step?flow=helpline&lang=nl&node=listening_line&t=0&ni=0&wk=0", {"Digits": "#"})
    assert broken.status == 200
    assert Settings.from_env({"TWILIO_AUTH_TOKEN": TOKEN}).texts is None
    assert Settings.from_env({"TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT}).texts is None


def test_the_settings_turn_texts_on_and_refuse_what_cannot_work() -> None:
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT, "IVR_SMS_FROM": SENDER, "IVR_SMS_COUNTRIES": "+31, +33"}
    texts = Settings.from_env(env).texts
    assert texts is not None and texts.sender == SENDER and texts.countries == ("+31", "+33")
    assert TOKEN not in repr(texts)
    for name, value, said in (
        ("IVR_SMS_FROM", "0460000001", "IVR_SMS_FROM"),
        ("IVR_SMS_MESSAGING_SERVICE", "MGnot-a-sid", "IVR_SMS_MESSAGING_SERVICE"),
        ("IVR_SMS_COUNTRIES", "31", "IVR_SMS_COUNTRIES"),
        ("IVR_SMS_COUNTRIES", "+32", "IVR_SMS_COUNTRIES"),
        ("IVR_TWILIO_API_URL", "http://api.example.org", "IVR_TWILIO_API_URL"),
    ):
        with pytest.raises(SettingsError, match=said):
            Settings.from_env(env | {name: value})
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env({"IVR_DEV_MODE": "1", "TWILIO_ACCOUNT_SID": ACCOUNT, "IVR_SMS_FROM": SENDER})


# --- Twilio refuses, or is slow: the caller never knows, the logs never hold the number ----------------------


# Twilio's own error bodies: their messages quote the number.
REFUSALS = [
    (21408, f"Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {CALLER}."),
    (21211, f"Invalid 'To' Phone Number: {CALLER[:6]}XXXX"),  # Twilio's docs mask it; the live API does not always
    (21610, f"Attempt to send to unsubscribed recipient {CALLER}"),
    (21614, f"'To' number {CALLER} is not a valid mobile number"),
]


@pytest.mark.parametrize(("code", "message"), REFUSALS)
def test_a_refused_send_is_counted_and_logs_neither_the_number_nor_twilios_text(
    texting: TwilioClient, stand_in: StandIn, json_log: io.StringIO, code: int, message: str
) -> None:
    stand_in.status = 400
    stand_in.answer = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": 400}
    before = counted(texting, "refused")
    sent = texting.follow(to_the_line(texting).gather_action(), "#")
    assert sent.texts()[0] == ON_ITS_WAY_NL  # the caller is told the same, whatever Twilio says
    settle(texting)
    log = json_log.getvalue()
    refused = [json.loads(line) for line in log.splitlines() if "text message not sent" in line]
    assert [(line["outcome"], line["error"]) for line in refused] == [("text_refused", code)]
    assert message.split()[0] not in log and "twilio.com/docs" not in log
    assert not [trace for trace in TRACES if trace in log]
    assert counted(texting, "refused") == before + 1


def test_the_webhook_answers_before_a_slow_api_does(texting: TwilioClient, stand_in: StandIn) -> None:
    stand_in.hold = threading.Event()
    told = to_the_line(texting)
    started = time.monotonic()
    sent = texting.follow(told.gather_action(), "#")
    took = time.monotonic() - started
    assert sent.status == 200 and sent.texts()[0] == ON_ITS_WAY_NL
    wait_for_request = time.monotonic() + 5
    while not stand_in.received and time.monotonic() < wait_for_request:
        time.sleep(0.01)
    assert stand_in.received, "the send never started"
    assert not stand_in.answered.is_set(), "the stand-in answered before the webhook did"
    assert took < 1.0
    stand_in.hold.set()
    wait_for(stand_in.answered)
    settle(texting)


# --- privacy: the caller's number nowhere --------------------------------------------------------------------


def test_the_callers_number_is_nowhere_after_a_text(
    settings: Settings, stand_in: StandIn, tmp_path: Path, json_log: io.StringIO
) -> None:
    url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    migrate(url)
    texted = replace(settings, texts=text_settings(stand_in), database_url=url, admin_password="pw", metrics_token="mt")
    app = create_app(replace(texted, audio_dir=tmp_path / "no-audio"))
    client = TwilioClient(app.test_client())
    before = counted(client, "accepted")
    client.follow(to_the_line(client).gather_action(), "#")
    settle(client)
    assert len(stand_in.received) == 1
    client.post("/voice/status", {"CallStatus": "completed", "CallDuration": "75"})
    recorder = app.extensions[STATS].recorder
    assert recorder is not None and recorder.flush()
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:pw").decode()}
    admin = app.test_client().get("/admin?days=1", headers=auth)
    assert admin.status_code == 200
    pages = admin.get_data(as_text=True)
    metrics = app.test_client().get("/metrics", headers={"Authorization": "Bearer mt"}).get_data(as_text=True)
    assert counted(client, "accepted") == before + 1
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("stats.sqlite3*"))
    assert b"text_accepted" in stored  # the probe reads the database: the outcome is counted there
    for where, text in (
        ("log", json_log.getvalue()),
        ("/admin", pages),
        ("/metrics", metrics),
        ("database", stored.decode("latin-1")),
    ):
        assert not [trace for trace in TRACES if trace in text], where


# --- the flow: one key used nowhere else; the checker's budgets unchanged ----------------------------------------


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("0", "already the talk-now key"),
        ("9", "already the repeat key"),
        ("1", "already the key that chooses nl in every menu"),
        ("5", "already an option of first_menu"),
    ],
)
def test_the_loader_refuses_a_text_key_used_elsewhere(tmp_path: Path, key: str, said: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (SHIPPED_FLOWS / "helpline.yaml").read_text(encoding="utf-8")
    (flows / "helpline.yaml").write_text(
        text.replace('text_message:\n  key: "#"', f'text_message:\n  key: "{key}"'), encoding="utf-8"
    )
    with pytest.raises(ConfigErrors) as refused:
        load_catalog(SHIPPED_CONFIG, flows)
    assert "text_message.key" in str(refused.value) and said in str(refused.value)
    assert "fix: choose a key used nowhere else: #" in str(refused.value)


def test_the_caller_checkers_budgets_are_those_of_the_flow_without_texts() -> None:
    catalog = load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)
    assert all(flow.text_message is not None for flow in catalog.flows.values())
    without = Catalog(catalog.settings, catalog.helplines, {n: replace(f, text_message=None) for n, f in catalog.flows.items()})
    report = format_findings(catalog, check(catalog))
    assert report == format_findings(without, check(without))
    validated = CliRunner().invoke(main, ["validate"], env={"IVR_DEV_MODE": "1"})
    assert validated.exit_code == 0, validated.output
    assert report in validated.output


def test_ivr_simulate_with_the_key_sends_exactly_one_message_and_keeps_no_number(stand_in: StandIn, tmp_path: Path) -> None:
    db = tmp_path / "stats.sqlite3"
    env = {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "IVR_SMS_FROM": SENDER,
        "IVR_TWILIO_API_URL": stand_in.url,
        "IVR_STATS_DB": str(db),
        "IVR_AUDIO_DIR": str(tmp_path / "no-audio"),
    }
    assert CliRunner().invoke(main, ["stats", "migrate"], env=env).exit_code == 0
    called = CliRunner().invoke(main, ["simulate", "--keys", "1,,#", "--from", CALLER], env=env)
    assert called.exit_code == 0, called.output
    assert "onderweg" in called.output
    assert len(stand_in.received) == 1
    assert stand_in.received[0]["form"] == {"To": [CALLER], "From": [SENDER], "Body": [BODY_NL]}
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("stats.sqlite3*")).decode("latin-1")
    assert "text_accepted" in stored
    stats = CliRunner().invoke(main, ["stats", "--days", "1"], env=env).output
    for where, text in (("output", called.output), ("database", stored), ("ivr stats", stats)):
        assert not [trace for trace in TRACES if trace in text], where


@pytest.mark.serving
def test_the_procfiles_gevent_worker_sends_off_the_request_path(stand_in: StandIn, tmp_path: Path) -> None:
    """gunicorn's gevent worker, as deployed: the key's answer comes before the slow stand-in's, the send then
    arrives once, and nothing the process prints holds the caller's number."""
    token = "serving-token"
    env = procfile_env(
        free_port(),
        TWILIO_AUTH_TOKEN=token,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        IVR_SMS_FROM=SENDER,
        IVR_TWILIO_API_URL=stand_in.url,
        IVR_STATISTICS="off",
    )
    stand_in.hold = threading.Event()
    output = tmp_path / "output.log"

    def post(base: str, path: str, digits: str | None = None) -> TwiML:
        form = {**CALL, **({"Digits": digits} if digits is not None else {})}
        signature = sign(token, base + path, form)
        request = urllib.request.Request(base + path, urlencode(form).encode(), {"X-Twilio-Signature": signature})
        with urllib.request.urlopen(request, timeout=15) as response:
            return TwiML(response.status, response.headers["Content-Type"], response.read().decode())

    def relative(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.path}?{parts.query}"

    with procfile_web(env, output) as base:
        welcome = post(base, "/voice")
        first = post(base, relative(welcome.gather_action()), "1")
        told = post(base, relative(first.redirect()))
        assert OFFER_NL in told.spoken()
        started = time.monotonic()
        sent = post(base, relative(told.gather_action()), "#")
        assert time.monotonic() - started < 1.0 and sent.texts()[0] == ON_ITS_WAY_NL
        assert not stand_in.answered.is_set()
        stand_in.hold.set()
        wait_for(stand_in.answered)
        assert post(base, relative(sent.gather_action()), "9").status == 200  # the worker still answers
    assert [r["form"] for r in stand_in.received] == [{"To": [CALLER], "From": [SENDER], "Body": [BODY_NL]}]
    printed = output.read_text(encoding="utf-8")
    assert '"outcome":"text_message"' in printed  # the probe reads the process's output
    assert not [trace for trace in TRACES if trace in printed]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ('"{name:line}, a helpline in English: {number:line}. Chat {chat_hours:line}."', "has no chat_hours"),
        ('"{name:line}, a helpline in English: 02 648 40 14."', "02 648 40 14"),
        ('"{name:line}: {number:nowhere}."', "unknown placeholder {number:nowhere}"),
    ],
)
def test_the_loader_refuses_a_message_with_a_number_typed_or_a_missing_field(tmp_path: Path, body: str, said: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (SHIPPED_FLOWS / "helpline.yaml").read_text(encoding="utf-8")
    english = '    en: "{name:line}, a helpline in English: {number:line}."\n'
    assert english in text
    (flows / "helpline.yaml").write_text(text.replace(english, f"    en: {body}\n"), encoding="utf-8")
    with pytest.raises(ConfigErrors) as refused:
        load_catalog(SHIPPED_CONFIG, flows)
    assert "text_message.body.en" in str(refused.value) and said in str(refused.value)


def test_the_caller_checker_refuses_a_text_key_used_elsewhere_too() -> None:
    # A catalog built without the loader (as a test or a tool may): the checker holds the key to the same rule.
    catalog = load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)
    assert check_calls(catalog) == []
    flow = catalog.flows["helpline"]
    assert flow.text_message is not None
    for key, said in (
        ("0", "the talk-now key"),
        ("4", "the key that chooses en in every menu"),
        ("8", "an option of first_menu"),
    ):
        taken = replace(flow, text_message=replace(flow.text_message, key=key))
        found = check_calls(Catalog(catalog.settings, catalog.helplines, {"helpline": taken}))
        assert [(e.path, e.message) for e in found] == [("text_message.key", f"the text-message key is already {said}")]
