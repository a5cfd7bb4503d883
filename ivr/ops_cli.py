"""Commands for running the service: ``ivr validate``, ``ivr reload``, ``ivr fallback export`` and ``ivr announce``.

:mod:`ivr.cli` adds them to the ``ivr`` group.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import click

from ivr.announcements import AnnouncementError, AnnouncementSource
from ivr.announcements import parse as parse_announcement
from ivr.audio import AudioManifest, ManifestError, load_manifest, prompt_speeches, recording_id, speech_engines
from ivr.checker import check, format_findings
from ivr.cli_support import AUDIO_DIR_OPTION, CONFIG_OPTION, FLOWS_OPTION, ExitCode, fail, load_or_exit
from ivr.fallback import export, file_name, unexported
from ivr.model import Catalog
from ivr.number_guard import line_numbers
from ivr.settings import Settings
from ivr.timing import word_count


@click.command()
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
    click.echo(f"{len(catalog.helplines)} helplines, {len(catalog.flows)} flow(s): no errors.")


def _is_gunicorn(pid: int) -> bool:
    try:
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@click.command()
@click.argument("pid", type=int)
@CONFIG_OPTION
@FLOWS_OPTION
def reload(pid: int, config_dir: Path | None, flows_dir: Path | None) -> None:
    """Take new flows and config files without a restart: check them, then send SIGHUP to the service.

    PID is gunicorn's master (systemd's $MAINPID). Nothing is sent when the files have errors
    (they are printed; exit 1). On SIGHUP the master loads and checks the files again and
    serves them only if they are valid; otherwise it keeps what it served and logs why.
    """
    catalog = load_or_exit(config_dir, flows_dir)
    if not _is_gunicorn(pid):
        fail(ExitCode.USAGE, f"error: process {pid} is not a gunicorn master; give the PID of the service's master process")
    os.kill(pid, signal.SIGHUP)
    click.echo(f'{len(catalog.flows)} flow(s) valid; sent SIGHUP to {pid}: its log says "reloaded" or why it kept the old files.')


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


def _announcement_settings() -> tuple[Settings, tuple[str, ...], dict[str, str]]:
    """The settings, the languages offered, and the lines' numbers (which an announcement may not spell)."""
    settings, catalog = _announcement_catalog()
    return settings, catalog.settings.offered, line_numbers(catalog.helplines.values())


def _announcement_catalog() -> tuple[Settings, Catalog]:
    settings = Settings.from_env({**os.environ, "IVR_DEV_MODE": "1", "IVR_PRODUCTION": ""})  # no token needed here
    return settings, load_or_exit(settings.config_dir, settings.flows_dir)


def _too_long(catalog: Catalog, text: Mapping[str, str]) -> list[str]:
    """The languages whose text lasts longer than the announcement budget (the caller checker counts on it)."""
    cap = catalog.settings.budgets.announcement
    found = []
    for lang, said in text.items():
        seconds = word_count(said) / catalog.settings.languages[lang].words_per_second
        if seconds > cap:
            found.append(f"the {lang} text lasts about {seconds:.1f} s said, longer than the {cap:g} s an announcement may")
    return found


@announce.command("set")
@click.option("--say", "texts", type=(str, str), multiple=True, required=True, help="LANG TEXT, e.g. --say fr 'Télé-Accueil …'.")
@click.option("--start", required=True, help="When it starts, with its time zone, e.g. 2026-12-24T18:00+01:00.")
@click.option("--end", required=True, help="When it ends, e.g. 2026-12-25T08:00+01:00.")
@click.option(
    "--file", "path", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Default: IVR_ANNOUNCEMENT_FILE."
)
def announce_set(texts: tuple[tuple[str, str], ...], start: str, end: str, path: Path | None) -> None:
    """Check an announcement and write it to the file the service reads (or print it for IVR_ANNOUNCEMENT)."""
    settings, catalog = _announcement_catalog()
    raw = json.dumps({"text": dict(texts), "start": start, "end": end}, ensure_ascii=False)
    try:
        announcement = parse_announcement(raw, catalog.settings.offered, line_numbers(catalog.helplines.values()))
    except AnnouncementError as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
    too_long = _too_long(catalog, announcement.text)
    if too_long:
        fail(ExitCode.ERROR, f"error: {'; '.join(too_long)} (budgets.announcement): shorten it")
    target = path or settings.announcement_file
    if target is None:
        click.echo("No IVR_ANNOUNCEMENT_FILE: on a PaaS, set this config variable (the app restarts, no build):")
        click.echo(f"IVR_ANNOUNCEMENT={announcement.to_json()}")
        return
    partial = target.with_name(target.name + ".new")
    partial.write_text(announcement.to_json() + "\n", encoding="utf-8")
    partial.replace(target)  # atomic: the service never reads half a file
    click.echo(f"wrote {target}: said from {announcement.start.isoformat()} to {announcement.end.isoformat()}")


@announce.command("show")
def announce_show() -> None:
    """Show the announcement the service would read now, and whether it is on."""
    settings, languages, numbers = _announcement_settings()
    found, warning = AnnouncementSource(languages, settings.announcement, settings.announcement_file, numbers).current()
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
    settings, _, _ = _announcement_settings()
    target = path or settings.announcement_file
    if target is None:
        click.echo("No IVR_ANNOUNCEMENT_FILE: on a PaaS, unset the IVR_ANNOUNCEMENT config variable.")
        return
    target.unlink(missing_ok=True)
    click.echo(f"removed {target}: no announcement")
