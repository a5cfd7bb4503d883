"""``ivr stats``: the report in a terminal (or CSV), ``ivr stats migrate`` and ``ivr stats prune``."""

from __future__ import annotations

import time
from datetime import date
from typing import TYPE_CHECKING

import click

from ivr.cli_support import ExitCode, fail
from ivr.settings import SettingsError, stats_database

if TYPE_CHECKING:
    from ivr.stats.view import Names


def _database() -> tuple[str, int]:
    try:
        return stats_database()
    except SettingsError as exc:
        fail(ExitCode.USAGE, f"error: {exc}")


@click.group(invoke_without_command=True)
@click.option(
    "--days", type=click.IntRange(1, 3660), default=7, show_default=True, help="The last N days (Brussels days), today included."
)
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (YYYY-MM-DD); with --until, instead of --days."
)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (YYYY-MM-DD), default today.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of text (the same rules for small counts).")
@click.pass_context
def stats(ctx: click.Context, days: int, since: object, until: object, as_csv: bool) -> None:
    """Anonymous call statistics for a period: calls, languages, the line, drop-off, transfers.

    Reads DATABASE_URL (else SQLite at IVR_STATS_DB, default ./stats.sqlite3).
    """
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.stats import report, store, view
    from ivr.stats.shown import rounding_key

    url, _ = _database()
    last: date = until.date() if until is not None else report.period(1)[1]  # type: ignore[attr-defined]
    first: date = since.date() if since is not None else report.period(days, last)[0]  # type: ignore[attr-defined]
    if first > last:
        raise click.BadParameter("--since is after --until")
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            store.check_migrated(conn, url)
            result = report.load(conn, first, last)
    except store.StatsNotMigrated as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
    except SQLAlchemyError as exc:
        fail(ExitCode.ERROR, f"error: cannot read the statistics database {store.shown_url(url)}: {type(exc).__name__}")
    finally:
        engine.dispose()
    secret, names = _service()
    shown = view.build(result, rounding_key(secret), names, now=time.time())
    click.echo(view.csv_text(shown) if as_csv else view.text(shown), nl=False)


def _service() -> tuple[bytes, Names]:
    """The service's rounding key and the words for its places and numbers, where this environment has them,
    so that /admin and this agree; else figures rounded with another key, and ids."""
    from ivr.errors import ConfigErrors
    from ivr.loader import load_catalog
    from ivr.settings import Settings
    from ivr.stats.view import Names

    try:
        settings = Settings.from_env()
    except SettingsError:
        return b"", Names()
    try:
        return settings.log_key, Names(load_catalog(settings.config_dir, settings.flows_dir))
    except (ConfigErrors, OSError):
        return settings.log_key, Names()


@stats.command()
def migrate() -> None:
    """Create or upgrade the statistics tables (run by the Procfile's release step and `make run`)."""
    from ivr.stats import store

    url, _ = _database()
    try:
        before, now = store.migrate(url)
    except Exception as exc:  # noqa: BLE001 - any driver's error: a message, not a traceback
        fail(ExitCode.ERROR, f"error: cannot migrate the statistics database {store.shown_url(url)}: {type(exc).__name__}: {exc}")
    if before == now:
        click.echo(f"statistics database {store.shown_url(url)}: already at revision {now}")
    else:
        click.echo(f"statistics database {store.shown_url(url)}: migrated from {before or 'nothing'} to revision {now}")


@stats.command()
def prune() -> None:
    """Delete hourly counts older than IVR_STATS_RETENTION_DAYS (default 400); the service also does at start."""
    from ivr.stats import store

    url, days = _database()
    engine = store.make_engine(url)
    try:
        with engine.begin() as conn:
            store.check_migrated(conn, url)
            deleted = store.prune(conn, time.time(), days)
    except store.StatsNotMigrated as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
    finally:
        engine.dispose()
    click.echo(f"pruned {deleted} rows of hourly counts older than {days} days")
