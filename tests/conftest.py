"""Fixtures only: an app built from test settings, a client that signs like Twilio, a real browser.

What the tests share besides fixtures is in the ``support`` package (``from support import …``)."""

from __future__ import annotations

import io
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import xmlschema
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from ivr.app import create_app
from ivr.guard import flush_all
from ivr.logs import JsonFormatter, configure_logging
from ivr.settings import Settings
from support import (
    CHROMIUM_ARGS,
    DATA,
    SHIPPED_CONFIG,
    SHIPPED_FLOWS,
    TwilioClient,
    TwiML,
    assert_valid_twiml,
    chromium_path,
    shipped_settings,
)

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


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's TWILIO_* or IVR_* variables or DATABASE_URL, and what a test's app
    records goes to a statistics database of the test's own: never to the checkout's stats.sqlite3 (which
    `make run` shows) nor to the developer's database."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "IVR_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("IVR_STATS_DB", str(tmp_path_factory.mktemp("stats") / "stats.sqlite3"))
    # Commands and processes that default to ./config read the suite's copy instead.
    monkeypatch.setenv("IVR_CONFIG", str(SHIPPED_CONFIG))
    monkeypatch.setenv("IVR_FLOWS", str(SHIPPED_FLOWS))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return shipped_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


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


@pytest.fixture
def app_without_public_url(settings: Settings) -> TwilioClient:
    """A caller of an app with no IVR_PUBLIC_URL: signatures use the request's own scheme and host."""
    app = create_app(replace(settings, public_url=None))
    return TwilioClient(app.test_client(), public="http://localhost")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
