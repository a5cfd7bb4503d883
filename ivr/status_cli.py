"""``ivr status``: what is live now, as the ``/admin`` panel shows it (:mod:`ivr.status`).

:mod:`ivr.cli` adds it to the ``ivr`` group.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import click

from ivr.cli_support import CONFIG_OPTION, FLOWS_OPTION, ExitCode, fail, load_or_exit
from ivr.hours import HoursError, brussels_moment
from ivr.startup import Loaded, content_hash, service_environment

STATUS_PATH = "/admin/status.json"


def _instant(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _get(url: str, password: str | None) -> dict[str, object]:
    request = urllib.request.Request(url)
    if password:
        token = base64.b64encode(f"admin:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=5) as answer:
        found = json.loads(answer.read().decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("not a JSON object")
    return found


def served(base: str, password: str | None) -> tuple[Loaded | None, str | None]:
    """What the service at ``base`` serves, with the last refused reload's reason when the operator page answers;
    else from /healthz (no reason); else None and why."""
    reason_hidden = None
    try:
        found = _get(base + STATUS_PATH, password)
    except urllib.error.HTTPError as exc:
        reason_hidden = f"(the reason is on /admin: {STATUS_PATH} answered {exc.code}; set IVR_ADMIN_PASSWORD here)"
        try:
            found = _get(base + "/healthz", None)
        except (OSError, ValueError) as inner:
            return None, f"{base}/healthz: {inner}"
    except (OSError, ValueError) as exc:
        return None, f"{base} not reached: {getattr(exc, 'reason', exc)}; give the service's address with --url"
    loaded_at = _instant(found.get("loaded_at"))
    if loaded_at is None:
        return None, f"{base} did not say what it serves (an older version?)"
    refused_at = _instant(found.get("last_refused_reload_at"))
    reason = found.get("last_refused_reload_reason")
    return Loaded(
        str(found.get("content")),
        loaded_at,
        refused_at,
        str(reason) if isinstance(reason, str) else (reason_hidden if refused_at else None),
    ), None


@click.command()
@CONFIG_OPTION
@FLOWS_OPTION
@click.option("--url", default=None, help="The service's base URL (default: http://127.0.0.1:$PORT, 5000 without PORT).")
@click.option("--at", "moment", default=None, help='The lines, holidays and announcement at a Brussels time, "2026-12-25 03:00".')
def status(config_dir: Path | None, flows_dir: Path | None, url: str | None, moment: str | None) -> None:
    """What is live now: the files served and on disk, each line's and target's state and next change, holidays, the announcement.

    Targets are masked (their last two characters). The reason of the last refused reload comes
    from the service's /admin/status.json, with IVR_ADMIN_PASSWORD when it needs one.
    """
    from ivr.announcements import AnnouncementSource
    from ivr.loader import default_config_dir, default_flows_dir
    from ivr.number_guard import line_numbers
    from ivr.settings import Settings
    from ivr.status import sections, text

    now = datetime.now(UTC)
    if moment is not None:
        try:
            now, note = brussels_moment(moment)
        except HoursError as exc:
            fail(ExitCode.USAGE, f"error: --at: {exc}")
        if note:
            click.echo(f"note: {note}")
    env = service_environment()
    config_dir, flows_dir = config_dir or default_config_dir(), flows_dir or default_flows_dir()
    catalog = load_or_exit(config_dir, flows_dir)
    settings = Settings.from_env({**env, "IVR_DEV_MODE": "1", "IVR_PRODUCTION": ""})  # no token needed to read
    source = AnnouncementSource(
        catalog.settings.offered, settings.announcement, settings.announcement_file, line_numbers(catalog.helplines.values())
    )
    base = (url or f"http://127.0.0.1:{env.get('PORT') or 5000}").rstrip("/")
    loaded, problem = served(base, env.get("IVR_ADMIN_PASSWORD") or None)
    found = sections(catalog, now, source.current(), loaded, content_hash(config_dir, flows_dir), problem)
    click.echo(text(found))
