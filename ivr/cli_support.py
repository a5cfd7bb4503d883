"""What every ``ivr`` subcommand module shares: the exit codes, the one way to exit with one, common options.

Subcommand modules import this module, never :mod:`ivr.cli`; ``ivr.cli`` names their commands and imports
each module when its command runs. So the command line has no import cycle, and ``ivr --help`` loads little.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from enum import IntEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from ivr.settings import DEV_MODE_VARIABLE, Settings

if TYPE_CHECKING:  # the loader is imported by the commands that load, not by `ivr --help`
    from ivr.model import Catalog
    from ivr.timing import DurationOf
    from ivr.voices import SpeechEngines


class ExitCode(IntEnum):
    """The ``ivr`` command's exit statuses; each has one meaning (``EXIT_MEANINGS``, listed in ``ivr --help``)."""

    OK = 0
    ERROR = 1
    USAGE = 2  # click's own status for these
    AUDIO_INCOMPLETE = 3
    TOOL_MISSING = 4


EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.ERROR: "the flows or config have errors (every one is printed), or the command could not do its work",
    ExitCode.USAGE: "a wrong option or argument",
    ExitCode.AUDIO_INCOMPLETE: "ivr audio build: some prompts have no audio (callers hear them with <Say>)",
    ExitCode.TOOL_MISSING: "a program the command needs is not installed (espeak-ng, sox or ffmpeg, Graphviz)",
}

# "\b": click prints the paragraph as it is, without rewrapping it.
EXIT_CODES_HELP = "\n".join(["\b", "Exit statuses:", *(f"  {code:d}  {EXIT_MEANINGS[code]}" for code in ExitCode)])


class CommandFailed(click.ClickException):
    """Ends a command with ``code`` after printing ``message`` on stderr, as it is."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.exit_code = int(code)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True, file=file)


def fail(code: ExitCode, message: str) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``: the one way an ``ivr`` command exits with an error."""
    raise CommandFailed(code, message)


CONFIG_OPTION = click.option(
    "--config",
    "config_dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="IVR_CONFIG",
    default=None,
    help="Folder with settings.yaml and helplines.yaml (default: IVR_CONFIG or ./config).",
)
FLOWS_OPTION = click.option(
    "--flows",
    "flows_dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="IVR_FLOWS",
    default=None,
    help="Folder of *.yaml call flows (default: IVR_FLOWS or the shipped flows).",
)
AUDIO_DIR_OPTION = click.option(
    "--audio-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="IVR_AUDIO_DIR",
    default=Path("audio"),
    show_default=True,
    help="Folder of the prompts' audio files and manifest.json (default: IVR_AUDIO_DIR or ./audio).",
)


def _load_env_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    from ivr.envfile import EnvFileError, load_env_file

    if value is None:
        return
    try:
        load_env_file(value)
    except EnvFileError as exc:
        fail(ExitCode.ERROR, f"error: --env-file:\n{exc}")


# Eager, so that the file is read before the options that default to a variable (IVR_CONFIG…) are.
ENV_FILE_OPTION = click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    is_eager=True,
    expose_value=False,
    callback=_load_env_file,
    help="Read VAR=value lines into the environment first, as systemd's EnvironmentFile= (e.g. /etc/helpline-ivr/env).",
)


def load_or_exit(
    config_dir: Path | None, flows_dir: Path | None, duration_of: DurationOf | None = None, engines: SpeechEngines | None = None
) -> Catalog:
    """Load everything, or print every error and exit with :attr:`ExitCode.ERROR`."""
    from ivr.errors import ConfigErrors
    from ivr.loader import load_catalog
    from ivr.settings import default_config_dir, default_flows_dir

    try:
        return load_catalog(config_dir or default_config_dir(), flows_dir or default_flows_dir(), duration_of, engines)
    except ConfigErrors as exc:
        fail(ExitCode.ERROR, exc.report())


def in_process_settings(config_dir: Path | None, flows_dir: Path | None, *, statistics: bool = True) -> Settings:
    """Settings for calls played in-process (``ivr simulate``, ``ivr test``): the environment's, with a fresh auth
    token so that every request is signed and checked as in production, never development mode, and the
    folders given; ``statistics=False`` counts nothing (scenarios are not callers)."""
    env = dict(os.environ)
    env["TWILIO_AUTH_TOKEN"] = secrets.token_hex(16)
    env.pop(DEV_MODE_VARIABLE, None)
    if not statistics:
        env["IVR_STATISTICS"] = "off"
    settings = Settings.from_env(env)
    if config_dir is not None:
        settings = replace(settings, config_dir=config_dir)
    if flows_dir is not None:
        settings = replace(settings, flows_dir=flows_dir)
    return settings
