"""Where could the holder go from here (issue 14): occupations close to the skills profile, with the gap to each
and what a typical path there costs.

- **Candidates**: every occupation of the derived occupation→skill table (``features.esco``, the table the gap
  and the planner use), scored by its **coverage**: the share of the occupation's link weight the profile holds,
  Σ link weight × profile weight / Σ link weight (the ``coverage`` of ``/skill-gap``). The occupations of the
  holder's declared jobs are left out (that is where the holder already is); the ``k`` best are kept (ties:
  more skills held, then the URI).
- **Gap**: ``missing_skills`` counts the occupation's skills the profile does not hold (weight below
  ``HELD_THRESHOLD``, the planner's rule); ``gap_share`` is their weighted share, Σ over them of link weight ×
  (1 − profile weight) / Σ link weight.
- **Typical path cost**: the planner's *cheapest* path towards the occupation (the cheapest set of trainings
  covering at least half of what the most complete path covers; the most complete path when there is no such
  alternative), with the holder's rights as budget and their waiting top-ups, at most ``TYPICAL_STEPS`` steps,
  a solver time limit of ``TYPICAL_TIME_LIMIT_S`` each; its out-of-pocket cost, total cost and coverage. When
  the whole answer has used ``TYPICAL_DEADLINE_S`` the occupations left get no typical path (``None``), and so
  does an occupation no open training leads to (``typical_path_status`` says which).
- **Labels**: French where ESCO has them (``features.esco_fr``), English otherwise.

Who: the holder, an admin, or an adviser with the holder's active consent (``authorise_holder_read``, audited).
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sqlalchemy import select
from sqlalchemy.orm import Session

from features.esco_fr import display_label
from parcours.store.models import Experience, Holder
from recommender.base import HolderContext
from recommender.path_planner import HELD_THRESHOLD, CareerPath, PathPlanner, PathRequest, PathTopUp
from serving.services.holders import today
from serving.services.paths import planning_context, waiting_topups

MAX_K = 50
TYPICAL_STEPS = 4
TYPICAL_TIME_LIMIT_S = 0.25
TYPICAL_DEADLINE_S = 4.0


@dataclass(frozen=True)
class OccupationTable:
    """The occupation→skill table as a sparse occupation × skill matrix of link weights."""

    uris: np.ndarray  # occupation URIs, one per row
    skill_col: dict[str, int]
    links: sp.csr_matrix
    totals: np.ndarray  # Σ link weight per occupation


_TABLES: weakref.WeakKeyDictionary[PathPlanner, OccupationTable] = weakref.WeakKeyDictionary()
_TABLES_LOCK = threading.Lock()


def occupation_table(planner: PathPlanner) -> OccupationTable:
    """The planner's table as a matrix, built once per planner (and dropped with it)."""
    with _TABLES_LOCK:
        table = _TABLES.get(planner)
        if table is None:
            table = _TABLES[planner] = _build_table(planner)
        return table


