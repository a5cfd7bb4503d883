"""The ``ivr`` command line: the one place where click is used and errors become exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ivr.audio import AudioManifest, ManifestError, load_manifest, speech_engines
from ivr.errors import ConfigErrors
from ivr.loader import default_config_dir, default_flows_dir, load_catalog
from ivr.model import Catalog
from ivr.timing import DurationOf, format_times, measure
from ivr.voices import SpeechEngines

CONFIG_OPTION = click.option(
    "--config",
    "config_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder with settings.yaml and helplines.yaml (default: IVR_CONFIG or ./config).",
)
FLOWS_OPTION = click.option(
    "--flows",
    "flows_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of *.yaml call flows (default: IVR_FLOWS or the shipped flows).",
)


def load_or_exit(
    config_dir: Path | None, flows_dir: Path | None, duration_of: DurationOf | None = None, engines: SpeechEngines | None = None
) -> Catalog:
    """Load everything, or print every error and exit with status 1."""
    try:
        return load_catalog(config_dir or default_config_dir(), flows_dir or default_flows_dir(), duration_of, engines)
    except ConfigErrors as exc:
        click.echo(exc.report(), err=True)
        sys.exit(1)


@click.group()
@click.version_option(package_name="helpline-ivr")
def main() -> None:
    """helpline-ivr: a phone menu for people in Belgium looking for emotional support."""


@main.command()
@CONFIG_OPTION
@FLOWS_OPTION
@click.option(
    "--audio",
    "audio_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of built prompt audio (default: IVR_AUDIO_DIR or ./audio); its real lengths replace the estimates.",
)
def validate(config_dir: Path | None, flows_dir: Path | None, audio_dir: Path | None) -> None:
    """Check the flows and config, and time every path to a human; print every error; exit 1 if there is one."""
    folder = audio_dir or Path(os.environ.get("IVR_AUDIO_DIR") or "audio")
    try:
        manifest = load_manifest(folder)
    except ManifestError as exc:
        # As at start-up: broken audio is a warning (callers hear <Say>), never a reason to refuse the flows.
        click.echo(f"warning: {exc}; timing from estimates, and callers hear <Say> until `ivr audio build` rewrites it", err=True)
        manifest = AudioManifest(folder)
    duration_of = manifest.duration_of if manifest.entries else None
    # Also the voices of the audio engines, which only `ivr audio build` uses (so the service does not load them).
    catalog = load_or_exit(config_dir, flows_dir, duration_of, speech_engines())
    for flow in catalog.flows.values():
        click.echo(f"{flow.file}: {len(flow.nodes)} nodes, languages {', '.join(catalog.settings.offered)}: OK")
    # Within budget, or loading would have failed.
    click.echo(format_times(catalog, measure(catalog, duration_of), measured=duration_of is not None))
    click.echo(f"{len(catalog.helplines)} helplines, {len(catalog.flows)} flow(s): no errors.")


# Further commands live in their own modules and register themselves on ``main``.
COMMAND_MODULES: tuple[str, ...] = ("ivr.audio_cli", "ivr.tools_cli", "ivr.stats.cli")
for _module in COMMAND_MODULES:
    __import__(_module)


if __name__ == "__main__":  # pragma: no cover
    main()
