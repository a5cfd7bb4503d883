"""Commands for running the service: ``ivr reload`` and ``ivr fallback export``.

They register themselves on the ``ivr`` group (see ``COMMAND_MODULES`` in ``ivr/cli.py``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from ivr.cli import CONFIG_OPTION, FLOWS_OPTION, load_or_exit, main
from ivr.fallback import export, file_name


def _is_gunicorn(pid: int) -> bool:
    try:
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@main.command()
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
        click.echo(f"error: process {pid} is not a gunicorn master; give the PID of the service's master process", err=True)
        sys.exit(2)
    os.kill(pid, signal.SIGHUP)
    click.echo(f'{len(catalog.flows)} flow(s) valid; sent SIGHUP to {pid}: its log says "reloaded" or why it kept the old files.')


@main.group()
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
