"""The occupation explorer (issue 14): where could the holder go from their skills profile."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.deps import CurrentUser, HolderIdPath, SessionDep
from serving.schemas.errors import responses
from serving.services.access import authorise_holder_read
from serving.services.occupations import MAX_K, near_occupations
from serving.services.paths import served_planner

router = APIRouter(prefix="/v1/holders", tags=["career paths"])

_FINANCIAL_CONTROLLER = "http://data.europa.eu/esco/occupation/5e5b1b61-1351-4d3b-a293-deb3661715dd"


class Attributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TypicalPathPublic(Attributes):
    kind: str = Field(description="cheapest (the planner's cheapest path), or most_complete when there is none")
    steps: int
    hours: float
    total_cost_cents: int
    out_of_pocket_cents: int = Field(description="What the holder would pay on that path")
    gap_coverage: float = Field(description="Weighted share of the gap that path covers")


class NearOccupationPublic(Attributes):
    uri: str
    label: str = Field(description="In French when ESCO has one")
    coverage: float = Field(description="Share of the occupation's skill weight the profile holds (the ranking)")
    skills_held: int
    missing_skills: int = Field(description="The occupation's skills the profile does not hold")
    gap_share: float = Field(description="Weighted share of the occupation's skills missing")
    is_target: bool = Field(description="The holder's target occupation")
    typical_path: TypicalPathPublic | None = Field(
        description="The planner's cheapest path there (empty: no open training leads there, or time ran out)")
    typical_path_status: Literal["found", "no_path", "not_computed"] = Field(
        description="found; no_path: no open training leads there within the holder's budget; not_computed: the "
                    "answer's time for typical paths ran out before this occupation")


class NearOccupationsPublic(Attributes):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{
            "holder_id": "H000003", "n_profile_skills": 42,
            "method": "coverage = share of the occupation's skill weight held by the profile; …",
            "items": [{"uri": _FINANCIAL_CONTROLLER, "label": "contrôleur financier/contrôleuse financière",
                       "coverage": 0.61, "skills_held": 14, "missing_skills": 11, "gap_share": 0.36,
                       "is_target": True, "typical_path_status": "found",
                       "typical_path": {"kind": "cheapest", "steps": 1, "hours": 70.0, "total_cost_cents": 130_223,
                                        "out_of_pocket_cents": 10_223, "gap_coverage": 0.12}}],
        }]},
    )

    holder_id: str
    n_profile_skills: int = Field(description="Skills the profile holds (weight ≥ 0.5)")
    method: str = Field(description="How the occupations are scored and the typical path chosen")
    items: list[NearOccupationPublic]


@router.get(
    "/{holder_id}/occupations",
    response_model=NearOccupationsPublic,
    summary="Occupations close to the holder's skills profile, with the gap and a typical path's cost "
            "(the holder, an admin, or an adviser with consent)",
    responses=responses(401, 404, 422, _403="not this holder, or no active consent"),
)
def get_occupations(
    holder_id: HolderIdPath, user: CurrentUser, session: SessionDep, request: Request,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many occupations")] = 10,
) -> NearOccupationsPublic:
    holder = authorise_holder_read(session, user, holder_id, "explore-occupations",
                                   f"/holders/{holder_id}/occupations")
    planner = served_planner(request.app.state).planner
    return NearOccupationsPublic.model_validate(near_occupations(session, planner, holder, k))
