"""The statistics' one small-count rule: a count leaves a report only as a :class:`Shown`.

**Rounding, keyed.** 0 is shown as 0 and 1 to 4 as "<5". A count of 5 or more is rounded to a
multiple of 5, up or down at random in proportion to how near it is (unbiased), the draw being
an HMAC of the cell's name and count under a key of the installation: the same cell with the
same count is always shown the same, so repeating a query teaches nothing new, and without
the key the direction cannot be told. A figure shown as ``v`` (5 or more) says that the true
count is between ``v - 4`` and ``v + 4``; "<5" that it is 1 to 4.

**Nothing hidden can be worked out from one response.** Tables of one response describe the
same calls in several ways (per day, per language, per hour...), so their true counts add up
to the same total. :func:`protect` works out, for every "<5", which true counts the shown
figures of every table of that population still allow, and while one of them allows only a
single count it hides more: the smallest shown figure of those tables ("hidden"), else a whole
table ("withheld"). Totals are never the true totals but the sums of the figures shown.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

SMALL = 5
SMALL_MARK = "<5"
HIDDEN = "hidden"  # shown as 5 or more, hidden so that a "<5" beside it cannot be worked out
WITHHELD = "withheld"  # the whole table, for the same reason
ROUNDING_LABEL = b"ivr statistics: rounding"


@dataclass(frozen=True, slots=True)
class Shown:
    """A count as anyone may see it. ``value`` is None when it is not shown (``why`` says how)."""

    value: int | None
    why: str = ""

    @property
    def text(self) -> str:
        if self.value is not None:
            return str(self.value)
        return SMALL_MARK if self.why == SMALL_MARK else "–"

    def __str__(self) -> str:
        return self.text

    @property
    def drawn(self) -> float:
        """The length of its bar: a "<5" is a stub, anything else not shown has none."""
        if self.value is not None:
            return float(self.value)
        return 2.5 if self.why == SMALL_MARK else 0.0

    @property
    def number(self) -> int:
        """The value for sums and rates: what is not shown counts as nothing."""
        return self.value or 0

    def bounds(self) -> tuple[int, int | None]:
        """The true counts a reader can tell apart from this figure alone (None: no upper bound)."""
        if self.why == SMALL_MARK:
            return 1, SMALL - 1
        if self.why == HIDDEN:
            return SMALL, None
        if self.value is None:
            return 0, None
        if self.value == 0:
            return 0, 0
        return max(SMALL, self.value - 4), self.value + 4


ZERO = Shown(0)


def rounding_key(secret: bytes) -> bytes:
    """The installation's rounding key, from its secret (IVR_LOG_KEY or the auth token, see Settings)."""
    return hmac.digest(secret, ROUNDING_LABEL, hashlib.sha256)


def show(count: int, key: bytes, cell: str) -> Shown:
    """``count`` of the cell named ``cell`` (the same name for the same quantity, whatever the period)."""
    if count <= 0:
        return ZERO
    if count < SMALL:
        return Shown(None, SMALL_MARK)
    low = count // SMALL * SMALL
    if low == count:
        return Shown(count)
    draw = hmac.digest(key, f"{cell}\x1f{count}".encode(), hashlib.sha256)[0] % SMALL
    return Shown(low + SMALL if draw < count - low else low)


def total(cells: Sequence[Shown]) -> tuple[int, int]:
    """(the sum of the figures shown, how many cells it leaves out): a table's total."""
    return sum(c.number for c in cells), sum(1 for c in cells if c.value is None and c.why != WITHHELD)


def total_text(cells: Sequence[Shown]) -> str:
    value, left_out = total(cells)
    return f"{value}" + (" + those not shown" if left_out else "")


def rate(part: Shown, whole: Shown) -> str:
    """``part`` of ``whole`` as a percentage of the figures shown ("–" when either is not shown or 0)."""
    if part.value is None or whole.value is None or whole.value == 0:
        return "–"
    return f"{round(100 * part.value / whole.value)}%"


