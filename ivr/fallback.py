"""The fallback TwiML as static files, for a host that does not go down with this one.

Twilio calls a number's Voice Fallback URL when its Voice URL fails (the host is down, a
time-out, a 4xx or 5xx). On this host, the fallback shares its fate; exported to a TwiML
Bin or any static host it does not. A document says the lines' numbers and 112 in every
offered language, the called number's first; it never dials (a <Dial> would need a caller
ID and, to stop after a connected call, an action URL back to this host), and holds no
credentials and no URL.
"""

from __future__ import annotations

from pathlib import Path

from ivr.engine import Engine, Hangup, Say
from ivr.model import Catalog
from ivr.twiml import Links, render

DEFAULT_NAME = "fallback.xml"
_NO_LINKS = Links(step_url=lambda s: "", dial_url=lambda s: "", audio_url=lambda s: None)


def file_name(number: str) -> str:
    """``fallback-3225550100.xml`` for +3225550100 (no "+", which some hosts mangle in paths)."""
    return f"fallback-{number.lstrip('+')}.xml"


def documents(catalog: Catalog) -> dict[str, str]:
    """File name → TwiML: one per called number, and ``fallback.xml`` for any other number."""
    engine = Engine(catalog)
    out: dict[str, str] = {}
    for name, number in ((DEFAULT_NAME, ""), *((file_name(n), n) for n in catalog.settings.called_numbers)):
        rescue = engine.rescue(number)
        said = next(action for action in rescue.actions if isinstance(action, Say))
        out[name] = render((said, Hangup()), catalog.settings.languages, _NO_LINKS)
    return out


def export(catalog: Catalog, folder: Path) -> dict[str, Path]:
    """Write :func:`documents` into ``folder``; returns each file by name."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, twiml in documents(catalog).items():
        path = folder / name
        path.write_text(twiml, encoding="utf-8")
        written[name] = path
    return written
