"""The rescue documents, rendered once: for this host's fallback and errors, and as static files for another host.

Twilio calls a number's Voice Fallback URL when its Voice URL fails (the host is down, a
time-out, a 4xx or 5xx). This host answers it even without a valid signature, so each
called number has two rescues: one that only speaks (the lines' public numbers and 112,
in every offered language, the called number's first), for anyone, and one that also
rings the line's transfer targets, with their SIP credentials, for Twilio alone.

On this host, the fallback shares its fate; exported to a TwiML Bin or any static host
(which can check nothing) it does not. An exported document is the speaking one; with
``with_targets`` it also rings the line's numbers and the SIP targets that need no
credentials (never a credential, and no URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ivr.engine import Action, Dial, Engine
from ivr.model import Catalog, Target
from ivr.twiml import Links, render

DEFAULT_NAME = "fallback.xml"


@dataclass(frozen=True, slots=True)
class Rescue:
    """The rescue of one called number, as TwiML."""

    speaks: str  # the public numbers and 112 only: what a request that may not be Twilio's gets
    dials: str  # also rings the line's targets (SIP credentials included): for a request signed by Twilio


def _links(sip_credentials: Callable[[str], tuple[str, str] | None]) -> Links:
    return Links(step_url=lambda s: "", dial_url=lambda s: "", audio_url=lambda s: None, sip_credentials=sip_credentials)


def rescues(catalog: Catalog, sip_credentials: Callable[[str], tuple[str, str] | None]) -> dict[str, Rescue]:
    """Called number → its :class:`Rescue`, and ``""`` → the one for any other number.

    They ring every target whatever the hour (an engine with no clock): rendered once, for the
    moments when something has gone wrong, a target that is closed rings out, then the numbers
    are said. A transfer shows the line the number called, else our first.
    """
    engine, languages, links = Engine(catalog), catalog.settings.languages, _links(sip_credentials)
    own_number = next(iter(catalog.settings.called_numbers), None)
    out: dict[str, Rescue] = {}
    for number in ("", *catalog.settings.called_numbers):
        speaks = render(engine.rescue(number, dials=False).actions, languages, links)
        dials = render(engine.rescue(number).actions, languages, links, number or own_number)
        out[number] = Rescue(speaks, dials)
    return out


def file_name(number: str) -> str:
    """``fallback-3225550100.xml`` for +3225550100 (no "+", which some hosts mangle in paths)."""
    return f"fallback-{number.lstrip('+')}.xml"


def unexported(catalog: Catalog) -> tuple[Target, ...]:
    """The targets an export never holds: SIP addresses that need credentials."""
    return tuple(target for line in catalog.helplines.values() for target in line.transfer_to if target.credentials)


def _exported(engine: Engine, number: str, with_targets: bool) -> tuple[Action, ...]:
    speaks = engine.rescue(number, dials=False).actions
    if not with_targets:
        return speaks
    actions: list[Action] = []
    for action in engine.rescue(number).actions:
        if isinstance(action, Dial):
            kept = tuple(target for target in action.targets if not target.credentials)
            if not kept:
                return speaks
            action = replace(action, targets=kept)
        actions.append(action)
    return tuple(actions)


def documents(catalog: Catalog, *, with_targets: bool = False) -> dict[str, str]:
    """File name → TwiML: one per called number, and ``fallback.xml`` for any other number.

    Each only speaks, unless ``with_targets``: then it also rings the line's transfer targets
    but those of :func:`unexported` (the file is served by a host that checks nobody).
    """
    engine, languages, links = Engine(catalog), catalog.settings.languages, _links(lambda name: None)
    own_number = next(iter(catalog.settings.called_numbers), None)
    out: dict[str, str] = {}
    for name, number in ((DEFAULT_NAME, ""), *((file_name(n), n) for n in catalog.settings.called_numbers)):
        out[name] = render(_exported(engine, number, with_targets), languages, links, number or own_number)
    return out


def export(catalog: Catalog, folder: Path, *, with_targets: bool = False) -> dict[str, Path]:
    """Write :func:`documents` into ``folder``; returns each file by name."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, twiml in documents(catalog, with_targets=with_targets).items():
        path = folder / name
        path.write_text(twiml, encoding="utf-8")
        written[name] = path
    return written
