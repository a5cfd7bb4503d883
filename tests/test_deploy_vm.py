"""The VM path: deploy/helpline-ivr.service's own commands, run as systemd runs them: as an unprivileged user, in an
application folder it cannot write, with the unit's environment and environment file and its state directory."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ivr.security import sign
from support import CALL, ROOT, free_port, shipped_checkout

UNIT = ROOT / "deploy" / "helpline-ivr.service"
ENV_TEMPLATE = ROOT / "deploy" / "helpline-ivr.env"
TOKEN = "vm-auth-token"


def unit_values(text: str, key: str) -> list[str]:
    """Every ``key=`` line of the unit's [Service] section, in order."""
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def as_systemd_would() -> tuple[dict[str, Any], str]:
    """subprocess options that drop to an unprivileged user when the tests run as root (as User= does), and its name."""
    if os.geteuid() != 0:
        return {}, pwd.getpwuid(os.geteuid()).pw_name
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}, "nobody"


def read_only(tree: Path) -> None:
    """No write bit anywhere in ``tree``: as ProtectSystem=strict, and a root-owned clone, make it for the service."""
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **options)  # type: ignore[call-overload, no-any-return]


def interpreter(options: dict[str, Any]) -> str:
    """This Python's version, runnable by the service's user: the system's, as on a VM (this one may sit in root's
    home, which the user cannot enter)."""
    for candidate in (sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        try:
            version = run([candidate, "-c", "import sys, venv; print(sys.version_info[:2])"], **options)
        except PermissionError:
            continue
        if version.stdout.strip() == str(sys.version_info[:2]):
            return candidate
    pytest.fail(f"no Python {sys.version_info[:2]} with venv that an unprivileged user can run: install Debian's python3-venv")


def venv_in(folder: Path, python: str) -> None:
    """A venv in the clone, as the deploying guide's steps make, with the packages this checkout has installed (not a
    second ``pip install -r requirements.txt``: tests/test_deploy.py installs afresh), and its two commands."""
    assert run([python, "-m", "venv", "--without-pip", str(folder)]).returncode == 0
    ours = sysconfig.get_paths()["purelib"]
    (site_packages,) = folder.glob("lib/python3*/site-packages")
    (site_packages / "checkout.pth").write_text(f"import site; site.addsitedir({ours!r})\n", encoding="utf-8")
    for command in ("ivr", "gunicorn"):
        script = (Path(sys.executable).parent / command).read_text(encoding="utf-8").split("\n", 1)[1]
        (folder / "bin" / command).write_text(f"#!{folder / 'bin' / 'python'}\n{script}", encoding="utf-8")
        (folder / "bin" / command).chmod(0o755)


@pytest.fixture
def machine() -> Iterator[Path]:
    """A folder every user may enter (pytest's own temporary folders are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="helpline-vm-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:  # give the write bits back, so that it can be removed
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(folder)


@pytest.mark.serving
def test_the_units_commands_run_as_an_unprivileged_user_in_a_read_only_folder(machine: Path) -> None:
    app, state, etc = machine / "srv", machine / "state", machine / "etc"
    shipped_checkout(app)  # as published: the operator's own config/ is ivr validate's and ivr test's to check
    options, user = as_systemd_would()
    venv_in(app / ".venv", interpreter(options))

    def place(text: str) -> str:
        return text.replace("/srv/helpline-ivr", str(app)).replace("/var/lib/helpline-ivr", str(state))

    # The deploying guide's steps: the environment file from the template, its secrets filled in, readable by the service.
    etc.mkdir()
    env_text = place(ENV_TEMPLATE.read_text(encoding="utf-8")).replace("TWILIO_AUTH_TOKEN=\n", f"TWILIO_AUTH_TOKEN={TOKEN}\n")
    (etc / "env").write_text(env_text, encoding="utf-8")
    (etc / "env").chmod(0o640)
    if options:
        os.chown(etc / "env", 0, options["group"])
    # StateDirectory=: systemd makes it, owned by the service's user, before the ExecStartPre= commands.
    unit = UNIT.read_text(encoding="utf-8")
    assert unit_values(unit, "StateDirectory") == ["helpline-ivr"]
    state.mkdir()
    state.chmod(int(unit_values(unit, "StateDirectoryMode")[0], 8))
    if options:
        os.chown(state, options["user"], options["group"])
    read_only(app / "config")
    read_only(app / "ivr")
    read_only(app)  # audio/ stays writable only through ReadWritePaths=; nothing here needs it
    assert unit_values(unit, "EnvironmentFile") == ["/etc/helpline-ivr/env"]
    unit = place(unit).replace("/etc/helpline-ivr/env", str(etc / "env"))

    # The process's environment, as systemd builds it: a bare PATH and HOME, Environment=, then the file.
    home = pwd.getpwnam(user).pw_dir
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
    for line in unit_values(unit, "Environment"):
        env |= dict(item.split("=", 1) for item in shlex.split(line))
    env |= {k: v for k, v in (line.split("=", 1) for line in env_text.splitlines() if line and not line.startswith("#"))}
    workdir = Path(unit_values(unit, "WorkingDirectory")[0])

    for line in unit_values(unit, "ExecStartPre"):
        command = shlex.split(line.removeprefix("-"))
        done = run(command, cwd=workdir, env=env, timeout=300, **options)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
    assert (state / "stats.sqlite3").is_file()

    port = free_port()
    (start,) = unit_values(unit, "ExecStart")
    command = shlex.split(start.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    log = machine / "service.log"
    with open(log, "wb") as out:
        service = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **options
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as health:
                    health.read()
                break
            except OSError:
                assert service.poll() is None, log.read_text(encoding="utf-8", errors="replace")
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        form = dict(CALL)
        signature = sign(TOKEN, env["IVR_PUBLIC_URL"] + "/voice", form)  # Twilio signs the public URL nginx serves
        headers = {"X-Twilio-Signature": signature}
        request = urllib.request.Request(base + "/voice", data=urlencode(form).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and b"<Gather" in response.read()
        deadline = time.monotonic() + 20
        while not counted(state / "stats.sqlite3"):
            assert time.monotonic() < deadline, "the call was not counted\n" + log.read_text(encoding="utf-8", errors="replace")
            time.sleep(0.3)
    finally:
        os.killpg(service.pid, 15)
        service.wait(timeout=30)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert "statistics dropped" not in output and "Traceback" not in output, output

    # The deploying guide's operator commands: as the service's user, from anywhere, with only the environment file.
    ivr = [str(app / ".venv" / "bin" / "ivr"), "--env-file", str(etc / "env")]
    bare = {"PATH": env["PATH"], "HOME": home, "LANG": "C.UTF-8"}
    stats = run([*ivr, "stats", "--days", "1"], cwd="/", env=bare, timeout=120, **options)
    assert stats.returncode == 0 and "error" not in stats.stdout + stats.stderr, stats.stdout + stats.stderr
    assert "Calls per day" in stats.stdout and "<5" in stats.stdout  # the signed call, read back
    scenarios = run([*ivr, "test"], cwd="/", env=bare, timeout=300, **options)
    assert scenarios.returncode == 0 and " 0 failed" in scenarios.stdout, scenarios.stdout + scenarios.stderr


def counted(database: Path) -> bool:
    """Whether any statistics table holds a row (the call in progress, or its counts)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = [table for table in tables if table != "alembic_version"]
        return any(connection.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() for table in counts)
