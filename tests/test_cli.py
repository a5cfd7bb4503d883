"""The ivr command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
