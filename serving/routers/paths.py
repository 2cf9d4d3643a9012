"""Career paths over HTTP (issue 14): ordered trainings towards a target occupation, priced and explained."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from recommender.path_planner import UnknownOccupation
from serving.deps import CurrentUser, HolderIdPath, SessionDep
from serving.schemas.errors import responses
from serving.schemas.types import WholeInt
from serving.services.access import authorise_holder_read
from serving.services.paths import DEFAULT_STEPS, MAX_STEPS, plan_paths, served_planner

router = APIRouter(prefix="/v1/holders", tags=["career paths"])

_ACCOUNTING_MANAGER = "http://data.europa.eu/esco/occupation/04f39bfa-bc03-4480-98bc-b18ce4fe4b4b"
_SKILL = "http://data.europa.eu/esco/skill/c5b90c0c-3af0-4c8c-a06c-cc3ced02242c"
_SKILL_LABEL = "assurer des activités de comptabilité analytique"
MAX_HOURS = 5000.0
MAX_BUDGET_CENTS = 1_000_000_000  # 10 million euros: anything above is a typing error


class PathCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"target_occupation": "responsable comptable", "max_steps": 4},
            {"target_occupation": _ACCOUNTING_MANAGER, "max_steps": 3, "max_hours": 300, "budget_cents": 150_000},
            {"target_occupation": "accounting manager", "budget_cents": 0},
        ]},
    )

    target_occupation: str = Field(min_length=1, max_length=200,
                                   description="An ESCO occupation URI, or free text matched to one (French or "
                                               "English); an unknown or unsure target is 404 with suggestions")
    max_steps: WholeInt = Field(default=DEFAULT_STEPS, ge=1, le=MAX_STEPS, description="At most this many trainings")
    max_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS,
                                    description="At most this many training hours in all (empty: 600)")
    budget_cents: WholeInt | None = Field(
        default=None, ge=0, le=MAX_BUDGET_CENTS,
        description="What the path may cost the holder: rights used plus own money, flat participations included "
                    "(empty: the holder's CPF + CEC balances, plus their most out of pocket when they set one, "
                    "which then bounds their own money over the path). Top-ups waiting for a training come on top. "
                    "0: only trainings that are free or fully covered by top-ups. Sent, it replaces the holder's "
                    "most out of pocket: an adviser can explore beyond it")


class Attributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TargetPublic(Attributes):
    uri: str = Field(description="The ESCO occupation planned for")
    label: str = Field(description="Its label, in French when ESCO has one")
    score: float = Field(description="1 for a URI given; the match score for free text")


class SkillRefPublic(Attributes):
    uri: str
    label: str


class GapSkillPublic(Attributes):
    uri: str
    label: str
    importance: float = Field(description="Link weight of the skill for the occupation, in (0, 1]")
    held: float = Field(description="The profile's weight for it (below the held threshold, 0.5)")
    essential: bool = Field(description="One of the occupation's best-linked skills")
    weight: float = Field(description="What covering it is worth: importance × (1 − held), halved when optional")


class StepCostPublic(Attributes):
    topups_cents: int = Field(description="Top-ups spent (employer, OPCO, region, France Travail, the holder)")
    cpf_cents: int = Field(description="CPF rights used")
    cec_cents: int = Field(description="CEC rights used")
    participation_cents: int = Field(description="Flat participation (decree 2024-394), when it applies")
    out_of_pocket_cents: int = Field(description="What the holder pays: price not covered + participation")


class StepPublic(Attributes):
    training_id: str
    title: str
    session_start: dt.date
    session_end: dt.date
    hours: float
    price_cents: int
    cost: StepCostPublic
    skills_gained: list[SkillRefPublic] = Field(description="Skills of the gap this step covers first")
    reasons: list[str] = Field(description="Why this step, in French")
    modality: str = Field(description="onsite, remote or hybrid", examples=["onsite"])
    region_code: str = Field(description="INSEE region code where it is given (empty: unknown)", examples=["11"])


class PathPublic(Attributes):
    kinds: list[str] = Field(description="Which objectives chose it: best, most_complete, cheapest, shortest "
                                         "(greedy on the fallback)")
    training_ids: list[str] = Field(description="The steps' training ids, in order")
    steps: list[StepPublic]
    price_cents: int
    total_cost_cents: int = Field(description="Every euro the path costs, whoever pays: prices + participations")
    topups_cents: int
    cpf_cents: int
    cec_cents: int
    participation_cents: int
    out_of_pocket_cents: int = Field(description="What the holder pays in all")
    hours: float
    start: dt.date | None
    end: dt.date | None
    skills_gained: list[SkillRefPublic]
    remaining_gap: list[SkillRefPublic] = Field(description="Gap skills no step covers")
    gap_coverage: float = Field(description="Weighted share of the gap covered, 0..1")
    solver: str = Field(description="milp (exact) or greedy (fallback)")
    notes: list[str]


class PathsPublic(Attributes):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{
            "holder_id": "H000001",
            "target": {"uri": _ACCOUNTING_MANAGER, "label": "directeur comptable/directrice comptable", "score": 1.0},
            "budget_cents": 363_620, "max_out_of_pocket_cents": None, "topups_cents": 0,
            "gap": [{"uri": _SKILL, "label": _SKILL_LABEL, "importance": 0.91, "held": 0.0,
                     "essential": True, "weight": 0.91}],
            "message": "2 parcours proposés.", "solver_status": "optimal", "elapsed_ms": 48.2,
            "paths": [{
                "kinds": ["best", "most_complete"], "training_ids": ["T000024"],
                "steps": [{
                    "training_id": "T000024", "title": "Comptabilité et gestion", "session_start": "2027-01-04",
                    "session_end": "2027-02-08", "hours": 140.0, "price_cents": 180_000,
                    "cost": {"topups_cents": 0, "cpf_cents": 180_000, "cec_cents": 0,
                             "participation_cents": 10_223, "out_of_pocket_cents": 10_223},
                    "skills_gained": [{"uri": _SKILL, "label": _SKILL_LABEL}],
                    "reasons": [f"Apporte 1 compétence visée : {_SKILL_LABEL}",
                                "Reste à charge : 102,23 € (participation forfaitaire)", "Dans votre région"],
                    "modality": "onsite", "region_code": "11"}],
                "price_cents": 180_000, "total_cost_cents": 190_223, "topups_cents": 0, "cpf_cents": 180_000,
                "cec_cents": 0, "participation_cents": 10_223, "out_of_pocket_cents": 10_223, "hours": 140.0,
                "start": "2027-01-04", "end": "2027-02-08",
                "skills_gained": [{"uri": _SKILL, "label": _SKILL_LABEL}], "remaining_gap": [],
                "gap_coverage": 0.24, "solver": "milp", "notes": []}],
        }]},
    )

    holder_id: str
    target: TargetPublic
    budget_cents: int = Field(description="What the paths may cost the holder (rights and own money)")
    max_out_of_pocket_cents: int | None = Field(
        default=None, examples=[50_000],
        description="The holder's most out of pocket (their preferences) when it bounded these paths: no path "
                    "costs the holder more of their own money, flat participations included. Null: none set, or "
                    "budget_cents was sent")
    topups_cents: int = Field(description="Top-ups waiting for given trainings, usable on top of the budget")
    gap: list[GapSkillPublic] = Field(description="The target's skills the profile lacks, most important first")
    message: str = Field(description="For the adviser or holder, in French; says why when there is no path")
    solver_status: str
    elapsed_ms: float
    paths: list[PathPublic] = Field(description="The best path first, then distinct alternatives")


class SuggestionPublic(BaseModel):
    uri: str
    label: str
    score: float


class UnknownTargetPublic(BaseModel):
    message: str
    suggestions: list[SuggestionPublic]


class UnknownTargetAnswer(BaseModel):
    detail: UnknownTargetPublic | str = Field(description="An unknown target: a message and suggestions; an "
                                                          "unknown holder: a text")


def unknown_target(exc: UnknownOccupation) -> HTTPException:
    """404 with the close occupations to choose from (their URI is a valid target)."""
    message = (f"Métier visé inconnu ou incertain : « {exc.target} »."
               + (" Choisissez l'un des métiers proposés." if exc.suggestions else ""))
    return HTTPException(status_code=404, detail={
        "message": message,
        "suggestions": [{"uri": s.uri, "label": s.label, "score": round(s.score, 4)} for s in exc.suggestions],
    })


@router.post(
    "/{holder_id}/paths",
    response_model=PathsPublic,
    summary="Career paths towards a target occupation: ordered trainings in real sessions, priced with the "
            "holder's rights and top-ups (the holder, an admin, or an adviser with consent)",
    responses=responses(400, 401, 413, 422, _403="not this holder, or no active consent",
                        _404={"model": UnknownTargetAnswer,
                              "description": "unknown holder (detail: a text), or unknown / unsure target "
                                             "occupation (detail: a message and suggestions)"}),
)
def post_paths(holder_id: HolderIdPath, body: PathCreate, user: CurrentUser, session: SessionDep,
               request: Request) -> PathsPublic:
    holder = authorise_holder_read(session, user, holder_id, "plan-paths", f"/holders/{holder_id}/paths")
    planner = served_planner(request.app.state).planner
    try:
        view = plan_paths(session, planner, holder, body.target_occupation, max_steps=body.max_steps,
                          max_hours=body.max_hours, budget_cents=body.budget_cents)
    except UnknownOccupation as exc:
        raise unknown_target(exc) from exc
    return PathsPublic.model_validate(view)
