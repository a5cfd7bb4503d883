"""The ``ivr`` command line: the group, and the commands its modules define.

A command lives in its own module (``ivr/*_cli.py``), is written with plain ``@click.command()``
or ``@click.group()``, takes what it shares with the others from :mod:`ivr.cli_support`, and
exits with an error only through :func:`ivr.cli_support.fail`. It never imports this module:
it is added here with ``main.add_command``, as Flask's tutorial adds its ``init-db`` command.
"""

from __future__ import annotations

import click

from ivr import audio_cli, ops_cli, tools_cli
from ivr.cli_support import EXIT_CODES_HELP
from ivr.logs import configure_logging
from ivr.stats import cli as stats_cli


@click.group(epilog=EXIT_CODES_HELP)
@click.version_option(package_name="helpline-ivr")
def main() -> None:
    """helpline-ivr: a phone menu for people in Belgium looking for emotional support."""
    configure_logging()


main.add_command(ops_cli.validate)
main.add_command(ops_cli.reload)
main.add_command(ops_cli.fallback)
main.add_command(ops_cli.announce)
main.add_command(audio_cli.audio)
main.add_command(tools_cli.graph)
main.add_command(tools_cli.prompts)
main.add_command(tools_cli.simulate)
main.add_command(tools_cli.twilio)
main.add_command(stats_cli.stats)


if __name__ == "__main__":  # pragma: no cover
    main()
