"""Rights and top-ups (purposes 1, 2 and 6): funders, top-ups tied to one file, annual credits from declared
work, corrective top-ups, the eligible top-ups of a training and the holder's CPA view."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field, StrictBool
from sqlalchemy.orm import Session

from parcours.store.supporting_models import REGISTERED_FUNDER_KINDS, WORK_STATUSES
from serving.deps import MAX_DB_ID, CurrentUser, DbId, HolderIdPath, SessionDep, require_role
from serving.routers.idempotent import (
    IDEMPOTENCY_RESPONSES,
    IdempotencyKeyRequired,
    Strict,
    TodayDep,
    actor_of,
    run_idempotent,
)
from serving.schemas.errors import responses
from serving.schemas.rights import (
    AnnualCreditsPublic,
    CorrectiveTopUpPublic,
    CpaPublic,
    EmploymentListPublic,
    EmploymentPublic,
    FunderPublic,
    HolderTopUpsPublic,
    TopUpPublic,
)
from serving.schemas.types import Day, WholeInt
from serving.services import rights, topups
from serving.services.access import authorise_holder_read
from serving.services.accounts import cpa_view
from serving.services.enrolment_funding import estimate_funding

router = APIRouter(tags=["rights"])


class FunderBody(Strict):
    funder_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(description=f"One of {', '.join(REGISTERED_FUNDER_KINDS)}",
                      json_schema_extra={"enum": list(REGISTERED_FUNDER_KINDS)})
    name: str = Field("", max_length=300)
    opco_id: str | None = Field(None, min_length=1, max_length=64,
                                description="An employer: the OPCO of its sector (who may fund what)")
    region_code: str | None = Field(None, min_length=1, max_length=8,
                                    description="A region funder: its INSEE region code (it funds its residents)")


class EmploymentBody(Strict):
    employer_id: str = Field(min_length=1, max_length=64, description="A registered funder of kind employer")
    start_date: Day
    end_date: Day | None = Field(None, description="Last day (inclusive); empty while it lasts")


class TopUpBody(Strict):
    amount_cents: WholeInt = Field(gt=0, le=topups.MAX_TOPUP_CENTS)
    enrolment_id: WholeInt | None = Field(
        None, ge=1, le=MAX_DB_ID, description="The file topped up (before its confirmation)"
    )
    holder_id: str | None = Field(
        None, max_length=64, description="With training_id, when there is no file yet"
    )
    training_id: str | None = Field(None, max_length=64)
    spend_before_rights: StrictBool = Field(False, description="Spend this money before the holder's rights")
    funder_id: str | None = Field(
        None, max_length=64, description="Only for an administrator recording a top-up"
    )


class WorkBody(Strict):
    holder_id: str = Field(min_length=1, max_length=64)
    year: WholeInt = Field(ge=2019, le=2100, description="A year from 2019 (rights were in hours before)")
    status: str = Field(description=f"One of {', '.join(WORK_STATUSES)}",
                        json_schema_extra={"enum": list(WORK_STATUSES)})
    worked_hours: WholeInt = Field(ge=0, le=rights.MAX_WORKED_HOURS)
    reference_hours: WholeInt | None = Field(
        None, gt=0, le=rights.MAX_WORKED_HOURS, description="Conventional full time (default: legal 1607 h)"
    )
    disability: StrictBool = False


class AnnualCreditsBody(Strict):
    # At most what fits the 1 MiB body cap even with every field at its longest (a batch is split client-side).
    declarations: list[WorkBody] = Field(min_length=1, max_length=1_000)


class CorrectiveBody(Strict):
    holder_id: str = Field(min_length=1, max_length=64)
    staff_count: WholeInt = Field(ge=0, le=10_000_000)
    review_due_on: Day
    employer_id: str | None = Field(None, max_length=64, description="Only for an administrator")


@router.post(
    "/v1/funders",
    status_code=201,
    response_model=FunderPublic,
    responses=IDEMPOTENCY_RESPONSES,
    dependencies=[require_role("admin")],
    summary="Register a funder (its kind decides participation exemptions and never changes)",
)
def register_funder(
    body: FunderBody, request: Request, user: CurrentUser, idempotency_key: IdempotencyKeyRequired
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        funder = topups.register_funder(session, funder_id=body.funder_id, kind=body.kind, name=body.name,
                                        opco_id=body.opco_id, region_code=body.region_code)
        return 201, topups.funder_view(funder)

    return run_idempotent(request, user, idempotency_key, body, operation)


@router.post(
    "/v1/holders/{holder_id}/employments",
    status_code=201,
    response_model=EmploymentPublic,
    responses=IDEMPOTENCY_RESPONSES,
    dependencies=[require_role("admin")],
    summary="Record that the holder works for an employer (the link employer and OPCO top-ups need)",
)
def record_employment(
    holder_id: HolderIdPath,
    body: EmploymentBody,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        employment = topups.record_employment(
            session, holder_id=holder_id, employer_id=body.employer_id, start_date=body.start_date,
            end_date=body.end_date,
        )
        return 201, topups.employment_view(employment)

    return run_idempotent(request, user, idempotency_key, body, operation)


@router.get("/v1/holders/{holder_id}/employments", response_model=EmploymentListPublic,
            responses=responses(401, 403, 404, 422), summary="The holder's employments (who may fund their files)")
def holder_employments(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep) -> dict[str, object]:
    authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/employments")
    return {"items": topups.holder_employments(session, holder_id)}


@router.post(
    "/v1/topups",
    status_code=201,
    response_model=TopUpPublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="A funder (or the holder with their own money) tops up one file or one training",
)
def grant_topup(
    body: TopUpBody,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    actor = actor_of(user)

    def operation(session: Session) -> tuple[int, Any]:
        topup = topups.grant_topup(
            session,
            actor=actor,
            amount_cents=body.amount_cents,
            on=today,
            enrolment_id=body.enrolment_id,
            holder_id=body.holder_id,
            training_id=body.training_id,
            spend_before_rights=body.spend_before_rights,
            funder_id=body.funder_id,
        )
        return 201, topups.topup_view(topup)

    return run_idempotent(request, user, idempotency_key, body, operation)


@router.post(
    "/v1/topups/{topup_id}/revoke",
    response_model=TopUpPublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="The funder withdraws a top-up no confirmed file has reserved",
)
def revoke_topup(
    topup_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    actor = actor_of(user)

    def operation(session: Session) -> tuple[int, Any]:
        return 200, topups.topup_view(topups.revoke_topup(session, actor=actor, topup_id=topup_id, on=today))

    return run_idempotent(request, user, idempotency_key, None, operation)


@router.post(
    "/v1/rights/annual-credits",
    status_code=201,
    response_model=AnnualCreditsPublic,
    responses=IDEMPOTENCY_RESPONSES,
    dependencies=[require_role("admin")],
    summary="Credit CPF rights from declared work time (all-or-nothing; once per holder and year)",
)
def annual_credits(
    body: AnnualCreditsBody,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        works = [rights.WorkTime(**w.model_dump()) for w in body.declarations]
        done = rights.credit_annual_rights_many(session, works, posted_on=today, actor=user.username)
        return 201, {
            "credits": [rights.declaration_view(d) for d in done],
            "total_cents": sum(d.credited_cents for d in done),
        }

    return run_idempotent(request, user, idempotency_key, body, operation)


@router.post(
    "/v1/rights/corrective-topups",
    status_code=201,
    response_model=CorrectiveTopUpPublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="The corrective top-up of an employer of 50+ staff that missed the six-year review",
)
def corrective_topup(
    body: CorrectiveBody,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    actor = actor_of(user)

    def operation(session: Session) -> tuple[int, Any]:
        amount = rights.credit_corrective_topup(
            session,
            actor=actor,
            holder_id=body.holder_id,
            staff_count=body.staff_count,
            review_due_on=body.review_due_on,
            on=today,
            employer_id=body.employer_id,
        )
        return 201, {"holder_id": body.holder_id, "credited_cents": amount}

    return run_idempotent(request, user, idempotency_key, body, operation)


@router.get("/v1/holders/{holder_id}/topups", response_model=HolderTopUpsPublic, response_model_exclude_unset=True,
            responses=responses(401, 403, 404, 422),
            summary="The holder's top-ups, and those a training could use")
def holder_topups(
    holder_id: HolderIdPath,
    user: CurrentUser,
    session: SessionDep,
    today: TodayDep,
    training_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, object]:
    authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/topups")
    answer: dict[str, object] = {"items": topups.holder_topups(session, holder_id)}
    if training_id is not None:
        plan = estimate_funding(session, holder_id, training_id, today)
        answer.update(
            {
                "training_id": training_id,
                "eligible_topups_cents": topups.eligible_topups_cents(session, holder_id, training_id),
                "funding": {
                    "allocation_cents": dict(plan.allocation),
                    "participation_cents": plan.participation_cents,
                    "out_of_pocket_cents": plan.out_of_pocket_cents,
                },
            }
        )
    return answer


@router.get("/v1/holders/{holder_id}/cpa", response_model=CpaPublic, responses=responses(401, 403, 404, 422),
            summary="Personal activity account: every account of the holder")
def read_cpa(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep, today: TodayDep) -> dict[str, object]:
    authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/cpa")
    return cpa_view(session, holder_id, on=today)
