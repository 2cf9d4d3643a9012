"""Declared experience and the skills profile (purpose 9): what the holder knows, and why we think so."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from features.esco_fr import display_label
from features.profile.gap import skill_gap
from features.profile.recompute import ensure_profile
from parcours.store.models import EXPERIENCE_KINDS, Experience
from serving.deps import CurrentUser, DbId, HolderIdPath, SessionDep
from serving.routers.idempotent import IDEMPOTENCY_RESPONSES, IdempotencyKeyHeader, run_idempotent
from serving.schemas.errors import responses
from serving.schemas.types import Day, NonBlank, not_null
from serving.services.access import authorise_holder_read
from serving.services.catalogue import training_titles
from serving.services.experience import (
    ExperienceInput,
    add_experience,
    authorise_holder_write,
    delete_experience,
    edit_experience,
    exclude_skill,
    list_experience,
)

router = APIRouter(prefix="/v1/holders", tags=["skills profile"])


def _kinds_not_null(schema: dict[str, Any]) -> None:
    not_null(schema)
    schema["enum"] = list(EXPERIENCE_KINDS)


class ExperienceCreate(BaseModel):
    kind: str = Field(description="job, diploma, certification, training, volunteering or skill",
                      json_schema_extra={"enum": list(EXPERIENCE_KINDS)})
    label: str = Field(description="Free text as the holder writes it, e.g. 'accountant'", min_length=1,
                       max_length=500, pattern=NonBlank)
    start_date: Day
    end_date: Day | None = Field(default=None, description="Empty while ongoing")
    esco_uri: str | None = Field(default=None, description="Optional ESCO occupation or skill URI")


class ExperiencePatch(BaseModel):
    """The fields sent change; null clears end_date or esco_uri (kind, label and start_date cannot be cleared)."""

    kind: str | None = Field(default=None, json_schema_extra=_kinds_not_null)
    label: str | None = Field(default=None, min_length=1, max_length=500, pattern=NonBlank,
                              json_schema_extra=not_null)
    start_date: Day | None = Field(default=None, json_schema_extra=not_null)
    end_date: Day | None = None
    esco_uri: str | None = None

    @field_validator("kind", "label", "start_date", mode="before")
    @classmethod
    def _sent_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be cleared: leave the field out to keep it")
        return value


class ExperiencePublic(BaseModel):
    experience_id: int
    kind: str
    label: str
    esco_uri: str | None
    start_date: dt.date
    end_date: dt.date | None
    source: str


class EvidencePublic(BaseModel):
    weight: float
    source: str
    experience_id: int | None
    training_id: str | None
    training_title: str | None = Field(None, description="The title of the completed training (``training_id``)")
    via_uri: str | None
    confidence: float
    low_confidence: bool


class SkillPublic(BaseModel):
    skill_uri: str
    label: str
    weight: float
    source: str
    evidence: list[EvidencePublic]


class SkillsPublic(BaseModel):
    holder_id: str
    n_skills: int
    model_id: str | None
    skills: list[SkillPublic]


class GapItemPublic(BaseModel):
    skill_uri: str
    label: str
    importance: float
    held: float
    gap: float


class SkillGapPublic(BaseModel):
    holder_id: str
    target_uri: str
    target_label: str
    confidence: float
    low_confidence: bool
    coverage: float
    items: list[GapItemPublic]


def _public(row: Experience) -> ExperiencePublic:
    return ExperiencePublic(
        experience_id=row.experience_id,
        kind=row.kind,
        label=row.label,
        esco_uri=row.esco_uri,
        start_date=row.start_date,
        end_date=row.end_date,
        source=row.source,
    )


@router.get(
    "/{holder_id}/experience",
    response_model=list[ExperiencePublic],
    responses=responses(401, 403, 404, 422),
    summary="The holder's declared experience (jobs, diplomas, certifications, trainings, …)",
)
def get_experience(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep) -> list[ExperiencePublic]:
    authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/experience")
    return [_public(r) for r in list_experience(session, holder_id)]


@router.post(
    "/{holder_id}/experience",
    response_model=ExperiencePublic,
    status_code=201,
    responses=IDEMPOTENCY_RESPONSES,
    summary="Declare an experience; the skills profile is recomputed (an Idempotency-Key, when sent, is honoured)",
)
def post_experience(
    holder_id: HolderIdPath,
    body: ExperienceCreate,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        authorise_holder_write(session, user, holder_id, "declare", f"/holders/{holder_id}/experience")
        row = add_experience(
            session,
            holder_id,
            ExperienceInput(body.kind, body.label, body.start_date, body.end_date, body.esco_uri),
        )
        return 201, _public(row).model_dump(mode="json")

    return run_idempotent(request, user, idempotency_key, body, operation, required=False)


@router.patch(
    "/{holder_id}/experience/{experience_id}",
    response_model=ExperiencePublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="Edit a declared experience (verified ones: 409); the profile is recomputed",
)
def patch_experience(
    holder_id: HolderIdPath,
    experience_id: DbId,
    body: ExperiencePatch,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        authorise_holder_write(session, user, holder_id, "edit", f"/holders/{holder_id}/experience/{experience_id}")
        row = edit_experience(session, holder_id, experience_id, body.model_dump(exclude_unset=True))
        return 200, _public(row).model_dump(mode="json")

    # The fields sent, not the defaults: {"end_date": null} clears the end date, {} changes nothing.
    sent = body.model_dump(mode="json", exclude_unset=True)
    return run_idempotent(request, user, idempotency_key, sent, operation, required=False)


@router.delete(
    "/{holder_id}/experience/{experience_id}",
    status_code=204,
    responses=IDEMPOTENCY_RESPONSES,
    summary="Delete a declared experience (verified ones: 409); its skills leave the profile",
)
def remove_experience(
    holder_id: HolderIdPath,
    experience_id: DbId,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        authorise_holder_write(
            session, user, holder_id, "delete", f"/holders/{holder_id}/experience/{experience_id}"
        )
        delete_experience(session, holder_id, experience_id)
        return 204, None

    return run_idempotent(request, user, idempotency_key, None, operation, required=False)


@router.get(
    "/{holder_id}/skills",
    response_model=SkillsPublic,
    responses=responses(401, 403, 404, 422),
    summary="The skills profile with the provenance of every skill (why it is there)",
)
def get_skills(
    holder_id: HolderIdPath,
    user: CurrentUser,
    session: SessionDep,
    k: Annotated[int, Query(ge=1, le=1000, description="At most this many skills")] = 100,
) -> SkillsPublic:
    authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/skills")
    profile = ensure_profile(session, holder_id)
    top = profile.top(k)
    titles = training_titles(session, [e.training_id for s in top for e in s.evidence if e.training_id])
    skills = [
        SkillPublic(
            skill_uri=s.skill_uri,
            label=display_label(s.skill_uri, "skill", s.label),
            weight=s.weight,
            source=s.source,
            evidence=[
                EvidencePublic(
                    weight=e.weight,
                    source=e.source,
                    experience_id=e.experience_id,
                    training_id=e.training_id,
                    training_title=titles.get(e.training_id) if e.training_id else None,
                    via_uri=e.via_uri,
                    confidence=e.confidence,
                    low_confidence=e.low_confidence,
                )
                for e in s.evidence
            ],
        )
        for s in top
    ]
    return SkillsPublic(
        holder_id=holder_id, n_skills=len(profile.skills), model_id=profile.model_id, skills=skills
    )


@router.delete(
    "/{holder_id}/skills",
    status_code=204,
    responses=IDEMPOTENCY_RESPONSES,
    summary="Remove a declared skill from the profile (verified skills: 409)",
)
def remove_skill(
    holder_id: HolderIdPath,
    request: Request,
    user: CurrentUser,
    uri: Annotated[str, Query(max_length=300, description="ESCO skill URI to remove")],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        authorise_holder_write(session, user, holder_id, "remove-skill", f"/holders/{holder_id}/skills")
        exclude_skill(session, holder_id, uri, user.username)
        return 204, None

    return run_idempotent(request, user, idempotency_key, {"uri": uri}, operation, required=False)


@router.get(
    "/{holder_id}/skill-gap",
    response_model=SkillGapPublic,
    responses=responses(401, 403, 404, 422),
    summary="Skills of a target occupation the holder lacks, weighted by importance",
)
def get_skill_gap(
    holder_id: HolderIdPath,
    user: CurrentUser,
    session: SessionDep,
    target: Annotated[str, Query(min_length=1, max_length=500, pattern=NonBlank,
                                 description="ESCO occupation URI or free text")],
    k: Annotated[int, Query(ge=1, le=200)] = 25,
) -> SkillGapPublic:
    authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/skill-gap")
    gap = skill_gap(session, holder_id, target)
    return SkillGapPublic(
        holder_id=holder_id,
        target_uri=gap.target_uri,
        target_label=display_label(gap.target_uri, "occupation", gap.target_label),
        confidence=gap.confidence,
        low_confidence=gap.low_confidence,
        coverage=gap.coverage,
        items=[GapItemPublic(**{**vars(i), "label": display_label(i.skill_uri, "skill", i.label)})
               for i in gap.items[:k]],
    )
