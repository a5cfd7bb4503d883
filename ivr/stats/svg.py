"""Charts as inline SVG, drawn on the server (no script, no CDN), of figures already made safe."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ivr.stats.shown import SMALL_MARK, Shown

WIDTH = 640
BAR = "#3d5a80"
SMALL = "#b8c4d6"
NONE = "#9aa3ad"  # a zero, drawn as a thin line so that a day without calls is seen


def bars(title: str, rows: Sequence[tuple[str, Shown]], *, horizontal: bool = True) -> str:
    """One bar per (label, figure); a "<5" bar is a stub in a lighter colour, a zero a thin line."""
    if not rows:
        return f'<p class="empty">{escape(title)}: no calls in this period.</p>'
    top = max([cell.drawn for _, cell in rows] + [5])
    if horizontal:
        height = 26 * len(rows) + 10
        parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" width="100%">']
        for n, (label, cell) in enumerate(rows):
            y = 6 + n * 26
            w = max(1.0, 380 * cell.drawn / top)
            colour = SMALL if cell.why == SMALL_MARK else BAR
            parts.append(f'<text x="170" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
            parts.append(
                f'<rect x="180" y="{y}" width="{w:.1f}" height="20" fill="{colour}"><title>{escape(cell.text)}</title></rect>'
            )
            parts.append(f'<text x="{186 + w:.1f}" y="{y + 15}">{escape(cell.text)}</text>')
        parts.append("</svg>")
        return "".join(parts)
    height = 150
    step = (WIDTH - 60) / len(rows)
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height + 40}" width="100%">']
    parts.append(f'<line x1="40" y1="{height}" x2="{WIDTH - 10}" y2="{height}" stroke="#888"/>')
    parts.append(f'<text x="34" y="14" text-anchor="end">{top:g}</text><text x="34" y="{height}" text-anchor="end">0</text>')
    every = max(1, len(rows) // 8)
    for n, (label, cell) in enumerate(rows):
        x = 42 + n * step
        h = max(2.0, (height - 10) * cell.drawn / top)
        colour = NONE if not cell.drawn else SMALL if cell.why == SMALL_MARK else BAR
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{escape(label)}: {escape(cell.text)}</title></rect>"
        )
        if n % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height + 16}" font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
