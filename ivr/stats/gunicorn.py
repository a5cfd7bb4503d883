"""gunicorn's hooks for the statistics, which ``ivr.serving`` (the Procfile's ``--config python:ivr.serving``) imports.

- **Metrics of every worker.** ``prometheus_client`` counts across processes only when
  ``PROMETHEUS_MULTIPROC_DIR`` is set before it is imported: this module, which gunicorn
  loads before the app, points it at an empty folder (a new temporary one unless the
  platform names one). ``child_exit`` tells the library a worker is gone.
- **The last second of statistics.** ``worker_exit`` writes what a stopping worker counted, and its
  last summary lines of refused requests.

To serve with other gunicorn settings, import these hooks into that configuration module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_folder() -> Path:
    """An empty folder for the workers' metric files, named in the environment they inherit."""
    given = os.environ.get(VARIABLE)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # a previous run's counts would be added to this one's
            stale.unlink()
        return folder
    folder = Path(tempfile.mkdtemp(prefix="ivr-metrics-"))
    os.environ[VARIABLE] = str(folder)
    os.environ["IVR_METRICS_FOLDER_MADE"] = str(folder)
    return folder


prepare_metrics_folder()  # now: gunicorn reads this module before it loads the app


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker has exited: its live gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: Any, worker: Any) -> None:
    """In a worker that stops: write what it counted since the last write, and the summary lines
    of refusals whose window is still open (:mod:`ivr.guard`)."""
    from ivr.guard import flush_all
    from ivr.stats.recorder import close_all

    close_all()
    flush_all()


def on_exit(server: Any) -> None:
    """The master stops: remove the metrics folder it made."""
    made = os.environ.get("IVR_METRICS_FOLDER_MADE")
    if made:
        shutil.rmtree(made, ignore_errors=True)
