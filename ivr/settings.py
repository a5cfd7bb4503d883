"""Runtime settings from the environment, checked once when the app is created.

Every variable is declared once in :data:`VARIABLES` (its name, the kind of value, its default, what it means,
whether it is secret). That table is what :meth:`Settings.from_env` reads, what refuses a malformed value, and
what the settings table in docs/deploying.md is generated from (:func:`markdown_table`; a test keeps the two equal).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

SMS_SERVICE = re.compile(r"MG[0-9a-f]{32}")
E164_NUMBER = re.compile(r"\+[1-9][0-9]{6,14}")
COUNTRY_PREFIX = re.compile(r"\+[1-9][0-9]{0,3}")


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message says which and what to do.

    A RuntimeError: gunicorn ends a start-up that raises one with its message alone, not a traceback.
    """


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """A kind of value: how the settings table names it and how a value is read (ValueError with a fix when it is wrong)."""

    name: str
    parse: Callable[[str], T]


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be 1 or 0")


def _url(raw: str) -> str:
    if not raw.startswith(("https://", "http://")):
        raise ValueError("must start with https://")
    return raw.rstrip("/")


def _days(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValueError("must be a whole number of days, 1 or more")
    return int(raw)


def _seconds(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValueError("must be a whole number of seconds, 1 or more")
    return int(raw)


def _count(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValueError("must be a whole number, 1 or more")
    return int(raw)


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in {"on", "off"}:
        raise ValueError("must be on or off")
    return value == "on"


def _e164(raw: str) -> str:
    if not E164_NUMBER.fullmatch(raw):
        raise ValueError("must be an SMS-capable number of the account in E.164, like +32460000000")
    return raw


def _messaging_service(raw: str) -> str:
    if not SMS_SERVICE.fullmatch(raw):
        raise ValueError("must be a Messaging Service SID, MG and 32 hex digits")
    return raw


def _prefixes(raw: str) -> tuple[str, ...]:
    found = tuple(p.strip() for p in raw.split(",") if p.strip())
    if any(not COUNTRY_PREFIX.fullmatch(p) or p.startswith("+32") for p in found):
        raise ValueError("takes country prefixes other than Belgium's, like +31,+33")
    return found


def _local_or_https(raw: str) -> str:
    # The credentials go with every request: in clear only to this machine (a test's stand-in).
    url = raw.rstrip("/")
    if not (url.startswith("https://") or (url.startswith("http://") and urlsplit(url).hostname in ("127.0.0.1", "localhost"))):
        raise ValueError("must start with https:// (plain http only to 127.0.0.1)")
    return url


TEXT: Kind[str] = Kind("text", str)
FLAG: Kind[bool] = Kind("`1` or `0`", _flag)
SWITCH: Kind[bool] = Kind("`on` or `off`", _switch)
URL: Kind[str] = Kind("URL", _url)
PATH: Kind[Path] = Kind("path", Path)
DAYS: Kind[int] = Kind("days", _days)
SECONDS: Kind[int] = Kind("seconds", _seconds)
COUNT: Kind[int] = Kind("whole number", _count)
PHONE: Kind[str] = Kind("E.164 number", _e164)
MESSAGING_SERVICE: Kind[str] = Kind("Messaging Service SID", _messaging_service)
PREFIXES: Kind[tuple[str, ...]] = Kind("prefixes, comma-separated", _prefixes)
LOCAL_OR_HTTPS: Kind[str] = Kind("URL", _local_or_https)


@dataclass(frozen=True, slots=True)
class Variable(Generic[T]):
    """One environment variable, declared once.

    ``default`` is written as it would be in the environment and read like a value that was set;
    ``shown`` says in words a default that is worked out (a folder found, a key derived), for the settings table.
    """

    name: str
    kind: Kind[T]
    meaning: str
    default: str | None = None
    secret: bool = False
    shown: str = ""

    def read(self, env: Mapping[str, str]) -> T | None:
        """The value set (an empty one is unset), else the default, else None.

        Raises:
            SettingsError: the value is malformed (a secret's value is never repeated in the message).
        """
        raw = env.get(self.name) or self.default
        if not raw:
            return None
        try:
            return self.kind.parse(raw)
        except ValueError as exc:
            got = "" if self.secret else f" (got {raw!r})"
            raise SettingsError(f"{self.name} {exc}{got}") from None

    def value(self, env: Mapping[str, str]) -> T:
        """The value set, else the default, which a variable read this way always has."""
        found = self.read(env)
        if found is None:
            raise SettingsError(f"{self.name} is not set")  # only a variable without a default gets here
        return found

    @property
    def default_text(self) -> str:
        return self.shown or (f"`{self.default}`" if self.default else "")


# --- the table --------------------------------------------------------------------------------------------

AUTH_TOKEN = Variable(
    "TWILIO_AUTH_TOKEN",
    TEXT,
    "the account's primary auth token; **required** (the app refuses to start without it)",
    secret=True,
)
PUBLIC_URL = Variable(
    "IVR_PUBLIC_URL",
    URL,
    "the public base URL Twilio calls, e.g. `https://ivr.example.org`, or with a path, `https://example.org/helpline` "
    "(the proxy then forwards `/helpline/voice` as `/voice`); needed behind proxies and TLS terminators, because the "
    "signature covers the exact URL Twilio used. Every action, redirect and audio URL the app gives Twilio starts with it",
)
TRUST_PROXY = Variable(
    "IVR_TRUST_PROXY",
    FLAG,
    "`1` to honour `X-Forwarded-Proto`/`Host` when `IVR_PUBLIC_URL` is not set, "
    "and `X-Forwarded-For` for the operator pages' limit on wrong passwords",
    default="0",
)
DEV_MODE = Variable(
    "IVR_DEV_MODE",
    FLAG,
    "`1` on a development machine only: unsigned requests are served (with a loud warning on every request) "
    "and the simulator is open. Refused when `IVR_PRODUCTION=1`",
    default="0",
)
PRODUCTION = Variable(
    "IVR_PRODUCTION",
    FLAG,
    "`1` in production (the Procfile sets it): `IVR_DEV_MODE` is then refused",
    default="0",
)
CONFIG = Variable(
    "IVR_CONFIG", PATH, "another folder for `settings.yaml` and `helplines.yaml`", shown="`config` (else the shipped one)"
)
FLOWS = Variable("IVR_FLOWS", PATH, "another folder of call flows", shown="the shipped flows")
AUDIO_DIR = Variable("IVR_AUDIO_DIR", PATH, "the folder of built prompt audio and its `manifest.json`", default="audio")
AUDIO_URL = Variable(
    "IVR_AUDIO_URL",
    URL,
    "base URL of a copy of that folder on a CDN or object store, e.g. `https://cdn.example.org/helpline-audio`; "
    "`<Play>` then points there instead of at `/audio/`",
)
LOG_KEY = Variable(
    "IVR_LOG_KEY", TEXT, "key for the anonymous call hash in logs", secret=True, shown="derived from the auth token"
)
SIP_USERNAME = Variable(
    "IVR_SIP_<NAME>_USERNAME",
    TEXT,
    "user name of a SIP transfer target that says `credentials: NAME` "
    "(see [Transfers](writing-flows.md#transfers-connected-not-just-told)); never in YAML",
    secret=True,
)
SIP_PASSWORD = Variable("IVR_SIP_<NAME>_PASSWORD", TEXT, "its password; never in YAML", secret=True)
ANNOUNCEMENT = Variable(
    "IVR_ANNOUNCEMENT",
    TEXT,
    "the operators' announcement as JSON (see [Announcements](operating.md#announcements-from-the-operators))",
)
ANNOUNCEMENT_FILE = Variable(
    "IVR_ANNOUNCEMENT_FILE", PATH, "or a file holding it, read again when it changes (on a VM; `ivr announce` writes it)"
)
ADMIN_PASSWORD = Variable(
    "IVR_ADMIN_PASSWORD",
    TEXT,
    "opens `/simulator` outside development mode, behind HTTP basic auth (any user name, this password), and `/admin`; "
    "without it (and without `IVR_DEV_MODE`) `/simulator` does not exist",
    secret=True,
)
DATABASE_URL = Variable(
    "DATABASE_URL",
    TEXT,
    "the statistics database, e.g. `postgres://user:password@host/db` (PostgreSQL, through psycopg 3); "
    "**needed on a PaaS**, whose disk is thrown away at each deploy",
    secret=True,
)
STATISTICS = Variable(
    "IVR_STATISTICS",
    SWITCH,
    "`off`: no statistics written to any database (the `/metrics` counters still count); "
    "used by `make bench` to measure the app without them",
    default="on",
)
STATS_DB = Variable(
    "IVR_STATS_DB",
    PATH,
    "without `DATABASE_URL`: the SQLite file of the statistics, in the working folder",
    default="stats.sqlite3",
)
STATS_RETENTION_DAYS = Variable("IVR_STATS_RETENTION_DAYS", DAYS, "days of hourly counts kept", default="400")
METRICS_TOKEN = Variable(
    "IVR_METRICS_TOKEN", TEXT, "a bearer token for `/metrics` (for Prometheus), besides the admin password", secret=True
)
MULTIPROC_DIR = Variable(
    "PROMETHEUS_MULTIPROC_DIR",
    PATH,
    "where gunicorn's workers keep their metrics (see `ivr/stats/gunicorn.py`)",
    shown="a new temporary folder",
)
ACCOUNT_SID = Variable(
    "TWILIO_ACCOUNT_SID",
    TEXT,
    "the account, for [`ivr twilio connect`](#connecting-a-twilio-number) and for "
    "[text messages](operating.md#the-number-by-text-message)",
)
API_KEY = Variable("TWILIO_API_KEY", TEXT, "for `ivr twilio connect` and text messages: an API key (else the auth token is used)")
API_SECRET = Variable("TWILIO_API_SECRET", TEXT, "the API key's secret", secret=True)
SMS_FROM = Variable(
    "IVR_SMS_FROM", PHONE, "with `TWILIO_ACCOUNT_SID`, turns text messages on: the account's SMS-capable number that sends them"
)
SMS_MESSAGING_SERVICE = Variable(
    "IVR_SMS_MESSAGING_SERVICE", MESSAGING_SERVICE, "or a Messaging Service (`MG…`) that sends them (it wins over `IVR_SMS_FROM`)"
)
SMS_COUNTRIES = Variable(
    "IVR_SMS_COUNTRIES",
    PREFIXES,
    "prefixes of foreign numbers also offered a text (`+31,+33`); Belgian mobiles always are",
)
REST_API_URL = Variable(
    "IVR_TWILIO_API_URL",
    LOCAL_OR_HTTPS,
    "another base URL for Twilio's REST API (a test's stand-in)",
    shown="`https://api.twilio.com`",
)
WEB_CONCURRENCY = Variable("WEB_CONCURRENCY", COUNT, "gunicorn's workers (set by the platform)", default="2")
PORT = Variable("PORT", COUNT, "the port gunicorn listens on (set by the platform)")
RELEASE_AUDIO_SECONDS = Variable(
    "IVR_RELEASE_AUDIO_SECONDS",
    SECONDS,
    "how long the `release:` step may spend building audio; then it goes on, and prompts without audio are said with `<Say>`",
    default="300",
)

VARIABLES: tuple[Variable[Any], ...] = (
    AUTH_TOKEN,
    PUBLIC_URL,
    TRUST_PROXY,
    DEV_MODE,
    PRODUCTION,
    CONFIG,
    FLOWS,
    AUDIO_DIR,
    AUDIO_URL,
    LOG_KEY,
    SIP_USERNAME,
    SIP_PASSWORD,
    ANNOUNCEMENT,
    ANNOUNCEMENT_FILE,
    ADMIN_PASSWORD,
    DATABASE_URL,
    STATISTICS,
    STATS_DB,
    STATS_RETENTION_DAYS,
    METRICS_TOKEN,
    MULTIPROC_DIR,
    ACCOUNT_SID,
    API_KEY,
    API_SECRET,
    SMS_FROM,
    SMS_MESSAGING_SERVICE,
    SMS_COUNTRIES,
    REST_API_URL,
    WEB_CONCURRENCY,
    PORT,
    RELEASE_AUDIO_SECONDS,
)
DEV_MODE_VARIABLE = DEV_MODE.name
DEFAULT_RETENTION_DAYS = STATS_RETENTION_DAYS.value({})


def markdown_table() -> str:
    """The settings table (docs/deploying.md), one row per variable of :data:`VARIABLES`."""
    rows = ["| Variable | Value | Default | Meaning |", "| --- | --- | --- | --- |"]
    for variable in VARIABLES:
        value = variable.kind.name + (", **secret**" if variable.secret else "")
        rows.append(f"| `{variable.name}` | {value} | {variable.default_text} | {variable.meaning} |")
    return "\n".join(rows) + "\n"


def default_config_dir() -> Path:
    """``./config``, falling back to the folder beside the package."""
    here = Path("config")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "config"


def default_flows_dir() -> Path:
    """The flows shipped inside the package."""
    return Path(__file__).resolve().parent / "flows"


def public_url(given: str) -> str:
    """``given`` as a public base URL, without a trailing slash (the one check of IVR_PUBLIC_URL).

    Raises:
        SettingsError: it is not an http(s) URL.
    """
    try:
        return URL.parse(given)
    except ValueError as exc:
        raise SettingsError(f"The public URL {exc} (got {given!r})") from None


def stats_database(env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The statistics database's URL (DATABASE_URL, else SQLite at IVR_STATS_DB) and the days
    of hourly counts kept (IVR_STATS_RETENTION_DAYS), for the service and ``ivr stats``.

    Raises:
        SettingsError: the retention is not a whole number of days.
    """
    env = os.environ if env is None else env
    url = DATABASE_URL.read(env) or f"sqlite:///{STATS_DB.value(env)}"
    return url, STATS_RETENTION_DAYS.value(env)


@dataclass(frozen=True, slots=True)
class TextSettings:
    """The line's number by text message (docs/operating.md: the number by text message): on only with an account and a sender."""

    account_sid: str  # TWILIO_ACCOUNT_SID
    credentials: tuple[str, str] = field(repr=False)  # TWILIO_API_KEY/SECRET, else the account SID and TWILIO_AUTH_TOKEN
    sender: str = ""  # IVR_SMS_FROM: an SMS-capable number of the account (E.164)
    messaging_service: str = ""  # IVR_SMS_MESSAGING_SERVICE: or a Messaging Service (MG…), which wins
    countries: tuple[str, ...] = ()  # IVR_SMS_COUNTRIES: prefixes of foreign numbers also offered a text ("+31,+33")
    api_url: str | None = None  # IVR_TWILIO_API_URL: another base URL for Twilio's REST API (a test's stand-in)


def _texts(env: Mapping[str, str], token: str | None) -> TextSettings | None:
    """The text-message settings, or None (off) without TWILIO_ACCOUNT_SID and a sender.

    Raises:
        SettingsError: a sender, a prefix or the credentials are malformed or missing.
    """
    account = ACCOUNT_SID.read(env) or ""
    sender, service = SMS_FROM.read(env) or "", SMS_MESSAGING_SERVICE.read(env) or ""
    if not account or not (sender or service):
        return None
    countries = SMS_COUNTRIES.read(env) or ()
    if token is None:
        raise SettingsError(
            "Text messages need TWILIO_AUTH_TOKEN: without it no signature is checked, and anyone could have messages sent."
        )
    key, secret = API_KEY.read(env) or "", API_SECRET.read(env) or ""
    credentials = (key, secret) if key and secret else (account, token)
    return TextSettings(account, credentials, sender, service, countries, REST_API_URL.read(env))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment (each field's variable is in :data:`VARIABLES`)."""

    auth_token: str | None  # None only in development mode
    public_url: str | None = None
    dev_mode: bool = False
    config_dir: Path = field(default_factory=default_config_dir)
    flows_dir: Path = field(default_factory=default_flows_dir)
    audio_dir: Path = AUDIO_DIR.value({})
    audio_url: str | None = None
    log_key: bytes = b""  # key for the hash that identifies a call in the logs
    admin_password: str | None = None
    trust_proxy: bool = False
    # credentials of SIP transfer targets (never in YAML, never shown)
    sip_credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    announcement: str | None = None
    announcement_file: Path | None = None
    database_url: str | None = None  # None: no statistics stored
    stats_retention_days: int = DEFAULT_RETENTION_DAYS
    metrics_token: str | None = None
    texts: TextSettings | None = None  # the line's number by text message; None: off (the default)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the environment.

        Raises:
            SettingsError: a value is malformed, or TWILIO_AUTH_TOKEN is missing outside development mode.
        """
        env = os.environ if env is None else env
        token = AUTH_TOKEN.read(env)
        dev = DEV_MODE.value(env)
        if dev and PRODUCTION.value(env):
            raise SettingsError(
                "IVR_DEV_MODE is set in production (IVR_PRODUCTION=1): unset it; production always checks signatures."
            )
        if token is None and not dev:
            raise SettingsError(
                "TWILIO_AUTH_TOKEN is not set, so Twilio's signatures cannot be checked. "
                "Set it to the account's primary auth token, or set IVR_DEV_MODE=1 on a development machine."
            )
        url, retention = stats_database(env)
        log_key = LOG_KEY.read(env)
        return cls(
            auth_token=token,
            public_url=PUBLIC_URL.read(env),
            dev_mode=dev,
            config_dir=CONFIG.read(env) or default_config_dir(),
            flows_dir=FLOWS.read(env) or default_flows_dir(),
            audio_dir=AUDIO_DIR.value(env),
            audio_url=AUDIO_URL.read(env),
            log_key=log_key.encode() if log_key else hmac.new((token or "dev").encode(), b"ivr-log-key", hashlib.sha256).digest(),
            admin_password=ADMIN_PASSWORD.read(env),
            trust_proxy=TRUST_PROXY.value(env),
            sip_credentials=_sip_credentials(env),
            announcement=ANNOUNCEMENT.read(env),
            announcement_file=ANNOUNCEMENT_FILE.read(env),
            # IVR_STATISTICS=off: the metrics still count; nothing is written to a database.
            database_url=url if STATISTICS.value(env) else None,
            stats_retention_days=retention,
            metrics_token=METRICS_TOKEN.read(env),
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
