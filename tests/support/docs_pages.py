"""The documentation site's pages (docs/, built by MkDocs), read as the tests that hold them to the code read them."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
HEADING = re.compile(r"^(#{1,6}) (.+)$")


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line index, level, title) of each heading, outside fenced blocks (a shell comment is no heading)."""
    found, fenced = [], False
    for index, line in enumerate(text.split("\n")):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            found.append((index, len(match[1]), match[2]))
    return found


def section(page: str, title: str) -> str:
    """The section of docs/PAGE headed TITLE, at whatever level the page puts it, with its subsections: sections
    keep their headings when they move between pages, so a test names the page and the heading only."""
    text = (DOCS / page).read_text(encoding="utf-8")
    lines = text.split("\n")
    found = headings(text)
    starts = [(index, level) for index, level, heading in found if heading == title]
    assert len(starts) == 1, f"docs/{page} needs exactly one heading {title!r}"
    [(start, level)] = starts
    end = next((index for index, deeper, _ in found if index > start and deeper <= level), len(lines))
    return "\n".join(lines[start:end]).rstrip() + "\n"
