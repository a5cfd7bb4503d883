"""Import rules: the pure core never reaches the edges' libraries, even through another module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from conftest import ROOT

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


# Each of these libraries is imported in exactly one module (the README's "How it works" names them).
ONE_PLACE = {
    "yaml": "ivr/yamlio.py",
    "gtts": "ivr/audio/engines.py",
    "twilio.twiml": "ivr/twiml.py",
    "twilio.rest": "ivr/twilio_connect.py",
    "holidays": "ivr/belgian_holidays.py",
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
