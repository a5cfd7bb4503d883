"""Shared fixtures: an app built from test settings, and a client that signs like Twilio."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import xmlschema
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from ivr.app import create_app
from ivr.guard import flush_all
from ivr.logs import JsonFormatter, configure_logging
from ivr.security import sign
from ivr.settings import Settings
from ivr.simulate import Listen, ReadAnswer, Redirect, Ring, query_of, read_twiml

if TYPE_CHECKING:  # Playwright is imported by the browser tests only: the others start quicker without it
    from playwright.sync_api import Browser

pytest_plugins = ["stats_db"]  # the statistics tests' databases: SQLite, and a PostgreSQL server of their own

# Property tests: "ci" (the default, and what `make test` runs) is fixed-seed and repeatable;
# HYPOTHESIS_PROFILE=long explores far more inputs, for local runs.
hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.register_profile(
    "long",
    max_examples=50_000,
    deadline=None,
    print_blob=True,  # a failure prints @reproduce_failure(...) to replay it
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The markers (pyproject.toml) of tests that take one of these fixtures, so that `make test-fast` leaves them out
# even when they were not marked by hand.
MARKER_OF_FIXTURE = {"browser": "browser", "postgres": "postgres", "own_postgres": "postgres"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in set(getattr(item, "fixturenames", ())) & MARKER_OF_FIXTURE.keys():
            item.add_marker(MARKER_OF_FIXTURE[fixture])


ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://ivr.example.org"
CALL = {
    "CallSid": "CA0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "+32470123456",
    "To": "+3225550100",
    "CallStatus": "in-progress",
    "ApiVersion": "2010-04-01",
    "Direction": "inbound",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's TWILIO_* or IVR_* variables or DATABASE_URL, and what a test's app
    records goes to a statistics database of the test's own: never to the checkout's stats.sqlite3 (which
    `make run` shows) nor to the developer's database."""
    import os

    for name in list(os.environ):
        if name.startswith(("TWILIO_", "IVR_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("IVR_STATS_DB", str(tmp_path_factory.mktemp("stats") / "stats.sqlite3"))


def shipped_settings(folder: Path) -> Settings:
    """The shipped config and flows, signed with the test token; an empty audio folder in ``folder``: prompts
    are <Say> whatever audio the checkout has built."""
    return Settings(
        auth_token=TOKEN,
        public_url=PUBLIC,
        config_dir=ROOT / "config",
        flows_dir=ROOT / "ivr" / "flows",
        audio_dir=folder / "audio",
        log_key=b"test-log-key",
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return shipped_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@dataclass
class TwilioClient:
    """Acts as Twilio: POSTs signed form requests and parses the TwiML answers."""

    client: FlaskClient
    token: str = TOKEN
    public: str = PUBLIC

    def post(
        self,
        path: str,
        fields: Mapping[str, str] | None = None,
        *,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TwiML:
        form = {**CALL, **(fields or {})}
        if signature is None:
            signature = sign(self.token, self.public + path, form)
        response = self.client.post(path, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})})
        return TwiML(response.status_code, response.headers.get("Content-Type", ""), response.get_data(as_text=True))

    def follow(self, url: str, digits: str | None = None, **fields: str) -> TwiML:
        """Request an action URL from a previous answer, as Twilio would."""
        path = urlsplit(url)
        relative = path.path + (f"?{path.query}" if path.query else "")
        extra = dict(fields)
        if digits is not None:
            extra["Digits"] = digits
        return self.post(relative, extra)


@dataclass
class TwiML:
    """One answer of the webhook, read with the service's own TwiML follower (:func:`ivr.simulate.read_twiml`)."""

    status: int
    content_type: str
    body: str

    @property
    def root(self) -> ElementTree.Element:
        """The XML itself, for the attributes a caller does not follow (voice, loop, finishOnKey…)."""
        return ElementTree.fromstring(self.body)

    @cached_property
    def read(self) -> ReadAnswer:
        return read_twiml(self.body)

    def verbs(self) -> list[str]:
        return self.read.tags()

    def texts(self) -> list[str]:
        return [heard.text for heard in self.read.heard() if heard.verb == "say"]

    def spoken(self) -> str:
        return self.read.said()

    def gather(self) -> Listen:
        listen = self.read.first(Listen)
        assert listen is not None, self.body
        return listen

    def dial(self) -> Ring:
        ring = self.read.first(Ring)
        assert ring is not None, self.body
        return ring

    def gather_action(self) -> str:
        return self.gather().action

    def redirect(self) -> str:
        redirect = self.read.first(Redirect)
        assert redirect is not None, self.body
        return redirect.url

    def state(self) -> dict[str, str]:
        return query_of(self.gather_action())


@pytest.fixture
def twilio(app: Flask) -> TwilioClient:
    return TwilioClient(app.test_client())


@pytest.fixture(scope="session")
def twiml_schema(tmp_path_factory: pytest.TempPathFactory) -> xmlschema.XMLSchema:
    """Twilio's TwiML schema, with only its voice pattern relaxed for neural voice names."""
    folder = tmp_path_factory.mktemp("twiml-schema")
    for xsd in (DATA / "twiml").glob("*.xsd"):
        shutil.copy(xsd, folder / xsd.name)
    main = folder / "twiml_v20100401_twilioRealtimeCallSchema.xsd"
    text = main.read_text(encoding="utf-8")
    old = r'<xs:pattern value="man|woman|male|female|eve|brian|Polly\.[a-zA-Z]+" />'
    assert old in text
    main.write_text(
        text.replace(old, r'<xs:pattern value="man|woman|male|female|eve|brian|Polly\.[a-zA-Z]+(-Neural)?" />'), encoding="utf-8"
    )
    return xmlschema.XMLSchema(str(main))


def assert_twiml_a_caller_can_follow(answer: TwiML, *, speech: bool = False) -> None:
    """What the schema cannot say: each <Gather> takes one key (and speech only where the flow turns it on),
    and a <Redirect> to the same action follows it, so that silence goes on instead of hanging up."""
    verbs = answer.read.verbs
    for position, verb in enumerate(verbs):
        if isinstance(verb, Listen):
            assert verb.input == ("dtmf speech" if speech else "dtmf"), answer.body
            assert verb.num_digits == "1", answer.body
            after = verbs[position + 1] if position + 1 < len(verbs) else None
            assert isinstance(after, Redirect) and after.url == verb.action, answer.body


def assert_valid_twiml(schema: xmlschema.XMLSchema, answer: TwiML, *, speech: bool = False) -> TwiML:
    """Twilio-acceptable TwiML (schema, type, size, no leading space) that a caller can follow."""
    assert answer.status == 200, answer.body
    assert answer.content_type.startswith("text/xml"), answer.content_type
    assert answer.body.startswith("<?xml"), answer.body[:40]
    assert len(answer.body.encode()) < 64 * 1024
    schema.validate(answer.body)
    assert_twiml_a_caller_can_follow(answer, speech=speech)
    return answer


@pytest.fixture
def valid_twiml(twiml_schema: xmlschema.XMLSchema) -> Iterator[Callable[..., TwiML]]:
    """A checker: ``valid_twiml(answer)``, or ``valid_twiml(answer, speech=True)`` where the flow listens for speech."""

    def check(answer: TwiML, *, speech: bool = False) -> TwiML:
        return assert_valid_twiml(twiml_schema, answer, speech=speech)

    yield check


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the service's JSON log handler writes during the test, instead of stderr."""
    flush_all(quiet=True)  # no summary of an earlier test's refusals (ivr.guard) lands in this test's log
    logger = configure_logging()
    handler = next(h for h in logger.handlers if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonFormatter))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    if previous is not None:
        handler.setStream(previous)


