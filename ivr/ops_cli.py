"""Commands for running the service: ``ivr validate``, ``ivr reload`` and ``ivr fallback export``.

:mod:`ivr.cli` adds them to the ``ivr`` group.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import click

from ivr.audio import AudioManifest, ManifestError, load_manifest, speech_engines
from ivr.cli_support import AUDIO_DIR_OPTION, CONFIG_OPTION, FLOWS_OPTION, ExitCode, fail, load_or_exit
from ivr.fallback import export, file_name
from ivr.timing import format_times, measure


@click.command()
@CONFIG_OPTION
@FLOWS_OPTION
@AUDIO_DIR_OPTION
def validate(config_dir: Path | None, flows_dir: Path | None, audio_dir: Path) -> None:
    """Check the flows and config, and time every path to a human; print every error; exit 1 if there is one.

    Where the audio is built, its real lengths replace the estimates.
    """
    try:
        manifest = load_manifest(audio_dir)
    except ManifestError as exc:
        # As at start-up: broken audio is a warning (callers hear <Say>), never a reason to refuse the flows.
        click.echo(f"warning: {exc}; timing from estimates, and callers hear <Say> until `ivr audio build` rewrites it", err=True)
        manifest = AudioManifest(audio_dir)
    duration_of = manifest.duration_of if manifest.entries else None
    # Also the voices of the audio engines, which only `ivr audio build` uses (so the service does not load them).
    catalog = load_or_exit(config_dir, flows_dir, duration_of, speech_engines())
    for flow in catalog.flows.values():
        click.echo(f"{flow.file}: {len(flow.nodes)} nodes, languages {', '.join(catalog.settings.offered)}: OK")
    # Within budget, or loading would have failed.
    click.echo(format_times(catalog, measure(catalog, duration_of), measured=duration_of is not None))
    click.echo(f"{len(catalog.helplines)} helplines, {len(catalog.flows)} flow(s): no errors.")


def _is_gunicorn(pid: int) -> bool:
    try:
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@click.command()
@click.argument("pid", type=int)
@CONFIG_OPTION
@FLOWS_OPTION
def reload(pid: int, config_dir: Path | None, flows_dir: Path | None) -> None:
    """Take new flows and config files without a restart: check them, then send SIGHUP to the service.

    PID is gunicorn's master (systemd's $MAINPID). Nothing is sent when the files have errors
    (they are printed; exit 1). On SIGHUP the master loads and checks the files again and
    serves them only if they are valid; otherwise it keeps what it served and logs why.
    """
    catalog = load_or_exit(config_dir, flows_dir)
    if not _is_gunicorn(pid):
        fail(ExitCode.USAGE, f"error: process {pid} is not a gunicorn master; give the PID of the service's master process")
    os.kill(pid, signal.SIGHUP)
    click.echo(f'{len(catalog.flows)} flow(s) valid; sent SIGHUP to {pid}: its log says "reloaded" or why it kept the old files.')


@click.group()
def fallback() -> None:
    """The fallback TwiML, for a host that does not go down with this one."""


@fallback.command("export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@CONFIG_OPTION
@FLOWS_OPTION
def fallback_export(folder: Path, config_dir: Path | None, flows_dir: Path | None) -> None:
    """Write the fallback TwiML into FOLDER as static files: one per called number, and fallback.xml.

    Each says the lines' numbers and 112 in every offered language (the called number's first);
    none dials, and none holds a credential or a URL. Serve them from another host (a TwiML Bin,
    an object store), then: ivr twilio connect NUMBER --fallback-url URL-OF-ITS-FILE.
    """
    catalog = load_or_exit(config_dir, flows_dir)
    written = export(catalog, folder)
    for name, path in written.items():
        number = next((n for n in catalog.settings.called_numbers if file_name(n) == name), None)
        click.echo(f"{path}: for {number or 'any other number'}")
