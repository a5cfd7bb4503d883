"""``/admin``: the statistics dashboard, behind ``IVR_ADMIN_PASSWORD`` (HTTP basic auth, as ``/simulator``).

Charts are inline SVG made here (:mod:`ivr.stats.svg`); every figure goes through the
report's rules for small counts (:mod:`ivr.stats.report`). The database is read and summed up
off the event loop that answers calls, in a thread of its own per worker (a year of counts is
seconds of work; under gevent it would hold every call of the worker), one page at a time, and
never for more days than the statistics keep (``IVR_STATS_RETENTION_DAYS``). SQLAlchemy is
imported by the first page, not with the app: it takes longer to import than the app takes to start.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, render_template, request

from ivr.guard import require_operator
from ivr.stats.events import NO_LANGUAGE
from ivr.stats.recorder import OffLoop
from ivr.stats.svg import bars
from ivr.stats.web import STATS, Stats

if TYPE_CHECKING:
    from ivr.stats import report as reports

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


def days() -> int:
    """?days= (default 7), at most the days the statistics keep: older counts are gone, asking costs only time."""
    given = request.args.get("days", "7")
    count = int(given) if given.isascii() and given.isdigit() and 1 <= int(given) <= 3660 else 7
    return min(count, _stats().settings.stats_retention_days)


def _load() -> reports.Report | str:
    """The report for :func:`days`, or why there is none."""
    from ivr.stats import report as reports

    url = _stats().settings.database_url
    if url is None:
        return "No statistics database is configured (DATABASE_URL or IVR_STATS_DB)."
    start, end = reports.period(days())
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


def _rows(table: reports.Table) -> list[tuple[str, int, str]]:
    from ivr.stats import report as reports

    return [(label, reports.shown_value(count), reports.shown(count)) for label, count in table.rows]


@bp.get("/admin")
def dashboard() -> str | tuple[str, int]:
    from ivr.stats import report as reports

    result = _load()
    if isinstance(result, str):
        return render_template("admin/dashboard.html", problem=result, report=None), 503
    hours = [
        (datetime.fromtimestamp(hour, UTC).strftime("%d %Hh"), reports.shown_value(n), reports.shown(n))
        for hour, n in reports.hours(result)
    ]
    by_day = [(d.strftime("%d %b"), reports.shown_value(n), reports.shown(n)) for d, n in sorted(result.per_day.items())]
    calls_chart = bars("Calls over time", by_day if len(hours) > 72 else hours, horizontal=False)
    funnel = []
    for lang in sorted(result.languages):
        if lang == NO_LANGUAGE:
            continue
        calls, reached = result.languages[lang], result.reached[lang]
        funnel.append((lang, [("chose the language", calls), ("reached the line", reached)], reports.rate(reached, calls)))
    funnel_charts = [
        (lang, bars(f"Funnel, {lang}", [(label, reports.shown_value(n), reports.shown(n)) for label, n in stages]), share)
        for lang, stages, share in funnel
    ]
    total = result.calls
    welcome = bars(
        "From the welcome",
        [
            ("called", reports.shown_value(total), reports.shown(total)),
            ("chose a language", reports.shown_value(result.chose), reports.shown(result.chose)),
            ("reached the line", reports.shown_value(sum(result.reached.values())), reports.shown(sum(result.reached.values()))),
        ],
    )
    tables = result.tables()
    drop_off = bars("Where callers hang up", _rows(tables[3]))
    buckets: dict[str, int] = {}
    for seconds, n in sorted(result.to_line.items()):
        label = f"{(seconds - 1) // 15 * 15}–{(seconds - 1) // 15 * 15 + 15} s" if seconds > 0 else "0 s"
        buckets[label] = buckets.get(label, 0) + n
    to_line = bars("Time to the line", [(label, reports.shown_value(n), reports.shown(n)) for label, n in buckets.items()])
    return render_template(
        "admin/dashboard.html",
        problem=None,
        report=result,
        days=days(),
        calls_chart=calls_chart,
        welcome=welcome,
        funnel_charts=funnel_charts,
        drop_off=drop_off,
        to_line=to_line,
        p50=reports.percentile(result.to_line, 0.5),
        p90=reports.percentile(result.to_line, 0.9),
        tables=[(t, t.cells(), t.total()) for t in tables],
        shown=reports.shown,
        rate=reports.rate,
        reached=sum(result.reached.values()),
    )


@bp.get("/admin/stats.csv")
def export_csv() -> Response:
    from ivr.stats import report as reports

    result = _load()
    if isinstance(result, str):
        return Response(result + "\n", status=503, content_type="text/plain; charset=utf-8")
    name = f"helpline-stats-{result.start.isoformat()}-{result.end.isoformat()}.csv"
    return Response(
        reports.csv_text(result),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
