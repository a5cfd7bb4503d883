"""What start-up checks beyond the files, in one place: the service, ``ivr validate`` and ``ivr reload`` say the same.

Pure: no Flask, no twilio. The files themselves (syntax, numbers, voices, budgets) are checked by the
loader, which all three call; what is left is what the service's environment must hold (the SIP
credentials a target names) and the announcement it reads. ``service_environment()`` is the one place
the checks read the environment, so that a file of the service's variables can take its place.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivr.model import SIP_VARIABLES, Catalog

RESTART_HINT = "a reload does not read the environment again: restart the service (systemctl restart, or the platform's restart)"


def service_environment(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """The environment the checks read: ``env`` when given (the service's, read elsewhere), else this process's."""
    return os.environ if env is None else env


def missing_credentials(catalog: Catalog, available: Iterable[str]) -> list[str]:
    """The credential names a SIP target needs that are not among ``available``, sorted."""
    needed = {t.credentials for line in catalog.helplines.values() for t in line.transfer_to if t.credentials}
    return sorted(needed - set(available))


def credentials_message(missing: Iterable[str]) -> str:
    """The one wording of missing SIP credentials, at start-up, on a reload and in ``ivr validate``."""
    return "SIP transfer targets name credentials that are not in the environment: set " + "; ".join(
        SIP_VARIABLES.format(name=name) for name in missing
    )


def content_hash(config_dir: Path, flows_dir: Path) -> str:
    """A short hash of the YAML files the service loads (names and bytes): equal hashes, equal files."""
    digest = hashlib.sha256()
    for folder in (config_dir, flows_dir):
        for path in sorted(folder.glob("*.yaml")):
            try:
                data = path.read_bytes()
            except OSError:
                data = b"\0unreadable"
            digest.update(f"{folder.name}/{path.name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the service serves: the files' hash and when they were loaded, and the last reload it refused."""

    content: str
    loaded_at: datetime
    refused_at: datetime | None = None
    refused_reason: str | None = None  # the first error (file:line): for the operator pages, never /healthz

    def public(self) -> dict[str, str | None]:
        """What /healthz shows: no reason (it may name a variable or a path), no secret."""
        return {
            "content": self.content,
            "loaded_at": self.loaded_at.isoformat(timespec="milliseconds"),
            "last_refused_reload_at": self.refused_at.isoformat(timespec="milliseconds") if self.refused_at else None,
        }


@dataclass(frozen=True, slots=True)
class EnvironmentCheck:
    """What start-up would say of an environment: errors (it would not start), warnings, and notes."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


NOT_CHECKED = (
    "SIP credentials not checked here: this environment is not the service's (neither TWILIO_AUTH_TOKEN nor IVR_DEV_MODE is"
    " set); check them with the service's environment: `ivr reload PID` reads the running service's, or run `ivr validate`"
    " where the service runs (e.g. `heroku run ivr validate`)"
)


def is_service_environment(env: Mapping[str, str]) -> bool:
    """Whether ``env`` could start the service (a token, or development mode): only then are its credentials checked."""
    return bool(env.get("TWILIO_AUTH_TOKEN") or env.get("IVR_DEV_MODE"))


def check_environment(catalog: Catalog, env: Mapping[str, str]) -> EnvironmentCheck:
    """Start-up's checks of ``env`` for ``catalog``, with start-up's own messages.

    Not the service's environment: only a note that the credentials were not checked (when a target needs some).
    """
    from ivr.announcements import AnnouncementSource
    from ivr.number_guard import line_numbers
    from ivr.settings import Settings, SettingsError

    needs_credentials = bool(missing_credentials(catalog, ()))
    if not is_service_environment(env):
        return EnvironmentCheck(notes=(NOT_CHECKED,) if needs_credentials else ())
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        return EnvironmentCheck(errors=(str(exc),))
    errors, notes = [], []
    missing = missing_credentials(catalog, settings.sip_credentials)
    if missing:
        errors.append(credentials_message(missing))
    elif needs_credentials:
        notes.append("SIP credentials: every target's are in the environment")
    source = AnnouncementSource(
        catalog.settings.offered, settings.announcement, settings.announcement_file, line_numbers(catalog.helplines.values())
    )
    found, warning = source.current()
    warnings = [f"{warning}; callers hear no announcement"] if warning else []
    if found is not None:
        warnings += [f"announcement: {problem} (budgets.announcement): shorten it" for problem in too_long(catalog, found.text)]
    return EnvironmentCheck(tuple(errors), tuple(warnings), tuple(notes))


def too_long(catalog: Catalog, text: Mapping[str, str]) -> list[str]:
    """The languages whose text lasts longer than the announcement budget (the caller checker counts on it)."""
    from ivr.timing import word_count

    cap = catalog.settings.budgets.announcement
    found = []
    for lang, said in text.items():
        seconds = word_count(said) / catalog.settings.languages[lang].words_per_second
        if seconds > cap:
            found.append(f"the {lang} text lasts about {seconds:.1f} s said, longer than the {cap:g} s an announcement may")
    return found
