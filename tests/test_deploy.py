"""The deploy path a new operator follows: the buildpack's requirements file, the Procfile's release and
web steps from a fresh install, and the systemd unit for a VM."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ivr.security import sign
from support import CALL, ROOT, TwiML, free_port, procfile_command, procfile_env, procfile_web

# Files by which Python buildpacks choose a package manager; exactly one may exist, or they pick one silently.
PACKAGE_MANAGER_FILES = ("requirements.txt", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock", "pdm.lock", "setup.py")


def pins() -> dict[str, str]:
    """requirements.txt as {canonical name: version}; every line but comments and the project itself is ``name==version``."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == ".":
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
        assert match, f"requirements.txt: {line!r} is not pinned as name==version"
        found[canonicalize_name(match[1])] = match[2]
    return found


def test_one_requirements_file_pins_every_dependency_within_the_pyproject_ranges() -> None:
    assert [name for name in PACKAGE_MANAGER_FILES if (ROOT / name).exists()] == ["requirements.txt"]
    assert (ROOT / ".python-version").read_text(encoding="utf-8").strip() == "3.11"
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert lines[-1] == ".", "the project itself, last, so that the `ivr` command exists for the release step"
    pinned = pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for dependency in map(Requirement, project["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in pinned, f"{dependency.name} is in pyproject.toml but not pinned in requirements.txt"
        assert dependency.specifier.contains(pinned[name]), f"{name}=={pinned[name]} is outside pyproject's {dependency}"


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **options)  # type: ignore[call-overload, no-any-return]


@pytest.mark.serving
def test_a_fresh_install_from_the_requirements_releases_within_bounds_and_serves_a_signed_call(tmp_path: Path) -> None:
    """As a buildpack does: the checkout's files, a new venv, ``pip install -r requirements.txt``; then the
    Procfile's ``release:`` with Google's TTS unreachable (it must end, within its bound, and succeed),
    then its ``web:``, and a signed call."""
    app = tmp_path / "app"
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (app / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, app / name)
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    installed = run([*pip, "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"], cwd=app, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    checked = run([*pip, "check"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    frozen = run([*pip, "freeze", "--exclude", "helpline-ivr", "--exclude", "pip", "--exclude", "setuptools"]).stdout.splitlines()
    assert {canonicalize_name(line.split("==")[0]): line.split("==")[1] for line in frozen} == pins(), "unpinned packages"

    port = free_port()
    env = procfile_env(port, TWILIO_AUTH_TOKEN="deploy-token", IVR_AUDIO_DIR=str(tmp_path / "audio"))
    env["PATH"] = str(venv / "bin") + ":/usr/bin:/bin"
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: Google is unreachable
    release_env = env | {"HTTPS_PROXY": closed, "HTTP_PROXY": closed, "IVR_RELEASE_AUDIO_SECONDS": "5"}
    started = time.monotonic()
    release = run(["bash", "-c", procfile_command("release")], cwd=app, env=release_env, timeout=300)
    assert release.returncode == 0, release.stdout + release.stderr
    assert time.monotonic() - started < 120
    assert "callers hear them with <Say>" in release.stdout

    with procfile_web(env, tmp_path / "web.log", cwd=app) as base:
        form = dict(CALL)
        headers = {"X-Twilio-Signature": sign("deploy-token", base + "/voice", form)}
        request = urllib.request.Request(base + "/voice", data=urlencode(form).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = TwiML(response.status, response.headers["Content-Type"], response.read().decode())
    assert answer.status == 200 and answer.verbs() == ["Gather", "Redirect"] and answer.texts()


def test_the_systemd_unit_verifies_with_real_paths(tmp_path: Path) -> None:
    """``systemd-analyze verify`` exits 0 on unknown keys, so its output must be empty."""
    unit = (ROOT / "deploy" / "helpline-ivr.service").read_text(encoding="utf-8")
    assert "ivr.app:create_app() --config python:ivr.serving" in unit
    assert "--config python:ivr.serving" in procfile_command("web")  # the unit serves as the Procfile does
    assert "ExecReload=/srv/helpline-ivr/.venv/bin/ivr reload $MAINPID" in unit
    root = tmp_path / "srv"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "audio").mkdir()
    for command in ("gunicorn", "ivr"):
        (root / ".venv" / "bin" / command).symlink_to(Path(sys.executable).parent / command)
    (tmp_path / "env").write_text("TWILIO_AUTH_TOKEN=x\n", encoding="utf-8")
    filled = unit.replace("/srv/helpline-ivr", str(root)).replace("/etc/helpline-ivr/env", str(tmp_path / "env"))
    filled = re.sub(r"^(User|Group)=.*$", r"\1=root", filled, flags=re.MULTILINE)  # a user that exists here
    (tmp_path / "helpline-ivr.service").write_text(filled, encoding="utf-8")
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:  # not on every CI image; where it is, it must say nothing
        verified = run([analyze, "verify", str(tmp_path / "helpline-ivr.service")], timeout=60)
        assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
