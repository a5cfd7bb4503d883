"""The browser phone in a real browser: Debian's headless Chromium, driven by Playwright.

The service runs for real (a WSGI server on a free loopback port) with signature checks
on, so every key the page sends reaches the webhook as a request signed by the server.
``make test`` installs Chromium (scripts/install-system-deps) and Playwright (the test
extra); this test fails, never skips, when either is missing.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from ivr.app import create_app
from ivr.model import Speech
from ivr.settings import Settings
from support import DATA, ROOT, SHIPPED_CONFIG, serving
from support.docs_pages import section

pytestmark = pytest.mark.browser


def dev_settings(settings: Settings, **changes: object) -> Settings:
    # A token AND dev mode: the simulator is open and every webhook request must be signed.
    return replace(settings, dev_mode=True, public_url=None, **changes)  # type: ignore[arg-type]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def first_text(app: Flask, node: str, field: str, lang: str) -> str:
    catalog = app.extensions["ivr"].catalog
    prompt = getattr(catalog.flows[catalog.settings.default_flow].nodes[node], field)
    return next(part.text for part in prompt.parts(lang) if isinstance(part, Speech))


def test_a_french_caller_presses_0_and_sees_tele_accueil_107(page: Page, settings: Settings, tmp_path: Path) -> None:
    app = create_app(dev_settings(settings))
    flow = app.extensions["ivr"].catalog.flows["helpline"]
    with serving(app) as base:
        page.goto(f"{base}/simulator")
        transcript = page.locator("#transcript")
        assert transcript.get_attribute("aria-live") == "polite"
        page.get_by_role("button", name="Call").click()

        expect(transcript).to_contain_text(first_text(app, flow.start, "prompt", "fr"))
        expect(page.locator(f"#node-{flow.start}")).to_have_class(re.compile(r"\bcurrent\b"))
        # Keys are pressed while the prompts are said (with built audio they are still playing).

        page.get_by_role("button", name="key 2").click()
        expect(transcript).to_contain_text("You pressed 2")
        after_welcome = flow.nodes[flow.start].next  # type: ignore[union-attr]
        french_menu = first_text(app, after_welcome, "prompt", "fr")
        expect(page.locator('#transcript li[lang="fr"]').filter(has_text=french_menu)).to_have_count(1)
        expect(page.locator(f"#node-{after_welcome}")).to_have_class(re.compile(r"\bcurrent\b"))

        page.keyboard.press("0")  # keyboard digits work like the keypad
        expect(transcript).to_contain_text("You pressed 0")
        expect(transcript).to_contain_text("Télé-Accueil")
        expect(page.locator('#transcript li[lang="fr"]').filter(has_text="Appelez Télé-Accueil").first).to_contain_text("1 0 7")
        expect(page.locator(f"#node-{flow.talk_now}")).to_have_class(re.compile(r"\bcurrent\b"))
        expect(page.locator(f"#node-{after_welcome}")).not_to_have_class(re.compile(r"\bcurrent\b"))
        expect(page.locator("#timing")).to_contain_text("Télé-Accueil's number heard after")
        page.screenshot(path=str(tmp_path / "simulator.png"))


def test_silence_counts_down_the_flows_timeout_then_reprompts(page: Page, settings: Settings) -> None:
    app = create_app(dev_settings(settings, config_dir=DATA / "config", flows_dir=DATA / "quick_flows"))
    with serving(app) as base:
        page.goto(f"{base}/simulator")
        page.get_by_role("button", name="Call").click()
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text("Français: tapez 2.")
        page.keyboard.press("2")
        expect(transcript).to_contain_text("Info: tapez 3. Parler: tapez 0.")
        countdown = page.locator("#countdown")
        expect(countdown).to_be_visible()
        started = time.monotonic()
        expect(countdown).to_have_attribute("data-timeout", "2")  # the menu's timeout, from the <Gather>
        expect(page.locator("#seconds-left")).to_have_text("1")
        expect(transcript).to_contain_text("Rien entendu.", timeout=10_000)
        waited = time.monotonic() - started
        assert waited >= 1.0, f"re-prompted {waited:.1f} s after the countdown showed, before the 2 s timeout ran out"
        expect(transcript).to_contain_text("(no key for 2 s)")
        expect(page.locator("#current-node")).to_have_text("main")
        expect(countdown).to_be_visible()  # the re-prompt listens again


def test_the_browser_needs_no_token_and_the_page_is_accessible(page: Page, settings: Settings) -> None:
    app = create_app(dev_settings(settings, config_dir=DATA / "config", flows_dir=DATA / "flows"))
    with serving(app) as base:
        page.goto(f"{base}/simulator")
        html = page.content()
        assert settings.auth_token is not None and settings.auth_token not in html
        keys = page.locator(".keypad button")
        assert keys.count() == 12
        assert page.get_by_role("group", name="Keypad").is_visible()
        # Keypad keys are disabled until a call starts; then they are real, focusable buttons.
        expect(page.get_by_role("button", name="key 5")).to_be_disabled()
        page.get_by_role("button", name="Call").click()
        expect(page.get_by_role("button", name="key 5")).to_be_enabled()  # once the webhook answered
        expect(page.locator("#transcript")).to_contain_text("Français: tapez 2.")
        page.get_by_role("button", name="key 1").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#transcript")).to_contain_text("You pressed 1")
        page.get_by_role("button", name="Hang up").click()
        expect(page.locator("#status")).to_have_text("You hung up.")
        expect(page.get_by_role("button", name="Call")).to_be_enabled()


def test_the_screenshot_in_the_callers_journey_exists() -> None:
    shot = ROOT / "docs" / "simulator.png"
    assert shot.is_file() and shot.stat().st_size > 10_000, "run scripts/screenshot-simulator to make docs/simulator.png"
    assert "](simulator.png)" in section("callers-journey.md", "Try a call without a phone")


def test_a_caller_who_cannot_press_keys_says_francais_then_respiration(page: Page, settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    settings_file = config / "settings.yaml"
    text = settings_file.read_text(encoding="utf-8").replace("speech:\n  enabled: false", "speech:\n  enabled: true")
    settings_file.write_text(text, encoding="utf-8")
    app = create_app(dev_settings(settings, config_dir=config))
    with serving(app) as base:
        page.goto(f"{base}/simulator")
        say = page.locator("#say")
        expect(say).to_be_hidden()
        page.get_by_role("button", name="Call").click()
        expect(say).to_be_visible()  # the welcome listens for speech too
        page.get_by_label("Say instead of pressing a key").fill("français")
        page.get_by_role("button", name="Say", exact=True).click()
        expect(page.locator("#transcript")).to_contain_text("You said “français”")
        expect(page.locator("#node-first_menu")).to_have_class(re.compile(r"\bcurrent\b"))
        # With speech on, the menu ends by saying that words work too.
        expect(page.locator('#transcript li[lang="fr"]').last).to_contain_text("Vous pouvez aussi le dire")
        page.get_by_label("Say instead of pressing a key").fill("respiration")
        page.get_by_role("button", name="Say", exact=True).click()
        expect(page.locator("#node-breathing")).to_have_class(re.compile(r"\bcurrent\b"))
        expect(page.locator('#transcript li[lang="fr"]').filter(has_text="Respirons ensemble")).to_have_count(1)
