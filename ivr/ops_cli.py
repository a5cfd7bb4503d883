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
