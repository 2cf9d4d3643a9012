"""Small-cell suppression: published statistics never count 1 to 10 holders, not even by differencing.

The rule (docs/domain.md, "Data sharing and statistics"): a published cell never shows a count of fewer than
``THRESHOLD`` (11) holders, except 0. A table with margins (a total and its parts; a two-way table with its row
and column totals and grand total) must also not let a reader *compute* such a count by subtracting published
cells from a published total. The method is the classic one for frequency tables, after Hundepool et al.,
*Statistical Disclosure Control*, Wiley, 2012: ch. 5 (frequency tables: the threshold rule) for the primary
suppression, ch. 4 (tabular data: secondary, or complementary, cell suppression in tables with margins) for the
complementary suppression.

1. **Primary suppression**: every cell (parts and totals alike) counting 1 to ``threshold - 1`` holders, and any
   cell the caller flags as sensitive (``also``: e.g. a rate whose numerator counts 1–10 holders).
2. **Complementary suppression**, one margin relation ``total = part_1 + … + part_n`` at a time, repeated over all
   relations (both margins of a two-way table) until nothing changes. A relation is *exposed* when
   - exactly one of its cells is suppressed (that cell is the published total minus the published parts, or the
     sum of the published parts), or
   - its total is published and the suppressed parts add up to 1 to ``threshold - 1`` holders (their union would
     be a small cell, recovered by one subtraction).
   An exposed relation gets one more cell suppressed: its smallest published non-zero part (ties: the first in
   the caller's order); failing that, its total; failing that, a zero part. Zeros come last because a zero gives
   the smallest protection interval. Cells the caller must keep published (``keep``: the margins of a two-way
   table already published as one-way tables) are chosen only when nothing else is left.
3. **Audit by linear algebra**: when every relation is safe, the system of all the relations is solved exactly
   (Gaussian elimination over rationals, the published cells as constants). A suppressed cell that the system
   determines (a two-way pattern can pin one down although each relation has two unknowns: two "rectangles"
   joined by one cell) gets one more complementary suppression in a relation through it, and step 2 starts again.

Suppression only grows, so the loop ends (at worst with every cell suppressed). The result is safe against
exact recovery by any linear combination of the published margins; it is not optimal (it may suppress more
than a mathematical-programming method such as τ-ARGUS's would) and does not compute interval (LP) bounds
beyond the union rule of step 2. Amounts or rates published beside the counts must be hidden with the same
pattern (``mask``): the suppression decided on the holder counts is the one to apply to every figure of the cell.

Pure functions over integer counts; the cases are in ``tests/test_disclosure.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

THRESHOLD = 11  # a published cell counts 0 or at least 11 holders

K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Hashable)
C = TypeVar("C", bound=Hashable)
V = TypeVar("V")


class DisclosureError(ValueError):
    """A table the rule is not defined for: a negative count, a margin naming an unknown cell."""


def is_small(count: int, threshold: int = THRESHOLD) -> bool:
    """True for the counts that may not be published: 1 to ``threshold - 1``."""
    return 0 < count < threshold


@dataclass(frozen=True)
class Margin(Generic[K]):
    """One additive relation of a table: ``total`` counts the sum of ``parts``."""

    total: K
    parts: tuple[K, ...]

    @property
    def cells(self) -> tuple[K, ...]:
        return (self.total, *self.parts)


def suppress(
    counts: Mapping[K, int],
    margins: Sequence[Margin[K]] = (),
    *,
    threshold: int = THRESHOLD,
    also: Iterable[K] = (),
    keep: Iterable[K] = (),
) -> frozenset[K]:
    """The cells of ``counts`` to suppress (primary and complementary) so that no published cell and no
    difference of published cells counts 1 to ``threshold - 1`` holders.

    ``counts``: holders per cell (every part and total of ``margins`` must be a key; its iteration order breaks
    ties); ``margins``: the table's additive relations; ``also``: cells to suppress whatever their count;
    ``keep``: cells to choose as complements last (published elsewhere already).
    """
    _validate(counts, margins)
    kept = frozenset(keep)
    order = {key: (key in kept, i) for i, key in enumerate(counts)}
    suppressed: set[K] = {key for key, count in counts.items() if is_small(count, threshold)}
    suppressed |= {key for key in also if key in counts}
    while True:
        changed = False
        for margin in margins:
            if _exposed(margin, counts, suppressed, threshold):
                pick = _cheapest(margin.parts, margin.total, counts, suppressed, order)
                if pick is not None:
                    suppressed.add(pick)
                    changed = True
        if changed:
            continue
        determined = determined_cells(counts, margins, suppressed)
        if not determined:
            return frozenset(suppressed)
        cell = min(determined, key=order.__getitem__)
        pick = _complement_through(cell, counts, margins, suppressed, order)
        if pick is None:  # nothing left to suppress: every cell already is
            return frozenset(suppressed)
        suppressed.add(pick)


def determined_cells(
    counts: Mapping[K, int], margins: Sequence[Margin[K]], suppressed: Collection[K]
) -> set[K]:
    """The suppressed cells whose value the published cells and the margins determine exactly (by any linear
    combination of the relations). The unit vector of such a cell lies in the row space of the relations'
    coefficients over the suppressed cells: in reduced row echelon form it is a row with a single non-zero."""
    order = {key: i for i, key in enumerate(counts)}
    unknowns = sorted({c for m in margins for c in m.cells if c in suppressed}, key=order.__getitem__)
    if not unknowns:
        return set()
    column = {key: j for j, key in enumerate(unknowns)}
    rows: list[list[Fraction]] = []
    for margin in margins:
        row = [Fraction(0)] * len(unknowns)
        for part in margin.parts:
            if part in column:
                row[column[part]] += 1
        if margin.total in column:
            row[column[margin.total]] -= 1
        if any(row):
            rows.append(row)
    pivots = _reduce(rows, len(unknowns))
    return {unknowns[j] for j, row in pivots if sum(1 for x in row if x) == 1}


def mask(values: Mapping[K, V], suppressed: Collection[K]) -> dict[K, V | None]:
    """``values`` with the suppressed cells' figures (amounts in cents, rates…) replaced by ``None``."""
    return {key: None if key in suppressed else value for key, value in values.items()}


