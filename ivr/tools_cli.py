"""Operator commands: ``ivr graph``, ``ivr prompts`` and ``ivr twilio connect``.

:mod:`ivr.cli` adds them to the ``ivr`` group. The work is done in :mod:`ivr.graph`,
:mod:`ivr.review_script` and :mod:`ivr.twilio_connect`; this module only reads options, prints,
and turns errors into exit codes.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ivr.audio import AudioManifest, ManifestError, load_manifest, number_said, recording_id
from ivr.cli_support import CONFIG_OPTION, FLOWS_OPTION, ExitCode, fail, load_or_exit
from ivr.graph import FORMATS, GraphvizMissing, diagram, to_format
from ivr.model import Catalog, Speech
from ivr.review_script import AudioColumns, to_html, to_markdown
from ivr.twilio_connect import ConnectError, TwilioNumbers, connect, public_base

# --- ivr graph ----------------------------------------------------------------------------------


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="mermaid", show_default=True, help="Diagram format.")
@click.option("--lang", default=None, help="Language of the prompts' first words (default: the deployment's default language).")
@click.option("--flow", "flow_name", default=None, help="Flow to draw (default: the flow the numbers serve).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write to this file.")
@CONFIG_OPTION
@FLOWS_OPTION
def graph(
    fmt: str, lang: str | None, flow_name: str | None, output: Path | None, config_dir: Path | None, flows_dir: Path | None
) -> None:
    """Draw a call flow as a diagram (Mermaid, Graphviz DOT, or SVG with Graphviz)."""
    catalog = load_or_exit(config_dir, flows_dir)
    name = flow_name or catalog.settings.default_flow
    flow = catalog.flows.get(name)
    if flow is None:
        fail(ExitCode.USAGE, f"error: no flow named {name!r}; the flows are: {', '.join(sorted(catalog.flows))}")
    try:
        text = to_format(diagram(catalog, flow, lang or catalog.settings.default_language), fmt)
    except ValueError as exc:
        fail(ExitCode.USAGE, f"error: {exc}")
    except GraphvizMissing as exc:
        fail(ExitCode.TOOL_MISSING, f"error: {exc}")
    except RuntimeError as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


# --- ivr prompts --------------------------------------------------------------------------------


@click.command()
@click.option("--flow", "flow_name", default=None, help="Flow to print (default: the flow the numbers serve).")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write a printable HTML page here."
)
@click.option(
    "--audio-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also show each text's recording id and whether it is recorded, synthesised or stale in this audio folder.",
)
@CONFIG_OPTION
@FLOWS_OPTION
def prompts(
    flow_name: str | None, output: Path | None, audio_dir: Path | None, config_dir: Path | None, flows_dir: Path | None
) -> None:
    """Every prompt per language in call order, for a native speaker's review: Markdown, or HTML with -o.

    With --audio-dir, the script a volunteer reads from in the studio: the id to name each recording by."""
    catalog = load_or_exit(config_dir, flows_dir)
    name = flow_name or catalog.settings.default_flow
    flow = catalog.flows.get(name)
    if flow is None:
        fail(ExitCode.USAGE, f"error: no flow named {name!r}; the flows are: {', '.join(sorted(catalog.flows))}")
    audio = None
    if audio_dir is not None:
        try:
            audio = _audio_columns(catalog, load_manifest(audio_dir))
        except ManifestError as exc:
            fail(ExitCode.USAGE, f"error: {exc}")
    if output is None:
        click.echo(to_markdown(catalog, flow, audio), nl=False)
    else:
        output.write_text(to_html(catalog, flow, audio), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _audio_columns(catalog: Catalog, manifest: AudioManifest) -> AudioColumns:
    def columns(speech: Speech) -> tuple[str, str]:
        ident = recording_id(speech)
        if catalog.settings.languages[speech.lang].said:
            return ident, "said by Twilio (speak_with: say)"
        if number_said(catalog, speech.text) is not None:
            return ident, "synthesised: says a line's number, never recorded"
        recording = manifest.recordings.get((speech.key, speech.lang))
        if recording is None:
            return ident, "synthesised"
        return ident, "recorded" if recording.text == speech.text else "stale: recorded for other words, synthesised"

    return columns


# --- ivr twilio connect ------------------------------------------------------------------------------


@click.group()
def twilio() -> None:
    """Configure Twilio for this service."""


@twilio.command("connect")
@click.argument("number")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--public-url", default=None, help="Base URL of this service (default: IVR_PUBLIC_URL).")
@click.option(
    "--fallback-url",
    default=None,
    help="Voice Fallback URL on another host, e.g. a TwiML Bin holding `ivr fallback export`'s file (default: …/voice/fallback).",
)
@click.pass_context
def twilio_connect(ctx: click.Context, number: str, dry_run: bool, public_url: str | None, fallback_url: str | None) -> None:
    """Point Twilio phone NUMBER (E.164) at this service: Voice URL …/voice, Fallback …/voice/fallback, POST.

    Credentials: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET.
    """
    # ctx.obj may carry another twilio HTTP client (the tests' fake of Twilio's API).
    http_client = (ctx.obj or {}).get("twilio_http_client")
    try:
        numbers = TwilioNumbers(os.environ, http_client)
        base = public_base(os.environ, public_url)
        connect(number, base, numbers, click.echo, dry_run=dry_run, fallback_url=fallback_url)
    except ConnectError as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
