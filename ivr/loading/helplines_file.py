"""``config/helplines.yaml``: the lines, their numbers and sources, transfer targets, opening hours and holidays."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from contextlib import nullcontext
from datetime import date
from pathlib import Path

from ivr.errors import ConfigError
from ivr.hours import WINDOW_HELP, HoursError, Schedule, Window, parse_date, parse_window
from ivr.loading.document import (
    E164,
    NODE_ID,
    Document,
    did_you_mean,
    load_document,
)
from ivr.model import (
    SIP_VARIABLES,
    Helpline,
    LanguageSettings,
    Target,
)
from ivr.yamlio import Mark, YMap, YNode

# --- helplines.yaml --------------------------------------------------------------------

SHORT_NUMBER_HINT = (
    "Twilio cannot dial Belgian short numbers such as 106, 107, 108, 112 or 1813 (errors 13223/13224): "
    "put only an E.164 number that the line's operator gave you in transfer_to, or leave it empty "
    "so that callers hear the number to call"
)


def is_short_number(raw: str) -> bool:
    digits = re.sub(r"[^0-9]", "", raw)
    if raw.strip().startswith("+32"):
        return len(digits) - 2 < 8  # Belgian national numbers have 8 or 9 digits
    return len(digits) <= 6


SIP_ADDRESS = re.compile(r"sips?:[A-Za-z0-9._~+-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(;transport=(udp|tcp|tls))?")
CREDENTIALS_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


def _parse_schedule(doc: Document, node: YNode | None, holidays: set[date]) -> Schedule:
    """``["mon-fri 09:00-17:00", …]`` → a Schedule (closed on ``holidays``); nothing: always open."""
    if node is None:
        return Schedule()
    windows: list[Window] = []
    for index, item in enumerate(doc.sequence(node, 'opening windows, like ["mon-fri 09:00-17:00"]')):
        with doc.at(index):
            text = doc.text(item, "an opening window")
            if text is None:
                continue
            try:
                windows.append(parse_window(text))
            except HoursError as exc:
                doc.error(item.mark, str(exc), WINDOW_HELP)
    return Schedule(tuple(windows), frozenset(holidays))


def _parse_target(doc: Document, item: YNode, holidays: set[date]) -> Target | None:
    """A transfer target: an E.164 number as a string, or ``{address, credentials, hours_open}``."""
    fields: dict[str, YNode] = {}
    if isinstance(item, YMap):
        fields = doc.fields(item, ("address",), ("credentials", "hours_open"))
        node: YNode | None = fields.get("address")
    else:
        node = item
    with doc.at("address") if isinstance(item, YMap) else nullcontext():
        raw = doc.text(node, "an E.164 number or a SIP address") if node is not None else None
        if raw is None or node is None:
            return None
        if raw.startswith(("sip:", "sips:")):
            if ":" in raw.split(":", 1)[1].split("@", 1)[0] or not SIP_ADDRESS.fullmatch(raw):
                doc.error(
                    node.mark,
                    f"{raw.split('@')[-1]!r}: not a SIP address like sip:listeners@pbx.example.org",
                    "no user password in the address: name credentials, and set them in the environment",
                )
                return None
        elif is_short_number(raw):
            doc.error(node.mark, f"{raw!r} is a short number and cannot be dialled", SHORT_NUMBER_HINT)
            return None
        elif not E164.fullmatch(raw):
            doc.error(
                node.mark,
                f"{raw!r} is not an E.164 number or a SIP address",
                'write a number as "+32" and the number without its 0, or sip:user@host',
            )
            return None
    credentials = ""
    if "credentials" in fields:
        with doc.at("credentials"):
            credentials = doc.text(fields["credentials"], "a name") or ""
            if not raw.startswith(("sip:", "sips:")):
                doc.error(fields["credentials"].mark, "only a SIP address takes credentials", "remove credentials here")
            elif not CREDENTIALS_NAME.fullmatch(credentials):
                doc.error(
                    fields["credentials"].mark,
                    f"{credentials!r} must be capital letters, digits and _",
                    f"e.g. TELE_ONTHAAL: the service then reads {SIP_VARIABLES.format(name='TELE_ONTHAAL')}",
                )
    with doc.at("hours_open"):
        hours = _parse_schedule(doc, fields.get("hours_open"), holidays)
    return Target(raw, hours, credentials)


def parse_helplines(
    path: Path,
    errors: list[ConfigError],
    languages: Mapping[str, LanguageSettings] | None,
    settings_marks: Mapping[str, Mark],
    our_numbers: Collection[str] = (),
) -> dict[str, Helpline] | None:
    """Parse helplines; ``our_numbers`` (``called_numbers``) can never be transfer targets."""
    doc, root = load_document(path, errors)
    if root is None:
        return None
    before = len(errors)
    lines: dict[str, Helpline] = {}
    dialled: dict[str, str] = {}  # each transfer target, and the line it belongs to
    f = doc.fields(root, ("helplines",), ("holidays",))
    holidays: set[date] = set()
    with doc.at("holidays"):
        for index, item in enumerate(doc.sequence(f.get("holidays"), "dates, like 2026-12-25")):
            with doc.at(index):
                text = doc.text(item, "a date")
                try:
                    holidays.add(parse_date(text or ""))
                except HoursError as exc:
                    if text is not None:
                        doc.error(item.mark, str(exc), "write each holiday as YYYY-MM-DD")
    with doc.at("helplines"):
        body = doc.mapping(f.get("helplines"), "the helplines")
        for key, value in body.items if body else ():
            with doc.at(key.text):
                if not NODE_ID.fullmatch(key.text):
                    doc.error(
                        key.mark,
                        f"helpline id {key.text!r} must be lowercase letters, digits and _",
                        "rename it, e.g. tele_onthaal",
                    )
                    continue
                entry = doc.mapping(value, "the helpline's details")
                if entry is None:
                    continue
                ef = doc.fields(
                    entry,
                    ("name", "number", "hours", "source"),
                    ("language", "chat", "chat_spoken", "chat_hours", "transfer_to", "hours_open", "whisper"),
                )
                name, number, hours, source = (
                    doc.text(ef.get(n)) if n in ef else None for n in ("name", "number", "hours", "source")
                )
                lang = doc.text(ef["language"]) if "language" in ef else ""
                if number is not None and not re.fullmatch(r"[0-9]+( [0-9]+)*", number):
                    with doc.at("number"):
                        doc.error(
                            ef["number"].mark,
                            f"number {number!r} must be digits in groups separated by single spaces",
                            'write it as published, e.g. "0800 32 123"',
                        )
                    number = None
                with doc.at("hours_open"):
                    line_hours = _parse_schedule(doc, ef.get("hours_open"), holidays)
                targets: list[Target] = []
                with doc.at("transfer_to"):
                    for index, item in enumerate(doc.sequence(ef.get("transfer_to"), "numbers or SIP addresses to transfer to")):
                        with doc.at(index):
                            target = _parse_target(doc, item, holidays)
                            if target is None:
                                continue
                            if target.address in our_numbers:
                                doc.error(
                                    item.mark,
                                    f"{target.address} is one of our own numbers (called_numbers in settings.yaml): the"
                                    " transfer would ring this phone menu, not the line",
                                    "put only numbers that the line's operator gave us here",
                                )
                            elif target.address in dialled:
                                doc.error(
                                    item.mark,
                                    f"{target.address} is listed twice"
                                    if dialled[target.address] == key.text
                                    else f"{target.address} is already a transfer target of {dialled[target.address]}",
                                    "each target once, under the line whose operator gave it: a caller must reach the"
                                    " line they chose, and a busy target is not rung again",
                                )
                            else:
                                dialled[target.address] = key.text
                                targets.append(target)
                whisper = doc.text(ef["whisper"], "what the volunteer hears") if "whisper" in ef else ""
                if whisper and any(c.isdigit() for c in whisper):
                    with doc.at("whisper"):
                        doc.error(ef["whisper"].mark, "a whisper says no number", "say where the call comes from, in words")
                chat = doc.text(ef["chat"]) if "chat" in ef else ""
                chat_spoken = doc.text(ef["chat_spoken"]) if "chat_spoken" in ef else ""
                if chat and not chat_spoken:
                    doc.error(
                        ef["chat"].mark,
                        "a chat address needs the words a voice should say for it",
                        f'add chat_spoken: in the line\'s language, e.g. "{chat.replace(".", " dot ")}" for {chat}',
                    )
                chat_hours = doc.text(ef["chat_hours"], "when the chat is open, in words") if "chat_hours" in ef else ""
                if name and number and hours and source and chat is not None and chat_spoken is not None and lang is not None:
                    lines[key.text] = Helpline(
                        key.text,
                        name,
                        lang,
                        number,
                        hours,
                        source,
                        chat,
                        chat_spoken,
                        tuple(targets),
                        line_hours,
                        whisper or "",
                        chat_hours or "",
                    )
    if languages is not None:
        for code, ls in languages.items():
            if ls.helpline not in lines and len(errors) == before:
                mark = settings_marks.get(f"languages.{code}.helpline", Mark(doc.file, 1, 1))
                errors.append(
                    ConfigError(
                        mark,
                        f"languages.{code}.helpline",
                        f"unknown helpline {ls.helpline!r}",
                        did_you_mean(ls.helpline, list(lines)),
                    )
                )
    if len(errors) > before:
        return None
    return lines
