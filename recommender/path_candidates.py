"""Which trainings the career-path planner (``recommender.path_planner``) optimises over: one request's candidates.

The exact programme is only as good as its candidates, and its time grows with them, so the pool is built from
what can matter to a path towards the gap:

- the best ``n`` open trainings by gap weight closed and the best ``n // 2`` by gap weight closed per euro of
  holder cost (near-duplicates of one certification collapsed: the cheapest, the shortest, the soonest and the one
  nearest the holder's preferred modality and region kept);
- **per gap skill**: every gap skill the catalogue teaches is taught by at least ``TEACHERS_PER_SKILL``
  candidates (the best by weight closed per euro added), so a skill that only expensive or narrow trainings
  teach is still within reach;
- **per unmet prerequisite** of a candidate (two levels): trainings teaching it until
  ``PREREQUISITE_PROVIDERS`` candidates do, the cheapest first, at most ``n // 2`` added in all.

Functions only: the planner passes its catalogue and the request's eligibility (open in the window, not taken,
within hours and budget).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from recommender.path_planner import PathCatalogue

PREREQUISITE_PROVIDERS = 3  # candidates wanted per unmet prerequisite skill of a candidate
TEACHERS_PER_SKILL = 2  # candidates wanted per gap skill (when the catalogue has that many)

Signature = tuple[tuple[int, ...], tuple[int, ...]]


def signature(cat: PathCatalogue, row: int) -> Signature:
    """Skill columns ``row`` teaches and requires, sorted."""
    taught = cat.teaches.indices[cat.teaches.indptr[row]:cat.teaches.indptr[row + 1]]
    required = cat.requires.indices[cat.requires.indptr[row]:cat.requires.indptr[row + 1]]
    return tuple(sorted(taught.tolist())), tuple(sorted(required.tolist()))


def teachers(cat: PathCatalogue, col: int) -> np.ndarray:
    """Catalogue rows teaching skill column ``col``."""
    return cat.teaches_csc.indices[cat.teaches_csc.indptr[col]:cat.teaches_csc.indptr[col + 1]]


def collapse(cat: PathCatalogue, rows: Sequence[int], cost_of: dict[int, int], first_of: dict[int, int],
             misses: Mapping[int, float] | None = None) -> list[int]:
    """Of trainings with the same skills and prerequisites (one certification at several providers), keep
    the cheapest, the shortest, the soonest and the one that misses least of the holder's preferred modality and
    region (``misses``, per row; also the tie-break after the cost); order kept."""
    groups: dict[Signature, list[int]] = {}
    for row in rows:
        groups.setdefault(signature(cat, row), []).append(row)
    miss = misses or {}
    keep: set[int] = set()
    for members in groups.values():
        keep.add(min(members, key=lambda r: (cost_of[r], miss.get(r, 0.0), cat.hours[r], r)))
        keep.add(min(members, key=lambda r: (cat.hours[r], cost_of[r], miss.get(r, 0.0), r)))
        keep.add(min(members, key=lambda r: (first_of[r], cost_of[r], miss.get(r, 0.0), r)))
        if miss:
            keep.add(min(members, key=lambda r: (miss.get(r, 0.0), cost_of[r], cat.hours[r], r)))
    return [r for r in rows if r in keep]


def _per_euro(closes: np.ndarray, cost_of: dict[int, int], row: int) -> float:
    return float(closes[row]) / (cost_of[row] / 100.0 + 1.0)  # +1 €: free trainings rank by weight


def pick(cat: PathCatalogue, rows: np.ndarray, closes: np.ndarray, cost_of: dict[int, int], first_of: dict[int, int],
         gap_cols: np.ndarray, n: int, *, every: bool = False, misses: Mapping[int, float] | None = None) -> list[int]:
    """Of the eligible ``rows`` teaching gap skills (``closes``: gap weight each closes), the best ``n`` by
    weight, the best ``n // 2`` by weight per euro, then teachers of each gap skill still taught by fewer than
    ``TEACHERS_PER_SKILL`` of them. ``every``: all of them, duplicates included (for bounds)."""
    by_weight = sorted(rows.tolist(), key=lambda r: (-closes[r], cost_of[r], cat.hours[r], cat.training_ids[r]))
    if every:
        return by_weight
    by_weight = collapse(cat, by_weight, cost_of, first_of, misses)
    by_value = sorted(by_weight, key=lambda r: (-_per_euro(closes, cost_of, r), cat.hours[r], cat.training_ids[r]))
    pool = list(dict.fromkeys(by_weight[:n] + by_value[:max(n // 2, 1)]))
    chosen = set(pool)
    rank = {r: i for i, r in enumerate(by_value)}  # eligible and collapsed, best per euro first
    for col in gap_cols.tolist():  # most important gap skill first
        if col < 0:
            continue
        taught_by = teachers(cat, col)
        wanted = TEACHERS_PER_SKILL - int(np.isin(taught_by, pool).sum())
        if wanted <= 0:
            continue
        options = sorted((r for r in taught_by.tolist() if r in rank and r not in chosen), key=rank.__getitem__)
        for row in options[:wanted]:
            pool.append(row)
            chosen.add(row)
    return pool


def add_providers(cat: PathCatalogue, picked: list[int], held: set[int], eligible: Callable[[np.ndarray], np.ndarray],
                  cost_of: dict[int, int], first_of: dict[int, int], n: int, *, every: bool = False,
                  levels: int = 2, misses: Mapping[int, float] | None = None) -> list[int]:
    """For each unmet prerequisite of the candidates, trainings teaching it until ``PREREQUISITE_PROVIDERS``
    candidates do (``levels`` deep), at most ``n // 2`` added in all, the cheapest first: the budget binds on
    most paths (ranking providers by the gap weight they also close did worse on the small world). ``every``:
    all of them, duplicates included (for bounds)."""
    out = list(picked)
    taught = {r: set(signature(cat, r)[0]) for r in out}
    room = len(cat) if every else max(n // 2, 1)
    frontier = list(picked)
    for _level in range(levels):
        missing = sorted({int(c) for r in frontier
                          for c in cat.requires.indices[cat.requires.indptr[r]:cat.requires.indptr[r + 1]]
                          if int(c) not in held})
        added: list[int] = []
        for col in missing:
            wanted = len(cat) if every else PREREQUISITE_PROVIDERS - sum(1 for s in taught.values() if col in s)
            if room <= 0:
                break
            if wanted <= 0:
                continue
            rows = [r for r in eligible(teachers(cat, col)).tolist() if r not in taught]
            ranked = sorted(rows, key=lambda r: (cost_of[r], cat.hours[r], cat.training_ids[r]))
            ranked = ranked if every else collapse(cat, ranked, cost_of, first_of, misses)
            for row in ranked[:min(wanted, room)]:
                out.append(row)
                added.append(row)
                taught[row] = set(signature(cat, row)[0])
                room -= 1
        frontier = added
        if not frontier:
            break
    return out