@dataclass
class Published:
    """A table as it leaves the report: rows of (label, Shown), and what its counts add up to.

    ``parts`` names, as "population/partition", each way the calls of a population are split that
    the table's cells belong to (e.g. "calls/day"): the true counts of one partition add up to the
    population's count, the same for every partition of it. A table's cells may be one partition
    with another table's ("calls/ended": reached the line, per language, and hung up, per place).
    """

    title: str
    rows: list[tuple[str, Shown]]
    parts: tuple[str, ...]
    # Partitions of a smaller population that single rows belong to, row by row (a line's answered transfers:
    # its row per line, and its rows per target, "answered:LINE/line" and "answered:LINE/target").
    row_parts: tuple[tuple[str, ...], ...] = ()

    @property
    def cells(self) -> list[Shown]:
        return [cell for _, cell in self.rows]

    @property
    def withheld(self) -> bool:
        return any(c.why == WITHHELD for c in self.cells)

    def total(self) -> str:
        return "–" if self.withheld else total_text(self.cells)


Cell = tuple[int, int]  # (table, row)


def _sum_bounds(cells: Sequence[Shown]) -> tuple[int, int | None]:
    lo = 0
    high: int | None = 0
    for cell in cells:
        a, b = cell.bounds()
        lo += a
        high = None if high is None or b is None else high + b
    return lo, high


def _partitions(tables: Sequence[Published]) -> dict[str, dict[str, list[Cell]]]:
    """population -> partition -> its cells."""
    found: dict[str, dict[str, list[Cell]]] = {}
    for i, table in enumerate(tables):
        for part in table.parts:
            population, _, name = part.partition("/")
            found.setdefault(population, {}).setdefault(name, []).extend((i, r) for r in range(len(table.rows)))
        for r, parts in enumerate(table.row_parts):
            for part in parts:
                population, _, name = part.partition("/")
                found.setdefault(population, {}).setdefault(name, []).append((i, r))
    return found


def pinned(tables: Sequence[Published]) -> list[tuple[str, Cell]]:
    """(population, cell) of every "<5" whose true count the tables' figures allow only one value for."""

    def at(cell: Cell) -> Shown:
        return tables[cell[0]].rows[cell[1]][1]

    found: list[tuple[str, Cell]] = []
    for population, partitions in sorted(_partitions(tables).items()):
        sums = {name: _sum_bounds([at(c) for c in cells]) for name, cells in partitions.items()}
        low = max(lo for lo, _ in sums.values())
        highs = [hi for _, hi in sums.values() if hi is not None]
        high = min(highs) if highs else None
        for name, cells in partitions.items():
            p_lo, p_hi = sums[name]
            for cell in cells:
                if at(cell).why != SMALL_MARK:
                    continue
                # The other cells of its partition: the partition's bounds without this "<5" (1 to 4).
                lo = 1 if p_hi is None else max(1, low - (p_hi - (SMALL - 1)))
                hi = SMALL - 1 if high is None else min(SMALL - 1, high - (p_lo - 1))
                if lo >= hi:
                    found.append((population, cell))
    return found


def protect(tables: list[Published]) -> None:
    """Hide more (in place) until no "<5" of ``tables`` can be worked out from them."""
    while found := pinned(tables):
        population, (where, _) = found[0]
        cells = sorted({cell for part in _partitions(tables)[population].values() for cell in part})
        shown = [(i != where, tables[i].rows[r][1].number, i, r) for i, r in cells if tables[i].rows[r][1].value]
        if shown:
            _, _, i, r = min(shown)
            label, _ = tables[i].rows[r]
            tables[i].rows[r] = (label, Shown(None, HIDDEN))
            continue
        # Only "<5" and zeros left: withhold the population's rows of the table that bounds its count most tightly.
        tightest = []
        for i in sorted({i for i, _ in cells}):
            rows = [r for j, r in cells if j == i]
            if not any(tables[i].rows[r][1].why == WITHHELD for r in rows):
                high = _sum_bounds([tables[i].rows[r][1] for r in rows])[1]
                tightest.append((high is None, high or 0, len(rows), i))
        i = min(tightest)[3]
        for r in (r for j, r in cells if j == i):
            tables[i].rows[r] = (tables[i].rows[r][0], Shown(None, WITHHELD))
