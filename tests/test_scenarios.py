"""``ivr test``: the callers' scenarios shipped beside the config, played through the real webhook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from ivr.cli import main
from support import ROOT, SHIPPED_CONFIG, SHIPPED_FLOWS, config_copy, with_speech_on, with_transfer_targets


def ivr_test(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process, as an operator runs it."""
    command = [sys.executable, "-m", "ivr", "test", "--config", str(config), "--flows", str(SHIPPED_FLOWS), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=300, check=False)


def test_the_shipped_scenarios_pin_every_published_number() -> None:
    text = (SHIPPED_CONFIG / "scenarios.yaml").read_text(encoding="utf-8")
    for number in ("106", "107", "108", "1813", "0800 32 123", "02 648 40 14", "112"):
        assert f'"{number}"' in text
    assert (ROOT / "config" / "scenarios.yaml").is_file()  # shipped beside config/, for operators to update


def test_the_shipped_scenarios_pass_on_the_shipped_content() -> None:
    result = CliRunner().invoke(main, ["test", "--config", str(SHIPPED_CONFIG), "--flows", str(SHIPPED_FLOWS)])
    assert result.exit_code == 0, result.output
    assert "6 scenarios: 6 passed, 0 failed." in result.output
    assert "ok    " in result.output and "FAIL" not in result.output


def test_a_wrong_number_fails_naming_the_line_what_was_expected_and_what_was_heard_then_passes_when_fixed(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    helplines = config / "helplines.yaml"
    right = helplines.read_text(encoding="utf-8")
    helplines.write_text(right.replace('number: "107"', 'number: "117"', 1), encoding="utf-8")

    wrong = ivr_test(config)
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    lines = (config / "scenarios.yaml").read_text(encoding="utf-8").splitlines()
    expected_at = next(i for i, line in enumerate(lines, 1) if '"107", "112", "0800 32 123"' in line)
    assert f"scenarios.yaml:{expected_at}:" in wrong.stdout
    assert "expected to hear 107 (said “1 0 7”), but never did" in wrong.stdout
    assert "Télé-Accueil, jour et nuit, gratuitement et anonymement, au 1 1 7." in wrong.stdout  # what was heard
    assert "FAIL  " in wrong.stdout and "2 failed" in wrong.stdout
    assert "A scenario failed" in wrong.stderr

    helplines.write_text(right, encoding="utf-8")
    fixed = ivr_test(config)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "6 passed, 0 failed" in fixed.stdout
    # What an operator reads is the scenarios' outcome, not the webhook's log line per turn of each call.
    assert '"event":"turn"' not in wrong.stderr + fixed.stderr, fixed.stderr


def test_a_transfer_target_must_ring_within_the_seconds_at_the_time_given(tmp_path: Path) -> None:
    config = config_copy(tmp_path, with_transfer_targets)
    (config / "scenarios.yaml").write_text(
        "scenarios:\n"
        "  - name: rings the first target\n"
        '    keys: "1,0"\n'
        '    at: "2026-12-25 03:00"\n'
        '    dial: ["+3225550011"]\n'
        "    within: 120\n"
        "  - name: the second, when the first is busy, too late\n"
        '    keys: "1,0"\n'
        "    transfer: busy\n"
        '    dial: ["+3225550012"]\n'
        "    within: 5\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["test", "--config", str(config), "--flows", str(SHIPPED_FLOWS)])
    assert result.exit_code == 1, result.output
    assert "ok    " in result.output and "rings the first target (at Friday 25 December 2026, 03:00 CET (UTC+1))" in result.output
    assert "scenarios.yaml:10:12: expected to ring +3225550012 within 5 s, but only at " in result.output
    assert "rings +3225550011" in result.output and "rings +3225550012" in result.output


def test_mistakes_in_the_scenarios_are_each_named_and_no_call_is_played(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    (config / "scenarios.yaml").write_text(
        "scenarios:\n"
        "  - name: bad\n"
        '    keys: "1,x"\n'
        '    at: "2026-03-29 02:30"\n'
        "    transfer: maybe\n"
        '    dial: ["0470 12 34 56"]\n'
        "    within: soon\n"
        "    heer: [106]\n"
        "  - name: nothing\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["test", "--config", str(config), "--flows", str(SHIPPED_FLOWS)])
    assert result.exit_code == 1
    for fragment in (
        "scenarios.yaml:3:11: scenarios[0].keys: 'x' is not a phone key",
        "scenarios.yaml:4:9: scenarios[0].at: ",
        "scenarios.yaml:5:15: scenarios[0].transfer: 'maybe' is not how a transfer ends",
        "scenarios.yaml:6:12: scenarios[0].dial[0]: '0470 12 34 56' is not an E.164 number or a SIP address",
        "scenarios.yaml:7:13: scenarios[0].within: expected a number from 1 to 3600",
        "scenarios.yaml:8:5: scenarios[0].heer: unknown key 'heer'",
        "did you mean 'hear'?",
        "scenarios.yaml:9:5: scenarios[1]: the scenario expects nothing",
        "no scenario was played",
    ):
        assert fragment in result.output, (fragment, result.output)
    assert "ok  " not in result.output


def test_a_config_folder_without_scenarios_says_so(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    (config / "scenarios.yaml").unlink()
    result = CliRunner().invoke(main, ["test", "--config", str(config), "--flows", str(SHIPPED_FLOWS)])
    assert result.exit_code == 1 and "scenarios.yaml:1:1: (document): no scenarios file here" in result.output


def test_words_are_said_where_a_menu_listens_and_are_silence_where_it_does_not(tmp_path: Path) -> None:
    scenario = 'scenarios:\n  - name: speaks\n    say: ["Nederlands", "praten"]\n    hear: ["Bel Tele-Onthaal op 1 0 6"]\n'
    spoken = config_copy(tmp_path / "on", with_speech_on)
    (spoken / "scenarios.yaml").write_text(scenario, encoding="utf-8")
    heard = CliRunner().invoke(main, ["test", "-v", "--config", str(spoken), "--flows", str(SHIPPED_FLOWS)])
    assert heard.exit_code == 0, heard.output
    keys_only = tmp_path / "off"
    shutil.copytree(SHIPPED_CONFIG, keys_only)
    (keys_only / "scenarios.yaml").write_text(scenario, encoding="utf-8")
    unheard = CliRunner().invoke(main, ["test", "--config", str(keys_only), "--flows", str(SHIPPED_FLOWS)])
    assert unheard.exit_code == 1 and "but never did" in unheard.output
