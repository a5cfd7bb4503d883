"""The ivr command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DATA, ROOT
from ivr.cli import main


def test_validate_passes_on_the_shipped_flows() -> None:
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
