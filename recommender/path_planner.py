"""Career paths (issue 14): ordered trainings that close as much of a holder's skill gap as the rules allow.

For a holder, a target occupation, a budget, a number of steps and of hours, ``PathPlanner.plan`` finds ordered
sequences of trainings, each in a real session, that cover as much of the *gap* as possible:

- **gap**: the skills of the target occupation (derived occupation→skill table, ``features.esco``) that the
  holder's stored profile does not hold. A skill counts as held at a profile weight ≥ ``HELD_THRESHOLD`` (the
  same threshold says whether a prerequisite is met). A gap skill weighs its link weight × (1 − profile weight),
  as the ranker's gap (``features.pairs.HolderArrays``), × ``OPTIONAL_FACTOR`` for the *optional* skills: the
  table has no essential/optional flag, so the ``ESSENTIAL_RANKS`` best-linked skills are the essential ones
  (the world generator also draws prerequisites from an occupation's first 12 skills).
- **prerequisites** (ESCO skill URIs) of each step are held, or taught by an earlier step.
- **dates**: each step starts on a real session start of its training, on or after
  ``rules.earliest_session_start(today)``, strictly after the previous step's end, and ends by the horizon.
  A session ends ``ceil(7 × hours / weekly hours)`` days after it starts, at the pace of ``WEEKLY_HOURS`` (the
  world generator's pace, ``features.catalogue.WEEKLY_HOURS``).
- **money**: ``budget_cents`` (default: the holder's CPF + CEC balances) bounds what the path costs the holder:
  rights used plus own money, the flat participation included. Top-ups granted for a training
  (``PathTopUp``) come on top of it: they cost the holder nothing. Each step is priced with
  ``rules.funding_plan`` in schedule order with the balances the earlier steps left (top-ups, then CPF, then
  CEC, then late top-ups, then own money, plus the flat participation where it applies); the out-of-pocket
  part is what rights and top-ups do not cover, plus the participations. A budget of 0 therefore allows only
  trainings priced 0 or fully covered by top-ups (no rights used, nothing paid). ``max_out_of_pocket_cents``
  (the holder's most out of pocket) bounds the own money over the whole path, participations included: the
  default budget becomes the balances plus it, no budget exceeds the balances plus it, and the participations
  together stay within it.

Method (``recommender.path_solver``): the candidates (``recommender.path_candidates``) are the open trainings
that teach at least one gap skill (the best ``candidates`` by gap weight closed, plus the best by weight per
euro, plus enough teachers of each gap skill, near-duplicates of one certification collapsed) and a few
trainings that teach their unmet prerequisites; on them an exact 0-1
programme (``scipy.optimize.milp``) with a schedule check picks the sets, one solve per objective — *most
complete*, *best*, *cheapest*, *shortest* — and an exact dynamic programme orders each set and picks its
sessions. Identical paths are merged (their ``kinds`` listed). When the first solve fails or runs out of time
(``PathRequest.time_limit_s``), the plan falls back on ``greedy_path``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.catalogue import WEEKLY_HOURS
from features.pairs import EPOCH_ORDINAL, MODALITY_CODES, CatalogueArrays, SkillSpace
from parcours.domain import rules
from parcours.domain.regions import REGION_NAMES
from parcours.errors import NotFound, ValidationFailed
from recommender import path_candidates
from recommender.base import HolderContext
from recommender.path_solver import (
    KINDS,
    TOLERANCE,
    ExactModel,
    GapSkill,
    Kind,
    PathProblem,
    Solved,
    TopUps,
    greedy_steps,
    schedule_set,
    solve,
)

# --- Rules and tuning of the planner ---------------------------------------------------------------------

DEFAULT_WEEKLY_HOURS = 20.0  # an unknown modality
HELD_THRESHOLD = 0.5  # profile weight from which a skill is held (gap and prerequisites alike)
ESSENTIAL_RANKS = 12  # the occupation's best-linked skills count as essential
OPTIONAL_FACTOR = 0.5  # weight of an optional skill relative to an essential one
MAX_STEPS_LIMIT = 8  # the schedule check enumerates the 2^steps subsets of a solution
DEFAULT_CANDIDATES = 40
ALTERNATIVE_COVERAGE_SHARE = 0.5  # cheapest and shortest paths cover at least this share of the most complete
SKILLS_NAMED = 3  # skills named in a step's reason



def session_days(hours: float, modality: str) -> int:
    """Days from a session's start to its end at the modality's pace (``ceil(7 × hours / weekly hours)``)."""
    return int(math.ceil(7.0 * float(hours) / WEEKLY_HOURS.get(modality, DEFAULT_WEEKLY_HOURS)))


def euros(cents: int) -> str:
    """French amount: 1 234,56 €."""
    text = f"{cents / 100:,.2f}".replace(",", "\u202f").replace(".", ",")
    return f"{text} €"


# --- Public types --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathTopUp:
    """Top-up money granted for one training (``serving.services.topups.usable_topups`` gives them)."""

    training_id: str
    amount_cents: int
    funder_kind: str = "holder"
    spend_before_rights: bool = True


@dataclass(frozen=True)
class PathRequest:
    """What to plan. ``target_occupation``: an ESCO occupation URI (None: the holder's target);
    ``budget_cents``: what the path may cost the holder, rights and own money, flat participations included
    (None: CPF + CEC balances, plus ``max_out_of_pocket_cents`` when set); ``max_out_of_pocket_cents``: the most
    the holder pays themself over the path, flat participations included (None: only the budget bounds it);
    ``today``: the day the plan is made (None: today); ``horizon_days``: every step
    ends within this many days of ``today``; ``topups``: money granted for given trainings; ``candidates``: the
    trainings kept by gap weight closed (plus up to half as many by weight per euro, teachers of the gap
    skills fewer of them teach, and up to half as many teaching unmet prerequisites); ``time_limit_s``: one
    deadline for every solve of the plan (then greedy); ``alternatives``: also solve for the best, cheapest and
    shortest paths."""

    target_occupation: str | None = None
    budget_cents: int | None = None
    max_out_of_pocket_cents: int | None = None
    max_steps: int = 4
    max_hours: float = 600.0
    today: dt.date | None = None
    horizon_days: int = 548
    topups: tuple[PathTopUp, ...] = ()
    candidates: int = DEFAULT_CANDIDATES
    time_limit_s: float = 1.0
    alternatives: bool = True


@dataclass(frozen=True)
class PlannedStep:
    training_id: str
    title: str
    session_start: dt.date
    session_end: dt.date
    hours: float
    price_cents: int
    topups_cents: int  # top-ups spent (before and after the rights)
    cpf_cents: int
    cec_cents: int
    participation_cents: int
    out_of_pocket_cents: int  # price not covered + participation
    skills_gained: tuple[str, ...]  # gap skills this step covers first, most important first
    reasons: tuple[str, ...]
    modality: str = ""  # onsite, remote or hybrid
    region_code: str = ""  # where the training is given (INSEE region code; "" unknown)


@dataclass(frozen=True)
class CareerPath:
    kinds: tuple[str, ...]  # which objectives chose this path ("best", "most_complete", "cheapest", "shortest")
    steps: tuple[PlannedStep, ...]
    solver: str  # "milp" or "greedy"
    price_cents: int
    topups_cents: int
    cpf_cents: int
    cec_cents: int
    participation_cents: int
    out_of_pocket_cents: int
    hours: float
    skills_gained: tuple[str, ...]
    remaining_gap: tuple[str, ...]
    gap_coverage: float  # weighted share of the gap covered, 0..1
    notes: tuple[str, ...] = ()  # steps dropped from the schedule and why

    @property
    def total_cost_cents(self) -> int:
        """Every euro the path costs, whoever pays: prices plus flat participations."""
        return self.price_cents + self.participation_cents

    @property
    def holder_cost_cents(self) -> int:
        """What counts against the budget: rights used plus what the holder pays."""
        return self.cpf_cents + self.cec_cents + self.out_of_pocket_cents

    @property
    def training_ids(self) -> tuple[str, ...]:
        return tuple(s.training_id for s in self.steps)

    @property
    def start(self) -> dt.date | None:
        return self.steps[0].session_start if self.steps else None

    @property
    def end(self) -> dt.date | None:
        return self.steps[-1].session_end if self.steps else None


@dataclass(frozen=True)
class PathPlan:
    holder_id: str
    target_occupation: str
    target_label: str
    budget_cents: int
    gap: tuple[GapSkill, ...]
    best: CareerPath | None
    alternatives: tuple[CareerPath, ...]
    solver_status: str  # "optimal", "greedy fallback (time limit)", "no gap", "no candidate", …
    message: str  # for the holder or adviser, in French; says why when there is no path
    candidates: int
    elapsed_ms: float

    @property
    def paths(self) -> tuple[CareerPath, ...]:
        return ((self.best,) if self.best is not None else ()) + self.alternatives

    @property
    def most_complete(self) -> CareerPath | None:
        """The coverage-maximising path (the greedy fallback's when the solver did not answer)."""
        for path in self.paths:
            if "most_complete" in path.kinds:
                return path
        return self.best


@dataclass(frozen=True)
class OccupationSuggestion:
    uri: str
    label: str
    score: float


class UnknownOccupation(NotFound):
    """The target is no occupation of the table; ``suggestions`` are close occupations for its text."""

    def __init__(self, target: str, suggestions: Sequence[OccupationSuggestion]) -> None:
        self.target = target
        self.suggestions = tuple(suggestions)
        close = "; ".join(f"{s.label} ({s.uri})" for s in self.suggestions)
        super().__init__(f"unknown target occupation {target!r}" + (f"; close occupations: {close}" if close else ""))


Suggest = Callable[[str], Sequence[OccupationSuggestion]]


def suggest_occupations(text: str, k: int = 3) -> list[OccupationSuggestion]:
    """Close ESCO occupations for free text (``features.esco_matcher``); none for an unknown URI."""
    query = text.strip()
    if not query or query.startswith(("http://", "https://")):
        return []
    from features.esco_matcher import match

    return [OccupationSuggestion(m.uri, m.label, float(m.score)) for m in match(query, "occupation", k)]


# --- The catalogue as the planner reads it ---------------------------------------------------------------------


def _ordinals(values: pd.Series) -> np.ndarray:
    days = pd.to_datetime(values).to_numpy("datetime64[D]").astype(np.int64)
    return days + EPOCH_ORDINAL


def _uri_lists(values: Iterable[object]) -> list[list[str]]:
    out: list[list[str]] = []
    for value in values:
        if isinstance(value, str):
            out.append([v for v in value.split("|") if v])
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            out.append([])
        else:
            out.append([str(v) for v in value])  # type: ignore[attr-defined]
    return out


@dataclass
class PathCatalogue:
    """Trainings as aligned arrays: what each teaches and requires (columns of ``skill_uris``), price, hours,
    modality, region (INSEE code, "" unknown), and every session start date (ordinals, sorted per training between
    ``session_ptr`` bounds)."""

    training_ids: np.ndarray
    titles: np.ndarray
    price_cents: np.ndarray
    hours: np.ndarray
    modality: np.ndarray
    skill_uris: np.ndarray
    teaches: sp.csr_matrix
    requires: sp.csr_matrix
    session_ptr: np.ndarray
    session_days: np.ndarray
    region: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))  # empty: every region unknown
    position: dict[str, int] = field(init=False)
    skill_col: dict[str, int] = field(init=False)
    duration_days: np.ndarray = field(init=False)
    teaches_csc: sp.csc_matrix = field(init=False)
    session_keys: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if len(self.region) == 0:
            self.region = np.full(len(self.training_ids), "", dtype=object)
        elif len(self.region) != len(self.training_ids):
            raise ValueError(f"{len(self.region)} regions for {len(self.training_ids)} trainings")
        self.position = {str(t): i for i, t in enumerate(self.training_ids)}
        self.skill_col = {str(u): i for i, u in enumerate(self.skill_uris)}
        self.duration_days = np.array([session_days(h, m) for h, m in zip(self.hours, self.modality, strict=True)],
                                      dtype=np.int64)
        self.teaches = sp.csr_matrix(self.teaches, dtype=np.float32)
        self.requires = sp.csr_matrix(self.requires, dtype=np.float32)
        self.teaches_csc = self.teaches.tocsc()
        rows = np.repeat(np.arange(len(self.training_ids), dtype=np.int64), np.diff(self.session_ptr))
        self.session_keys = rows * _KEY + self.session_days

    def __len__(self) -> int:
        return len(self.training_ids)

    @staticmethod
    def _sessions(position: dict[str, int], n: int, sessions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        ids = sessions["training_id"].astype(str)
        rows = ids.map(position).fillna(-1).to_numpy(np.int64)
        days = _ordinals(sessions["start_date"]) if len(sessions) else np.zeros(0, dtype=np.int64)
        keep = rows >= 0
        keys = np.unique(rows[keep] * _KEY + days[keep])
        rows, days = keys // _KEY, keys % _KEY
        ptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))].astype(np.int64)
        return ptr, days.astype(np.int64)

    @classmethod
    def from_frame(cls, catalogue: pd.DataFrame, sessions: pd.DataFrame) -> PathCatalogue:
        """``catalogue``: training_id, price_cents, hours, modality, skills, prerequisites (lists of URIs or
        ``|``-joined text), title and region_code (optional); ``sessions``: training_id, start_date."""
        ids = catalogue["training_id"].astype(str).to_numpy()
        skills = _uri_lists(catalogue["skills"])
        prerequisites = _uri_lists(catalogue["prerequisites"])
        vocabulary = sorted({u for row in skills + prerequisites for u in row})
        col = {u: i for i, u in enumerate(vocabulary)}

        def matrix(lists: list[list[str]]) -> sp.csr_matrix:
            pairs = sorted({(i, col[u]) for i, row in enumerate(lists) for u in row})
            r = np.array([p[0] for p in pairs], dtype=np.int64)
            c = np.array([p[1] for p in pairs], dtype=np.int64)
            return sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (r, c)), shape=(len(ids), len(vocabulary)))

        position = {t: i for i, t in enumerate(ids)}
        ptr, days = cls._sessions(position, len(ids), sessions)
        titles = (catalogue["title"].astype(str).to_numpy() if "title" in catalogue
                  else np.full(len(ids), "", dtype=object))
        region = (catalogue["region_code"].fillna("").astype(str).to_numpy(dtype=object) if "region_code" in catalogue
                  else np.zeros(0, dtype=object))
        return cls(training_ids=ids, titles=titles, price_cents=catalogue["price_cents"].to_numpy(np.int64),
                   hours=catalogue["hours"].to_numpy(np.float64), modality=catalogue["modality"].astype(str).to_numpy(),
                   skill_uris=np.array(vocabulary, dtype=object), teaches=matrix(skills),
                   requires=matrix(prerequisites), session_ptr=ptr, session_days=days, region=region)

    @classmethod
    def from_arrays(cls, arrays: CatalogueArrays, sessions: pd.DataFrame, space: SkillSpace,
                    titles: Mapping[str, str] | None = None) -> PathCatalogue:
        """The ranker's catalogue arrays (skill columns of ``space``) with the sessions of those trainings."""
        ids = np.asarray(arrays.training_ids).astype(str)
        uris = np.empty(len(space.skill_col), dtype=object)
        for uri, c in space.skill_col.items():
            uris[c] = uri
        names = {code: name for name, code in MODALITY_CODES.items()}
        position = {t: i for i, t in enumerate(ids)}
        ptr, days = cls._sessions(position, len(ids), sessions)
        return cls(training_ids=ids, titles=np.array([(titles or {}).get(t, "") for t in ids], dtype=object),
                   price_cents=np.asarray(arrays.price_cents, dtype=np.int64),
                   hours=np.asarray(arrays.hours, dtype=np.float64),
                   modality=np.array([names.get(int(m), "") for m in arrays.modality], dtype=object),
                   skill_uris=uris, teaches=arrays.skills, requires=arrays.prerequisites, session_ptr=ptr,
                   session_days=days, region=np.asarray(arrays.region, dtype=object))

    def sessions_of(self, row: int) -> np.ndarray:
        return self.session_days[self.session_ptr[row]:self.session_ptr[row + 1]]

    def first_session_on_or_after(self, rows: np.ndarray, day: int) -> np.ndarray:
        """First session start ≥ ``day`` of each row (−1 when none), vectorised."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.session_days) == 0:
            return np.full(len(rows), -1, dtype=np.int64)
        at = np.searchsorted(self.session_keys, rows * _KEY + day, side="left")
        ok = at < self.session_ptr[rows + 1]
        return np.where(ok, self.session_days[np.minimum(at, len(self.session_days) - 1)], -1)


_KEY = 10_000_000  # row × _KEY + ordinal: sessions sorted by training then date (ordinals < 4 million)


# --- The planner ---------------------------------------------------------------------------------------------


def _occupation_table(frame: pd.DataFrame) -> dict[str, list[tuple[str, float, int]]]:
    table: dict[str, list[tuple[str, float, int]]] = {}
    ranks = frame["rank"] if "rank" in frame else pd.Series(range(len(frame)), index=frame.index)
    for occupation, skill, weight, rank in zip(frame["occupation_uri"].astype(str), frame["skill_uri"].astype(str),
                                               frame["weight"].astype(float), ranks.astype(int), strict=True):
        table.setdefault(occupation, []).append((skill, float(weight), int(rank)))
    return table


class PathPlanner:
    """Plans career paths over one catalogue. ``occupation_skills``: occupation_uri, skill_uri, weight, rank
    (default: the derived ESCO table); labels default to the ESCO taxonomy's; ``suggest`` proposes occupations
    for an unknown target (default: ``features.esco_matcher``)."""

    def __init__(self, catalogue: PathCatalogue, *, occupation_skills: pd.DataFrame | None = None,
                 skill_labels: Mapping[str, str] | None = None, occupation_labels: Mapping[str, str] | None = None,
                 suggest: Suggest | None = None) -> None:
        self.catalogue = catalogue
        if occupation_skills is None:
            from features.esco import load_occupation_skills

            occupation_skills = load_occupation_skills()
        self.occupations = _occupation_table(occupation_skills)
        self._skill_labels = skill_labels
        self._occupation_labels = occupation_labels
        self.suggest: Suggest = suggest or suggest_occupations

    @classmethod
    def from_frame(cls, catalogue: pd.DataFrame, sessions: pd.DataFrame, **kwargs: object) -> PathPlanner:
        return cls(PathCatalogue.from_frame(catalogue, sessions), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_arrays(cls, arrays: CatalogueArrays, sessions: pd.DataFrame, space: SkillSpace,
                    **kwargs: object) -> PathPlanner:
        return cls(PathCatalogue.from_arrays(arrays, sessions, space), **kwargs)  # type: ignore[arg-type]

    # Labels (French where ESCO has one: plans are read by holders and advisers) are read only when a plan first
    # needs them.
    def skill_label(self, uri: str) -> str:
        if self._skill_labels is None:
            from features.esco_fr import display_labels

            self._skill_labels = display_labels("skill")
        return self._skill_labels.get(uri, uri)

    def occupation_label(self, uri: str) -> str:
        if self._occupation_labels is None:
            from features.esco_fr import display_labels

            self._occupation_labels = display_labels("occupation")
        return self._occupation_labels.get(uri, uri)

    # -- the problem ------------------------------------------------------------------------------------------

    def target_of(self, holder: HolderContext, request: PathRequest) -> str:
        target = (request.target_occupation or holder.target_occupation or "").strip()
        if not target:
            raise ValidationFailed([{"field": "target_occupation",
                                     "message": "a target occupation (ESCO URI) is required: the holder has none"}])
        if target not in self.occupations:
            raise UnknownOccupation(target, self.suggest(target))
        return target

    @staticmethod
    def _validate(request: PathRequest) -> None:
        problems: list[dict[str, object]] = []
        if request.budget_cents is not None and (type(request.budget_cents) is not int or request.budget_cents < 0):
            problems.append({"field": "budget_cents", "message": "must be a non-negative integer number of cents"})
        ceiling = request.max_out_of_pocket_cents
        if ceiling is not None and (type(ceiling) is not int or ceiling < 0):
            problems.append({"field": "max_out_of_pocket_cents",
                             "message": "must be a non-negative integer number of cents"})
        if not 1 <= request.max_steps <= MAX_STEPS_LIMIT:
            problems.append({"field": "max_steps", "message": f"must be between 1 and {MAX_STEPS_LIMIT}"})
        if not request.max_hours > 0:
            problems.append({"field": "max_hours", "message": "must be positive"})
        if request.horizon_days < 1:
            problems.append({"field": "horizon_days", "message": "must be at least 1"})
        if request.time_limit_s < 0 or request.candidates < 1:
            problems.append({"field": "time_limit_s", "message": "time limit ≥ 0 and at least one candidate"})
        for topup in request.topups:
            if type(topup.amount_cents) is not int or topup.amount_cents < 0:
                problems.append({"field": "topups", "message": f"top-up for {topup.training_id}: bad amount"})
        if problems:
            raise ValidationFailed(problems)

    def problem(self, holder: HolderContext, request: PathRequest, target: str | None = None, *,
                every_candidate: bool = False) -> PathProblem:
        """The candidates and constraints of one request (``target`` already checked, else read and checked).
        ``every_candidate``: every eligible training teaching a gap skill and every eligible teacher of their
        unmet prerequisites, ``max_steps − 1`` levels deep (at least the planner's 2), duplicates kept: the pool
        on which ``path_solver.relaxed_bound`` bounds any valid path (slow; for benchmarks)."""
        self._validate(request)
        target = target or self.target_of(holder, request)
        cat = self.catalogue
        today = request.today or dt.date.today()
        earliest = rules.earliest_session_start(today).toordinal()
        horizon = today.toordinal() + int(request.horizon_days)
        budget = path_budget(holder, request)
        own_cap = request.max_out_of_pocket_cents
        weights = {str(u): float(w) for u, w in holder.skill_weights.items()}
        gap: list[GapSkill] = []
        for uri, importance, rank in self.occupations.get(target, []):
            held = min(max(weights.get(uri, 0.0), 0.0), 1.0)
            if held >= HELD_THRESHOLD:
                continue
            essential = rank < ESSENTIAL_RANKS
            weight = importance * (1.0 - held) * (1.0 if essential else OPTIONAL_FACTOR)
            if weight > 0:
                gap.append(GapSkill(uri, self.skill_label(uri), round(importance, 6), round(held, 6), essential,
                                    weight))
        gap.sort(key=lambda g: (-g.weight, g.skill_uri))
        held_cols = {cat.skill_col[u] for u, w in weights.items() if w >= HELD_THRESHOLD and u in cat.skill_col}
        funding = self._funding(request.topups)
        gap_cols = np.array([cat.skill_col.get(g.skill_uri, -1) for g in gap], dtype=np.int64)
        gap_weight = np.array([g.weight for g in gap], dtype=np.float64)
        excluded = {cat.position[t] for t in holder.excluded_training_ids if t in cat.position}

        cost_of: dict[int, int] = {}
        participation_of: dict[int, int] = {}
        first_of: dict[int, int] = {}
        misses_of: dict[int, float] = {}

        def eligible(rows: np.ndarray) -> np.ndarray:
            """Rows open in the window, not taken, within hours, budget and own-money cap (their holder-cost bound,
            participation, preference misses and first allowed session recorded in the ``…_of`` maps)."""
            rows = np.asarray(rows, dtype=np.int64)
            if len(rows) == 0:
                return rows
            rows = rows[~np.isin(rows, list(excluded))] if excluded else rows
            cost, participation = self._cost_bound(holder, rows, funding, today)
            first = cat.first_session_on_or_after(rows, earliest)
            ok = ((first >= 0) & (first + cat.duration_days[rows] <= horizon)
                  & (cat.hours[rows] <= request.max_hours + 1e-9) & (cost <= budget))
            if own_cap is not None:
                ok &= participation <= own_cap
            kept = rows[ok]
            keys = kept.tolist()
            cost_of.update(zip(keys, cost[ok].tolist(), strict=True))
            participation_of.update(zip(keys, participation[ok].tolist(), strict=True))
            misses_of.update(zip(keys, preference_misses(holder, cat.modality[kept], cat.region[kept]).tolist(),
                                 strict=True))
            first_of.update(zip(keys, first[ok].tolist(), strict=True))
            return kept

        known = gap_cols >= 0
        if known.any():
            closes = np.asarray(cat.teaches_csc[:, gap_cols[known]] @ gap_weight[known]).ravel()
            teaching = np.flatnonzero(closes > 0)
        else:
            closes = np.zeros(len(cat))
            teaching = np.zeros(0, dtype=np.int64)
        rows = eligible(teaching)
        picked = path_candidates.pick(cat, rows, closes, cost_of, first_of, gap_cols, request.candidates,
                                      every=every_candidate, misses=misses_of)
        picked = path_candidates.add_providers(cat, picked, held_cols, eligible, cost_of, first_of, request.candidates,
                                               every=every_candidate,
                                               levels=max(request.max_steps - 1, 2) if every_candidate else 2,
                                               misses=misses_of)
        return self._assemble(holder, request, today, earliest, horizon, budget, tuple(gap), gap_cols, gap_weight,
                              held_cols, np.array(picked, dtype=np.int64), cost_of, funding,
                              participation_of, misses_of, own_cap)

    @staticmethod
    def _funding(topups: Sequence[PathTopUp]) -> dict[str, TopUps]:
        out: dict[str, TopUps] = {}
        for topup in topups:
            was = out.get(topup.training_id, TopUps(0, 0, False, False))
            exempting = topup.funder_kind in rules.PARTICIPATION_EXEMPTING_FUNDERS and topup.amount_cents > 0
            if topup.spend_before_rights:
                out[topup.training_id] = TopUps(was.early_cents + topup.amount_cents, was.late_cents,
                                                  was.early_exempting or exempting, was.late_exempting)
            else:
                out[topup.training_id] = TopUps(was.early_cents, was.late_cents + topup.amount_cents,
                                                  was.early_exempting, was.late_exempting or exempting)
        return out

    def _cost_bound(self, holder: HolderContext, rows: np.ndarray, funding: dict[str, TopUps],
                    today: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the most the file can cost the holder (rights + own money + participation) whatever comes
        before it: price − early top-ups (− late top-ups when the holder has no rights, as they then pay first),
        plus the flat participation when rights may be used (also returned alone). ``rules.funding_plan`` never
        charges more."""
        cat = self.catalogue
        rights = int(holder.cpf_balance_cents) + int(holder.cec_balance_cents)
        participation = rules.flat_participation_cents(today, employment_status=holder.employment_status,
                                                       cofinanced_by_employer_or_opco=False)
        price = cat.price_cents[rows].astype(np.int64)
        early = np.zeros(len(rows), dtype=np.int64)
        late = np.zeros(len(rows), dtype=np.int64)
        exempt = np.zeros(len(rows), dtype=bool)
        if funding:
            for i, row in enumerate(rows.tolist()):
                f = funding.get(str(cat.training_ids[row]))
                if f is not None:
                    early[i], late[i], exempt[i] = f.early_cents, f.late_cents, f.early_exempting
        net = np.maximum(price - early - (late if rights == 0 else 0), 0)
        charged = np.where((net > 0) & (rights > 0) & ~exempt, participation, 0)
        return net + charged, charged

    def _assemble(self, holder: HolderContext, request: PathRequest, today: dt.date, earliest: int, horizon: int,
                  budget: int, gap: tuple[GapSkill, ...], gap_cols: np.ndarray, gap_weight: np.ndarray,
                  held: set[int], rows: np.ndarray, cost_of: dict[int, int],
                  funding: dict[str, TopUps], participation_of: dict[int, int], misses_of: dict[int, float],
                  own_cap: int | None) -> PathProblem:
        cat = self.catalogue
        n = len(rows)
        sessions: list[np.ndarray] = []
        for row in rows.tolist():
            days = cat.sessions_of(row)
            days = days[(days >= earliest) & (days + cat.duration_days[row] <= horizon)]
            sessions.append(days)
        duration = cat.duration_days[rows] if n else np.zeros(0, dtype=np.int64)
        teaches_gap = np.zeros((n, len(gap)), dtype=bool)
        taught: list[frozenset[int]] = []
        unmet: list[tuple[int, ...]] = []
        col_of_gap = {int(c): s for s, c in enumerate(gap_cols.tolist()) if c >= 0}
        for i, row in enumerate(rows.tolist()):
            skills, required = path_candidates.signature(cat, row)
            taught.append(frozenset(skills))
            unmet.append(tuple(c for c in required if c not in held))
            for c in skills:
                if c in col_of_gap:
                    teaches_gap[i, col_of_gap[c]] = True
        first_end = np.array([int(s[0]) + int(d) if len(s) else 10**9 for s, d in zip(sessions, duration, strict=True)],
                             dtype=np.int64)
        last_start = np.array([int(s[-1]) if len(s) else -(10**9) for s in sessions], dtype=np.int64)
        can_precede = first_end[:, None] < last_start[None, :]
        np.fill_diagonal(can_precede, False)
        return PathProblem(
            unmatched=np.array([misses_of[r] for r in rows.tolist()], dtype=np.float64),
            holder=holder, today=today, earliest=earliest, horizon=horizon, budget_cents=budget,
            max_steps=request.max_steps, max_hours=float(request.max_hours), gap=gap, gap_weight=gap_weight,
            rows=rows, cost=np.array([cost_of[r] for r in rows.tolist()], dtype=np.int64),
            participation=np.array([participation_of[r] for r in rows.tolist()], dtype=np.int64),
            own_cap_cents=own_cap,
            hours=cat.hours[rows].astype(np.float64) if n else np.zeros(0), duration=duration, sessions=sessions,
            teaches_gap=teaches_gap, taught=taught, unmet=unmet, can_precede=can_precede, funding=funding,
        )

    # -- paths ------------------------------------------------------------------------------------------------

    def career_path(self, problem: PathProblem, steps: Sequence[tuple[int, int]], kinds: Sequence[str], solver: str,
                    notes: Sequence[str] = ()) -> CareerPath:
        """A scheduled path priced step by step with ``rules.funding_plan`` and the balances left, and explained."""
        cat = self.catalogue
        holder = problem.holder
        cpf, cec = int(holder.cpf_balance_cents), int(holder.cec_balance_cents)
        covered = np.zeros(len(problem.gap), dtype=bool)
        gained_at: list[list[int]] = []
        for t, _start in steps:
            new = problem.teaches_gap[t] & ~covered
            gained_at.append(sorted(np.flatnonzero(new).tolist(), key=lambda s: (-problem.gap[s].weight, s)))
            covered |= new
        # Which step first provides each later step's unmet prerequisites.
        provides: dict[int, list[tuple[int, int]]] = {}
        for j, (t, _start) in enumerate(steps):
            for p in problem.unmet[t]:
                for i in range(j):
                    if p in problem.taught[steps[i][0]]:
                        provides.setdefault(i, []).append((j, p))
                        break
        planned: list[PlannedStep] = []
        for i, (t, start) in enumerate(steps):
            row = int(problem.rows[t])
            training_id = str(cat.training_ids[row])
            price = int(cat.price_cents[row])
            f = problem.funding.get(training_id, TopUps(0, 0, False, False))
            plan = self._funding_plan(price, cpf, cec, f, problem)
            cpf -= plan.cpf_cents
            cec -= plan.cec_cents
            gained = tuple(problem.gap[s].skill_uri for s in gained_at[i])
            reasons = self._reasons(problem, i, gained_at[i], provides.get(i, []), plan)
            reasons += tuple(where_and_how(holder, str(cat.modality[row]), str(cat.region[row])))
            planned.append(PlannedStep(
                training_id=training_id, title=str(cat.titles[row]), session_start=dt.date.fromordinal(start),
                session_end=dt.date.fromordinal(start + int(problem.duration[t])), hours=float(cat.hours[row]),
                price_cents=price, topups_cents=plan.topups_cents + plan.late_topups_cents, cpf_cents=plan.cpf_cents,
                cec_cents=plan.cec_cents, participation_cents=plan.participation_cents,
                out_of_pocket_cents=plan.out_of_pocket_cents, skills_gained=gained, reasons=reasons,
                modality=str(cat.modality[row]), region_code=str(cat.region[row]),
            ))
        chosen = [t for t, _s in steps]
        order = [s for at in gained_at for s in at]
        return CareerPath(
            kinds=tuple(kinds), steps=tuple(planned), solver=solver,
            price_cents=sum(s.price_cents for s in planned), topups_cents=sum(s.topups_cents for s in planned),
            cpf_cents=sum(s.cpf_cents for s in planned), cec_cents=sum(s.cec_cents for s in planned),
            participation_cents=sum(s.participation_cents for s in planned),
            out_of_pocket_cents=sum(s.out_of_pocket_cents for s in planned),
            hours=float(sum(s.hours for s in planned)),
            skills_gained=tuple(problem.gap[s].skill_uri for s in order),
            remaining_gap=tuple(g.skill_uri for s, g in enumerate(problem.gap) if not covered[s]),
            gap_coverage=round(problem.coverage(chosen), 6), notes=tuple(notes),
        )

    @staticmethod
    def _funding_plan(price: int, cpf: int, cec: int, f: TopUps, problem: PathProblem) -> rules.FundingPlan:
        def plan(cofinanced: bool) -> rules.FundingPlan:
            return rules.funding_plan(price, cpf_balance_cents=cpf, cec_balance_cents=cec, on=problem.today,
                                      employment_status=problem.holder.employment_status, topup_cents=f.early_cents,
                                      late_topup_cents=f.late_cents, cofinanced_by_employer_or_opco=cofinanced)

        first = plan(False)
        exempt = (f.early_exempting and first.topups_cents > 0) or (f.late_exempting and first.late_topups_cents > 0)
        return plan(True) if exempt else first

    def _reasons(self, problem: PathProblem, i: int, gained: Sequence[int], provides: Sequence[tuple[int, int]],
                 plan: rules.FundingPlan) -> tuple[str, ...]:
        """Step ``i``'s reasons, in French: the target skills it brings, the later steps it prepares, its cost."""
        said: list[str] = []
        if gained:
            named = ", ".join(problem.gap[s].label for s in gained[:SKILLS_NAMED])
            more = " …" if len(gained) > SKILLS_NAMED else ""
            noun = "compétence visée" if len(gained) == 1 else "compétences visées"
            said.append(f"Apporte {len(gained)} {noun} : {named}{more}")
        by_step: dict[int, list[int]] = {}
        for j, p in provides:
            by_step.setdefault(j, []).append(p)
        for j, cols in sorted(by_step.items()):
            which = "l'étape suivante" if j == i + 1 else f"l'étape {j + 1}"
            labels = ", ".join(self.skill_label(str(self.catalogue.skill_uris[c])) for c in cols)
            said.append(f"Prérequis pour {which} : {labels}")
        if not said:
            said.append("Étape du parcours")
        if plan.out_of_pocket_cents == 0:
            said.append("Sans reste à charge" if plan.price_cents else "Formation gratuite")
        elif plan.out_of_pocket_cents == plan.participation_cents:
            said.append(f"Reste à charge : {euros(plan.out_of_pocket_cents)} (participation forfaitaire)")
        else:
            said.append(f"Reste à charge : {euros(plan.out_of_pocket_cents)}")
        return tuple(said)

    # -- planning ---------------------------------------------------------------------------------------------

    def greedy(self, holder: HolderContext, request: PathRequest) -> CareerPath | None:
        return greedy_path(self, holder, request)

    def plan(self, holder: HolderContext, request: PathRequest) -> PathPlan:
        """The best path for ``holder`` towards the request's target and its distinct alternatives."""
        started = time.perf_counter()
        target = self.target_of(holder, request)
        problem = self.problem(holder, request, target)
        deadline = started + float(request.time_limit_s)

        def answer(best: CareerPath | None, alternatives: Sequence[CareerPath], status: str, message: str) -> PathPlan:
            return PathPlan(
                holder_id=holder.holder_id, target_occupation=target, target_label=self.occupation_label(target),
                budget_cents=problem.budget_cents, gap=problem.gap, best=best, alternatives=tuple(alternatives),
                solver_status=status, message=message, candidates=problem.n,
                elapsed_ms=1000.0 * (time.perf_counter() - started),
            )

        if not problem.gap:
            return answer(None, (), "no gap", "Votre profil couvre déjà les compétences du métier visé.")
        if problem.n == 0:
            return answer(None, (), "no candidate", self._empty_reason(problem))
        model = ExactModel(problem)
        complete = solve(model, "most_complete", deadline)
        if complete.status != "optimal":
            return self._fallback(problem, complete, answer)
        if complete.chosen is None or problem.coverage(complete.chosen) <= 0:
            return answer(None, (), "optimal", self._empty_reason(problem))
        found: list[tuple[Kind, Solved]] = [("most_complete", complete)]
        status = "optimal"
        if request.alternatives:
            floor = ALTERNATIVE_COVERAGE_SHARE * float(model.scaled_weight[
                problem.teaches_gap[list(complete.chosen)].any(axis=0)].sum()) - TOLERANCE
            others: tuple[tuple[Kind, float | None], ...] = (("best", None), ("cheapest", floor), ("shortest", floor))
            for kind, kind_floor in others:
                solved = solve(model, kind, deadline, kind_floor)
                if solved.status == "optimal" and solved.chosen:
                    found.append((kind, solved))
                elif solved.status != "optimal":
                    status = f"optimal (alternatives incomplete: {solved.status})"
        paths = self._distinct(problem, found)
        best = next((p for p in paths if "best" in p.kinds), paths[0])
        message = f"{len(paths)} parcours proposé{'s' if len(paths) > 1 else ''}."
        return answer(best, [p for p in paths if p is not best], status, message)

    def _distinct(self, problem: PathProblem, found: Sequence[tuple[Kind, Solved]]) -> list[CareerPath]:
        """One path per distinct set of trainings, its kinds merged, in the order best, most complete, cheapest,
        shortest (a best that is the empty set means the most complete)."""
        kinds_of: dict[frozenset[int], list[str]] = {}
        dropped: dict[frozenset[int], tuple[tuple[int, str], ...]] = {}
        for kind, solved in sorted(found, key=lambda ks: KINDS.index(ks[0])):
            key = frozenset(solved.chosen or ())
            kinds_of.setdefault(key, []).append(kind)
            dropped[key] = dropped.get(key) or solved.dropped
        paths: list[CareerPath] = []
        for members, kinds in kinds_of.items():
            schedule = schedule_set(problem, sorted(members))
            notes = self._notes(problem, dropped[members] + schedule.dropped)
            paths.append(self.career_path(problem, schedule.steps, kinds, "milp", notes))
        if not any("best" in p.kinds for p in paths):
            paths[0] = _with_kinds(paths[0], ("best", *paths[0].kinds))
        return paths

    def _notes(self, problem: PathProblem, dropped: Sequence[tuple[int, str]]) -> list[str]:
        """Why steps of a solution were left out of the schedule (in French)."""
        return [f"Étape {self.catalogue.training_ids[problem.rows[t]]} retirée : {why}" for t, why in dropped]

    def _fallback(self, problem: PathProblem, solved: Solved,
                  answer: Callable[[CareerPath | None, Sequence[CareerPath], str, str], PathPlan]) -> PathPlan:
        """The solver did not prove an optimum (time limit, failure): the greedy path, or the best orderable set
        the solver found when it covers more."""
        steps = greedy_steps(problem)
        solver, notes = "greedy", []
        if solved.chosen:
            schedule = schedule_set(problem, solved.chosen)
            if problem.coverage(t for t, _s in schedule.steps) > problem.coverage(t for t, _s in steps):
                steps, solver = schedule.steps, "milp"
                notes = self._notes(problem, solved.dropped + schedule.dropped)
        status = f"greedy fallback ({solved.status})" if solver == "greedy" else f"incumbent ({solved.status})"
        if not steps:
            return answer(None, (), status, self._empty_reason(problem))
        path = self.career_path(problem, steps, ("best", "most_complete"), solver, notes)
        return answer(path, (), status, "1 parcours proposé (calcul exact interrompu : délai dépassé).")

    def _empty_reason(self, problem: PathProblem) -> str:
        cap = problem.own_cap_cents
        if cap is not None:
            participation = rules.flat_participation_cents(problem.today,
                                                           employment_status=problem.holder.employment_status,
                                                           cofinanced_by_employer_or_opco=False)
            rights = int(problem.holder.cpf_balance_cents) + int(problem.holder.cec_balance_cents)
            if rights > 0 and participation > cap:  # without rights no file carries one
                return (f"Aucun parcours dans un reste à charge d'au plus {euros(cap)} : tout dossier financé par "
                        f"vos droits porte une participation forfaitaire de {euros(participation)}, et aucune "
                        "formation ouverte qui apporte une compétence visée n'est gratuite ou entièrement couverte "
                        "par un abondement de l'employeur ou de l'OPCO.")
        if problem.budget_cents == 0:
            return ("Aucun parcours gratuit : aucune formation ouverte n'apporte de compétence visée sans utiliser "
                    "de droits ni de reste à charge (prix nul ou entièrement couvert par un abondement).")
        limits = (f"dans le budget de {euros(problem.budget_cents)}"
                  + ("" if cap is None else f", un reste à charge d'au plus {euros(cap)} (participation forfaitaire "
                                            "comprise)")
                  + f" et la limite de {problem.max_hours:g} heures")
        return (f"Aucune formation ouverte d'ici l'horizon, {limits}, n'apporte de compétence visée dont les "
                "prérequis sont accessibles.")


def _with_kinds(path: CareerPath, kinds: Sequence[str]) -> CareerPath:
    return replace(path, kinds=tuple(dict.fromkeys(kinds)))


MODALITY_SAID = {"onsite": "en présentiel", "remote": "à distance", "hybrid": "en formation hybride"}


def preference_misses(holder: HolderContext, modality: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per training, how many of the holder's place and manner it misses (0–2): not in the preferred modality (when
    one is set), and given on site or hybrid outside the region where they train (``training_region_code``: the
    region chosen, else where they live; remote is everywhere, an unknown region or holder region misses nothing)."""
    modality = np.asarray(modality, dtype=object)
    region = np.asarray(region, dtype=object)
    preferred = holder.preferred_modality
    wrong_manner = (modality != preferred) if preferred else np.zeros(len(modality), dtype=bool)
    home = holder.training_region_code
    wrong_place = ((modality != "remote") & (region != "") & (region != home)) if home else np.zeros(len(modality),
                                                                                                       dtype=bool)
    return wrong_manner.astype(np.float64) + wrong_place.astype(np.float64)


def where_and_how(holder: HolderContext, modality: str, region: str) -> list[str]:
    """A step's place and manner in French, against the holder's preferences: the preferred modality kept, and the
    region of an on-site or hybrid session (theirs, or named when it is elsewhere)."""
    said: list[str] = []
    manner = MODALITY_SAID.get(modality)
    if manner and holder.preferred_modality == modality:
        said.append(f"{manner[0].upper()}{manner[1:]}, comme vous le préférez")
    if modality in ("onsite", "hybrid") and region:
        home = holder.training_region_code
        if region == home:
            said.append("Dans la région que vous avez choisie" if holder.preferred_region_code
                        else "Dans votre région")
        elif home:
            which = "la région que vous avez choisie" if holder.preferred_region_code else "votre région"
            said.append(f"Hors de {which} ({REGION_NAMES.get(region, region)}), {manner}")
    return said


def path_budget(holder: HolderContext, request: PathRequest) -> int:
    """What a path may cost the holder (rights used + own money): ``budget_cents``, else the CPF + CEC balances;
    with a most out of pocket, the default is the balances plus it, and no budget exceeds that (own money only
    arises once the rights are spent, participations aside, which the planner bounds on their own)."""
    rights = int(holder.cpf_balance_cents) + int(holder.cec_balance_cents)
    ceiling = request.max_out_of_pocket_cents
    if ceiling is None:
        return rights if request.budget_cents is None else request.budget_cents
    return rights + ceiling if request.budget_cents is None else min(request.budget_cents, rights + ceiling)


def greedy_path(planner: PathPlanner, holder: HolderContext, request: PathRequest) -> CareerPath | None:
    """The baseline: best new gap weight per euro first, on the same candidates and under the same constraints
    (budget, hours, steps, prerequisites, session dates) as ``PathPlanner.plan``; None when no step fits."""
    target = planner.target_of(holder, request)
    problem = planner.problem(holder, request, target)
    steps = greedy_steps(problem) if problem.gap else ()
    return planner.career_path(problem, steps, ("greedy",), "greedy") if steps else None


def path_violations(planner: PathPlanner, holder: HolderContext, request: PathRequest, path: CareerPath) -> list[str]:
    """Every rule ``path`` breaks, checked from the catalogue alone (not from the planner's internals): steps,
    hours and budget; real sessions in date order from the earliest allowed start, within the horizon;
    prerequisites held or taught by an earlier step; each step's funding adding up to its price. Empty: valid."""
    cat = planner.catalogue
    today = request.today or dt.date.today()
    earliest = rules.earliest_session_start(today)
    horizon = today + dt.timedelta(days=request.horizon_days)
    budget = path_budget(holder, request)
    problems: list[str] = []
    if len(path.steps) > request.max_steps:
        problems.append(f"{len(path.steps)} steps > {request.max_steps}")
    if path.hours > request.max_hours + 1e-9:
        problems.append(f"{path.hours} hours > {request.max_hours}")
    if path.holder_cost_cents > budget:
        problems.append(f"holder cost {path.holder_cost_cents} > budget {budget}")
    if budget == 0 and (path.cpf_cents or path.cec_cents or path.out_of_pocket_cents):
        problems.append("a budget of 0 used rights or money")
    ceiling = request.max_out_of_pocket_cents
    if ceiling is not None and path.out_of_pocket_cents > ceiling:
        problems.append(f"out of pocket {path.out_of_pocket_cents} > most out of pocket {ceiling}")
    have = {u for u, w in holder.skill_weights.items() if w >= HELD_THRESHOLD}
    previous_end: dt.date | None = None
    seen: set[str] = set()
    for i, step in enumerate(path.steps):
        row = cat.position.get(step.training_id)
        if row is None:
            problems.append(f"step {i + 1}: unknown training {step.training_id}")
            continue
        if step.training_id in seen or step.training_id in holder.excluded_training_ids:
            problems.append(f"step {i + 1}: {step.training_id} repeated or already taken")
        seen.add(step.training_id)
        if step.session_start.toordinal() not in set(cat.sessions_of(row).tolist()):
            problems.append(f"step {i + 1}: {step.session_start} is no session of {step.training_id}")
        if step.session_start < earliest:
            problems.append(f"step {i + 1}: starts {step.session_start} before {earliest}")
        if previous_end is not None and step.session_start <= previous_end:
            problems.append(f"step {i + 1}: starts {step.session_start}, not after the previous end {previous_end}")
        expected_end = step.session_start + dt.timedelta(days=int(cat.duration_days[row]))
        if step.session_end != expected_end or step.session_end > horizon:
            problems.append(f"step {i + 1}: ends {step.session_end} (expected {expected_end}, horizon {horizon})")
        required = cat.requires.indices[cat.requires.indptr[row]:cat.requires.indptr[row + 1]]
        missing = [str(cat.skill_uris[c]) for c in required.tolist() if str(cat.skill_uris[c]) not in have]
        if missing:
            problems.append(f"step {i + 1}: prerequisites not met: {missing}")
        taught = cat.teaches.indices[cat.teaches.indptr[row]:cat.teaches.indptr[row + 1]]
        have |= {str(cat.skill_uris[c]) for c in taught.tolist()}
        covered = step.topups_cents + step.cpf_cents + step.cec_cents + step.out_of_pocket_cents
        if covered - step.participation_cents != step.price_cents or step.price_cents != int(cat.price_cents[row]):
            problems.append(f"step {i + 1}: funding does not add up to the price")
        previous_end = step.session_end
    return problems
