"""Citizen engagement account (purpose 8): declarations by the holder, decisions by the organisation, the
yearly credit run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.orm import Session

from parcours.store.supporting_models import CEC_ACTIVITIES
from serving.deps import CurrentUser, DbId, HolderIdPath, SessionDep, require_role
from serving.routers.idempotent import (
    IDEMPOTENCY_RESPONSES,
    IdempotencyKeyRequired,
    Strict,
    TodayDep,
    actor_of,
    run_idempotent,
)
from serving.schemas.cec import CreditRunPublic, DeclarationListPublic, DeclarationPublic
from serving.schemas.errors import responses
from serving.schemas.types import WholeInt
from serving.services import cec
from serving.services.access import authorise_holder_read

router = APIRouter(tags=["cec"])


class DeclarationBody(Strict):
    activity_kind: str = Field(description=f"One of {', '.join(CEC_ACTIVITIES)}",
                               json_schema_extra={"enum": list(CEC_ACTIVITIES)})
    activity_year: WholeInt = Field(ge=1900, le=9999)
    organisation_id: str = Field(min_length=1, max_length=64)
    hours: WholeInt | None = Field(
        None, ge=0, le=10_000, description="Association volunteering: hours there"
    )
    days: WholeInt | None = Field(None, ge=0, le=366, description="Military reserve: days in the year")
    months: WholeInt | None = Field(None, ge=0, le=120, description="Civic service: months")


class CreditRunBody(Strict):
    activity_year: WholeInt = Field(ge=1900, le=9999)


@router.post(
    "/v1/holders/{holder_id}/cec/declarations",
    status_code=201,
    response_model=DeclarationPublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="The holder declares a volunteer or civic activity of a past year",
)
def declare(
    holder_id: HolderIdPath,
    body: DeclarationBody,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    actor = actor_of(user)

    def operation(session: Session) -> tuple[int, Any]:
        declaration = cec.declare_activity(
            session, actor=actor, holder_id=holder_id, on=today, **body.model_dump()
        )
        return 201, cec.declaration_view(declaration)

    return run_idempotent(request, user, idempotency_key, body, operation)


@router.get("/v1/holders/{holder_id}/cec/declarations", response_model=DeclarationListPublic,
            responses=responses(401, 403, 404, 422), summary="The holder's CEC declarations")
def list_declarations(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep) -> dict[str, object]:
    authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/cec/declarations")
    return {"items": cec.holder_declarations(session, holder_id)}


def _decide(
    declaration_id: int, request: Request, user: CurrentUser, today: Any, key: str, validate: bool
) -> Response:
    actor = actor_of(user)

    def operation(session: Session) -> tuple[int, Any]:
        return 200, cec.declaration_view(
            cec.decide_declaration(session, declaration_id, actor=actor, on=today, validate=validate)
        )

    return run_idempotent(request, user, key, None, operation)


@router.post(
    "/v1/cec/declarations/{declaration_id}/validate",
    response_model=DeclarationPublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="The organisation validates a declaration (role funder with the organisation's id, or admin)",
)
def validate(
    declaration_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    return _decide(declaration_id, request, user, today, idempotency_key, True)


@router.post(
    "/v1/cec/declarations/{declaration_id}/reject",
    response_model=DeclarationPublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="The organisation rejects a declaration",
)
def reject(
    declaration_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    return _decide(declaration_id, request, user, today, idempotency_key, False)


@router.post(
    "/v1/cec/credits",
    status_code=201,
    response_model=CreditRunPublic,
    responses=IDEMPOTENCY_RESPONSES,
    dependencies=[require_role("admin")],
    summary="Credit 240 € per eligible activity of a year (ceiling 720 €); each activity once",
)
def credit_year(
    body: CreditRunBody,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        credited = cec.credit_cec_year(
            session, activity_year=body.activity_year, on=today, actor=user.username
        )
        return 201, {
            "activity_year": body.activity_year,
            "credited_cents": credited,
            "total_cents": sum(credited.values()),
        }

    return run_idempotent(request, user, idempotency_key, body, operation)
