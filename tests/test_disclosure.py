"""Small-cell suppression (parcours/domain/disclosure.py): a table of cases, then attacks on seeded random tables
(one-way and two-way with margins) that try to recover every suppressed cell by differencing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from parcours.domain.disclosure import (
    THRESHOLD,
    DisclosureError,
    Margin,
    determined_cells,
    is_small,
    mask,
    suppress,
    suppress_one_way,
    suppress_two_way,
)

# (parts, total, also) -> (suppressed parts, total suppressed)
ONE_WAY_CASES = [
    # nothing small: everything published
    ({"a": 12, "b": 15}, 27, (), set(), False),
    # zeros may be published
    ({"a": 0, "b": 20, "c": 30}, 50, (), set(), False),
    # one small cell: the next smallest part goes too, so total - published parts is not that cell
    ({"a": 5, "b": 20, "c": 30}, 55, (), {"a", "b"}, False),
    # the boundary: 10 is small, 11 is not; ties are broken by the table's order
    ({"a": 10, "b": 11, "c": 11}, 32, (), {"a", "b"}, False),
    # two small cells whose sum is small: their union would be published by difference, so a third goes
    ({"a": 3, "b": 4, "c": 100}, 107, (), {"a", "b", "c"}, False),
    # two small cells whose sum is not small: enough
    ({"a": 6, "b": 7, "c": 100}, 113, (), {"a", "b"}, False),
    # the complement is a non-zero cell, not a zero
    ({"a": 5, "b": 0, "c": 40}, 45, (), {"a", "c"}, False),
    # the total is small itself; the only non-zero part equals it
    ({"a": 5, "b": 0, "c": 0}, 5, (), {"a"}, True),
    # no total published: primary suppression only
    ({"a": 5, "b": 50}, None, (), {"a"}, False),
    # a cell flagged sensitive (a rate's numerator counting 1-10 holders) is suppressed with its complement
    ({"a": 50, "b": 60, "c": 70}, 180, ("a",), {"a", "b"}, False),
    # a single part and its total: both small, both suppressed
    ({"a": 4}, 4, (), {"a"}, True),
]


@pytest.mark.parametrize(("parts", "total", "also", "want_parts", "want_total"), ONE_WAY_CASES)
def test_one_way_cases(parts, total, also, want_parts, want_total):
    result = suppress_one_way(parts, total, also=also)
    assert (set(result.parts), result.total) == (want_parts, want_total)


def test_two_way_one_small_cell_hides_a_rectangle():
    cells = {("r1", "c1"): 5, ("r1", "c2"): 20, ("r2", "c1"): 30, ("r2", "c2"): 40}
    result = suppress_two_way(cells, {"r1": 25, "r2": 70}, {"c1": 35, "c2": 60}, 95)
    assert result.cells == set(cells)
    assert (result.rows, result.columns, result.total) == (frozenset(), frozenset(), False)


def test_two_way_small_margin_is_suppressed_with_complements_in_the_grand_total_relation():
    # row r1 has 8 holders (small): its total goes, so does another row total in the grand-total relation
    cells = {("r1", "c1"): 3, ("r1", "c2"): 5, ("r2", "c1"): 40, ("r2", "c2"): 50, ("r3", "c1"): 60, ("r3", "c2"): 70}
    result = suppress_two_way(cells, {"r1": 8, "r2": 90, "r3": 130}, {"c1": 103, "c2": 125}, 228)
    assert "r1" in result.rows and len(result.rows) >= 2
    assert {("r1", "c1"), ("r1", "c2")} <= result.cells


def test_the_audit_catches_a_cell_pinned_down_by_two_rectangles():
    # Two suppressed rectangles joined by one cell (2, c): every relation has two or more unknowns, yet the
    # rows and columns together determine the joining cell exactly.
    rows, columns = [1, 2, 3, 4], ["a", "b", "c", "d"]
    pattern = {(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "c"), (3, "d"), (4, "c"), (4, "d"), (2, "c")}
    counts = {("cell", r, c): 50 + 3 * i for i, (r, c) in enumerate((r, c) for r in rows for c in columns)}
    margins = [Margin(("row", r), tuple(("cell", r, c) for c in columns)) for r in rows]
    margins += [Margin(("col", c), tuple(("cell", r, c) for r in rows)) for c in columns]
    for margin in margins:
        counts[margin.total] = sum(counts[p] for p in margin.parts)
    hidden = {("cell", r, c) for r, c in pattern}
    assert determined_cells(counts, margins, hidden) == {("cell", 2, "c")}
    result = suppress(counts, margins, also=hidden)
    assert hidden < result
    assert determined_cells(counts, margins, result) == set()
    assert _recovered_by_differencing(counts, margins, result) == {}


def test_amounts_of_suppressed_cells_are_suppressed_too():
    holders = {"a": 5, "b": 20, "c": 30}
    amounts_cents = {"a": 750_000, "b": 3_000_000, "c": 4_500_000}
    result = suppress_one_way(holders, 55)
    published = mask(amounts_cents, result.parts)
    assert published == {"a": None, "b": None, "c": 4_500_000}
    # the amounts cannot be recovered either: one equation, two unknowns
    assert 8_250_000 - published["c"] not in (amounts_cents["a"], amounts_cents["b"])  # type: ignore[operator]


def test_bad_tables_are_refused():
    with pytest.raises(DisclosureError):
        suppress({"a": -1})
    with pytest.raises(DisclosureError):
        suppress({"a": 1}, [Margin("t", ("a",))])
    with pytest.raises(DisclosureError):
        suppress_two_way({("r9", "c1"): 1}, {"r1": 1}, {"c1": 1}, 1)


def test_threshold_is_eleven():
    assert THRESHOLD == 11
    assert [n for n in range(0, 15) if is_small(n)] == list(range(1, 11))


# --- attacks on random tables -------------------------------------------------------------------------------


def _random_count(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.2:
        return 0
    if roll < 0.55:
        return rng.randint(1, 10)
    return rng.randint(11, 120)


def _recovered_by_differencing(counts, margins, suppressed) -> dict:
    """The attacker: every relation ``total = sum(parts)`` with one unknown is solved, the value becomes known,
    and so on until no relation has a single unknown. Returns the suppressed cells recovered."""
    known = {cell: count for cell, count in counts.items() if cell not in suppressed}
    progress = True
    while progress:
        progress = False
        for margin in margins:
            unknown = [cell for cell in margin.cells if cell not in known]
            if len(unknown) != 1:
                continue
            (cell,) = unknown
            parts_known = sum(known[p] for p in margin.parts if p in known)
            known[cell] = known[margin.total] - parts_known if cell != margin.total else parts_known
            progress = True
    return {cell: value for cell, value in known.items() if cell in suppressed}


def _determined_by_rank(counts, margins, suppressed) -> set:
    """An independent check with numpy: a cell is determined when adding its unit row leaves the rank of the
    relations' matrix (over the suppressed cells) unchanged."""
    unknowns = sorted({c for m in margins for c in m.cells if c in suppressed}, key=str)
    if not unknowns:
        return set()
    index = {cell: j for j, cell in enumerate(unknowns)}
    matrix = np.zeros((len(margins), len(unknowns)))
    for i, margin in enumerate(margins):
        for part in margin.parts:
            if part in index:
                matrix[i, index[part]] += 1
        if margin.total in index:
            matrix[i, index[margin.total]] -= 1
    rank = np.linalg.matrix_rank(matrix)
    found = set()
    for cell, j in index.items():
        unit = np.zeros((1, len(unknowns)))
        unit[0, j] = 1
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.add(cell)
    return found