def _build_table(planner: PathPlanner) -> OccupationTable:
    uris = sorted(planner.occupations)
    skill_col: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    weights: list[float] = []
    for row, uri in enumerate(uris):
        for skill, weight, _rank in planner.occupations[uri]:
            rows.append(row)
            cols.append(skill_col.setdefault(skill, len(skill_col)))
            weights.append(float(weight))
    links = sp.csr_matrix((np.array(weights), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
                          shape=(len(uris), len(skill_col)))
    return OccupationTable(np.array(uris, dtype=object), skill_col, links, np.asarray(links.sum(axis=1)).ravel())


@dataclass(frozen=True)
class TypicalPath:
    kind: str  # "cheapest" or "most_complete"
    steps: int
    hours: float
    total_cost_cents: int
    out_of_pocket_cents: int
    gap_coverage: float


@dataclass(frozen=True)
class NearOccupation:
    uri: str
    label: str
    coverage: float
    skills_held: int
    missing_skills: int
    gap_share: float
    is_target: bool
    typical_path: TypicalPath | None
    typical_path_status: str  # "found", "no_path" (no open training leads there), "not_computed" (time ran out)


@dataclass(frozen=True)
class NearOccupations:
    holder_id: str
    n_profile_skills: int
    method: str
    items: list[NearOccupation]


METHOD = ("coverage = share of the occupation's skill weight held by the profile; typical path = the planner's "
          f"cheapest path (at most {TYPICAL_STEPS} steps, budget = CPF + CEC rights, waiting top-ups on top)")


def job_occupations(session: Session, holder_id: str) -> set[str]:
    return {str(u) for u in session.scalars(
        select(Experience.esco_uri).where(Experience.holder_id == holder_id, Experience.kind == "job",
                                          Experience.esco_uri.is_not(None)))}


def _typical(path: CareerPath | None, kind: str) -> TypicalPath | None:
    if path is None:
        return None
    return TypicalPath(kind, len(path.steps), path.hours, path.total_cost_cents, path.out_of_pocket_cents,
                       path.gap_coverage)


def typical_path(planner: PathPlanner, context: HolderContext, uri: str,
                 topups: tuple[PathTopUp, ...]) -> TypicalPath | None:
    plan = planner.plan(context, PathRequest(target_occupation=uri, max_steps=TYPICAL_STEPS, today=today(),
                                             topups=topups, time_limit_s=TYPICAL_TIME_LIMIT_S))
    cheapest = next((p for p in plan.paths if "cheapest" in p.kinds), None)
    if cheapest is not None:
        return _typical(cheapest, "cheapest")
    return _typical(plan.most_complete, "most_complete")


def near_occupations(session: Session, planner: PathPlanner, holder: Holder, k: int) -> NearOccupations:
    """The ``k`` occupations whose skills the profile covers most, with the gap and a typical path to each."""
    k = max(1, min(int(k), MAX_K))
    table = occupation_table(planner)
    context = planning_context(session, holder)
    weights = np.zeros(len(table.skill_col))
    for uri, weight in context.skill_weights.items():
        col = table.skill_col.get(uri)
        if col is not None:
            weights[col] = min(max(float(weight), 0.0), 1.0)
    held = (weights >= HELD_THRESHOLD).astype(np.float64)
    totals = np.where(table.totals > 0, table.totals, 1.0)
    coverage = np.asarray(table.links @ weights).ravel() / totals
    n_held = np.asarray((table.links > 0).astype(np.float64) @ held).ravel()
    missing_weight = np.asarray(table.links @ ((1.0 - weights) * (1.0 - held))).ravel() / totals
    n_links = np.diff(table.links.indptr)
    excluded = job_occupations(session, holder.holder_id)
    order = sorted((row for row in np.flatnonzero(coverage > 0).tolist() if table.uris[row] not in excluded),
                   key=lambda r: (-coverage[r], -n_held[r], table.uris[r]))[:k]
    topups = waiting_topups(session, holder.holder_id)
    started = time.perf_counter()
    items: list[NearOccupation] = []
    for row in order:
        uri = str(table.uris[row])
        typical, status = None, "not_computed"
        if time.perf_counter() - started < TYPICAL_DEADLINE_S:
            typical = typical_path(planner, context, uri, topups)
            status = "found" if typical is not None else "no_path"
        items.append(NearOccupation(
            uri=uri, label=display_label(uri, "occupation", planner.occupation_label(uri)),
            coverage=round(float(coverage[row]), 4), skills_held=int(n_held[row]),
            missing_skills=int(n_links[row] - n_held[row]), gap_share=round(float(missing_weight[row]), 4),
            is_target=uri == (holder.target_occupation or ""), typical_path=typical, typical_path_status=status,
        ))
    return NearOccupations(holder_id=holder.holder_id,
                           n_profile_skills=sum(1 for w in context.skill_weights.values() if w >= HELD_THRESHOLD),
                           method=METHOD, items=items)
