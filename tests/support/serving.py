"""The service run for real: the Procfile's own process as a platform runs it, or an app on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask
from werkzeug.serving import make_server

from ivr.security import sign
from support.config import ROOT
from support.twilio import CALL, TwiML

SERVING_TOKEN = "serving-token"  # TWILIO_AUTH_TOKEN of a served app that signed_call calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_command(process: str, *, loopback: bool = True) -> str:
    """The Procfile's line for ``process``; bound to 127.0.0.1 unless ``loopback`` is False."""
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{process}:"):
            command = line.split(":", 1)[1].strip()
            return command.replace("0.0.0.0:", "127.0.0.1:") if loopback else command
    raise AssertionError(f"no {process}: line in the Procfile")


def procfile_env(port: int, **variables: str) -> dict[str, str]:
    """What a platform gives the Procfile: PORT, one worker, this venv on PATH, and ``variables``;
    none of the developer's TWILIO_* or IVR_* settings; the statistics in the test's own database, and the
    suite's copy of the shipped config and flows."""
    developers = ("TWILIO_", "IVR_", "DATABASE_URL")
    kept = ("IVR_STATS_DB", "IVR_CONFIG", "IVR_FLOWS")  # set by _clean_environment
    env = {k: v for k, v in os.environ.items() if k in kept or not k.startswith(developers)}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "1", **variables}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@contextmanager
def procfile_web(env: Mapping[str, str], output: Path, *, loopback: bool = True, cwd: Path = ROOT) -> Iterator[str]:
    """The Procfile's ``web:`` line run with ``bash -c`` in ``cwd``, everything it prints going to ``output``;
    yields its base URL once /healthz answers, and stops the whole process group afterwards."""
    base = f"http://127.0.0.1:{env['PORT']}"
    with open(output, "wb") as out:
        command = ["bash", "-c", procfile_command("web", loopback=loopback)]
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as health:
                    health.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # TimeoutError: a worker still booting
                assert server.poll() is None, output.read_text(encoding="utf-8", errors="replace")
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield base
    finally:
        with suppress(ProcessLookupError):  # stopped by the test already
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="simulator-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def signed_call(base: str, path: str = "/voice", fields: dict[str, str] | None = None, timeout: float = 15) -> TwiML:
    """A call's request POSTed over HTTP to a served app, signed with SERVING_TOKEN as Twilio would."""
    form = {**CALL, **(fields or {})}
    request = urllib.request.Request(
        base + path,
        data=urlencode(form).encode(),
        method="POST",
        headers={"X-Twilio-Signature": sign(SERVING_TOKEN, base + path, form)},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return TwiML(response.status, response.headers["Content-Type"], response.read().decode())


def gunicorn_processes(port: int) -> tuple[int, set[int]]:
    """The master's PID and its workers' PIDs, for the server bound to ``port``."""
    bound = f"127.0.0.1:{port}".encode()
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"gunicorn" in (entry / "cmdline").read_bytes() and bound in (entry / "cmdline").read_bytes():
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    [master] = [pid for pid, parent in parents.items() if parent not in parents]
    return master, {pid for pid, parent in parents.items() if parent == master}


def wait_for_workers(port: int, count: int, gone: set[int]) -> set[int]:
    """Wait until ``count`` workers run and none of ``gone`` is among them; their PIDs."""
    deadline = time.monotonic() + 30
    while True:
        workers = gunicorn_processes(port)[1]
        if len(workers) == count and not workers & gone:
            return workers
        assert time.monotonic() < deadline, f"workers {workers}, waiting for {count} new ones"
        time.sleep(0.1)
