"""The optimisation behind career paths (``recommender.path_planner``): one holder's problem, the exact 0-1
programme with its schedule check, and the greedy baseline. The planner builds a ``PathProblem`` (candidates,
costs, sessions, prerequisites); this module only reads it.

The candidates (``PathPlanner.problem``, ``recommender.path_candidates``) are the open trainings that teach at
least one gap skill (the best ``candidates`` by gap weight closed, plus the best by weight per euro, plus enough
teachers of each gap skill, near-duplicates of one certification collapsed) and a few trainings that teach
their unmet prerequisites. On them an exact 0-1 programme (``scipy.optimize.milp``):

- binary x_t (training t is a step), y_s (gap skill s is covered), y_s ≤ Σ_{t teaches s} x_t;
- Σ cost_t x_t ≤ budget, Σ hours_t x_t ≤ max hours, Σ x_t ≤ max steps (cost_t is an upper bound of what t
  costs the holder whatever comes before it, so the real cost never exceeds the budget);
- with a most out of pocket (the holder's ceiling), Σ participation_t x_t ≤ ceiling as well, the budget being at
  most the rights plus the ceiling: rights pay before own money, so the own money is the participations, or
  what the path costs beyond the rights, and neither exceeds the ceiling;
- for each unmet prerequisite p of t: x_t ≤ Σ x_u over the trainings u that teach p and can end before a
  session of t starts; x_t + x_u ≤ 1 when neither can come before the other (session dates);
- where trainings could prepare each other in a cycle (a strongly connected component of that support graph),
  the support goes through binary s_ut ≤ x_u, x_t ("u comes before t") and continuous start days T_t in
  [first session, last session] with T_t ≥ T_u + duration_u + 1 when s_ut = 1 (big-M): no cycle, and an
  order the session windows allow;
- a solution is then *checked*: an exact dynamic programme over its subsets (earliest end per subset, ≤ 2^8)
  orders it by prerequisites and dates and picks concrete sessions. If it cannot be ordered, a cut removes it
  (a minimal subset whose dates cannot chain and all its supersets, or the set and its supersets that add no
  training teaching a missing prerequisite) and the programme is solved again, the best orderable subset seen
  so far kept as incumbent; the loop stops when the programme's bound does not beat the incumbent (branch and
  check: exact on the candidate set, up to the tie-breaks, worth at most 1e-5 of the gap).

Objectives (one solve each, cuts shared): *most complete* (max weighted coverage; ties: cheaper, shorter,
fewer steps), *best* (coverage − ``BEST_COST_WEIGHT`` × cost / budget − ``BEST_HOURS_WEIGHT`` × hours / max
hours − ``BEST_PREFERENCE_WEIGHT`` × steps outside the holder's preferred modality or region / max
steps), *cheapest* and *shortest* (min cost, min hours, among paths covering at least
``ALTERNATIVE_COVERAGE_SHARE`` of the most complete one's coverage). Solves share one deadline
(``PathRequest.time_limit_s``); when the first solve fails or runs out of time, the planner falls back on
``greedy_steps`` (best coverage per euro first, the same constraints), or on the best orderable solution found
so far when it covers more. ``relaxed_bound`` (no order, no dates) bounds what any valid path can cover: the
benchmark uses it to say how far above greedy a planner could go at all.

Why ``scipy.optimize.milp`` (HiGHS) and not OR-Tools: scipy is already a dependency (HiGHS ships inside it), the
models here are small (≤ ~100 binaries, a few hundred rows) and solve in milliseconds, and OR-Tools (CP-SAT) would
add a large binary wheel and a second solver to maintain for no gain at this size; ``milp``'s ``time_limit``
is all the control the planner needs.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from recommender.base import HolderContext

BEST_COST_WEIGHT = 0.05  # "best": coverage share − 0.05 × budget share − 0.05 × hours share
BEST_HOURS_WEIGHT = 0.05
# "best" also loses this per step outside the holder's preferred modality or region, shared over the steps allowed:
# a path of steps all elsewhere, in another manner, gives up at most a tenth of the gap.
BEST_PREFERENCE_WEIGHT = 0.05
OBJECTIVE_SCALE = 1000.0  # the gap's total weight in objective units (HiGHS's absolute gap is 1e-6)
TIE = 1e-2  # tie-breaks (cost, hours, steps): at most TIE objective units for a whole path (1e-5 of the gap)
COVERAGE_TIE = 5e-3  # cheapest (in euros) and shortest (in hours): of two as cheap or as short, the more complete
TOLERANCE = 1e-6
MAX_ROUNDS = 60  # schedule-check rounds per objective

Kind = Literal["best", "most_complete", "cheapest", "shortest"]
KINDS: tuple[Kind, ...] = ("best", "most_complete", "cheapest", "shortest")


@dataclass(frozen=True)
class GapSkill:
    skill_uri: str
    label: str
    importance: float  # link weight of the skill for the occupation, in (0, 1]
    held: float  # the profile's weight, below HELD_THRESHOLD
    essential: bool
    weight: float  # importance × (1 − held) × (1 or OPTIONAL_FACTOR)



# --- One holder's problem ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopUps:
    early_cents: int
    late_cents: int
    early_exempting: bool  # an employer or OPCO top-up among the early ones
    late_exempting: bool


@dataclass
class PathProblem:
    """The candidates of one (holder, request) and every constraint the solvers and the schedule check read."""

    holder: HolderContext
    today: dt.date
    earliest: int  # ordinal of the first allowed session start
    horizon: int  # ordinal: every step ends on or before it
    budget_cents: int
    max_steps: int
    max_hours: float
    gap: tuple[GapSkill, ...]
    gap_weight: np.ndarray  # m
    rows: np.ndarray  # n catalogue rows
    cost: np.ndarray  # n: upper bound of the holder-side cost (rights + own money, participation included)
    participation: np.ndarray  # n: the flat participation within ``cost`` (0 where none can be charged)
    own_cap_cents: int | None  # the most out of pocket over the path (None: only the budget bounds it)
    unmatched: np.ndarray  # n: how many of the holder's place and manner each misses (0–2; ``preference_misses``)
    hours: np.ndarray  # n
    duration: np.ndarray  # n days
    sessions: list[np.ndarray]  # n: allowed session starts (ordinals), sorted
    teaches_gap: np.ndarray  # n × m bool
    taught: list[frozenset[int]]  # n: skill columns each candidate teaches
    unmet: list[tuple[int, ...]]  # n: prerequisite columns the profile does not hold
    can_precede: np.ndarray  # n × n: u can end before a session of t starts
    funding: dict[str, TopUps]

    @property
    def n(self) -> int:
        return len(self.rows)

    def coverage(self, chosen: Iterable[int]) -> float:
        """Weighted share of the gap covered by the candidates ``chosen``."""
        chosen = list(chosen)
        total = float(self.gap_weight.sum())
        if not chosen or total <= 0:
            return 0.0
        return float(self.gap_weight[self.teaches_gap[chosen].any(axis=0)].sum()) / total


# --- The schedule check: exact ordering of a set by prerequisites and dates ------------------------------------


@dataclass(frozen=True)
class Schedule:
    steps: tuple[tuple[int, int], ...]  # (candidate, session start ordinal) in date order
    full: bool  # every candidate of the set could be scheduled
    dropped: tuple[tuple[int, str], ...]  # (candidate, why) when not


def reachable(problem: PathProblem, chosen: Sequence[int], prerequisites: bool = True) -> dict[int, tuple]:
    """Earliest end per orderable subset of ``chosen`` (bit masks): mask → (end, previous mask, index, start).

    Adding a training after a subset depends only on the subset's skills and its end date, and a later end
    never helps, so keeping the earliest end per subset is exact (ascending masks are a topological order).
    """
    k = len(chosen)
    table: dict[int, tuple] = {0: (problem.earliest - 1, -1, -1, -1)}
    skills: dict[int, frozenset[int]] = {0: frozenset()}
    for mask in range(1 << k):
        if mask not in table:
            continue
        end = table[mask][0]
        have = skills[mask]
        for i in range(k):
            bit = 1 << i
            if mask & bit:
                continue
            t = chosen[i]
            if prerequisites and any(p not in have for p in problem.unmet[t]):
                continue
            days = problem.sessions[t]
            at = int(np.searchsorted(days, max(end + 1, problem.earliest)))
            if at >= len(days):
                continue
            start = int(days[at])
            finish = start + int(problem.duration[t])
            new = mask | bit
            if new not in table or finish < table[new][0]:
                table[new] = (finish, mask, i, start)
                skills[new] = have | problem.taught[t]
    return table


def schedule_set(problem: PathProblem, chosen: Sequence[int]) -> Schedule:
    """``chosen`` in an order that respects prerequisites and session dates; when none exists, the best subset
    that has one (coverage, then cost, then hours) and why each other candidate was dropped."""
    chosen = list(chosen)
    table = reachable(problem, chosen)
    full = (1 << len(chosen)) - 1

    def key(mask: int) -> tuple[float, float, float]:
        members = [chosen[i] for i in range(len(chosen)) if mask >> i & 1]
        return (problem.coverage(members), -float(problem.cost[members].sum()), -float(problem.hours[members].sum()))

    mask = full if full in table else max(table, key=key)
    steps: list[tuple[int, int]] = []
    cursor = mask
    while cursor:
        _end, previous, i, start = table[cursor]
        steps.append((chosen[i], start))
        cursor = previous
    steps.reverse()
    dropped: list[tuple[int, str]] = []
    if mask != full:
        everything = frozenset().union(*(problem.taught[t] for t in chosen)) if chosen else frozenset()
        kept = [chosen[i] for i in range(len(chosen)) if mask >> i & 1]
        for i, t in enumerate(chosen):
            if mask >> i & 1:
                continue
            if any(p not in everything for p in problem.unmet[t]):
                why = "prérequis non couverts par les autres étapes"
            elif (1 << (len(kept) + 1)) - 1 not in reachable(problem, [*kept, t], prerequisites=False):
                why = "aucune de ses sessions ne s'enchaîne avec celles des autres étapes"
            else:
                why = "l'ordre imposé par les prérequis ne tient pas dans les dates des sessions"
            dropped.append((t, why))
    return Schedule(tuple(steps), mask == full, tuple(dropped))


# --- The exact model -----------------------------------------------------------------------------------------


class ExactModel:
    """The 0-1 programme. Variables: x (candidates), y (gap skills), s (u comes before t and teaches one of t's
    unmet prerequisites; only for u and t that may support each other in a cycle) and T (start day of each
    candidate, continuous, between its first and last session): s and T forbid cycles of prerequisites and
    orders the dates cannot hold. Cuts added by the schedule check are shared by every objective, as they only
    say which sets cannot be ordered."""

    def __init__(self, problem: PathProblem) -> None:
        self.problem = problem
        n, m = problem.n, len(problem.gap)
        cp = problem.can_precede
        supports = {(u, t) for t in range(n) for p in problem.unmet[t] for u in range(n)
                    if u != t and cp[u, t] and p in problem.taught[u]}
        # Only trainings that may support each other in a cycle (one strongly connected component of the
        # support graph) need order variables; elsewhere "a chosen supporter" is enough.
        graph = sp.csr_matrix((np.ones(len(supports)), ([u for u, _t in supports], [t for _u, t in supports])),
                              shape=(n, n))
        _count, component = connected_components(graph, directed=True, connection="strong")
        pairs = sorted((u, t) for u, t in supports if component[u] == component[t])
        pair_at = {pair: n + m + k for k, pair in enumerate(pairs)}
        time_at = n + m + len(pairs)
        self.n, self.m, self.size = n, m, time_at + n
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        lower: list[float] = []
        upper: list[float] = []

        def add(entries: Iterable[tuple[int, float]], lo: float, hi: float) -> None:
            r = len(lower)
            for c, v in entries:
                rows.append(r)
                cols.append(c)
                vals.append(v)
            lower.append(lo)
            upper.append(hi)

        x_upper = np.ones(n)
        y_upper = np.ones(m)
        for s in range(m):  # y_s ≤ Σ x_t over the trainings teaching s
            teachers = np.flatnonzero(problem.teaches_gap[:, s])
            if len(teachers) == 0:
                y_upper[s] = 0.0
                continue
            add([(n + s, 1.0), *((int(t), -1.0) for t in teachers)], -np.inf, 0.0)
        # Money in euros in the programme (cents are exact in a float; a smaller coefficient range helps HiGHS).
        add(((t, float(problem.cost[t]) / 100.0) for t in range(n)), -np.inf, float(problem.budget_cents) / 100.0)
        if problem.own_cap_cents is not None:
            add(((t, float(problem.participation[t]) / 100.0) for t in range(n) if problem.participation[t]),
                -np.inf, float(problem.own_cap_cents) / 100.0)
        add(((t, float(problem.hours[t])) for t in range(n)), -np.inf, float(problem.max_hours))
        add(((t, 1.0) for t in range(n)), -np.inf, float(problem.max_steps))
        for t in range(n):  # each unmet prerequisite taught by a chosen training that comes earlier
            for p in problem.unmet[t]:
                supporters = [u for u in range(n) if (u, t) in supports and p in problem.taught[u]]
                if not supporters:
                    x_upper[t] = 0.0
                    break
                add([(t, 1.0), *((pair_at.get((u, t), u), -1.0) for u in supporters)], -np.inf, 0.0)
        first = np.array([int(d[0]) - problem.earliest if len(d) else 0 for d in problem.sessions], dtype=np.float64)
        last = np.array([int(d[-1]) - problem.earliest if len(d) else 0 for d in problem.sessions], dtype=np.float64)
        for (u, t), k in pair_at.items():
            add([(k, 1.0), (u, -1.0)], -np.inf, 0.0)  # s_ut ≤ x_u
            add([(k, 1.0), (t, -1.0)], -np.inf, 0.0)  # s_ut ≤ x_t
            gap = float(problem.duration[u]) + 1.0  # T_t ≥ T_u + duration_u + 1 when s_ut = 1
            big = last[u] + gap - first[t]
            if big > 0:
                add([(time_at + t, 1.0), (time_at + u, -1.0), (k, -big)], gap - big, np.inf)
        for t in range(n):  # two trainings whose sessions cannot follow one another in either order
            for u in range(t + 1, n):
                if not (cp[t, u] or cp[u, t]):
                    add([(t, 1.0), (u, 1.0)], -np.inf, 1.0)
        self.matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(lower), self.size))
        self.lower = np.array(lower)
        self.upper = np.array(upper)
        self.bounds = Bounds(np.r_[np.zeros(n + m + len(pairs)), first],
                             np.r_[x_upper, y_upper, np.ones(len(pairs)), last])
        # y is integral at an optimum of x, T is a day in a window: only x and s need to be integers.
        self.integrality = np.r_[np.ones(n), np.zeros(m), np.ones(len(pairs)), np.zeros(n)]
        self.cuts: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        self.scaled_weight = (OBJECTIVE_SCALE * problem.gap_weight / max(float(problem.gap_weight.sum()), 1e-12)
                              if m else np.zeros(0))

    def _pad(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.r_[x, y, np.zeros(self.size - self.n - self.m)]

    def objective(self, kind: Kind) -> np.ndarray:
        p = self.problem
        # Tie-breaks per chosen training, each in [TIE / 3K, TIE / K] so that HiGHS does not drop them as tiny:
        # a path of at most K steps gains at most TIE from them.
        cost_share = p.cost / max(float(p.cost.max(initial=0)), 1.0)
        hours_share = p.hours / max(float(p.hours.max(initial=0)), 1.0)
        tie = TIE * (1.0 + cost_share + hours_share) / (3.0 * p.max_steps)
        if kind == "most_complete":
            return self._pad(tie, -self.scaled_weight)
        if kind == "best":
            penalty = (BEST_COST_WEIGHT * p.cost / max(p.budget_cents, 1)
                       + BEST_HOURS_WEIGHT * p.hours / max(p.max_hours, 1e-9)
                       + BEST_PREFERENCE_WEIGHT * p.unmatched / p.max_steps)
            return self._pad(OBJECTIVE_SCALE * penalty + tie, -self.scaled_weight)
        # Cheapest in euros, shortest in hours; then the most coverage (at most COVERAGE_TIE in all), then the rest.
        more_coverage = -COVERAGE_TIE * self.scaled_weight / OBJECTIVE_SCALE
        small = COVERAGE_TIE * (1.0 + cost_share + hours_share) / (3.0 * p.max_steps)
        if kind == "cheapest":
            return self._pad(p.cost / 100.0 + small, more_coverage)
        return self._pad(p.hours + small, more_coverage)

    def value(self, c: np.ndarray, chosen: Sequence[int]) -> float:
        covered = self.problem.teaches_gap[list(chosen)].any(axis=0) if chosen else np.zeros(self.m, dtype=bool)
        return float(c[list(chosen)].sum() + c[self.n:self.n + self.m][covered].sum())

    def add_cut(self, chosen: Sequence[int]) -> None:
        """Forbid ``chosen``, which cannot be ordered. When even its dates alone cannot be chained, forbid a
        minimal subset whose dates cannot be chained (found by deletion) and all its supersets: a chain's
        sub-sequence is a chain. Otherwise forbid ``chosen`` and its supersets that add no training teaching one
        of its missing prerequisites: such a superset's schedule, restricted to ``chosen``, would order it."""
        p = self.problem
        core = sorted(chosen)
        helpers: tuple[int, ...] = ()
        if (1 << len(core)) - 1 in reachable(p, core, prerequisites=False):
            missing = {q for t in core for q in p.unmet[t]}
            inside = set(core)
            helpers = tuple(u for u in range(p.n) if u not in inside and p.taught[u] & missing)
        else:
            for t in list(core):
                trial = [u for u in core if u != t]
                if trial and (1 << len(trial)) - 1 not in reachable(p, trial, prerequisites=False):
                    core = trial
        self.cuts.append((tuple(core), helpers))

    def constraints(self, floor: float | None) -> list[LinearConstraint]:
        out = [LinearConstraint(self.matrix, self.lower, self.upper)]
        if self.cuts:
            rows: list[int] = []
            cols: list[int] = []
            vals: list[float] = []
            for r, (members, helpers) in enumerate(self.cuts):
                rows += [r] * (len(members) + len(helpers))
                cols += [*members, *helpers]
                vals += [1.0] * len(members) + [-1.0] * len(helpers)
            cut = sp.csr_matrix((vals, (rows, cols)), shape=(len(self.cuts), self.size))
            out.append(LinearConstraint(cut, -np.inf, np.array([len(m) - 1.0 for m, _h in self.cuts])))
        if floor is not None:
            out.append(LinearConstraint(self._pad(np.zeros(self.n), self.scaled_weight)[None, :], floor, np.inf))
        return out


