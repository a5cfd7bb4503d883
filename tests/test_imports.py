"""Import rules: the pure core never reaches the edges' libraries, even through another module."""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

EDGES = {"flask", "werkzeug", "twilio", "yaml", "gtts", "requests", "click"}


def reached(module: str) -> set[str]:
    """Every top-level package importing ``module`` loads, directly or not, in a fresh interpreter."""
    code = f"import importlib, json, sys; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return {name.split(".")[0] for name in json.loads(done.stdout)}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("ivr.engine", EDGES),  # the engine: (state, key) -> what happens next, and nothing else
        ("ivr.understanding", EDGES),  # what said words mean: pure, like the engine that asks
        ("ivr.model", EDGES),
        ("ivr.state", EDGES),
        ("ivr.timing", EDGES - {"yaml"}),  # errors carry YAML positions (ivr.yamlio), never a web library
    ],
)
def test_the_core_never_reaches_the_edges_libraries(module: str, forbidden: set[str]) -> None:
    loaded = reached(module)
    assert "ivr" in loaded  # the probe saw the import at all
    assert not loaded & forbidden, f"{module} reaches {sorted(loaded & forbidden)}"


def test_the_probe_sees_indirect_imports() -> None:
    # What a module loads through the modules it imports counts: the app reaches every edge library that way.
    assert {"flask", "twilio", "yaml"} <= reached("ivr.app")


def loaded_by_ivr(*args: str) -> set[str]:
    """Every module ``ivr ARGS`` loads, in a fresh interpreter (its output goes first, the list last)."""
    run = f"from ivr.cli import main; main({list(args)!r}, standalone_mode=False)"
    code = f"import json, sys; {run}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_ivr_help_loads_no_web_telephony_or_database_library() -> None:
    # Each command's module is imported when that command runs: `ivr --help` stays quick (bench/cli_startup.py).
    loaded = loaded_by_ivr("--help")
    assert "ivr.cli" in loaded  # the probe saw the command line
    heavy = {"flask", "werkzeug", "jinja2", "twilio", "sqlalchemy", "alembic", "prometheus_client", "yaml", "gtts", "requests"}
    assert not {name.split(".")[0] for name in loaded} & heavy
    assert not {name for name in loaded if name.endswith("_cli")}
    assert "ivr.tools_cli" in loaded_by_ivr("graph", "--help")  # a command asked for its own help is imported


# Each of these libraries is imported in exactly one module (docs/development.md, "How it works", names them).
ONE_PLACE = {
    "yaml": "ivr/yamlio.py",
    "gtts": "ivr/audio/engines.py",
    "twilio.twiml": "ivr/twiml.py",
    "twilio.rest": "ivr/twilio_connect.py",
    "text_to_num": "ivr/spelled.py",
    "holidays": "ivr/belgian_holidays.py",
    "dotenv": "ivr/envfile.py",
}


def test_each_library_is_imported_in_one_place() -> None:
    importers: dict[str, set[str]] = {library: set() for library in ONE_PLACE}
    for path in sorted((ROOT / "ivr").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                for library in ONE_PLACE:
                    if name == library or name.startswith(library + "."):
                        importers[library].add(path.relative_to(ROOT).as_posix())
    assert importers == {library: {module} for library, module in ONE_PLACE.items()}


# --- the shape of the package: no import circle, no module past 500 lines --------------------------------


def ivr_modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name, for its __init__.py)."""
    modules = {}
    for path in sorted((ROOT / "ivr").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Which ivr modules each ivr module imports, at the top or inside a function (a lazy import is still an
    edge: a circle through one works only as long as the import stays where it is)."""
    modules = ivr_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from ivr.stats import report` imports the module ivr.stats.report; `from ivr.model import Flow`, ivr.model
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names]
            else:
                assert not isinstance(node, ast.ImportFrom), f"{path}:{node.lineno}: a relative import: write it whole"
                continue
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def test_no_import_circle_among_ivr_modules() -> None:
    graph = import_graph()
    assert graph["ivr.app"] >= {"ivr.web", "ivr.stats.web"}  # the probe sees imports at all
    assert "ivr.stats.report" in graph["ivr.stats.admin"]  # and those inside a function
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as circle:
        pytest.fail(f"import circle: {' -> '.join(circle.args[1])}")


MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    paths = ivr_modules().values()
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines()) for path in paths}
    assert len(sizes) > 50 and max(sizes.values()) > 100  # the probe read the package
    assert {path: lines for path, lines in sizes.items() if lines > MAX_LINES} == {}