def digits_in(text: str) -> str:
    """The digits a caller hears in spoken text ("1 0 6" -> "106")."""
    return re.sub(r"[^0-9]", "", text)


# --- the Procfile's processes, run as a platform runs them --------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_command(process: str, *, loopback: bool = True) -> str:
    """The Procfile's line for ``process``; bound to 127.0.0.1 unless ``loopback`` is False."""
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{process}:"):
            command = line.split(":", 1)[1].strip()
            return command.replace("0.0.0.0:", "127.0.0.1:") if loopback else command
    raise AssertionError(f"no {process}: line in the Procfile")


def procfile_env(port: int, **variables: str) -> dict[str, str]:
    """What a platform gives the Procfile: PORT, one worker, this venv on PATH, and ``variables``;
    none of the developer's TWILIO_* or IVR_* settings; the statistics in the test's own database."""
    developers = ("TWILIO_", "IVR_", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k == "IVR_STATS_DB" or not k.startswith(developers)}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "1", **variables}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@contextmanager
def procfile_web(env: Mapping[str, str], output: Path, *, loopback: bool = True, cwd: Path = ROOT) -> Iterator[str]:
    """The Procfile's ``web:`` line run with ``bash -c`` in ``cwd``, everything it prints going to ``output``;
    yields its base URL once /healthz answers, and stops the whole process group afterwards."""
    base = f"http://127.0.0.1:{env['PORT']}"
    with open(output, "wb") as out:
        command = ["bash", "-c", procfile_command("web", loopback=loopback)]
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as health:
                    health.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # TimeoutError: a worker still booting
                assert server.poll() is None, output.read_text(encoding="utf-8", errors="replace")
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield base
    finally:
        with suppress(ProcessLookupError):  # stopped by the test already
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)


