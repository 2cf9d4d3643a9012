"""A holder's preferences: target occupation, modality, region, maximum out-of-pocket, personalisation (issue 14).

There is no create: every holder has preferences (all empty, personalisation on) from the start.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from parcours.domain.regions import REGION_NAMES
from serving.deps import CurrentUser, HolderIdPath, SessionDep
from serving.routers.idempotent import IdempotencyKeyHeader, run_idempotent
from serving.schemas.errors import WRITE, responses
from serving.schemas.types import WholeInt
from serving.services.preferences import MAX_OUT_OF_POCKET_CENTS, Preferences, read_preferences, update_preferences

router = APIRouter(prefix="/v1/holders", tags=["preferences"])

_ACCOUNTANT = "http://data.europa.eu/esco/occupation/eda0d957-3c3c-4139-b89a-a18bc9e18897"


class PreferencesUpdate(BaseModel):
    """The fields sent are set (null clears one); the fields left out keep their value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "target_occupation": "accountant",
                    "preferred_modality": "remote",
                    "preferred_region_code": "84",
                    "max_out_of_pocket_cents": 50_000,
                    "personalisation_enabled": True,
                },
                {"personalisation_enabled": False},
                {"target_occupation": _ACCOUNTANT, "preferred_region_code": None},
            ]
        },
    )

    target_occupation: str | None = Field(
        default=None,
        max_length=200,
        description="An ESCO occupation URI, or free text matched to one (the answer says which, and how sure)",
    )
    preferred_modality: Literal["onsite", "remote", "hybrid"] | None = None
    preferred_region_code: str | None = Field(
        default=None, max_length=8, description="INSEE region code (2016 regions), e.g. '11' for Île-de-France"
    )
    max_out_of_pocket_cents: WholeInt | None = Field(
        default=None, ge=0, le=MAX_OUT_OF_POCKET_CENTS,
        description="The most the holder will pay themself for a training, in integer cents",
    )
    personalisation_enabled: StrictBool = Field(
        default=True, description="false: neutral suggestions (the same for every holder) everywhere"
    )


class TargetOccupationPublic(BaseModel):
    uri: str = Field(description="The ESCO occupation chosen")
    label: str
    score: float = Field(description="1 for a URI given; the match score for free text")
    low_confidence: bool
    matched_from: Literal["uri", "text"]
    text: str | None = Field(description="The free text given, when the target was given as text")


class PreferencesPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "holder_id": "H000001",
                    "target_occupation": {
                        "uri": _ACCOUNTANT,
                        "label": "accountant",
                        "score": 1.0,
                        "low_confidence": False,
                        "matched_from": "text",
                        "text": "accountant",
                    },
                    "preferred_modality": "remote",
                    "preferred_region_code": "84",
                    "preferred_region_name": "Auvergne-Rhône-Alpes",
                    "max_out_of_pocket_cents": 50_000,
                    "personalisation_enabled": True,
                    "updated_at": "2026-11-28T09:00:00Z",
                }
            ]
        }
    )

    holder_id: str
    target_occupation: TargetOccupationPublic | None
    preferred_modality: str | None
    preferred_region_code: str | None
    preferred_region_name: str | None = Field(default=None, description="The preferred region's name, in French",
                                              examples=["Auvergne-Rhône-Alpes"])
    max_out_of_pocket_cents: int | None
    personalisation_enabled: bool
    updated_at: dt.datetime | None


def _public(view: Preferences) -> PreferencesPublic:
    target = view.target_occupation
    region = view.preferred_region_code
    return PreferencesPublic(
        **{**vars(view), "target_occupation": TargetOccupationPublic(**vars(target)) if target else None},
        preferred_region_name=REGION_NAMES.get(region) if region else None,
    )


@router.get(
    "/{holder_id}/preferences",
    response_model=PreferencesPublic,
    summary="The holder's preferences (the holder, an admin, or an adviser with consent)",
    responses=responses(401, 403, 404, 422),
)
def get_preferences(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep) -> PreferencesPublic:
    return _public(read_preferences(session, user, holder_id))


@router.put(
    "/{holder_id}/preferences",
    response_model=PreferencesPublic,
    summary="Change the holder's preferences; the next suggestions use them (the holder or an admin)",
    responses=responses(*WRITE, _422="a field is invalid; an unknown or unsure target occupation "
                                                     "comes with suggestions"),
)
def put_preferences(
    holder_id: HolderIdPath, body: PreferencesUpdate, user: CurrentUser, request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    sent = body.model_dump(exclude_unset=True)

    def operation(session: Session) -> tuple[int, Any]:
        return 200, _public(update_preferences(session, user, holder_id, sent)).model_dump(mode="json")

    return run_idempotent(request, user, idempotency_key, sent, operation, required=False)
