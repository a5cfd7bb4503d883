"""The inner loop: `make lint`, `make typecheck`, `make check` and `make test-fast` run their tools, with the
versions pyproject.toml pins, and pre-commit runs the same commands."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from support import ROOT

BIN = Path(sys.executable).parent


def planned(*targets: str) -> list[str]:
    """The commands `make TARGETS` would run (make -n), with this venv as the Makefile's."""
    done = subprocess.run(
        ["make", "-n", f"VENV={BIN.parent}", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    commands = [line.replace(f"{BIN}/", "") for line in done.stdout.splitlines()]
    return [line for line in commands if "pip install" not in line and not line.startswith("touch")]  # set-up, if due


def markers() -> set[str]:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    return {line.split(":")[0] for line in options["markers"]}


def test_lint_and_typecheck_run_ruff_and_mypy_and_check_runs_both() -> None:
    lint = ["ruff check ivr tests bench", "ruff format --check ivr tests bench"]
    assert [line for line in planned("lint") if "ruff" in line] == lint
    assert [line for line in planned("typecheck") if "mypy" in line] == ["mypy"]
    assert [line for line in planned("check") if "ruff" in line or "mypy" in line] == [*lint, "mypy"]


def test_test_fast_leaves_out_every_marker_and_test_runs_everything_after_the_checks() -> None:
    [fast] = [line for line in planned("test-fast") if "pytest" in line]
    expression = re.fullmatch(r'python -m pytest -m "(.*)"', fast)
    assert expression is not None, fast
    assert set(re.findall(r"not (\w+)", expression[1])) == markers() == {"browser", "postgres", "serving", "slow"}
    full = [line for line in planned("test") if "ruff" in line or "mypy" in line or "pytest" in line]
    assert full[-1] == "python -m pytest" and len(full) == 4


def test_pre_commit_runs_the_commands_of_make_check_with_the_venvs_tools() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = [hook["entry"].removeprefix(".venv/bin/") for repo in config["repos"] for hook in repo["hooks"]]
    assert entries == ["ruff check", "ruff format --check", "mypy"]
    made = planned("check")
    assert all(any(line.startswith(entry) for line in made) for entry in entries)


def test_the_venvs_ruff_and_mypy_are_the_versions_pyproject_pins() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]["test"]
    pins = dict(line.split("==") for line in extra if line.startswith(("ruff==", "mypy==")))
    assert set(pins) == {"ruff", "mypy"}
    for tool, version in pins.items():
        shown = subprocess.run([str(BIN / tool), "--version"], capture_output=True, text=True, timeout=60, check=True).stdout
        assert shown.split()[1] == version, shown
