"""The fictional transfer targets of tests/data/transfers/helplines.yaml, served by an app of their own."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from flask import Flask

from ivr.app import create_app
from ivr.settings import Settings
from support.config import DATA

SIP_PASSWORD = "s3cr3t-Pa55-for-the-pbx"  # must never be shown anywhere but in the <Sip> Twilio gets


def transfers_config(tmp_path: Path) -> Path:
    """The test config with the lines of tests/data/transfers/helplines.yaml (SIP and phone targets with hours)."""
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    shutil.copy(DATA / "transfers" / "helplines.yaml", config / "helplines.yaml")
    return config


def app_at(settings: Settings, config: Path, **changes: object) -> Flask:
    """An app on ``config`` and the test flows, with the night PBX's SIP credentials, and ``changes`` to the settings."""
    credentials = {"TO_NIGHT": ("nacht-user", SIP_PASSWORD)}
    return create_app(replace(settings, config_dir=config, flows_dir=DATA / "flows", sip_credentials=credentials, **changes))  # type: ignore[arg-type]
