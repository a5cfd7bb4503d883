"""``ivr audio build`` and ``ivr audio import``: the prompts' audio files and manifest (see :mod:`ivr.audio`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivr.audio import (
    ENGINES,
    TARGET_LUFS,
    TARGET_TRUE_PEAK,
    BuildReport,
    EspeakEngine,
    ImportReport,
    ManifestError,
    Progress,
    build_audio,
    import_recordings,
    load_manifest,
    make_engine,
)
from ivr.audio.recording import missing_tools
from ivr.cli_support import AUDIO_DIR_OPTION, CONFIG_OPTION, FLOWS_OPTION, ExitCode, fail, load_or_exit
from ivr.errors import ConfigErrors
from ivr.model import Catalog

SHOWN_AT_MOST = 20


@click.group("audio")
def audio() -> None:
    """Pre-generated prompt audio (MP3 files played with <Play>)."""


@audio.command("build")
@CONFIG_OPTION
@FLOWS_OPTION
@AUDIO_DIR_OPTION
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="gtts",
    show_default=True,
    help="gtts: natural voices, needs the internet. espeak: espeak-ng, offline (for previews and tests).",
)
@click.option("--jobs", type=click.IntRange(1, 16), default=4, show_default=True, help="Syntheses in flight at once.")
@click.option(
    "--retries", type=click.IntRange(0, 10), default=4, show_default=True, help="Retries per prompt on 429 and network errors."
)
@click.option("--slow", is_flag=True, help="gTTS's slow speech (changes every file name).")
@click.option("--prune", is_flag=True, help="Remove the audio files no prompt uses any more.")
def build(
    config_dir: Path | None,
    flows_dir: Path | None,
    audio_dir: Path,
    engine: str,
    jobs: int,
    retries: int,
    slow: bool,
    prune: bool,
) -> None:
    """Generate one MP3 per prompt and language that has none yet, then audio/manifest.json.

    Only missing files are generated; a second run with nothing changed sends no request.
    Exits 1 when the flows are invalid, 3 when some prompts failed (callers hear those
    with <Say>; everything that succeeded is kept), 4 when --engine espeak's programs are missing.
    """
    catalog = load_or_exit(config_dir, flows_dir)
    synthesizer = make_engine(engine, slow=slow)
    if isinstance(synthesizer, EspeakEngine) and (missing := synthesizer.missing_tools()):
        fail(
            ExitCode.TOOL_MISSING,
            f"--engine espeak needs the Debian packages: {', '.join(missing)} (scripts/install-system-deps)",
        )
    live = sys.stderr.isatty()
    try:
        report = build_audio(
            catalog, synthesizer, audio_dir, jobs=jobs, retries=retries, prune=prune, progress=_show_progress if live else None
        )
    except OSError as exc:  # the folder itself: not writable, not a folder, disk full
        # No prompt got audio: the same outcome for callers as failed prompts.
        fail(ExitCode.AUDIO_INCOMPLETE, f"cannot write the audio folder {audio_dir}: {exc.strerror or exc}")
    if live and (report.generated or report.failed):
        click.echo("\r\033[K", nl=False, err=True)
    _print_report(report, audio_dir)
    if not report.ok:
        fail(ExitCode.AUDIO_INCOMPLETE, f"{len(report.failed)} prompt(s) have no audio.")
    _check_real_lengths(catalog, audio_dir)


@audio.command("import")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@CONFIG_OPTION
@FLOWS_OPTION
@AUDIO_DIR_OPTION
def import_(folder: Path, config_dir: Path | None, flows_dir: Path | None, audio_dir: Path) -> None:
    """Take the recordings in FOLDER, one per prompt and language, named by the ids `ivr prompts --audio-dir` prints.

    Any format ffmpeg reads. Each is trimmed of its silent ends, brought to the target loudness
    and converted to MP3, then listed in audio/manifest.json with the words it was recorded for.
    A prompt that says a line's number is refused. Exits 3 when some files were refused (the
    others are imported), 4 when ffmpeg is missing.
    """
    catalog = load_or_exit(config_dir, flows_dir)
    if missing := missing_tools():
        fail(
            ExitCode.TOOL_MISSING,
            f"ivr audio import needs the Debian package: {', '.join(missing)} (scripts/install-system-deps)",
        )
    try:
        report = import_recordings(catalog, folder, audio_dir)
    except ManifestError as exc:
        fail(ExitCode.AUDIO_INCOMPLETE, f"{exc}; nothing was imported (run `ivr audio build` to rewrite it)")
    except OSError as exc:
        fail(ExitCode.AUDIO_INCOMPLETE, f"cannot read {folder} or write {audio_dir}: {exc.strerror or exc}")
    _print_import(report, audio_dir)
    said = sorted(
        {stem.split(".", 1)[0] for stem in report.imported} & {c for c, lang in catalog.settings.languages.items() if lang.said}
    )
    if said:
        click.echo(f"Kept, but not played while {', '.join(said)} is set to speak_with: say (Twilio's voice says every prompt).")
    if not report.ok:
        fail(ExitCode.AUDIO_INCOMPLETE, f"{len(report.refused)} file(s) refused; nothing of theirs was changed.")
    _check_real_lengths(catalog, audio_dir)


def _check_real_lengths(catalog: Catalog, audio_dir: Path) -> None:
    """The caller checker on the audio's real lengths: a file that keeps a caller from the line past a budget
    is refused here (exit 1, with the path), as by `ivr validate --audio`; the service would not play it."""
    from ivr.checker import check_calls  # here, not at the top: `ivr --help` loads no command's machinery

    manifest = load_manifest(audio_dir).heard_in(catalog)
    if not manifest.entries and not manifest.recordings:
        return
    errors = check_calls(catalog, None, manifest.duration_of)
    if errors:
        fail(ExitCode.ERROR, ConfigErrors(errors).report() + "\nthe service says those prompts with <Say> until this passes")


def _print_import(report: ImportReport, audio_dir: Path) -> None:
    target = f"{TARGET_LUFS:g} LUFS, peaks at most {TARGET_TRUE_PEAK:g} dBTP"
    for stem, made in sorted(report.imported.items()):
        gain = "linear gain" if made.linear else "dynamic (a linear gain would have clipped its peaks)"
        click.echo(f"imported {stem}: {made.duration:.1f} s, {made.loudness:.1f} LUFS brought to {target} ({gain})")
    if report.unchanged:
        click.echo(f"{len(report.unchanged)} recording(s) already imported, same take and same words.")
    if report.refused:
        click.echo(f"Refused:{_listed([f'{name}: {why}' for name, why in sorted(report.refused.items())])}", err=True)
    if report.manifest_written:
        click.echo(f"Wrote {audio_dir / 'manifest.json'}.")


def _show_progress(progress: Progress) -> None:
    failed = f", {progress.failed} failed" if progress.failed else ""
    click.echo(f"\r\033[Kaudio: {progress.done}/{progress.total} done{failed}, {progress.elapsed:.1f}s", nl=False, err=True)


def _listed(items: list[str]) -> str:
    shown = "".join(f"\n  {item}" for item in items[:SHOWN_AT_MOST])
    more = f"\n  … and {len(items) - SHOWN_AT_MOST} more" if len(items) > SHOWN_AT_MOST else ""
    return shown + more


def _print_report(report: BuildReport, audio_dir: Path) -> None:
    where = f"{audio_dir} ({report.engine})"
    if report.stale_parts:
        click.echo(f"removed {len(report.stale_parts)} unfinished file(s) of an interrupted build")
    if report.synthesis_calls == 0:
        click.echo(f"{where}: all {report.files} files for {report.prompts} prompts are up to date; no TTS request was made.")
    else:
        failed = f", {len(report.failed)} prompts failed" if report.failed else ""
        click.echo(
            f"{where}: {len(report.generated)} generated, {report.up_to_date} up to date{failed} "
            f"({report.files} files for {report.prompts} prompts; {report.synthesis_calls} TTS calls in {report.elapsed:.1f}s)"
        )
    if report.failed:
        reasons = [f"{prompt}: {reason}" for prompt, reason in sorted(report.failed.items())]
        click.echo(f"Failed (callers hear these with <Say> until a build succeeds):{_listed(reasons)}", err=True)
        if report.kept_previous:
            click.echo(f"{len(report.kept_previous)} of them keep the audio of an earlier build with the same words.", err=True)
    if report.said:
        click.echo(f"{report.said} prompt(s) of languages set to speak_with: say were not built (Twilio's voice says them).")
    if report.recordings:
        click.echo(f"{report.recordings} recording(s) kept; they are never built over nor pruned.")
    if report.prune_refused:
        click.echo("Nothing pruned: the old manifest was unreadable, so recordings cannot be told from unused files.", err=True)
    if report.pruned:
        click.echo(f"Removed {len(report.pruned)} file(s) no prompt uses:{_listed(report.pruned)}")
    elif report.unused:
        click.echo(f"{len(report.unused)} file(s) no prompt uses (remove them with --prune):{_listed(report.unused)}")
    if report.manifest_written:
        click.echo(f"Wrote {audio_dir / 'manifest.json'}.")
