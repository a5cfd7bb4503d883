"""``ivr test``: the callers' scenarios beside the config (scenarios.yaml), each played as a call.

:mod:`ivr.cli` adds it to the ``ivr`` group. The scenarios are read by :mod:`ivr.loading.scenarios_file` and
played by :mod:`ivr.simulate.scenarios`; this module only reads options, prints, and sets the exit code.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from flask import Flask

from ivr.app import create_app
from ivr.cli_support import CONFIG_OPTION, ENV_FILE_OPTION, FLOWS_OPTION, ExitCode, fail, in_process_settings
from ivr.errors import ConfigErrors
from ivr.hours import describe_moment
from ivr.loading.scenarios_file import load_scenarios
from ivr.logs import quiet_service_logs
from ivr.service import now_utc
from ivr.settings import SettingsError
from ivr.simulate.scenarios import play


@click.command("test")
@ENV_FILE_OPTION
@CONFIG_OPTION
@FLOWS_OPTION
@click.option(
    "--scenarios",
    "scenarios_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The scenarios file (default: scenarios.yaml in the config folder).",
)
@click.option("--verbose", "-v", is_flag=True, help="Print what each call heard, passed or not.")
def test(config_dir: Path | None, flows_dir: Path | None, scenarios_file: Path | None, verbose: bool) -> None:
    """Play the callers' scenarios (scenarios.yaml beside the config) through the real webhook; exit 1 if one fails.

    Each scenario presses its keys or says its words, at its Brussels time if it has one, and must hear
    each number or words it lists, and ring each target it lists, within its seconds. A number is written
    as in helplines.yaml and matched as the service says it, digit by digit. Update the scenarios with
    your own numbers and targets.
    """
    try:
        settings = in_process_settings(config_dir, flows_dir, statistics=False)
        path = scenarios_file or settings.config_dir / "scenarios.yaml"
        scenarios = load_scenarios(path)
        moment: list[datetime | None] = [None]
        app = create_app(settings, lambda: moment[0] or now_utc())
    except SettingsError as exc:
        fail(ExitCode.ERROR, f"error: {exc} (ivr --env-file FILE test reads the service's environment file)")
    except ConfigErrors as exc:
        count = len(exc.errors)
        fail(
            ExitCode.ERROR,
            "\n".join(map(str, exc.errors)) + f"\n{count} error{'s' if count != 1 else ''}: no scenario was played.",
        )

    def app_at(at: datetime | None) -> Flask:
        moment[0] = at
        return app

    failed = 0
    for scenario in scenarios:
        with quiet_service_logs():
            outcome = play(scenario, app_at)
        when = f" (at {describe_moment(scenario.at)})" if scenario.at else ""
        click.echo(f"{'ok  ' if outcome.passed else 'FAIL'}  {scenario.mark.file}:{scenario.mark.line}: {scenario.name}{when}")
        for failure in outcome.failures:
            click.echo(f"      {failure}")
        if outcome.failures or verbose:
            click.echo("      heard:")
            for line in outcome.transcript:
                click.echo(f"        {line}")
        failed += not outcome.passed
    click.echo(f"{len(scenarios)} scenarios: {len(scenarios) - failed} passed, {failed} failed.")
    if failed:
        fail(
            ExitCode.ERROR,
            "A scenario failed: fix the config (or the scenario, if the change was meant), then run ivr test again.",
        )
