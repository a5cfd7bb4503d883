"""An operator's own config/ (their numbers, their transfer targets) is checked by ``ivr validate`` and ``ivr test``,
never by the developer suite: its pins of the published numbers read the suite's copy (tests/data/shipped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT, SHIPPED_CONFIG, SHIPPED_FLOWS, shipped_checkout

# The suite's files that pin the published numbers, prompts and diagrams, and those that make transfers.
PINNING = ["test_flow_content.py", "test_shipped_flow.py", "test_graph.py", "test_transfers.py", "test_callers.py"]
FAST = "not browser and not postgres and not serving and not slow"


def operators_edit(config: Path) -> None:
    """What the operator's trial did: a new number for a line, a SIP and a phone target, our number as caller ID."""
    helplines = config / "helplines.yaml"
    text = helplines.read_text(encoding="utf-8")
    assert text.count('number: "02 648 40 14"') == 1 and text.count("transfer_to: []") == 7
    text = text.replace('number: "02 648 40 14"', 'number: "02 616 26 26"')
    targets = (
        "transfer_to:\n"
        '      - address: "sip:avond@pbx.tele-onthaal.example"\n'
        "        credentials: TELE_ONTHAAL\n"
        '      - "+3290000001"'
    )
    helplines.write_text(text.replace("transfer_to: []", targets, 1), encoding="utf-8")
    settings = config / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    assert text.count("called_numbers: {}") == 1
    ours = 'called_numbers: {"+3225550100": {default_language: nl}}'
    settings.write_text(text.replace("called_numbers: {}", ours), encoding="utf-8")


def test_the_suites_copy_is_the_shipped_content_it_pins() -> None:
    """The copy holds the config files and the shipped flow; the published numbers are in it."""
    assert sorted(p.name for p in SHIPPED_CONFIG.iterdir()) == ["helplines.yaml", "scenarios.yaml", "settings.yaml"]
    assert sorted(p.name for p in SHIPPED_FLOWS.iterdir()) == sorted(p.name for p in (ROOT / "ivr" / "flows").glob("*.yaml"))
    helplines = (SHIPPED_CONFIG / "helplines.yaml").read_text(encoding="utf-8")
    for number in ('"106"', '"107"', '"108"', '"1813"', '"02 648 40 14"', '"0800 32 123"'):
        assert f"number: {number}" in helplines


@pytest.mark.slow
def test_an_operators_own_number_and_targets_leave_the_suite_green(tmp_path: Path) -> None:
    """A clone whose config/ has another number and a SIP and a phone target: ``ivr validate`` accepts the
    edit (with the SIP credentials from an env file), and the suite's number-pinning files still pass."""
    clone = shipped_checkout(tmp_path / "clone")
    operators_edit(clone / "config")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_")) and k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(clone)  # the clone's own package and tests
    (tmp_path / "env").write_text("IVR_SIP_TELE_ONTHAAL_USERNAME=avond\nIVR_SIP_TELE_ONTHAAL_PASSWORD='s3cret'\n")
    validated = subprocess.run(
        [sys.executable, "-m", "ivr", "validate", "--env-file", str(tmp_path / "env")],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert validated.returncode == 0 and "no errors" in validated.stdout, validated.stdout + validated.stderr
    files = [f"tests/{name}" for name in PINNING]
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", FAST, *files],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout and " failed" not in suite.stdout
