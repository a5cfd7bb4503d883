"""Commands for running the service: ``ivr validate``, ``ivr reload``, ``ivr fallback export`` and ``ivr announce``.

:mod:`ivr.cli` adds them to the ``ivr`` group.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from ivr.announcements import AnnouncementError, AnnouncementSource
from ivr.announcements import parse as parse_announcement
from ivr.audio import AudioManifest, ManifestError, load_manifest, prompt_speeches, recording_id, speech_engines
from ivr.checker import check, format_findings
from ivr.cli_support import AUDIO_DIR_OPTION, CONFIG_OPTION, ENV_FILE_OPTION, FLOWS_OPTION, ExitCode, fail, load_or_exit
from ivr.errors import ConfigErrors
from ivr.fallback import export, file_name, unexported
from ivr.hours import BRUSSELS, HoursError, brussels_moment, describe_moment
from ivr.loader import default_config_dir, default_flows_dir, load_catalog
from ivr.model import Catalog
from ivr.number_guard import line_numbers
from ivr.settings import ANNOUNCEMENT, ANNOUNCEMENT_FILE, CONFIG, FLOWS, SettingsError
from ivr.startup import RESTART_HINT, check_environment, service_environment, too_long


@click.command()
@ENV_FILE_OPTION
@CONFIG_OPTION
@FLOWS_OPTION
@AUDIO_DIR_OPTION
@click.option("--audio", "with_audio", is_flag=True, help="Time the paths with the built audio's real lengths, not estimates.")
def validate(config_dir: Path | None, flows_dir: Path | None, audio_dir: Path, with_audio: bool) -> None:
    """Check the flows and config, and walk every caller's paths against the budgets; print every error; exit 1 if there is one.

    The service holds calls to the estimated lengths (words per second); with --audio the built or
    recorded audio's real lengths are used where it exists, as `ivr audio build` does (not for the
    languages spoken with <Say>, whose lengths stay estimated). Recordings made for other words than
    the prompts say now are named, to be recorded again.
    """
    try:
        manifest = load_manifest(audio_dir)
    except ManifestError as exc:
        # As at start-up: broken audio is a warning (callers hear <Say>), never a reason to refuse the flows.
        click.echo(f"warning: {exc}; timing from estimates, and callers hear <Say> until `ivr audio build` rewrites it", err=True)
        manifest = AudioManifest(audio_dir)
    # Also the voices of the audio engines, which only `ivr audio build` uses (so the service does not load them).
    engines = speech_engines()
    duration_of = None
    if with_audio and (manifest.entries or manifest.recordings):
        # What a call plays depends on the settings (a <Say> language plays nothing): first the
        # checks the service itself makes at start-up, on estimates, then the real lengths.
        heard = manifest.heard_in(load_or_exit(config_dir, flows_dir, None, engines))
        duration_of = heard.duration_of
    catalog = load_or_exit(config_dir, flows_dir, duration_of, engines)
    for flow in catalog.flows.values():
        click.echo(f"{flow.file}: {len(flow.nodes)} nodes, languages {', '.join(catalog.settings.offered)}: OK")
    # Within budget, or loading would have failed.
    click.echo(format_findings(catalog, check(catalog, duration_of), measured=duration_of is not None))
    stale = manifest.stale_recordings(prompt_speeches(catalog))
    if stale:
        click.echo(f"{len(stale)} recording(s) to record again: their prompts say other words now (the synthesised audio plays):")
        for speech, recording in stale:
            click.echo(f"  {recording_id(speech)}: recorded for {recording.text!r}, now {speech.text!r}")
    environment = check_environment(catalog, service_environment())
    for line in environment.notes:
        click.echo(line)
    for line in environment.warnings:
        click.echo(f"warning: {line}", err=True)
    if environment.errors:
        fail(
            ExitCode.ERROR,
            "\n".join(f"error: {line}" for line in environment.errors) + "\nthe service will not start until it is fixed.",
        )
    click.echo(f"{len(catalog.helplines)} helplines, {len(catalog.flows)} flow(s): no errors.")


def _is_gunicorn(pid: int) -> bool:
    try:
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def process_environment(pid: int) -> dict[str, str] | None:
    """The environment the process ``pid`` was started with, or None when it cannot be read (another user's)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.decode("utf-8", "replace").partition("=") for item in raw.split(b"\0") if b"=" in item)
    return {name: value for name, _, value in pairs}


def bound_url(pid: int, env: Mapping[str, str] | None) -> str | None:
    """Where the master ``pid`` listens (its --bind, else PORT), as a URL this machine can reach; None for a Unix socket."""
    try:
        args = [a.decode("utf-8", "replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        args = []
    bind = next((b for a, b in zip(args, args[1:], strict=False) if a in ("--bind", "-b")), None)
    bind = bind or next((a.split("=", 1)[1] for a in args if a.startswith("--bind=")), None)
    if bind is None:
        bind = f"127.0.0.1:{(env or {}).get('PORT') or 8000}"  # gunicorn's own default port
    if bind.startswith(("unix:", "fd://")):
        return None
    host, _, port = bind.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host
    return f"http://{host}:{port}"


RELOAD_SETTLED = 5  # /healthz answers in a row with the new files before `ivr reload` says they are served


def health(url: str) -> dict[str, object] | None:
    """The service's /healthz, or None when it does not answer."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=3) as answer:
            found = json.loads(answer.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def changed_variables(mine: Mapping[str, str], service: Mapping[str, str]) -> list[str]:
    """The service's variables this shell sets to another value (names only): those need a restart, not a reload."""
    ours = ("IVR_", "TWILIO_", "DATABASE_URL")
    return sorted(name for name, value in mine.items() if name.startswith(ours) and service.get(name) != value)


@click.command()
@click.argument("pid", type=int)
@CONFIG_OPTION
@FLOWS_OPTION
@click.option("--url", default=None, help="The service's base URL, for /healthz (default: where the master listens).")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the outcome.")
def reload(pid: int, config_dir: Path | None, flows_dir: Path | None, url: str | None, wait: float) -> None:
    """Take new flows and config files without a restart: check them, then send SIGHUP to the service.

    PID is gunicorn's master (systemd's $MAINPID). Nothing is sent when the files have errors, or
    when the service's environment lacks what they need (printed; exit 1). On SIGHUP the master
    loads and checks the files again and serves them only if they are valid; otherwise it keeps
    what it served and logs why. This command waits for the outcome on /healthz and prints it.
    A reload never reads the environment again: a changed variable needs a restart.
    """
    try:
        catalog = load_catalog(config_dir or default_config_dir(), flows_dir or default_flows_dir())
    except ConfigErrors as exc:
        n = len(exc.errors)
        lines = [str(error) for error in exc.errors]
        fail(
            ExitCode.ERROR,
            "\n".join(
                [*lines, f"{n} error{'s' if n != 1 else ''} found; nothing was sent: the service keeps serving what it loaded."]
            ),
        )
    if not _is_gunicorn(pid):
        fail(ExitCode.USAGE, f"error: process {pid} is not a gunicorn master; give the PID of the service's master process")
    env = process_environment(pid)
    if env is None:
        click.echo(
            f"SIP credentials not checked here: the environment of process {pid} cannot be read (run as its user, or root)"
        )
    else:
        found = check_environment(catalog, env)
        if found.errors:
            fail(
                ExitCode.ERROR,
                "\n".join(f"error: {line} in the service's environment" for line in found.errors)
                + f"\n{RESTART_HINT}; nothing was sent.",
            )
        for line in found.warnings:
            click.echo(f"warning: {line}", err=True)
        changed = changed_variables(service_environment(), env)
        if changed:
            click.echo(f"this shell sets {', '.join(changed)} otherwise than the service: if that is the change, {RESTART_HINT}")
    base = url or bound_url(pid, env)
    before = health(base) if base else None
    os.kill(pid, signal.SIGHUP)
    click.echo(f"{len(catalog.flows)} flow(s) valid; sent SIGHUP to {pid}.")
    if base is None or before is None:
        click.echo(
            '/healthz not reached: the log says "reloaded" or why it kept the old files; `ivr status` shows what is served.'
        )
        return
    deadline = time.monotonic() + wait
    agreeing = 0  # answers in a row from the new workers: the old ones answer until they have drained
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = health(base)
        if now is None:
            continue
        if now.get("loaded_at") != before.get("loaded_at"):
            agreeing += 1
            if agreeing == RELOAD_SETTLED:
                click.echo(f"reloaded: serving {now.get('content')} since {now.get('loaded_at')}.")
                return
            continue
        agreeing = 0
        if now.get("last_refused_reload_at") != before.get("last_refused_reload_at"):
            fail(
                ExitCode.ERROR,
                f"reload refused at {now.get('last_refused_reload_at')}: still serving {now.get('content')}"
                f' (loaded {now.get("loaded_at")}); why: `ivr status`, /admin, or the log\'s "reload refused" line',
            )
    fail(ExitCode.ERROR, f"no outcome on {base}/healthz within {wait:g} s: see the service's log")


@click.group()
def fallback() -> None:
    """The fallback TwiML, for a host that does not go down with this one."""


@fallback.command("export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--with-private-targets",
    "with_targets",
    is_flag=True,
    help="Also ring the line's transfer targets (numbers, and SIP addresses without credentials): "
    "anyone who can read the files learns them.",
)
@CONFIG_OPTION
@FLOWS_OPTION
def fallback_export(folder: Path, with_targets: bool, config_dir: Path | None, flows_dir: Path | None) -> None:
    """Write the fallback TwiML into FOLDER as static files: one per called number, and fallback.xml.

    Each says the lines' numbers and 112 in every offered language (the called number's first),
    and holds no URL and no credential: the host that serves it checks nobody. None dials
    unless --with-private-targets; a SIP target that needs credentials is never in a file.
    Serve them from another host (a TwiML Bin, an object store), then:
    ivr twilio connect NUMBER --fallback-url URL-OF-ITS-FILE.
    """
    catalog = load_or_exit(config_dir, flows_dir)
    written = export(catalog, folder, with_targets=with_targets)
    for name, path in written.items():
        number = next((n for n in catalog.settings.called_numbers if file_name(n) == name), None)
        click.echo(f"{path}: for {number or 'any other number'}")
    left_out = unexported(catalog) if with_targets else ()
    if left_out:
        click.echo(f"not rung by these files (SIP targets with credentials): {', '.join(t.address for t in left_out)}")


@click.group()
def announce() -> None:
    """The operators' announcement: a short message per language, with a start and an end.

    Where every instance reads it: IVR_ANNOUNCEMENT_FILE names a file (on a VM: these commands
    write it, and the service reads it again when it changes); on a PaaS, set IVR_ANNOUNCEMENT
    to the JSON that `ivr announce set` prints (the platform restarts the app, with no build).
    """


@dataclass(frozen=True, slots=True)
class _Announced:
    """Where the service reads the announcement (the same variables, read the same way), and the catalog it checks against."""

    text: str | None
    file: Path | None
    catalog: Catalog


def _announced() -> _Announced:
    try:
        text, file = ANNOUNCEMENT.read(os.environ), ANNOUNCEMENT_FILE.read(os.environ)
        config_dir, flows_dir = CONFIG.read(os.environ), FLOWS.read(os.environ)
    except SettingsError as exc:
        fail(ExitCode.USAGE, f"error: {exc}")
    return _Announced(text, file, load_or_exit(config_dir, flows_dir))


DURATION = re.compile(r"(?:(?P<days>[0-9]+)d)?(?:(?P<hours>[0-9]+)h)?(?:(?P<minutes>[0-9]+)m)?")


def duration(text: str) -> timedelta:
    """``"4h"``, ``"90m"``, ``"1h30m"``, ``"2d"`` → a timedelta; fails with usage otherwise."""
    m = DURATION.fullmatch(text.strip().lower())
    if m is None or not any(m.groups()):
        fail(ExitCode.USAGE, f"error: --for {text!r} is not a duration: write e.g. 4h, 90m, 1h30m or 2d")
    found = timedelta(days=int(m["days"] or 0), hours=int(m["hours"] or 0), minutes=int(m["minutes"] or 0))
    if not found:
        fail(ExitCode.USAGE, "error: --for must be longer than nothing")
    return found


def moment(text: str, name: str, now: datetime) -> datetime:
    """``now``, a Brussels wall time (``2026-12-24 18:00``), or a time with its offset; fails with usage otherwise.

    A Brussels time the clocks skip is refused; one that happens twice is taken the first time, and said so.
    """
    if text.strip().lower() == "now":
        return now
    try:
        given = datetime.fromisoformat(text.strip())
    except ValueError:
        given = None
    if given is not None and given.tzinfo is not None:
        return given
    try:
        instant, note = brussels_moment(text)
    except HoursError as exc:
        fail(ExitCode.USAGE, f"error: --{name}: {exc}; or write a time with its offset, e.g. 2026-12-24T18:00+01:00")
    if note:
        click.echo(f"note: --{name}: {note}")
    return instant


@announce.command("set")
@click.option("--say", "texts", type=(str, str), multiple=True, required=True, help="LANG TEXT, e.g. --say fr 'Télé-Accueil …'.")
@click.option(
    "--start",
    default="now",
    show_default=True,
    help='When it starts: "now", a Brussels time "2026-12-24 18:00", or with its offset.',
)
@click.option("--end", default=None, help='When it ends: a Brussels time "2026-12-25 08:00", or with its offset.')
@click.option("--for", "lasting", default=None, help="Or how long it lasts from its start: 4h, 90m, 1h30m, 2d.")
@click.option(
    "--file", "path", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Default: IVR_ANNOUNCEMENT_FILE."
)
def announce_set(texts: tuple[tuple[str, str], ...], start: str, end: str | None, lasting: str | None, path: Path | None) -> None:
    """Check an announcement and write it to the file the service reads (or print it for IVR_ANNOUNCEMENT).

    Times without an offset are Brussels wall-clock times: one the clocks skip (the last Sunday of
    March, 02:xx) is refused; one that happens twice (the last Sunday of October, 02:xx) is taken
    the first time, and a note says so.
    """
    if (end is None) == (lasting is None):
        fail(ExitCode.USAGE, "error: give either --end or --for (e.g. --for 4h)")
    announced = _announced()
    catalog = announced.catalog
    begins = moment(start, "start", datetime.now(UTC).replace(second=0, microsecond=0))
    ends = begins + duration(lasting) if lasting is not None else moment(end or "", "end", begins)
    local = {"start": begins.astimezone(BRUSSELS).isoformat(), "end": ends.astimezone(BRUSSELS).isoformat()}
    raw = json.dumps({"text": dict(texts), **local}, ensure_ascii=False)
    try:
        announcement = parse_announcement(raw, catalog.settings.offered, line_numbers(catalog.helplines.values()))
    except AnnouncementError as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
    too_long_texts = too_long(catalog, announcement.text)
    if too_long_texts:
        fail(ExitCode.ERROR, f"error: {'; '.join(too_long_texts)} (budgets.announcement): shorten it")
    said = f"said from {describe_moment(announcement.start)} to {describe_moment(announcement.end)}"
    target = path or announced.file
    if target is None:
        click.echo(
            f"No IVR_ANNOUNCEMENT_FILE: on a PaaS, set the config variable IVR_ANNOUNCEMENT ({said}); the app restarts, no build."
        )
        click.echo("On Heroku:")
        click.echo(f"heroku config:set IVR_ANNOUNCEMENT={shlex.quote(announcement.to_json())}")
        click.echo("On another platform (scalingo env-set, clever env set, a dashboard), set IVR_ANNOUNCEMENT to:")
        click.echo(announcement.to_json())
        return
    partial = target.with_name(target.name + ".new")
    partial.write_text(announcement.to_json() + "\n", encoding="utf-8")
    partial.replace(target)  # atomic: the service never reads half a file
    click.echo(f"wrote {target}: {said}")


@announce.command("show")
def announce_show() -> None:
    """Show the announcement the service would read now, and whether it is on."""
    announced = _announced()
    catalog = announced.catalog
    numbers = line_numbers(catalog.helplines.values())
    found, warning = AnnouncementSource(catalog.settings.offered, announced.text, announced.file, numbers).current()
    if warning is not None:
        fail(ExitCode.ERROR, f"warning: {warning}; callers hear no announcement")
    if found is None:
        click.echo("No announcement.")
        return
    state = "on now" if found.active(datetime.now(UTC)) else "not on now"
    click.echo(f"{state}: from {found.start.isoformat()} to {found.end.isoformat()}")
    for lang, text in found.text.items():
        click.echo(f"  {lang}: {text}")


@announce.command("clear")
@click.option(
    "--file", "path", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Default: IVR_ANNOUNCEMENT_FILE."
)
def announce_clear(path: Path | None) -> None:
    """Remove the announcement file (on a PaaS: unset IVR_ANNOUNCEMENT)."""
    try:
        target = path or ANNOUNCEMENT_FILE.read(os.environ)  # no catalog: clearing works even while a file is broken
    except SettingsError as exc:
        fail(ExitCode.USAGE, f"error: {exc}")
    if target is None:
        click.echo("No IVR_ANNOUNCEMENT_FILE: on a PaaS, unset the IVR_ANNOUNCEMENT config variable.")
        return
    target.unlink(missing_ok=True)
    click.echo(f"removed {target}: no announcement")