def _check(counts, margins, suppressed) -> None:
    published = {cell: n for cell, n in counts.items() if cell not in suppressed}
    assert not [cell for cell, n in published.items() if is_small(n)], "a small cell is published"
    assert {cell for cell, n in counts.items() if is_small(n)} <= suppressed
    assert _recovered_by_differencing(counts, margins, suppressed) == {}
    assert _determined_by_rank(counts, margins, suppressed) == set()
    for margin in margins:
        if margin.total not in suppressed:
            hidden_sum = sum(counts[p] for p in margin.parts if p in suppressed)
            assert not is_small(hidden_sum), "the union of the suppressed parts is a small cell"


@pytest.mark.parametrize("seed", range(300))
def test_one_way_random_tables_resist_differencing(seed):
    rng = random.Random(seed)
    parts = {f"k{i}": _random_count(rng) for i in range(rng.randint(1, 9))}
    total = sum(parts.values())
    result = suppress_one_way(parts, total)
    counts = {("part", k): n for k, n in parts.items()} | {("total",): total}
    margins = [Margin(("total",), tuple(("part", k) for k in parts))]
    hidden = {("part", k) for k in result.parts} | ({("total",)} if result.total else set())
    _check(counts, margins, hidden)


@pytest.mark.parametrize("seed", range(300))
def test_two_way_random_tables_resist_differencing(seed):
    rng = random.Random(10_000 + seed)
    rows = [f"r{i}" for i in range(rng.randint(1, 5))]
    columns = [f"c{j}" for j in range(rng.randint(1, 5))]
    cells = {(r, c): _random_count(rng) for r in rows for c in columns}
    row_totals = {r: sum(cells[r, c] for c in columns) for r in rows}
    column_totals = {c: sum(cells[r, c] for r in rows) for c in columns}
    total = sum(cells.values())
    result = suppress_two_way(cells, row_totals, column_totals, total)
    counts = {("cell", r, c): n for (r, c), n in cells.items()}
    counts |= {("row", r): n for r, n in row_totals.items()} | {("col", c): n for c, n in column_totals.items()}
    counts[("total",)] = total
    margins = [Margin(("row", r), tuple(("cell", r, c) for c in columns)) for r in rows]
    margins += [Margin(("col", c), tuple(("cell", r, c) for r in rows)) for c in columns]
    margins += [Margin(("total",), tuple(("row", r) for r in rows))]
    margins += [Margin(("total",), tuple(("col", c) for c in columns))]
    hidden = {("cell", r, c) for r, c in result.cells} | {("row", r) for r in result.rows}
    hidden |= {("col", c) for c in result.columns} | ({("total",)} if result.total else set())
    _check(counts, margins, hidden)