@dataclass(frozen=True)
class Solved:
    chosen: tuple[int, ...] | None
    status: str  # "optimal", "infeasible", "time limit", "round limit", "solver failed: …"
    dropped: tuple[tuple[int, str], ...] = ()  # when ``chosen`` is what could be ordered of a solution: the rest


def solve(model: ExactModel, kind: Kind, deadline: float, floor: float | None = None) -> Solved:
    """Branch and check: solve, order the solution; if it cannot be ordered, cut it and solve again, keeping the
    best orderable subset seen as incumbent, until the bound does not beat the incumbent."""
    p = model.problem
    c = model.objective(kind)
    incumbent: tuple[int, ...] | None = None
    incumbent_value = math.inf
    dropped: tuple[tuple[int, str], ...] = ()
    for _round in range(MAX_ROUNDS):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return Solved(incumbent, "time limit", dropped)
        result = milp(c, integrality=model.integrality, bounds=model.bounds, constraints=model.constraints(floor),
                      options={"time_limit": remaining, "mip_rel_gap": 0.0, "presolve": True})
        if result.status == 2:  # infeasible: the cuts removed every set better than the incumbent
            return Solved(incumbent, "optimal" if incumbent is not None else "infeasible", dropped)
        if result.status != 0 or result.x is None:
            status = "time limit" if result.status == 1 else f"solver failed: {result.message}"
            return Solved(incumbent, status, dropped)
        if incumbent_value <= float(result.fun) + TOLERANCE:
            return Solved(incumbent, "optimal", dropped)
        chosen = tuple(int(t) for t in np.flatnonzero(result.x[:model.n] > 0.5))
        schedule = schedule_set(p, chosen)
        if schedule.full:
            return Solved(chosen, "optimal")
        subset = tuple(sorted(t for t, _start in schedule.steps))
        covered = model.scaled_weight[p.teaches_gap[list(subset)].any(axis=0)].sum() if subset else 0.0
        if floor is None or covered >= floor - TOLERANCE:
            value = model.value(c, subset)
            if value < incumbent_value:
                incumbent, incumbent_value, dropped = subset, value, schedule.dropped
        model.add_cut(chosen)
    return Solved(incumbent, "round limit", dropped)


