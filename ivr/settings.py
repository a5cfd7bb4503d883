"""Runtime settings from the environment, checked once when the app is created."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ivr.loader import default_config_dir, default_flows_dir

DEV_MODE_VARIABLE = "IVR_DEV_MODE"


class SettingsError(Exception):
    """A required setting is missing or malformed; the message says which and what to do."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def stats_database(env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The statistics database's URL (DATABASE_URL, else SQLite at IVR_STATS_DB) and the days
    of hourly counts kept (IVR_STATS_RETENTION_DAYS), for the service and ``ivr stats``.

    Raises:
        SettingsError: the retention is not a whole number of days.
    """
    env = os.environ if env is None else env
    retention = env.get("IVR_STATS_RETENTION_DAYS") or "400"
    if not retention.isascii() or not retention.isdigit() or int(retention) < 1:
        raise SettingsError(f"IVR_STATS_RETENTION_DAYS must be a whole number of days, 1 or more (got {retention!r})")
    url = env.get("DATABASE_URL") or f"sqlite:///{env.get('IVR_STATS_DB') or 'stats.sqlite3'}"
    return url, int(retention)


@dataclass(frozen=True, slots=True)
class TextSettings:
    """The line's number by text message (README: text messages): on only with an account and a sender."""

    account_sid: str  # TWILIO_ACCOUNT_SID
    credentials: tuple[str, str] = field(repr=False)  # TWILIO_API_KEY/SECRET, else the account SID and TWILIO_AUTH_TOKEN
    sender: str = ""  # IVR_SMS_FROM: an SMS-capable number of the account (E.164)
    messaging_service: str = ""  # IVR_SMS_MESSAGING_SERVICE: or a Messaging Service (MG…), which wins
    countries: tuple[str, ...] = ()  # IVR_SMS_COUNTRIES: prefixes of foreign numbers also offered a text ("+31,+33")
    api_url: str | None = None  # IVR_TWILIO_API_URL: another base URL for Twilio's REST API (a test's stand-in)


SMS_SERVICE = re.compile(r"MG[0-9a-f]{32}")
E164_NUMBER = re.compile(r"\+[1-9][0-9]{6,14}")
COUNTRY_PREFIX = re.compile(r"\+[1-9][0-9]{0,3}")


