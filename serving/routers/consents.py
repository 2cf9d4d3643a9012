"""A holder's consents to advisers, and an adviser's list of the holders who consent to them (issue 14)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from serving.deps import CurrentUser, DbId, HolderIdPath, SessionDep
from serving.routers.idempotent import IDEMPOTENCY_RESPONSES, IdempotencyKeyHeader, run_idempotent
from serving.schemas.errors import WRITE, responses
from serving.services.consents import (
    ConsentView,
    consenting_holders,
    grant_consent,
    list_consents,
    revoke_consent,
)

router = APIRouter(prefix="/v1", tags=["consents"])

_GRANTED = "2026-11-28T09:00:00Z"
_EXPIRES = "2027-05-28T00:00:00Z"


class ConsentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"adviser": "adviser", "expires_at": _EXPIRES}, {"adviser": "adviser"}]},
    )

    adviser: str = Field(min_length=1, max_length=150, description="Username of the adviser (role adviser)")
    expires_at: dt.datetime | None = Field(
        default=None,
        description="When the consent ends by itself (ISO 8601, in the future; without offset: UTC). "
        "Empty: until revoked.",
    )


class ConsentPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "consent_id": 7,
                    "holder_id": "H000001",
                    "adviser": "adviser",
                    "granted_at": _GRANTED,
                    "expires_at": _EXPIRES,
                    "revoked_at": None,
                    "active": True,
                }
            ]
        }
    )

    consent_id: int
    holder_id: str
    adviser: str
    granted_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    active: bool = Field(description="True while not revoked and not expired: the adviser may see the holder's data")


class ConsentingHolderPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"holder_id": "H000001", "consent_id": 7, "granted_at": _GRANTED, "expires_at": _EXPIRES}
            ]
        }
    )

    holder_id: str
    consent_id: int
    granted_at: dt.datetime
    expires_at: dt.datetime | None = Field(description="Empty: until the holder revokes it")


def _public(view: ConsentView) -> ConsentPublic:
    return ConsentPublic(**vars(view))


@router.post(
    "/holders/{holder_id}/consents",
    response_model=ConsentPublic,
    status_code=201,
    summary="Let an adviser see the holder's data, until revoked or expired (the holder or an admin)",
    responses=responses(*WRITE, _403="not this holder",
                        _409="a consent to this adviser is already active",
                        _422="not an adviser, or an expiry not in the future"),
)
def post_consent(holder_id: HolderIdPath, body: ConsentCreate, user: CurrentUser, request: Request,
                 idempotency_key: IdempotencyKeyHeader = None) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        view = grant_consent(session, user, holder_id, body.adviser, body.expires_at)
        return 201, _public(view).model_dump(mode="json")

    return run_idempotent(request, user, idempotency_key, body, operation, required=False)


@router.get(
    "/holders/{holder_id}/consents",
    response_model=list[ConsentPublic],
    summary="The holder's consents, newest first (the holder or an admin)",
    responses=responses(401, 403, 404, 422),
)
def get_consents(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep) -> list[ConsentPublic]:
    return [_public(v) for v in list_consents(session, user, holder_id)]


@router.post(
    "/holders/{holder_id}/consents/{consent_id}/revoke",
    response_model=ConsentPublic,
    summary="End a consent now: the adviser's next request is refused (the holder or an admin)",
    responses=IDEMPOTENCY_RESPONSES,
)
def post_revoke(holder_id: HolderIdPath, consent_id: DbId, user: CurrentUser, request: Request,
                idempotency_key: IdempotencyKeyHeader = None) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        return 200, _public(revoke_consent(session, user, holder_id, consent_id)).model_dump(mode="json")

    return run_idempotent(request, user, idempotency_key, None, operation, required=False)


@router.get(
    "/advisers/me/holders",
    response_model=list[ConsentingHolderPublic],
    summary="The holders who currently consent to the signed-in adviser, with the consent's expiry",
    responses=responses(401, 403),
)
def get_my_holders(user: CurrentUser, session: SessionDep) -> list[ConsentingHolderPublic]:
    return [ConsentingHolderPublic(**vars(h)) for h in consenting_holders(session, user)]
