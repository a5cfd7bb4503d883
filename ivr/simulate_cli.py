"""``ivr simulate``: a call from the terminal, through the real webhook with signed requests.

:mod:`ivr.cli` adds it to the ``ivr`` group. The call is played by :mod:`ivr.simulate`
(:class:`~ivr.simulate.InProcessCaller`); this module reads the options, takes the keys from
``--keys`` or the keyboard, prints what the caller hears and turns errors into exit codes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click

from ivr.app import create_app
from ivr.cli_support import CONFIG_OPTION, FLOWS_OPTION, ExitCode, fail, in_process_settings
from ivr.errors import ConfigErrors
from ivr.hours import BRUSSELS, HoursError, brussels_moment, describe_moment
from ivr.logs import quiet_service_logs
from ivr.model import Catalog
from ivr.service import now_utc
from ivr.settings import SettingsError
from ivr.simulate import (
    DIAL_STATUSES,
    SAY,
    Answer,
    CallReport,
    InProcessCaller,
    Listen,
    Player,
    Ring,
    Said,
    SimulationError,
    run_call,
)
from ivr.stats.web import close_stats


class TerminalCaller:
    """A caller at the terminal: keys from --keys, or typed; prints what is heard."""

    def __init__(self, call: InProcessCaller, keys: list[str] | None, lang: str | None, dial_status: str, player: Player | None):
        self.call = call
        self.keys = keys
        self.lang = lang
        self.dial_status = dial_status
        self.player = player
        self.shown = ""

    def _header(self, answer: Answer) -> None:
        kind = self.call.node_kind(answer)
        # The language menu speaks every language; the call's language means something after it.
        where = (answer.node or "?", kind, answer.lang if kind != "language" else "")
        label = " · ".join(part for part in where if part)
        if label != self.shown:
            click.echo(f"\n[{label}]")
            self.shown = label

    def hear(self, heard: Said, answer: Answer) -> None:
        self._header(answer)
        if heard.verb == "pause":
            click.echo(f"  ({heard.seconds:.0f} s pause)")
        elif heard.verb == "play" and not heard.text:
            click.echo(f"  ?  audio {heard.url}")
        else:
            source = "audio" if heard.verb == "play" else "say"
            click.echo(f"  {heard.lang or '??'} {heard.seconds:4.1f} s {source}: {heard.text}")
        if self.player is not None:
            self.player.play(heard)

    def key(self, listen: Listen, answer: Answer) -> str | None:
        self._header(answer)
        if self.lang and (chosen := self.call.language_key(answer, self.lang)) is not None:
            click.echo(f"  > key {chosen} (--lang {self.lang})")
            self.lang = None
            return chosen
        if self.keys is not None:
            if not self.keys:
                click.echo("  > (end of --keys: the caller hangs up)")
                return None
            key = self.keys.pop(0)
            if key.startswith(SAY) and not listen.speech:
                click.echo(f"  > (this menu listens for keys only: speech is off for this number) silence ({listen.timeout} s)")
                return ""
            if key.startswith(SAY):
                click.echo(f"  > says “{key.removeprefix(SAY)}”")
            else:
                click.echo(f"  > key {key}" if key else f"  > silence ({listen.timeout} s)")
            return key
        try:
            typed: str = click.prompt(
                f"  > key (Enter: stay silent {listen.timeout} s, q: hang up)", default="", show_default=False, prompt_suffix=" "
            )
        except click.Abort:
            return None
        typed = typed.strip()
        if typed.lower() == "q":
            return None
        return typed

    def ring(self, ring: Ring, answer: Answer) -> str:
        self._header(answer)
        click.echo(f"  ringing {ring.number} (up to {ring.timeout} s)")
        if whisper := self.call.whisper(ring):
            click.echo(f"  (the volunteer who answers hears first: {whisper})")
        if self.keys is not None:
            click.echo(f"  > transfer: {self.dial_status}")
            return self.dial_status
        try:
            chosen: str = click.prompt("  > transfer outcome", type=click.Choice(DIAL_STATUSES), default="completed")
        except click.Abort:
            return "canceled"
        return chosen


def _summary(report: CallReport) -> None:
    click.echo("")
    click.echo("Path: " + " → ".join(report.path))
    # Every prompt counts to its end: keys are pressed when a prompt is over, not during it.
    if report.to_human is None:
        click.echo(f"Heard {report.seconds_heard:.1f} s of audio; no transfer rang and no listening line's number was said.")
    else:
        click.echo(f"Heard {report.seconds_heard:.1f} s of audio; reached {report.human} after {report.to_human:.1f} s of it.")
    ended = {
        "hangup": "the service ended the call",
        "caller": "the caller hung up",
        "transfer": "the transfer connected",
        "turn limit": "stopped after too many turns",
    }
    click.echo(f"Call ended: {ended.get(report.ended_by, report.ended_by)}.")


def _moment(at: str) -> tuple[Callable[[], datetime], datetime]:
    """``--at`` → the engine's time source, fixed at that Brussels moment (a time that does not exist: usage error)."""
    try:
        instant, note = brussels_moment(at)
    except HoursError as exc:
        fail(ExitCode.USAGE, f"error: --at: {exc}")
    click.echo(f"At {describe_moment(instant)}, Brussels time.")
    if note:
        click.echo(f"Note: {note}.")
    return (lambda: instant), instant