__all__ = ["TwilioClient", "TwiML", "replace", "digits_in"]


@pytest.fixture
def app_without_public_url(settings: Settings) -> TwilioClient:
    """A caller of an app with no IVR_PUBLIC_URL: signatures use the request's own scheme and host."""
    app = create_app(replace(settings, public_url=None))
    return TwilioClient(app.test_client(), public="http://localhost")


# --- the shipped config, edited for one test -------------------------------------------------------


def app_for(settings: Settings, tmp_path: Path, config: Path | None = None) -> TwilioClient:
    audio = tmp_path / "no-audio"  # no built audio: every prompt is a <Say> whose words can be checked
    audio.mkdir(exist_ok=True)
    app: Flask = create_app(replace(settings, config_dir=config or ROOT / "config", audio_dir=audio))
    return TwilioClient(app.test_client())


def config_copy(tmp_path: Path, edit: Callable[[str, str], str]) -> Path:
    """config/ copied, with ``edit(file name, text)`` applied to each file."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    for path in config.glob("*.yaml"):
        path.write_text(edit(path.name, path.read_text(encoding="utf-8")), encoding="utf-8")
    return config


def with_speech_on(name: str, text: str) -> str:
    """Speech as well as keys, for every number (an edit for config_copy)."""
    return text.replace("speech:\n  enabled: false", "speech:\n  enabled: true") if name == "settings.yaml" else text


def with_transfer_targets(name: str, text: str) -> str:
    """Every line gets two made-up E.164 targets, so that every <Dial> outcome can be walked
    (and settings our number, which transfers show as caller ID)."""
    if name == "settings.yaml":
        return re.sub(r"called_numbers: \{\}", 'called_numbers: {"+3225550100": {default_language: nl}}', text)
    if name != "helplines.yaml":
        return text
    count = iter(range(1, 100))

    def targets(_: re.Match[str]) -> str:
        n = next(count)
        return f'transfer_to: ["+3225550{n:02d}1", "+3225550{n:02d}2"]'

    return re.sub(r"transfer_to: \[\]", targets, text)


# --- a real browser: Debian's headless Chromium through Playwright -----------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Chromium is not installed: run `make test` (scripts/install-system-deps installs Debian's chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