# --- The greedy baseline -------------------------------------------------------------------------------------


def greedy_steps(problem: PathProblem, per_euro: bool = True) -> tuple[tuple[int, int], ...]:
    """Steps appended in date order, each the training with the most new gap weight per euro of holder cost
    (+1 € so free trainings rank by weight; ``per_euro`` False: the most new gap weight) among those whose
    prerequisites are met and that fit the budget, hours and steps left, in its first session after the
    previous step's end."""
    steps: list[tuple[int, int]] = []
    have: set[int] = set()
    covered = np.zeros(len(problem.gap), dtype=bool)
    end = problem.earliest - 1
    budget, hours = problem.budget_cents, problem.max_hours
    own = math.inf if problem.own_cap_cents is None else problem.own_cap_cents
    used: set[int] = set()
    while len(steps) < problem.max_steps:
        best: tuple[float, int, int, int] | None = None  # (score, -finish, -t, start)
        for t in range(problem.n):
            if t in used or problem.cost[t] > budget or problem.hours[t] > hours + 1e-9:
                continue
            if problem.participation[t] > own:
                continue
            if any(p not in have for p in problem.unmet[t]):
                continue
            new = float(problem.gap_weight[problem.teaches_gap[t] & ~covered].sum())
            if new <= 0:
                continue
            days = problem.sessions[t]
            at = int(np.searchsorted(days, max(end + 1, problem.earliest)))
            if at >= len(days):
                continue
            start = int(days[at])
            score = new / (float(problem.cost[t]) / 100.0 + 1.0) if per_euro else new
            candidate = (score, -(start + int(problem.duration[t])), -t, start)
            if best is None or candidate[:3] > best[:3]:
                best = candidate
        if best is None:
            break
        t, start = -best[2], best[3]
        steps.append((t, start))
        used.add(t)
        have |= problem.taught[t]
        covered |= problem.teaches_gap[t]
        end = start + int(problem.duration[t])
        budget -= int(problem.cost[t])
        own -= int(problem.participation[t])
        hours -= float(problem.hours[t])
    return tuple(steps)


