"""The ``ivr`` command line: the group, and the commands its modules define.

A command lives in its own module (``ivr/*_cli.py``), is written with plain ``@click.command()``
or ``@click.group()``, takes what it shares with the others from :mod:`ivr.cli_support`, and
exits with an error only through :func:`ivr.cli_support.fail`. It never imports this module:
it is named in :data:`COMMANDS`, with its one-line help, and imported only when it runs (click's
lazy-loading pattern), so ``ivr --help`` loads neither Flask, twilio nor SQLAlchemy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click
from click.utils import make_default_short_help

from ivr.cli_support import ENV_FILE_OPTION, EXIT_CODES_HELP
from ivr.logs import configure_logging


@dataclass(frozen=True)
class Lazy:
    """A command named by where it is (``module:attribute``), with the line ``ivr --help`` shows for it
    (tests/test_cli.py keeps that line equal to the command's own)."""

    where: str
    help: str


COMMANDS = {
    "announce": Lazy(
        "ivr.ops_cli:announce", "The operators' announcement: a short message per language, with a start and an end."
    ),
    "audio": Lazy("ivr.audio_cli:audio", "Pre-generated prompt audio (MP3 files played with <Play>)."),
    "fallback": Lazy("ivr.ops_cli:fallback", "The fallback TwiML, for a host that does not go down with this one."),
    "graph": Lazy("ivr.tools_cli:graph", "Draw a call flow as a diagram (Mermaid, Graphviz DOT, or SVG with Graphviz)."),
    "prompts": Lazy(
        "ivr.tools_cli:prompts",
        "Every prompt per language in call order, for a native speaker's review: Markdown, or HTML with -o.",
    ),
    "reload": Lazy(
        "ivr.ops_cli:reload", "Take new flows and config files without a restart: check them, then send SIGHUP to the service."
    ),
    "simulate": Lazy(
        "ivr.simulate_cli:simulate", "Call the service from the terminal: the real webhook, signed requests, real TwiML."
    ),
    "status": Lazy(
        "ivr.status_cli:status",
        "What is live now: the files served and on disk, each line's and target's state and next change, holidays, the"
        " announcement.",
    ),
    "stats": Lazy(
        "ivr.stats.cli:stats", "Anonymous call statistics for a period: calls, languages, the line, drop-off, transfers."
    ),
    "test": Lazy(
        "ivr.scenario_cli:test",
        "Play the callers' scenarios (scenarios.yaml beside the config) through the real webhook; exit 1 if one fails.",
    ),
    "twilio": Lazy("ivr.tools_cli:twilio", "Configure Twilio for this service."),
    "validate": Lazy(
        "ivr.ops_cli:validate",
        "Check the flows and config, and walk every caller's paths against the budgets; print every error; exit 1 if there"
        " is one.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name when one is run or asked for its own help."""

    def __init__(self, *args: Any, lazy: dict[str, Lazy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy.get(cmd_name)
        if entry is None:
            return None
        module, attribute = entry.where.split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.where} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing imports every command for its help line: the table's line says the same without.
        limit = formatter.width - 6 - max(len(name) for name in self.lazy)
        with formatter.section("Commands"):
            formatter.write_dl([(name, make_default_short_help(self.lazy[name].help, limit)) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, lazy=COMMANDS, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="helpline-ivr")
@ENV_FILE_OPTION
def main() -> None:
    """helpline-ivr: a phone menu for people in Belgium looking for emotional support."""
    configure_logging()


if __name__ == "__main__":  # pragma: no cover
    main()
