"""``--env-file``: the service's environment file (systemd's EnvironmentFile=), read by the real ``ivr`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ivr.envfile import read_env_file
from support import DATA


def ivr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"IVR_CONFIG", "IVR_FLOWS"}}
    return subprocess.run([sys.executable, "-m", "ivr", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_validate_checks_the_config_and_flows_the_env_file_names(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    lines = ["# the service's", f"IVR_CONFIG={DATA / 'config'}", "; systemd's other comment", f"IVR_FLOWS = '{DATA / 'flows'}'"]
    env_file.write_text("\n".join(lines) + "\n")
    done = ivr("validate", "--env-file", str(env_file), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mini.yaml" in done.stdout  # the test flows the file names, not the shipped ones
    assert "helpline.yaml" not in done.stdout


def test_any_command_takes_the_env_file_before_its_name(tmp_path: Path) -> None:
    announcement = tmp_path / "announcement.json"
    env_file = tmp_path / "env"
    env_file.write_text(f"IVR_ANNOUNCEMENT_FILE={announcement}\nIVR_CONFIG={DATA / 'config'}\nIVR_FLOWS={DATA / 'flows'}\n")
    done = ivr("--env-file", str(env_file), "announce", "clear", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed {announcement}" in done.stdout


def test_lines_systemd_would_read_otherwise_are_refused_each_by_its_line(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    lines = [
        "TWILIO_AUTH_TOKEN=fine",
        "IVR_SIP_X_PASSWORD=abc #def",  # systemd keeps " #def"
        "export IVR_LOG_KEY=k",  # systemd does not take export
        "IVR_PUBLIC_URL=https://a\\",  # systemd joins the next line
        "this is not an assignment secret-word",
        '2FA="x"',
        'IVR_ADMIN_PASSWORD="a\\"b"',
    ]
    env_file.write_text("\n".join(lines) + "\n")
    done = ivr("validate", "--env-file", str(env_file), cwd=tmp_path)
    assert done.returncode == 1
    assert "no errors" not in done.stdout
    for line, fragment in [
        (2, "put the value in single quotes"),
        (3, "does not take 'export'"),
        (4, "write the value on one line"),
        (5, "not a VAR=value line"),
        (6, "'2FA' is not a variable name"),
        (7, "use single quotes"),
    ]:
        assert f"{env_file}:{line}: " in done.stderr and fragment in done.stderr, (line, done.stderr)
    assert f"{env_file}:1:" not in done.stderr
    assert "fine" not in done.stderr and "secret-word" not in done.stderr  # a value is never printed


def test_a_missing_env_file_is_a_clear_error(tmp_path: Path) -> None:
    done = ivr("validate", "--env-file", str(tmp_path / "nope"), cwd=tmp_path)
    assert done.returncode == 1
    assert f"{tmp_path / 'nope'}: cannot read the environment file (No such file or directory)" in done.stderr


def test_values_are_read_as_systemd_reads_them(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        "# comment\n; comment\n\nPLAIN=a b c  \n  SPACED = x \nSINGLE='  kept $HOME # too '\nDOUBLE=\"two words\"\nEMPTY=\n"
    )
    assert read_env_file(env_file) == {
        "PLAIN": "a b c",
        "SPACED": "x",
        "SINGLE": "  kept $HOME # too ",
        "DOUBLE": "two words",
        "EMPTY": "",
    }
