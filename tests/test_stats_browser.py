"""/admin in a real browser (Debian's headless Chromium through Playwright): charts drawn on the server,
small counts as "<5", nothing loaded from anywhere else, the CSV export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from ivr.settings import Settings
from support import serving
from support.stats_week import week_of_calls

pytestmark = pytest.mark.browser


def test_the_dashboard_shows_a_week_of_calls(browser: Browser, settings: Settings, tmp_path: Path) -> None:
    app = week_of_calls(replace(settings, admin_password="admin-password"), f"sqlite:///{tmp_path / 'stats.sqlite3'}")
    with serving(app) as base:
        anonymous = browser.new_context()
        assert anonymous.request.get(base + "/admin").status == 401
        anonymous.close()
        context = browser.new_context(
            viewport={"width": 1100, "height": 900}, http_credentials={"username": "ops", "password": "admin-password"}
        )
        page = context.new_page()
        elsewhere: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        assert page.goto(base + "/admin?days=7").status == 200  # type: ignore[union-attr]
        expect(page.get_by_role("heading", name="Call statistics")).to_be_visible()
        expect(page.locator("#calls")).to_have_text("600")
        charts = page.locator("svg[role=img]")
        assert charts.count() >= 5
        for name in ("Calls over time", "From the welcome", "Where callers hang up", "Time to the line"):
            expect(page.locator(f'svg[aria-label="{name}"]')).to_be_visible()
        expect(page.get_by_text("<5").first).to_be_visible()  # the German funnel has few calls
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV").click()
        csv = Path(download.value.path()).read_text(encoding="utf-8")
        assert csv.startswith("table,label,count") and "Language,de,<5" not in csv.splitlines()[0]
        assert elsewhere == [] and errors == []
        context.close()