# --- one-way and two-way tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OneWay(Generic[K]):
    """Which parts (and whether the total) of a one-way table are suppressed."""

    parts: frozenset[K]
    total: bool


def suppress_one_way(
    parts: Mapping[K, int],
    total: int | None = None,
    *,
    threshold: int = THRESHOLD,
    also: Iterable[K] = (),
    total_sensitive: bool = False,
) -> OneWay[K]:
    """Suppression of a table of ``parts`` and, when published, their ``total`` (``None``: no total).

    ``total`` may exceed the sum of the parts (distinct holders over parts a holder can belong to several of);
    the relation is still treated as additive, which only makes the suppression more cautious."""
    counts: dict[tuple[object, ...], int] = {("part", key): count for key, count in parts.items()}
    margins: list[Margin[tuple[object, ...]]] = []
    forced: list[tuple[object, ...]] = [("part", key) for key in also]
    if total is not None:
        counts[("total",)] = total
        margins.append(Margin(("total",), tuple(("part", key) for key in parts)))
        if total_sensitive:
            forced.append(("total",))
    hidden = suppress(counts, margins, threshold=threshold, also=forced)
    return OneWay(
        parts=frozenset(key for key in parts if ("part", key) in hidden),
        total=("total",) in hidden,
    )


@dataclass(frozen=True)
class TwoWay(Generic[R, C]):
    """Which inner cells, row totals, column totals (and whether the grand total) of a two-way table are
    suppressed."""

    cells: frozenset[tuple[R, C]]
    rows: frozenset[R]
    columns: frozenset[C]
    total: bool


