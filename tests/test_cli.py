"""The ivr command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ivr.cli import COMMANDS, main
from ivr.cli_support import ExitCode
from support import DATA, ROOT


def test_validate_passes_on_config_as_shipped() -> None:
    """The repository's own config/ and flows (the suite pins their content in tests/data/shipped)."""
    result = CliRunner().invoke(main, ["validate", "--config", str(ROOT / "config"), "--flows", str(ROOT / "ivr" / "flows")])
    assert result.exit_code == 0, result.output
    assert "no errors" in result.output


def test_validate_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for name in ("missing_target", "duplicate_key"):
        shutil.copy(DATA / "broken" / f"{name}.yaml", flows / f"{name}.yaml")
    result = CliRunner().invoke(main, ["validate", "--config", str(DATA / "config"), "--flows", str(flows)])
    assert result.exit_code == 1
    assert "missing_target.yaml:24:" in result.output and "unknown node 'infos'" in result.output
    assert "duplicate_key.yaml:33:" in result.output and "duplicate key 'next'" in result.output
    assert "2 errors found" in result.output


def test_console_script_runs_as_a_module() -> None:
    result = subprocess.run([sys.executable, "-m", "ivr", "validate"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["alias_bomb", "recursive_anchor"])
def test_validate_refuses_a_hostile_yaml_file_at_once_with_its_position(tmp_path: Path, name: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(DATA / "broken" / f"{name}.yaml", flows / f"{name}.yaml")
    command = [sys.executable, "-m", "ivr", "validate", "--config", str(DATA / "config"), "--flows", str(flows)]
    started = time.monotonic()
    # Before the bound, the bomb ran for minutes and took gigabytes: the timeout makes that a failure.
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    line = {"alias_bomb": 7, "recursive_anchor": 4}[name]
    assert f"flows/{name}.yaml:{line}:" in result.stderr and "fix: " in result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr


def test_help_lists_every_exit_status_once_with_its_meaning() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = [line.split(None, 1) for line in result.output.split("Exit statuses:")[1].strip().splitlines()]
    assert [int(code) for code, _ in listed] == [int(code) for code in ExitCode]
    assert len({meaning for _, meaning in listed}) == len(ExitCode)


def test_subcommand_modules_never_import_the_group_back() -> None:
    """cli.py adds the commands; a module that imported ``ivr.cli`` back would make an import cycle."""
    modules = "ivr.audio_cli, ivr.ops_cli, ivr.status_cli, ivr.tools_cli, ivr.simulate_cli, ivr.scenario_cli"
    command = f"import sys, {modules}; print(sorted(m for m in sys.modules if m == 'ivr.cli'))"
    done = subprocess.run([sys.executable, "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
    assert main.list_commands(click.Context(main)) == [
        "announce",
        "audio",
        "fallback",
        "graph",
        "prompts",
        "reload",
        "simulate",
        "stats",
        "status",
        "test",
        "twilio",
        "validate",
    ]


def test_help_lists_each_command_with_its_own_first_line_as_click_would_having_imported_them_all() -> None:
    ctx = click.Context(main)
    commands = [main.get_command(ctx, name) for name in main.list_commands(ctx)]
    assert [command.name for command in commands if command is not None] == sorted(COMMANDS)
    for command in filter(None, commands):
        assert COMMANDS[str(command.name)].help == command.get_short_help_str(limit=1000), command.name
    eager = click.Group(main.name, commands=list(filter(None, commands)), params=main.params, help=main.help, epilog=main.epilog)
    lazy_help, eager_help = CliRunner().invoke(main, ["--help"]), CliRunner().invoke(eager, ["--help"])
    assert lazy_help.exit_code == eager_help.exit_code == 0
    assert lazy_help.output == eager_help.output


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["valdiate"])
    assert result.exit_code == ExitCode.USAGE
    assert "No such command 'valdiate'" in result.output


def test_a_missing_program_has_its_own_exit_status_not_the_failed_prompts_one(tmp_path: Path) -> None:
    # In a process of its own: which programs exist is looked up once per process.
    args = ["audio", "build", "--engine", "espeak", "--config", str(DATA / "config"), "--flows", str(DATA / "flows")]
    command = [sys.executable, "-m", "ivr", *args, "--audio-dir", str(tmp_path / "audio")]
    env = {"PATH": str(tmp_path)}  # no espeak-ng, sox or ffmpeg
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == ExitCode.TOOL_MISSING == 4, done.stderr
    assert "--engine espeak needs the Debian packages: espeak-ng" in done.stderr
    assert not (tmp_path / "audio").exists()


def test_reload_refuses_a_pid_that_is_not_gunicorn_as_a_usage_error() -> None:
    args = ["reload", "1", "--config", str(DATA / "config"), "--flows", str(DATA / "flows")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == ExitCode.USAGE == 2
    assert "process 1 is not a gunicorn master" in result.output
