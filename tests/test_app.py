"""The application factory and the Procfile's web process."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest

from conftest import CALL, DATA, ROOT
from ivr.app import create_app
from ivr.errors import ConfigErrors
from ivr.security import sign
from ivr.settings import Settings


def test_create_app_refuses_a_broken_flow(settings: Settings, tmp_path: Path) -> None:
    shutil.copy(DATA / "broken" / "missing_target.yaml", tmp_path / "flow.yaml")
    with pytest.raises(ConfigErrors, match="unknown node 'infos'"):
        create_app(replace(settings, config_dir=DATA / "config", flows_dir=tmp_path))


def test_create_app_reads_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "env-token")
    monkeypatch.chdir(ROOT)
    app = create_app()
    assert app.extensions["ivr"].settings.auth_token == "env-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_command(process: str) -> str:
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{process}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {process}: line in the Procfile")


def test_procfile_web_line_serves_signed_calls() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env |= {"PORT": str(port), "TWILIO_AUTH_TOKEN": "procfile-token", "WEB_CONCURRENCY": "1"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # Run it as platforms do (bash -c), in its own process group so the test can stop all of it.
    server = subprocess.Popen(
        ["bash", "-c", procfile_command("web")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as health:
                    health.read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        form = dict(CALL)
        request = urllib.request.Request(
            base + "/voice",
            data=urlencode(form).encode(),
            method="POST",
            headers={"X-Twilio-Signature": sign("procfile-token", base + "/voice", form)},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/xml")
            assert b"<Gather" in response.read()
        unsigned = urllib.request.Request(base + "/voice", data=urlencode(form).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(unsigned, timeout=5)
        assert refused.value.code == 403
        refused.value.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        if server.stderr:
            server.stderr.close()


def test_procfile_refuses_dev_mode() -> None:
    assert "IVR_PRODUCTION=1" in shlex.split(procfile_command("web"))[0]
