"""/admin in a real browser (Debian's headless Chromium through Playwright): charts drawn on the server,
small counts as "<5", an empty day drawn as 0, a chosen range kept, nothing loaded from anywhere else, the CSV export."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from ivr.settings import Settings
from ivr.stats import report
from support import ROOT, serving
from support.stats_week import week_of_calls

pytestmark = pytest.mark.browser


def test_the_dashboard_shows_a_week_of_calls(browser: Browser, settings: Settings, tmp_path: Path) -> None:
    settings = replace(settings, admin_password="admin-password")
    app = week_of_calls(settings, f"sqlite:///{tmp_path / 'stats.sqlite3'}", empty_day=2)
    first = report.period(7)[0]
    since, until, empty = (
        (first + timedelta(days=1)).isoformat(),
        (first + timedelta(days=5)).isoformat(),
        first + timedelta(days=2),
    )
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
        expect(page.get_by_text("<5").first).to_be_visible()
        # A range chosen in the form stays in the address and in the CSV link; the empty day is a bar of 0.
        page.fill('input[name="since"]', since)
        page.fill('input[name="until"]', until)
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(f"**/admin?since={since}&until={until}")
        expect(page.get_by_text(f"{since} to {until} (Brussels days)")).to_be_visible()
        bars = page.locator('svg[aria-label="Calls over time"] rect')
        assert bars.count() == 5
        expect(bars.nth(1).locator("title")).to_have_text(f"{empty.isoformat()}: 0")
        assert bars.nth(1).bounding_box()["height"] > 0  # type: ignore[index]
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV").click()
        assert download.value.suggested_filename == f"helpline-stats-{since}-{until}.csv"
        rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
        assert rows[0] == ["table", "label", "count", "flag"]
        days = [row for row in rows if row[0] == "Calls per day" and row[1] != "total"]
        assert [row[1].split()[1] for row in days] == [(first + timedelta(days=n)).isoformat() for n in range(1, 6)]
        assert days[1][2] == "0"
        hidden = [row for row in rows if row[3] == "<5"]
        assert hidden and all(row[2] == "" for row in hidden)  # a hidden count is an empty cell, flagged
        assert all(int(row[2]) % 5 == 0 for row in rows[1:] if row[2] and not row[1].endswith(" seconds"))
        assert elsewhere == [] and errors == []
        context.close()


def test_the_screenshot_script_makes_the_picture_of_the_readme(tmp_path: Path) -> None:
    """scripts/screenshot-admin, which makes docs/admin.png: a week with an empty day, for a chosen range."""
    out = tmp_path / "admin.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot-admin"), str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.read_bytes().startswith(b"\x89PNG") and "/admin?since=" in done.stderr
