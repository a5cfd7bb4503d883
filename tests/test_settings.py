"""Settings from the environment: production never runs without signature checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cogapp import Cog

from ivr.logs import call_ref
from ivr.settings import DEFAULT_RETENTION_DAYS, URL, VARIABLES, Settings, SettingsError, Variable, markdown_table, stats_database
from ivr.stats.recorder import RecorderConfig
from support import ROOT

CALL_SID = "CA0123456789abcdef0123456789abcdef"


def test_missing_token_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN is not set"):
        Settings.from_env({})


def test_dev_mode_allows_no_token_but_never_in_production() -> None:
    assert Settings.from_env({"IVR_DEV_MODE": "1"}).auth_token is None
    with pytest.raises(SettingsError, match="IVR_PRODUCTION"):
        Settings.from_env({"IVR_DEV_MODE": "1", "IVR_PRODUCTION": "1", "TWILIO_AUTH_TOKEN": "x"})


def test_values_are_read() -> None:
    s = Settings.from_env(
        {
            "TWILIO_AUTH_TOKEN": "tok",
            "IVR_PUBLIC_URL": "https://ivr.example.org/",
            "IVR_CONFIG": "/etc/ivr",
            "IVR_LOG_KEY": "k",
            "IVR_TRUST_PROXY": "true",
        }
    )
    assert (s.auth_token, s.public_url, s.config_dir, s.log_key, s.trust_proxy, s.dev_mode) == (
        "tok",
        "https://ivr.example.org",
        Path("/etc/ivr"),
        b"k",
        True,
        False,
    )


def test_log_key_defaults_to_a_secret_derived_from_the_token() -> None:
    token = "0123456789abcdef0123456789abcdef"
    derived = Settings.from_env({"TWILIO_AUTH_TOKEN": token}).log_key
    assert derived == Settings.from_env({"TWILIO_AUTH_TOKEN": token}).log_key  # the same call, the same hash after a restart
    assert derived != Settings.from_env({"TWILIO_AUTH_TOKEN": token[::-1]}).log_key
    # Not the token itself: whoever holds the log key (to find a call's lines) cannot sign requests with it.
    assert token.encode() not in derived
    assert call_ref(derived, CALL_SID) != call_ref(token.encode(), CALL_SID)
    assert Settings.from_env({"TWILIO_AUTH_TOKEN": token, "IVR_LOG_KEY": "k"}).log_key == b"k"


def test_public_url_must_be_a_url() -> None:
    with pytest.raises(SettingsError, match="IVR_PUBLIC_URL"):
        Settings.from_env({"TWILIO_AUTH_TOKEN": "x", "IVR_PUBLIC_URL": "ivr.example.org"})


def test_statistics_can_be_turned_off() -> None:
    on = Settings.from_env({"TWILIO_AUTH_TOKEN": "t"})
    off = Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "IVR_STATISTICS": "off"})
    assert on.database_url is not None and on.database_url.startswith("sqlite:///") and off.database_url is None


def test_values_are_checked_when_read_and_name_their_variable() -> None:
    token = {"TWILIO_AUTH_TOKEN": "t"}
    for variable, value, expected in [
        ("IVR_STATS_RETENTION_DAYS", "a year", "whole number of days"),
        ("IVR_TRUST_PROXY", "maybe", "1 or 0"),
        ("IVR_STATISTICS", "of", "on or off"),
        ("IVR_AUDIO_URL", "cdn.example.org", "https://"),
    ]:
        with pytest.raises(SettingsError, match=f"^{variable} .*{re.escape(expected)}.*{value!r}"):
            Settings.from_env(token | {variable: value})


def test_a_secret_value_is_never_repeated_in_an_error() -> None:
    # Every secret variable of the table is free text today; a secret with a checked kind must still not be echoed.
    secret_url = Variable("IVR_TEST_SECRET_URL", URL, "a URL with a password in it", secret=True)
    with pytest.raises(SettingsError) as raised:
        secret_url.read({"IVR_TEST_SECRET_URL": "ftp://user:hunter2@example.org"})
    assert "hunter2" not in str(raised.value) and "IVR_TEST_SECRET_URL must start with https://" in str(raised.value)


def test_defaults_are_read_from_the_table() -> None:
    settings = Settings.from_env({"TWILIO_AUTH_TOKEN": "t"})
    assert settings.stats_retention_days == 400 == DEFAULT_RETENTION_DAYS == RecorderConfig("sqlite://").retention_days
    assert settings.database_url == "sqlite:///stats.sqlite3" and settings.audio_dir == Path("audio")
    assert (settings.trust_proxy, settings.dev_mode) == (False, False)
    assert stats_database({"IVR_STATS_RETENTION_DAYS": "30", "DATABASE_URL": "postgresql://db"}) == ("postgresql://db", 30)


def test_the_readme_settings_table_is_the_one_generated_from_the_table() -> None:
    # As datasette checks its docs: the table is written by cog from ivr.settings.VARIABLES, never by hand.
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    cogged = [page for page in pages if "[[[cog" in page.read_text(encoding="utf-8")]
    holding = [page for page in cogged if "markdown_table()" in page.read_text(encoding="utf-8")]
    assert len(holding) == 1, f"the settings table is generated in one page, found in {holding}"
    assert markdown_table() in holding[0].read_text(encoding="utf-8"), f"run: .venv/bin/cog -r {holding[0].relative_to(ROOT)}"
    for page in cogged:
        assert Cog().main(["cog", "--check", str(page)]) == 0, f"run: .venv/bin/cog -r {page.relative_to(ROOT)}"


# Names set by the service for itself, never by an operator.
INTERNAL = {"IVR_METRICS_FOLDER_MADE"}


def test_every_variable_the_code_or_the_deployment_reads_is_declared() -> None:
    declared = {variable.name for variable in VARIABLES}
    assert len(declared) == len(VARIABLES)
    files = [*(ROOT / "ivr").glob("**/*.py"), ROOT / "Procfile", *(ROOT / "deploy").iterdir()]
    pattern = re.compile(r"\b(?:IVR|TWILIO)_[A-Z0-9_]*[A-Z0-9](?:<NAME>_[A-Z]+)?\b|\bDATABASE_URL\b|\bWEB_CONCURRENCY\b")
    used = {name for file in files for name in pattern.findall(file.read_text(encoding="utf-8"))}
    used = {"IVR_SIP_<NAME>_USERNAME" if name.startswith("IVR_SIP_") else name for name in used}
    assert used - INTERNAL - {"IVR_SIP_<NAME>_USERNAME"} <= declared, sorted(used - INTERNAL - declared)
    assert {"IVR_SIP_<NAME>_USERNAME", "IVR_SIP_<NAME>_PASSWORD"} <= declared
    assert {variable.name for variable in VARIABLES if variable.secret} >= {
        "TWILIO_AUTH_TOKEN",
        "IVR_LOG_KEY",
        "IVR_ADMIN_PASSWORD",
        "IVR_METRICS_TOKEN",
        "DATABASE_URL",
        "TWILIO_API_SECRET",
    }


def test_ivr_announce_needs_neither_a_token_nor_the_services_other_settings(tmp_path: Path) -> None:
    # It reads only where the announcement lives and which config it is checked against: a variable of the
    # service that is unset or malformed on the operator's machine is none of its business.
    file = tmp_path / "announcement.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env |= {"IVR_ANNOUNCEMENT_FILE": str(file), "IVR_PRODUCTION": "1", "IVR_PUBLIC_URL": "ivr.example.org"}
    ivr = str(Path(sys.executable).parent / "ivr")
    run = [ivr, "announce", "set", "--say", "nl", "Vanavond is de lijn druk.", "--start", "2026-12-24T18:00+01:00"]
    done = subprocess.run([*run, "--end", "2026-12-25T08:00+01:00"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(file.read_text(encoding="utf-8"))["text"] == {"nl": "Vanavond is de lijn druk."}
    shown = subprocess.run([ivr, "announce", "show"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "nl: Vanavond is de lijn druk." in shown.stdout, shown.stderr
    cleared = subprocess.run([ivr, "announce", "clear"], env=env, capture_output=True, text=True, timeout=60)
    assert cleared.returncode == 0 and not file.exists(), cleared.stderr
