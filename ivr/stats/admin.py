"""``/admin``: the statistics dashboard, behind ``IVR_ADMIN_PASSWORD`` (HTTP basic auth, as ``/simulator``).

Charts are inline SVG made here (:mod:`ivr.stats.svg`); the page and the CSV are made from a
:class:`~ivr.stats.view.View` only, whose every count follows the small-count rule (:mod:`ivr.stats.shown`).
Days and hours are Brussels'; a period is ``?days=`` or ``?since=&until=``, kept in every link. The database is read and summed up
off the event loop that answers calls, in a thread of its own per worker (a year of counts is
seconds of work; under gevent it would hold every call of the worker), one page at a time, and
never for more days than the statistics keep (``IVR_STATS_RETENTION_DAYS``). SQLAlchemy is
imported by the first page, not with the app: it takes longer to import than the app takes to start.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, render_template, request

from ivr.guard import require_operator
from ivr.stats.recorder import OffLoop
from ivr.stats.svg import bars
from ivr.stats.web import STATS, Stats

if TYPE_CHECKING:
    from ivr.stats import report as reports
    from ivr.stats import view as views

bp = Blueprint("admin", __name__, template_folder="../templates")
REALM = 'Basic realm="helpline-ivr admin"'
# One thread per worker reads the dashboard's statistics: pages queue behind each other there, and
# the event loop that answers calls only shares the interpreter with that one thread.
_READER = OffLoop()
READ_TIMEOUT = 120.0  # a page still waiting then says so; its reading goes on and is dropped


def _stats() -> Stats:
    return current_app.extensions[STATS]  # type: ignore[no-any-return]


@bp.before_request
def require_admin() -> Response | None:
    return require_operator(REALM)  # wrong passwords limited per client: see ivr.guard


@bp.context_processor
def live_now() -> dict[str, object]:
    """The panel of what is live now (ivr.status_web), on every page of the dashboard."""
    from ivr.status_web import live_sections

    return {"live": live_sections()}


def chosen_period() -> tuple[date, date]:
    """?since=&until= (Brussels days, YYYY-MM-DD), else ?days= (default 7) up to today; never before the
    first day the statistics keep (``IVR_STATS_RETENTION_DAYS``: older counts are gone, asking costs only time)."""
    from ivr.stats import report as reports

    today = reports.today()
    first = today - timedelta(days=_stats().settings.stats_retention_days - 1)
    days = request.args.get("days", 7, type=int)
    start, end = reports.period(days if days is not None and 1 <= days <= 3660 else 7, today)
    since, until = _day(request.args.get("since")), _day(request.args.get("until"))
    if since is not None or until is not None:
        end = min(until or today, today)
        start = since or end
    start, end = sorted((start, end))
    return max(start, first), max(end, first)


def _day(given: str | None) -> date | None:
    if not given or len(given) != 10 or not given.isascii():
        return None
    try:
        return date.fromisoformat(given)
    except ValueError:
        return None


def _load(start: date, end: date) -> reports.Report | str:
    """The report for the period, or why there is none."""
    url = _stats().settings.database_url
    if url is None:
        return "No statistics database is configured (DATABASE_URL or IVR_STATS_DB)."
    found: list[reports.Report | str] = []
    try:
        if not _READER.run(lambda: found.append(_read(url, start, end)), READ_TIMEOUT):
            return f"The statistics took more than {READ_TIMEOUT:.0f} s to read; try a shorter period."
    except Exception as exc:  # noqa: BLE001 - a page that says so, not a 500
        return f"The statistics database cannot be read ({type(exc).__name__})."
    return found[0]


def _read(url: str, start: date, end: date) -> reports.Report | str:
    """In the reader's thread: everything about the period, summed up."""
    from ivr.stats import report as reports
    from ivr.stats import store

    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            store.check_migrated(conn, url)
            return reports.load(conn, start, end)
    except store.StatsNotMigrated as exc:
        return str(exc)
    finally:
        engine.dispose()


def _view(start: date, end: date) -> views.View | str:
    from ivr.stats import view as views
    from ivr.stats.shown import rounding_key

    result = _load(start, end)
    if isinstance(result, str):
        return result
    stats = _stats()
    return views.build(result, rounding_key(stats.settings.log_key), views.Names(stats.catalog), now=time.time())


@bp.get("/admin")
def dashboard() -> str | tuple[str, int]:
    from ivr.stats import view as views
    from ivr.stats.shown import Shown, rate

    start, end = chosen_period()
    found = _view(start, end)
    if isinstance(found, str):
        return render_template("admin/dashboard.html", problem=found, view=None), 503
    view = found
    over_time = view.table(views.PER_HOUR if view.hourly else views.PER_DAY)
    calls_chart = bars("Calls over time", [(label[4:], cell) for label, cell in over_time.rows], horizontal=False)
    languages = view.language_rates()
    # The figures shown added up: nothing that is not on the page already.
    chose = Shown(sum(calls.number for _, calls, _, _ in languages))
    welcome = bars(
        "From the welcome",
        [("called", view.headline(views.CALLS)), ("chose a language", chose), ("reached the line", view.headline(views.REACHED))],
    )
    funnel_charts = [
        (lang, bars(f"Funnel, {lang}", [("chose the language", calls), ("reached the line", reached)]), share)
        for lang, calls, reached, share in languages
    ]
    week = view.table(views.WEEK)
    return render_template(
        "admin/dashboard.html",
        problem=None,
        view=view,
        views=views,
        start=start.isoformat(),
        end=end.isoformat(),
        calls_chart=calls_chart,
        welcome=welcome,
        funnel_charts=funnel_charts,
        drop_off=bars("Where callers hang up", view.table(views.DROP_OFF).rows),
        to_line=bars("Time to the line", view.table(views.TO_LINE).rows),
        week=[(views.WEEKDAYS[d], [week.rows[d * 24 + h][1] for h in range(24)]) for d in range(7)],
        rate=rate,
    )


@bp.get("/admin/stats.csv")
def export_csv() -> Response:
    from ivr.stats import view as views

    start, end = chosen_period()
    found = _view(start, end)
    if isinstance(found, str):
        return Response(found + "\n", status=503, content_type="text/plain; charset=utf-8")
    name = f"helpline-stats-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        views.csv_text(found),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