def _targets_at(catalog: Catalog, instant: datetime) -> None:
    """Each line with transfer targets: a holiday or not, and which targets are open at ``instant``."""
    day = instant.astimezone(BRUSSELS).date()
    for line in catalog.helplines.values():
        if line.transfer_to:
            open_now = line.open_targets(instant)
            holiday = line.hours_open.holidays.name(day)
            states = ", ".join(f"{t.address} {'open' if i in open_now else 'closed'}" for i, t in enumerate(line.transfer_to))
            click.echo(f"  {line.name}{f' (a holiday: {holiday})' if holiday else ''}: {states}")


@click.command()
@click.option("--keys", default=None, help="Keys to press, comma-separated; an empty item is silence (e.g. 2,,0).")
@click.option("--lang", default=None, help="Choose this language at the language menu (nl, fr, de, en).")
@click.option("--to", "called", default="", help="Our number the caller dialled (E.164), for per-number defaults.")
@click.option(
    "--from",
    "caller_number",
    default="anonymous",
    show_default=True,
    help="The caller's number. Where text messages are on, the text-message key then sends a real one to it.",
)
@click.option(
    "--dial-status",
    type=click.Choice(DIAL_STATUSES),
    default="completed",
    show_default=True,
    help="Outcome of transfers in scripted calls.",
)
@click.option(
    "--say",
    "says",
    multiple=True,
    help="Words to say at a menu that listens for speech, after the --keys (repeat for several menus).",
)
@click.option("--play", is_flag=True, help="Play the audio (needs an audio player; <Say> text is spoken with espeak-ng).")
@click.option(
    "--at",
    default=None,
    metavar='"YYYY-MM-DD HH:MM"',
    help="Call at this Brussels date and time (opening hours, holidays, announcement); default: now.",
)
@CONFIG_OPTION
@FLOWS_OPTION
def simulate(
    keys: str | None,
    says: tuple[str, ...],
    lang: str | None,
    called: str,
    caller_number: str,
    dial_status: str,
    play: bool,
    at: str | None,
    config_dir: Path | None,
    flows_dir: Path | None,
) -> None:
    """Call the service from the terminal: the real webhook, signed requests, real TwiML."""
    clock, instant = _moment(at) if at is not None else (now_utc, None)
    try:
        settings = in_process_settings(config_dir, flows_dir)
        with quiet_service_logs():
            app = create_app(settings, clock)
    except SettingsError as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
    except ConfigErrors as exc:
        fail(ExitCode.ERROR, exc.report())
    catalog = app.extensions["ivr"].catalog
    if instant is not None:
        _targets_at(catalog, instant)
    if lang is not None and lang not in catalog.settings.offered:
        fail(ExitCode.USAGE, f"error: --lang {lang}: not offered; choose one of: {', '.join(catalog.settings.offered)}")
    call = InProcessCaller(app, called=called, caller=caller_number)
    player = Player(call, lambda text: click.echo(text, err=True)) if play else None
    scripted = [key.strip() for key in keys.split(",")] if keys is not None else None
    if says:
        scripted = (scripted or []) + [SAY + words for words in says]
    caller = TerminalCaller(call, scripted, lang, dial_status, player)
    texts = app.extensions["ivr"].texts is not None and caller_number != "anonymous"
    leaves = "the text-message key sends a real one" if texts else "nothing leaves this machine"
    click.echo(f"Calling in-process: each request is signed and answered by the real webhook; {leaves}.")
    try:
        with quiet_service_logs():
            report = run_call(call, caller)
    except SimulationError as exc:
        fail(ExitCode.ERROR, f"error: {exc}")
    finally:
        with quiet_service_logs():
            texts = app.extensions["ivr"].texts
            if texts is not None:
                texts.wait()  # a text message on its way (ivr.text_sender) is sent and counted before the process ends
            close_stats(app)  # the call's statistics, before the process ends
    _summary(report)