def _texts(env: Mapping[str, str], token: str | None) -> TextSettings | None:
    """The text-message settings, or None (off) without TWILIO_ACCOUNT_SID and a sender.

    Raises:
        SettingsError: a sender, a prefix or the credentials are malformed or missing.
    """
    account = env.get("TWILIO_ACCOUNT_SID") or ""
    sender, service = env.get("IVR_SMS_FROM") or "", env.get("IVR_SMS_MESSAGING_SERVICE") or ""
    if not account or not (sender or service):
        return None
    if sender and not E164_NUMBER.fullmatch(sender):
        raise SettingsError(
            f"IVR_SMS_FROM must be an SMS-capable number of the account in E.164, like +32460000000 (got {sender!r})"
        )
    if service and not SMS_SERVICE.fullmatch(service):
        raise SettingsError(f"IVR_SMS_MESSAGING_SERVICE must be a Messaging Service SID, MG and 32 hex digits (got {service!r})")
    countries = tuple(p.strip() for p in (env.get("IVR_SMS_COUNTRIES") or "").split(",") if p.strip())
    bad = [p for p in countries if not COUNTRY_PREFIX.fullmatch(p) or p.startswith("+32")]
    if bad:
        raise SettingsError(f"IVR_SMS_COUNTRIES takes country prefixes other than Belgium's, like +31,+33 (got {', '.join(bad)})")
    if token is None:
        raise SettingsError(
            "Text messages need TWILIO_AUTH_TOKEN: without it no signature is checked, and anyone could have messages sent."
        )
    key, secret = env.get("TWILIO_API_KEY") or "", env.get("TWILIO_API_SECRET") or ""
    credentials = (key, secret) if key and secret else (account, token)
    api_url = (env.get("IVR_TWILIO_API_URL") or "").rstrip("/") or None
    # The credentials go with every request: in clear only to this machine (a test's stand-in).
    if api_url and not (api_url.startswith("https://") or urlsplit(api_url).hostname in ("127.0.0.1", "localhost")):
        raise SettingsError(f"IVR_TWILIO_API_URL must start with https:// (plain http only to 127.0.0.1; got {api_url!r})")
    return TextSettings(account, credentials, sender, service, countries, api_url)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment."""

    auth_token: str | None  # TWILIO_AUTH_TOKEN; None only in development mode
    public_url: str | None = None  # IVR_PUBLIC_URL: the base URL Twilio calls
    dev_mode: bool = False  # IVR_DEV_MODE: unsigned requests allowed, simulator open
    config_dir: Path = Path("config")
    flows_dir: Path = Path("ivr/flows")
    audio_dir: Path = Path("audio")
    audio_url: str | None = None  # IVR_AUDIO_URL: where audio is served from, if not from us
    log_key: bytes = b""  # key for the hash that identifies a call in the logs
    admin_password: str | None = None  # IVR_ADMIN_PASSWORD: basic auth for the simulator
    trust_proxy: bool = False  # IVR_TRUST_PROXY: honour X-Forwarded-Proto/Host
    # IVR_SIP_<NAME>_USERNAME / _PASSWORD: credentials of SIP transfer targets (never in YAML, never shown)
    sip_credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    announcement: str | None = None  # IVR_ANNOUNCEMENT: the operators' announcement, as JSON (see ivr.announcements)
    announcement_file: Path | None = None  # IVR_ANNOUNCEMENT_FILE: or a file holding it, read again when it changes
    database_url: str | None = None  # DATABASE_URL, else SQLite at IVR_STATS_DB; None: no statistics stored
    stats_retention_days: int = 400  # IVR_STATS_RETENTION_DAYS: how long hourly counts are kept
    metrics_token: str | None = None  # IVR_METRICS_TOKEN: bearer token for /metrics (besides the admin password)
    texts: TextSettings | None = None  # the line's number by text message; None: off (the default)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the environment.

        Raises:
            SettingsError: when TWILIO_AUTH_TOKEN is missing outside development mode.
        """
        env = os.environ if env is None else env
        token = env.get("TWILIO_AUTH_TOKEN") or None
        dev = _flag(env.get(DEV_MODE_VARIABLE))
        if dev and _flag(env.get("IVR_PRODUCTION")):
            raise SettingsError(
                "IVR_DEV_MODE is set in production (IVR_PRODUCTION=1): unset it; production always checks signatures."
            )
        if token is None and not dev:
            raise SettingsError(
                "TWILIO_AUTH_TOKEN is not set, so Twilio's signatures cannot be checked. "
                "Set it to the account's primary auth token, or set IVR_DEV_MODE=1 on a development machine."
            )
        public = env.get("IVR_PUBLIC_URL") or None
        if public and not public.startswith(("http://", "https://")):
            raise SettingsError(f"IVR_PUBLIC_URL must start with https:// (got {public!r})")
        url, retention = stats_database(env)
        # IVR_STATISTICS=off: the metrics still count; nothing is written to a database.
        database = None if (env.get("IVR_STATISTICS") or "").strip().lower() == "off" else url
        log_key = (
            env.get("IVR_LOG_KEY", "").encode() or hmac.new((token or "dev").encode(), b"ivr-log-key", hashlib.sha256).digest()
        )
        return cls(
            auth_token=token,
            public_url=public.rstrip("/") if public else None,
            dev_mode=dev,
            config_dir=Path(env["IVR_CONFIG"]) if env.get("IVR_CONFIG") else default_config_dir(),
            flows_dir=Path(env["IVR_FLOWS"]) if env.get("IVR_FLOWS") else default_flows_dir(),
            audio_dir=Path(env.get("IVR_AUDIO_DIR") or "audio"),
            audio_url=(env.get("IVR_AUDIO_URL") or "").rstrip("/") or None,
            log_key=log_key,
            admin_password=env.get("IVR_ADMIN_PASSWORD") or None,
            trust_proxy=_flag(env.get("IVR_TRUST_PROXY")),
            sip_credentials=_sip_credentials(env),
            announcement=env.get("IVR_ANNOUNCEMENT") or None,
            announcement_file=Path(env["IVR_ANNOUNCEMENT_FILE"]) if env.get("IVR_ANNOUNCEMENT_FILE") else None,
            database_url=database,
            stats_retention_days=retention,
            metrics_token=env.get("IVR_METRICS_TOKEN") or None,
            texts=_texts(env, token),
        )


SIP_VARIABLE = re.compile(r"IVR_SIP_([A-Z][A-Z0-9_]*)_(USERNAME|PASSWORD)")


def _sip_credentials(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """NAME -> (username, password), for every NAME with both IVR_SIP_NAME_USERNAME and IVR_SIP_NAME_PASSWORD set."""
    parts: dict[str, dict[str, str]] = {}
    for variable, value in env.items():
        m = SIP_VARIABLE.fullmatch(variable)
        if m and value:
            parts.setdefault(m.group(1), {})[m.group(2)] = value
    return {name: (p["USERNAME"], p["PASSWORD"]) for name, p in parts.items() if {"USERNAME", "PASSWORD"} <= set(p)}