# --- An upper bound -----------------------------------------------------------------------------------------


def relaxed_bound(problem: PathProblem, prerequisites: bool = True, time_limit_s: float = 30.0) -> float | None:
    """An upper bound of the coverage of any valid path over ``problem``'s candidates: the 0-1 programme with
    budget, hours and steps, and each unmet prerequisite taught by some chosen training (``prerequisites``
    False: prerequisites ignored), but no order and no dates. Over ``PathPlanner.problem(...,
    every_candidate=True)`` it bounds every path the catalogue allows. None when HiGHS did not prove it."""
    n, m = problem.n, len(problem.gap)
    total = float(problem.gap_weight.sum())
    if n == 0 or m == 0 or total <= 0:
        return 0.0
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    upper: list[float] = []

    def add(entries: Iterable[tuple[int, float]], hi: float) -> None:
        for c, v in entries:
            rows.append(len(upper))
            cols.append(c)
            vals.append(v)
        upper.append(hi)

    for s in range(m):
        add([(n + s, 1.0), *((int(t), -1.0) for t in np.flatnonzero(problem.teaches_gap[:, s]))], 0.0)
    add(((t, float(problem.cost[t]) / 100.0) for t in range(n)), float(problem.budget_cents) / 100.0)
    if problem.own_cap_cents is not None:
        add(((t, float(problem.participation[t]) / 100.0) for t in range(n)), float(problem.own_cap_cents) / 100.0)
    add(((t, float(problem.hours[t])) for t in range(n)), float(problem.max_hours))
    add(((t, 1.0) for t in range(n)), float(problem.max_steps))
    if prerequisites:
        for t in range(n):
            for p in problem.unmet[t]:
                add([(t, 1.0), *((u, -1.0) for u in range(n) if u != t and p in problem.taught[u])], 0.0)
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(upper), n + m))
    result = milp(np.r_[np.zeros(n), -OBJECTIVE_SCALE * problem.gap_weight / total],
                  integrality=np.r_[np.ones(n), np.zeros(m)], bounds=Bounds(0.0, 1.0),
                  constraints=LinearConstraint(matrix, -np.inf, np.array(upper)),
                  options={"time_limit": time_limit_s, "mip_rel_gap": 0.0})
    # The dual bound, not the incumbent: a bound even when HiGHS stops at the time limit.
    dual = getattr(result, "mip_dual_bound", None)
    if result.status not in (0, 1) or dual is None or not np.isfinite(dual):
        return None
    return min(1.0, -float(dual) / OBJECTIVE_SCALE)
