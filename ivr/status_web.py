"""The live status on the operator pages: the panel ``/admin`` includes, and ``/admin/status.json`` for ``ivr status``.

Behind the operator guard, as ``/admin``: it names the reason of a refused reload (a file and line,
a variable's name), which ``/healthz`` never does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, jsonify

from ivr.announcements import AnnouncementSource
from ivr.guard import require_operator
from ivr.number_guard import line_numbers
from ivr.service import LOADED, SERVICE_EXTENSION, Service, now_utc
from ivr.startup import Loaded, content_hash
from ivr.status import Section, sections

bp = Blueprint("status", __name__)
REALM = 'Basic realm="helpline-ivr admin"'


@bp.before_request
def require_admin() -> Response | None:
    return require_operator(REALM)


def live_sections(app: Flask | None = None) -> list[Section]:
    """What is live now in this service: the panel of ``/admin``."""
    app = app or current_app
    svc: Service = app.extensions[SERVICE_EXTENSION]
    loaded: Loaded = app.extensions[LOADED]
    catalog, settings = svc.catalog, svc.settings
    source = AnnouncementSource(
        catalog.settings.offered, settings.announcement, settings.announcement_file, line_numbers(catalog.helplines.values())
    )
    on_disk = content_hash(settings.config_dir, settings.flows_dir)
    return sections(catalog, now_utc(), source.current(), loaded, on_disk)


@bp.get("/admin/status.json")
def status_json() -> Response:
    loaded: Loaded = current_app.extensions[LOADED]
    return jsonify(
        **loaded.public(),
        last_refused_reload_reason=loaded.refused_reason,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
