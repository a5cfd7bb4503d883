"""The application factory and the Procfile's web process."""

from __future__ import annotations

import shlex
import shutil
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest

from ivr.app import create_app, reload_app
from ivr.errors import ConfigErrors
from ivr.security import sign
from ivr.settings import Settings
from support import CALL, DATA, ROOT, SHIPPED_FLOWS, free_port, procfile_command, procfile_env, procfile_web


def test_create_app_refuses_a_broken_flow(settings: Settings, tmp_path: Path) -> None:
    shutil.copy(DATA / "broken" / "missing_target.yaml", tmp_path / "flow.yaml")
    with pytest.raises(ConfigErrors, match="unknown node 'infos'"):
        create_app(replace(settings, config_dir=DATA / "config", flows_dir=tmp_path))


def test_create_app_reads_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "env-token")
    monkeypatch.chdir(ROOT)
    app = create_app()
    assert app.extensions["ivr"].settings.auth_token == "env-token"


@pytest.mark.serving
def test_procfile_web_line_serves_signed_calls(tmp_path: Path) -> None:
    # The line exactly as written (0.0.0.0:$PORT), with nothing but PORT and the token set.
    env = procfile_env(free_port(), TWILIO_AUTH_TOKEN="procfile-token")
    with procfile_web(env, tmp_path / "output.log", loopback=False) as base:
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


def test_procfile_refuses_dev_mode() -> None:
    assert "IVR_PRODUCTION=1" in shlex.split(procfile_command("web", loopback=False))[0]


def test_a_reload_serves_and_counts_the_new_flows_and_refuses_broken_ones(settings: Settings, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(SHIPPED_FLOWS, flows)
    app = create_app(replace(settings, flows_dir=flows))
    before = app.extensions["ivr"]
    flow = flows / "helpline.yaml"
    flow.write_text(
        flow.read_text(encoding="utf-8").replace("Voor Nederlands, druk 1.", "Hallo. Voor Nederlands, druk 1."), encoding="utf-8"
    )
    assert reload_app(app)
    after = app.extensions["ivr"]
    assert after is not before and after.catalog is app.extensions["ivr.stats"].catalog  # the statistics count the new flows
    welcome = after.catalog.flows["helpline"].nodes["welcome"]
    assert welcome.prompt.parts("nl")[0].text.startswith("Hallo.")  # type: ignore[union-attr]
    flow.write_text("start: [", encoding="utf-8")
    assert not reload_app(app) and app.extensions["ivr"] is after  # a broken file changes nothing
