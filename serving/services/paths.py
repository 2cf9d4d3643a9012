"""Career paths for a holder over HTTP (issue 14): the served planner, the target, the budget and the answer.

- **The served planner**: one ``recommender.path_planner.PathPlanner`` per process over the open catalogue
  (``features.catalogue.load_catalogue`` of today and the sessions to come: the catalogue the recommender is
  built on), with French ESCO labels where ``features.esco_fr`` has them (English otherwise). It is built at the
  first request that needs it and kept on the application state (``served_planner``); it is rebuilt when the
  served recommender changes (start, ``POST /v1/admin/model/reload``) and when the day changes (the sessions
  open "today" move with it). Requests in flight keep the planner they started with.
- **The target**: an ESCO occupation URI or free text, resolved as the preferences resolve it
  (``serving.services.preferences.resolve_target_occupation``: the matcher, refused when unsure); an unknown
  or unsure target raises ``UnknownOccupation`` with the closest occupations (404 with suggestions).
- **The profile**: the stored skills profile (``stored_skill_weights``), also for a holder who switched
  personalisation off: a path is asked for one target, like ``/skill-gap``, not proposed by the recommender.
- **The budget**: by default the holder's CPF + CEC balances (what rights can pay; the planner adds nothing
  else), and on top of it every top-up granted for a training without a file yet (``usable_topups`` →
  ``PathTopUp``): a top-up costs the holder nothing, so it widens what the path can hold without counting
  against the budget. ``budget_cents`` sent replaces the rights part only (0: only trainings that are free or
  fully covered by top-ups).
- **The most out of pocket** the holder set in their preferences bounds their own money over a path (flat
  participations included) and adds to the default budget (``PathRequest.max_out_of_pocket_cents``), whether
  or not they personalise: it is money, not a taste. ``budget_cents`` sent replaces it, so an adviser can show
  what a larger effort would open.

Who: the holder, an admin, or an adviser with the holder's active consent (``authorise_holder_read``, audited).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from features.catalogue import load_catalogue
from features.esco_fr import display_label, display_labels
from parcours.errors import ValidationFailed
from parcours.store.models import Holder, TrainingSession
from parcours.store.supporting_models import TopUp
from recommender.base import HolderContext
from recommender.path_planner import (
    CareerPath,
    OccupationSuggestion,
    PathPlan,
    PathPlanner,
    PathRequest,
    PathTopUp,
    PlannedStep,
    UnknownOccupation,
)
from serving.services.holders import holder_context, stored_skill_weights, today
from serving.services.preferences import resolve_target_occupation
from serving.services.topups import usable_topups

MAX_STEPS = 6  # what the API lets a caller ask for (the planner allows up to 8)
DEFAULT_STEPS = 4
TIME_LIMIT_S = 1.0  # one deadline for every solve of a request, then the greedy path

# --- The planner served by this process --------------------------------------------------------------------


def build_planner(factory: sessionmaker[Session], on: dt.date) -> PathPlanner:
    """A planner over the trainings open on ``on`` and their sessions from ``on`` (the recommender's catalogue)."""
    with factory() as session:
        catalogue = load_catalogue(session, today=on)
        sessions = pd.DataFrame(
            session.execute(select(TrainingSession.training_id, TrainingSession.start_date)
                            .where(TrainingSession.start_date >= on)).all(),
            columns=["training_id", "start_date"])
    return PathPlanner.from_frame(catalogue, sessions, skill_labels=display_labels("skill"),
                                  occupation_labels=display_labels("occupation"))


@dataclass(frozen=True)
class ServedPlanner:
    planner: PathPlanner
    day: dt.date
    recommender: object  # the recommender state it was built alongside: a reload replaces that object


class PlannerSlot:
    """The application's planner, built once and rebuilt when the served recommender or the day changes."""

    def __init__(self, build: Callable[[sessionmaker[Session], dt.date], PathPlanner] = build_planner) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._current: ServedPlanner | None = None

    def get(self, factory: sessionmaker[Session], recommender: object, on: dt.date) -> ServedPlanner:
        current = self._current
        if current is not None and current.day == on and current.recommender is recommender:
            return current
        with self._lock:  # one build at a time; the others wait for it and take it
            current = self._current
            if current is None or current.day != on or current.recommender is not recommender:
                current = ServedPlanner(self._build(factory, on), on, recommender)
                self._current = current
            return current


_SLOT_LOCK = threading.Lock()


def served_planner(state: Any) -> ServedPlanner:
    """The planner of the application whose state is ``state`` (``session_factory``, ``recommender``); its
    slot is kept as ``state.path_planner``."""
    slot = getattr(state, "path_planner", None)
    if slot is None:
        with _SLOT_LOCK:
            slot = getattr(state, "path_planner", None)
            if slot is None:
                slot = PlannerSlot()
                state.path_planner = slot
    return slot.get(state.session_factory, getattr(state, "recommender", None), today())  # type: ignore[no-any-return]


# --- Target and holder ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    uri: str
    label: str
    score: float  # 1 for a URI; the matcher's score for free text


def resolve_target(planner: PathPlanner, text: str) -> Target:
    """A URI or free text → the occupation the planner plans for; ``UnknownOccupation`` with close occupations
    for an unknown URI, text matching nothing surely, or an occupation without skills in the table."""
    try:
        chosen = resolve_target_occupation(text)
    except ValidationFailed as exc:
        offered = [p["suggestions"] for p in exc.problems if "suggestions" in p]
        if not offered:
            raise  # not about the occupation (empty text, too long): 422
        close: list[dict[str, Any]] = list(offered[0]) if isinstance(offered[0], list) else []
        suggestions = [
            OccupationSuggestion(str(s["uri"]), display_label(str(s["uri"]), "occupation", str(s["label"])),
                                 float(s["score"]))
            for s in close
            if str(s["uri"]) in planner.occupations
        ]
        raise UnknownOccupation(text.strip(), suggestions) from exc
    if chosen.uri not in planner.occupations:
        raise UnknownOccupation(text.strip(), [])
    return Target(chosen.uri, display_label(chosen.uri, "occupation", chosen.label), float(chosen.score))


def planning_context(session: Session, holder: Holder) -> HolderContext:
    """The holder as the planner sees them: balances, trainings taken, and the stored profile (even with
    personalisation off: the gap towards a target the caller names is the profile's, as ``/skill-gap`` says)."""
    context = holder_context(session, holder)
    if not context.skill_weights:
        context = dataclasses.replace(context, skill_weights=stored_skill_weights(session, holder.holder_id))
    return context


def waiting_topups(session: Session, holder_id: str) -> tuple[PathTopUp, ...]:
    """The top-ups granted to the holder for a training they have no file for yet, with money waiting."""
    trainings = session.scalars(
        select(TopUp.training_id).where(TopUp.holder_id == holder_id, TopUp.released.is_(False),
                                        TopUp.enrolment_id.is_(None)).distinct().order_by(TopUp.training_id))
    return tuple(
        PathTopUp(training_id=str(training_id), amount_cents=int(u.available_cents),
                  funder_kind=str(u.topup.funder_kind), spend_before_rights=bool(u.topup.spend_before_rights))
        for training_id in trainings
        for u in usable_topups(session, holder_id=holder_id, training_id=str(training_id), enrolment_id=None)
    )


# --- The answer ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkillRef:
    uri: str
    label: str


@dataclass(frozen=True)
class GapSkillView:
    uri: str
    label: str
    importance: float
    held: float
    essential: bool
    weight: float


@dataclass(frozen=True)
class StepCost:
    topups_cents: int
    cpf_cents: int
    cec_cents: int
    participation_cents: int
    out_of_pocket_cents: int


@dataclass(frozen=True)
class StepView:
    training_id: str
    title: str
    session_start: dt.date
    session_end: dt.date
    hours: float
    price_cents: int
    cost: StepCost
    skills_gained: list[SkillRef]
    reasons: list[str]
    modality: str
    region_code: str


@dataclass(frozen=True)
class PathView:
    kinds: list[str]
    training_ids: list[str]
    steps: list[StepView]
    price_cents: int
    total_cost_cents: int
    topups_cents: int
    cpf_cents: int
    cec_cents: int
    participation_cents: int
    out_of_pocket_cents: int
    hours: float
    start: dt.date | None
    end: dt.date | None
    skills_gained: list[SkillRef]
    remaining_gap: list[SkillRef]
    gap_coverage: float
    solver: str
    notes: list[str]


@dataclass(frozen=True)
class PathsView:
    holder_id: str
    target: Target
    budget_cents: int
    max_out_of_pocket_cents: int | None
    topups_cents: int
    gap: list[GapSkillView]
    message: str
    solver_status: str
    elapsed_ms: float
    paths: list[PathView]


def _skills(planner: PathPlanner, uris: tuple[str, ...]) -> list[SkillRef]:
    return [SkillRef(uri, planner.skill_label(uri)) for uri in uris]


def _step(planner: PathPlanner, step: PlannedStep) -> StepView:
    return StepView(
        training_id=step.training_id, title=step.title, session_start=step.session_start,
        session_end=step.session_end, hours=step.hours, price_cents=step.price_cents,
        cost=StepCost(step.topups_cents, step.cpf_cents, step.cec_cents, step.participation_cents,
                      step.out_of_pocket_cents),
        skills_gained=_skills(planner, step.skills_gained), reasons=list(step.reasons), modality=step.modality,
        region_code=step.region_code,
    )


def path_view(planner: PathPlanner, path: CareerPath) -> PathView:
    return PathView(
        kinds=list(path.kinds), training_ids=list(path.training_ids),
        steps=[_step(planner, s) for s in path.steps], price_cents=path.price_cents,
        total_cost_cents=path.total_cost_cents, topups_cents=path.topups_cents, cpf_cents=path.cpf_cents,
        cec_cents=path.cec_cents, participation_cents=path.participation_cents,
        out_of_pocket_cents=path.out_of_pocket_cents, hours=path.hours, start=path.start, end=path.end,
        skills_gained=_skills(planner, path.skills_gained), remaining_gap=_skills(planner, path.remaining_gap),
        gap_coverage=path.gap_coverage, solver=path.solver, notes=list(path.notes),
    )


def _view(planner: PathPlanner, plan: PathPlan, target: Target, topups: tuple[PathTopUp, ...],
          ceiling: int | None) -> PathsView:
    return PathsView(
        holder_id=plan.holder_id, target=target, budget_cents=plan.budget_cents, max_out_of_pocket_cents=ceiling,
        topups_cents=sum(t.amount_cents for t in topups),
        gap=[GapSkillView(g.skill_uri, g.label, g.importance, g.held, g.essential, round(g.weight, 6))
             for g in plan.gap],
        message=plan.message, solver_status=plan.solver_status, elapsed_ms=round(plan.elapsed_ms, 1),
        paths=[path_view(planner, p) for p in plan.paths],
    )


def plan_paths(
    session: Session,
    planner: PathPlanner,
    holder: Holder,
    target_text: str,
    *,
    max_steps: int = DEFAULT_STEPS,
    max_hours: float | None = None,
    budget_cents: int | None = None,
) -> PathsView:
    """The best path for ``holder`` towards the target and its distinct alternatives (most complete, cheapest,
    shortest), priced step by step with the holder's balances and waiting top-ups, explained in French."""
    if not 1 <= max_steps <= MAX_STEPS:
        raise ValidationFailed([{"field": "max_steps", "message": f"must be between 1 and {MAX_STEPS}"}])
    target = resolve_target(planner, target_text)
    context = planning_context(session, holder)
    topups = waiting_topups(session, holder.holder_id)
    defaults = PathRequest()
    ceiling = holder.max_out_of_pocket_cents if budget_cents is None else None
    request = PathRequest(
        target_occupation=target.uri, budget_cents=budget_cents, max_out_of_pocket_cents=ceiling, max_steps=max_steps,
        max_hours=defaults.max_hours if max_hours is None else float(max_hours), today=today(), topups=topups,
        time_limit_s=TIME_LIMIT_S,
    )
    return _view(planner, planner.plan(context, request), target, topups, ceiling)
