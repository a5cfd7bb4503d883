"""``config/helplines.yaml``: the lines, their numbers and sources, transfer targets, opening hours and holidays."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from contextlib import nullcontext
from dataclasses import replace
from datetime import date
from pathlib import Path

from ivr.belgian_holidays import COMMUNITY_DAYS, COMMUNITY_HELP, Holidays, prepare
from ivr.errors import ConfigError
from ivr.hours import (
    ALL_WEEK,
    HOLIDAY_WINDOW_HELP,
    WINDOW_HELP,
    HoursError,
    OpeningWindow,
    Schedule,
    parse_date,
    parse_holiday_window,
    parse_window,
)
from ivr.loading.document import (
    E164,
    NODE_ID,
    REQUIRED,
    Document,
    Field,
    Section,
    boolean,
    did_you_mean,
    load_document,
    node_of,
    text_of,
)
from ivr.loading.settings_file import SettingsMarks
from ivr.model import (
    SIP_VARIABLES,
    Helpline,
    LanguageSettings,
    Target,
)
from ivr.yamlio import YMap, YNode, YSeq

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


def _windows(
    doc: Document, node: YNode | None, what: str, parse: Callable[[str], OpeningWindow], fix: str
) -> tuple[OpeningWindow, ...]:
    windows: list[OpeningWindow] = []
    for index, item in enumerate(doc.sequence(node, what)):
        with doc.at(index):
            text = doc.text(item, "an opening window")
            if text is None:
                continue
            try:
                windows.append(parse(text))
            except HoursError as exc:
                doc.error(item.mark, str(exc), fix)
    return tuple(windows)


def _parse_schedule(doc: Document, fields: Mapping[str, YNode], holidays: Holidays) -> Schedule:
    """``hours_open`` and ``hours_on_holidays`` → a Schedule; neither: always open, holidays or not."""
    with doc.at("hours_open"):
        windows = _windows(
            doc, fields.get("hours_open"), 'opening windows, like ["mon-fri 09:00-17:00"]', parse_window, WINDOW_HELP
        )
    if "hours_on_holidays" not in fields:
        return Schedule(windows, holidays)
    node = fields["hours_on_holidays"]
    with doc.at("hours_on_holidays"):
        on_holidays = _windows(doc, node, 'holiday windows, like ["10:00-16:00"]', parse_holiday_window, HOLIDAY_WINDOW_HELP)
        if not holidays:
            doc.error(
                node.mark,
                "hours on holidays, but this line has no holidays",
                "add national: true under the top-level holidays:, or this line's community days or dates under its holidays:",
            )
    # Only hours for holidays: open all week on ordinary days.
    return Schedule(windows or (ALL_WEEK,), holidays, on_holidays)


def _parse_dates(doc: Document, node: YNode | None) -> frozenset[date]:
    dates: set[date] = set()
    for index, item in enumerate(doc.sequence(node, "dates, like 2026-12-25")):
        with doc.at(index):
            text = doc.text(item, "a date")
            try:
                dates.add(parse_date(text or ""))
            except HoursError as exc:
                if text is not None:
                    doc.error(item.mark, str(exc), "write each holiday as YYYY-MM-DD")
    return frozenset(dates)


def _parse_holidays(doc: Document, node: YNode | None) -> Holidays:
    """The top-level ``holidays``: a list of dates (closed on them), or ``{national, dates}``."""
    if node is None or isinstance(node, YSeq):
        return Holidays(dates=_parse_dates(doc, node))
    body = doc.mapping(node, "Belgium's national holidays and dates, or a list of dates")
    if body is None:
        return Holidays()
    f = doc.fields(body, (), ("national", "dates"))
    with doc.at("national"):
        national = boolean(doc, f["national"]) if "national" in f else False
    if national:
        prepare()
    with doc.at("dates"):
        dates = _parse_dates(doc, f.get("dates"))
    return Holidays(bool(national), dates=dates)


def _line_holidays(doc: Document, node: YNode | None, every_line: Holidays) -> Holidays:
    """A line's ``holidays``: ``{community, dates}``, or a list of dates, added to every line's."""
    if isinstance(node, YSeq):
        return replace(every_line, dates=every_line.dates | _parse_dates(doc, node))
    body = doc.mapping(node, "the line's community days and dates") if node is not None else None
    if body is None:
        return every_line
    f = doc.fields(body, (), ("community", "dates"))
    communities: set[str] = set()
    with doc.at("community"):
        chosen = f.get("community")
        # One community, or a list of them (a line that serves two).
        items = (
            doc.sequence(chosen, "communities, like [flemish]")
            if isinstance(chosen, YSeq)
            else (chosen,)
            if chosen is not None
            else ()
        )
        for index, item in enumerate(items):
            with doc.at(index) if isinstance(chosen, YSeq) else nullcontext():
                name = doc.text(item, "a community")
                if name is None:
                    continue
                if name in COMMUNITY_DAYS:
                    communities.add(name)
                else:
                    doc.error(
                        item.mark,
                        f"{name!r} is not a community with a day of its own",
                        f"{did_you_mean(name, tuple(COMMUNITY_DAYS))} ({COMMUNITY_HELP})",
                    )
    with doc.at("dates"):
        dates = _parse_dates(doc, f.get("dates"))
    return Holidays(every_line.national, every_line.communities | communities, every_line.dates | dates)


def _parse_target(doc: Document, item: YNode, holidays: Holidays) -> Target | None:
    """A transfer target: an E.164 number as a string, or ``{address, credentials, hours_open}``."""
    fields: dict[str, YNode] = {}
    if isinstance(item, YMap):
        fields = doc.fields(item, ("address",), ("credentials", "hours_open", "hours_on_holidays"))
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
    return Target(raw, _parse_schedule(doc, fields, holidays), credentials)


def _published_number(doc: Document, node: YNode) -> str | None:
    number = doc.text(node)
    if number is not None and not re.fullmatch(r"[0-9]+( [0-9]+)*", number):
        doc.error(
            node.mark,
            f"number {number!r} must be digits in groups separated by single spaces",
            'write it as published, e.g. "0800 32 123"',
        )
        return None
    return number


def _whisper(doc: Document, node: YNode) -> str | None:
    whisper = doc.text(node, "what the volunteer hears")
    if whisper and any(c.isdigit() for c in whisper):
        doc.error(node.mark, "a whisper says no number", "say where the call comes from, in words")
    return whisper


# --- helplines.yaml: each line's keys declared once ---------------------------------------------------------

NAME = Field("name", text_of(), REQUIRED, "the line's name, as callers know it")
NUMBER = Field("number", _published_number, REQUIRED, "the number callers dial, as published, e.g. 0800 32 123")
HOURS = Field("hours", text_of(), REQUIRED, "when the line answers, in words callers hear")
SOURCE = Field("source", text_of(), REQUIRED, "where the number and the hours are published")
LANGUAGE = Field("language", text_of(), "", "the language the line answers in, when it is not the caller's")
CHAT = Field("chat", text_of(), "", "the line's chat address")
CHAT_SPOKEN = Field("chat_spoken", text_of(), "", "the chat address as a voice should say it")
CHAT_HOURS = Field("chat_hours", text_of("when the chat is open, in words"), "", "when the chat is open, in words")
TRANSFER_TO: Field[YNode] = Field("transfer_to", node_of, None, "numbers or SIP addresses callers are connected to")
HOURS_OPEN: Field[YNode] = Field("hours_open", node_of, None, "when the targets are rung (none: always)")
HOURS_ON_HOLIDAYS: Field[YNode] = Field("hours_on_holidays", node_of, None, "when the targets are rung on holidays")
LINE_HOLIDAYS: Field[YNode] = Field("holidays", node_of, None, "the line's community days and dates, besides every line's")
WHISPER = Field("whisper", _whisper, "", "what the volunteer hears before a caller is connected")
LINE = Section(
    "the helpline's details",
    (
        NAME,
        NUMBER,
        HOURS,
        SOURCE,
        LANGUAGE,
        CHAT,
        CHAT_SPOKEN,
        CHAT_HOURS,
        TRANSFER_TO,
        HOURS_OPEN,
        HOURS_ON_HOLIDAYS,
        LINE_HOLIDAYS,
        WHISPER,
    ),
)
HELPLINES: Field[YNode] = Field("helplines", node_of, REQUIRED, "the listening lines, by id")
HOLIDAYS: Field[YNode] = Field("holidays", node_of, None, "the days every line keeps its holiday hours")
DOCUMENT = Section("a document", (HELPLINES, HOLIDAYS))


def parse_helplines(
    path: Path,
    errors: list[ConfigError],
    languages: Mapping[str, LanguageSettings] | None,
    settings_marks: SettingsMarks,
    our_numbers: Collection[str] = (),
) -> dict[str, Helpline] | None:
    """Parse helplines; ``our_numbers`` (``called_numbers``) can never be transfer targets."""
    doc, root = load_document(path, errors)
    if root is None:
        return None
    top = DOCUMENT.read(doc, root)
    assert top is not None  # root is a mapping
    with doc.at(HOLIDAYS.key):
        every_line = _parse_holidays(doc, top[HOLIDAYS])
    lines: dict[str, Helpline] = {}
    dialled: dict[str, str] = {}  # each transfer target, and the line it belongs to
    with doc.at(HELPLINES.key):
        body = doc.mapping(top[HELPLINES], "the helplines")
        for key, value in body.items if body else ():
            with doc.at(key.text):
                if not NODE_ID.fullmatch(key.text):
                    doc.error(
                        key.mark,
                        f"helpline id {key.text!r} must be lowercase letters, digits and _",
                        "rename it, e.g. tele_onthaal",
                    )
                    continue
                line = _line(doc, key.text, value, every_line, our_numbers, dialled)
                if line is not None:
                    lines[key.text] = line
    if languages is not None and not doc.failed:
        for code, ls in languages.items():
            if ls.helpline not in lines:
                doc.report(
                    ConfigError(
                        settings_marks.helpline(code),
                        f"languages.{code}.helpline",
                        f"unknown helpline {ls.helpline!r}",
                        did_you_mean(ls.helpline, list(lines)),
                    )
                )
    return None if doc.failed else lines


def _line(
    doc: Document, line_id: str, value: YNode, every_line: Holidays, our_numbers: Collection[str], dialled: dict[str, str]
) -> Helpline | None:
    """One line; ``dialled`` gathers every transfer target, with its line, so that none is listed twice."""
    read = LINE.read(doc, value)
    if read is None:
        return None
    with doc.at(LINE_HOLIDAYS.key):
        holidays = _line_holidays(doc, read[LINE_HOLIDAYS], every_line)
    line_hours = _parse_schedule(doc, read.nodes, holidays)
    targets: list[Target] = []
    with doc.at(TRANSFER_TO.key):
        for index, item in enumerate(doc.sequence(read[TRANSFER_TO], "numbers or SIP addresses to transfer to")):
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
                        if dialled[target.address] == line_id
                        else f"{target.address} is already a transfer target of {dialled[target.address]}",
                        "each target once, under the line whose operator gave it: a caller must reach the"
                        " line they chose, and a busy target is not rung again",
                    )
                else:
                    dialled[target.address] = line_id
                    targets.append(target)
    name, number, hours, source = read[NAME], read[NUMBER], read[HOURS], read[SOURCE]
    lang, chat, chat_spoken = read[LANGUAGE], read[CHAT], read[CHAT_SPOKEN]
    if chat and not chat_spoken:
        doc.error(
            read.mark(CHAT),
            "a chat address needs the words a voice should say for it",
            f'add chat_spoken: in the line\'s language, e.g. "{chat.replace(".", " dot ")}" for {chat}',
        )
    if not (name and number and hours and source) or chat is None or chat_spoken is None or lang is None:
        return None
    return Helpline(
        line_id,
        name,
        lang,
        number,
        hours,
        source,
        chat,
        chat_spoken,
        tuple(targets),
        line_hours,
        read[WHISPER] or "",
        read[CHAT_HOURS] or "",
    )