def suppress_two_way(
    cells: Mapping[tuple[R, C], int],
    row_totals: Mapping[R, int],
    column_totals: Mapping[C, int],
    total: int,
    *,
    threshold: int = THRESHOLD,
    also: Iterable[tuple[R, C]] = (),
    published_rows: OneWay[R] | None = None,
    published_columns: OneWay[C] | None = None,
) -> TwoWay[R, C]:
    """Suppression of a two-way table with its margins. ``cells`` absent from the mapping count 0; every row
    and column of ``cells`` must have its total.

    ``published_rows`` / ``published_columns``: the suppression of the same rows / columns already published
    as one-way tables. The two-way table then hides at least what they hid and, where it can, keeps published
    what they published, so that the one-way tables do not give back a margin the two-way table needed hidden."""
    rows, columns = list(row_totals), list(column_totals)
    unknown = {r for r, _c in cells} - set(rows) | {c for _r, c in cells} - set(columns)
    if unknown:
        raise DisclosureError(f"cells outside the margins: {sorted(map(str, unknown))}")
    counts: dict[tuple[object, ...], int] = {}
    for r in rows:
        for c in columns:
            counts[("cell", r, c)] = cells.get((r, c), 0)
    counts.update({("row", r): row_totals[r] for r in rows})
    counts.update({("column", c): column_totals[c] for c in columns})
    counts[("total",)] = total
    margins: list[Margin[tuple[object, ...]]] = [
        Margin(("row", r), tuple(("cell", r, c) for c in columns)) for r in rows
    ]
    margins += [Margin(("column", c), tuple(("cell", r, c) for r in rows)) for c in columns]
    margins.append(Margin(("total",), tuple(("row", r) for r in rows)))
    margins.append(Margin(("total",), tuple(("column", c) for c in columns)))
    forced: list[tuple[object, ...]] = [("cell", r, c) for r, c in also]
    keep: list[tuple[object, ...]] = []
    for kind, one_way, keys in (("row", published_rows, rows), ("column", published_columns, columns)):
        if one_way is None:
            continue
        forced += [(kind, key) for key in keys if key in one_way.parts]
        keep += [(kind, key) for key in keys if key not in one_way.parts]
        (forced if one_way.total else keep).append(("total",))
    hidden = suppress(counts, margins, threshold=threshold, also=forced, keep=keep)
    return TwoWay(
        cells=frozenset((r, c) for r in rows for c in columns if ("cell", r, c) in hidden),
        rows=frozenset(r for r in rows if ("row", r) in hidden),
        columns=frozenset(c for c in columns if ("column", c) in hidden),
        total=("total",) in hidden,
    )


# --- internals ----------------------------------------------------------------------------------------------


def _validate(counts: Mapping[K, int], margins: Sequence[Margin[K]]) -> None:
    negative = [key for key, count in counts.items() if count < 0]
    if negative:
        raise DisclosureError(f"negative counts: {negative[:5]}")
    missing = {cell for margin in margins for cell in margin.cells if cell not in counts}
    if missing:
        raise DisclosureError(f"margins name cells without a count: {sorted(map(str, missing))[:5]}")


def _exposed(margin: Margin[K], counts: Mapping[K, int], suppressed: Collection[K], threshold: int) -> bool:
    hidden = [cell for cell in margin.cells if cell in suppressed]
    if not hidden:
        return False
    if len(hidden) == 1:
        return True
    if margin.total in suppressed:
        return False
    return is_small(sum(counts[part] for part in margin.parts if part in suppressed), threshold)


def _cheapest(
    parts: Iterable[K],
    total: K | None,
    counts: Mapping[K, int],
    suppressed: Collection[K],
    order: Mapping[K, tuple[bool, int]],
) -> K | None:
    """The complement to add: the smallest published non-zero part, else the total, else a zero part; a cell to
    keep only when there is no other."""
    published = [part for part in parts if part not in suppressed]
    if total is not None and total not in suppressed:
        published.append(total)
    if not published:
        return None
    return min(published, key=lambda cell: (
        order[cell][0],  # cells to keep last
        2 if counts[cell] == 0 else 1 if cell == total else 0,  # non-zero parts, the total, zero parts
        counts[cell],
        order[cell][1],
    ))


def _complement_through(
    cell: K,
    counts: Mapping[K, int],
    margins: Sequence[Margin[K]],
    suppressed: Collection[K],
    order: Mapping[K, tuple[bool, int]],
) -> K | None:
    """A complement for a cell the audit found determined: the cheapest published cell of a relation through
    it, else of any relation."""
    through = [m for m in margins if cell in m.cells] or list(margins)
    candidates = [c for m in through for c in m.cells if c not in suppressed]
    if not candidates:
        candidates = [c for m in margins for c in m.cells if c not in suppressed]
    if not candidates:
        return None
    totals = {m.total for m in margins}
    return min(candidates, key=lambda c: (order[c][0], counts[c] == 0, c in totals, counts[c], order[c][1]))


def _reduce(rows: list[list[Fraction]], width: int) -> list[tuple[int, list[Fraction]]]:
    """Reduced row echelon form of ``rows`` (changed in place); the (pivot column, row) pairs."""
    columns: list[int] = []
    r = 0
    for j in range(width):
        pivot = next((i for i in range(r, len(rows)) if rows[i][j] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        lead = rows[r][j]
        rows[r] = [x / lead for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][j] != 0:
                factor = rows[i][j]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r], strict=True)]
        columns.append(j)
        r += 1
        if r == len(rows):
            break
    return [(j, rows[i]) for i, j in enumerate(columns)]