@pytest.mark.parametrize("seed", range(300))
def test_a_two_way_table_published_with_its_one_way_margins_resists_differencing(seed):
    # The report publishes a count by region, by age band, and by region x age band: the one-way tables are
    # the two-way table's margins, so together they must not give back a cell either.
    rng = random.Random(20_000 + seed)
    rows = [f"r{i}" for i in range(rng.randint(1, 5))]
    columns = [f"c{j}" for j in range(rng.randint(1, 5))]
    cells = {(r, c): _random_count(rng) for r in rows for c in columns}
    row_totals = {r: sum(cells[r, c] for c in columns) for r in rows}
    column_totals = {c: sum(cells[r, c] for r in rows) for c in columns}
    total = sum(cells.values())
    by_row, by_column = suppress_one_way(row_totals, total), suppress_one_way(column_totals, total)
    result = suppress_two_way(cells, row_totals, column_totals, total, published_rows=by_row,
                              published_columns=by_column)
    assert by_row.parts <= result.rows and by_column.parts <= result.columns
    assert result.total == (by_row.total or by_column.total)
    # what a reader of the three tables knows: a margin published in a one-way table is published
    counts = {("cell", r, c): n for (r, c), n in cells.items()}
    counts |= {("row", r): n for r, n in row_totals.items()} | {("col", c): n for c, n in column_totals.items()}
    counts[("total",)] = total
    margins = [Margin(("row", r), tuple(("cell", r, c) for c in columns)) for r in rows]
    margins += [Margin(("col", c), tuple(("cell", r, c) for r in rows)) for c in columns]
    margins += [Margin(("total",), tuple(("row", r) for r in rows))]
    margins += [Margin(("total",), tuple(("col", c) for c in columns))]
    hidden = {("cell", r, c) for r, c in result.cells} | {("row", r) for r in by_row.parts}
    hidden |= {("col", c) for c in by_column.parts} | ({("total",)} if result.total else set())
    _check(counts, margins, hidden)
