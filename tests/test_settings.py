"""Settings from the environment: production never runs without signature checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.logs import call_ref
from ivr.settings import Settings, SettingsError

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
