"""Payment batches (purpose 3): ``POST /v1/payments/batches`` (admin) pays every service-done file once and
returns the files paid, the amounts per provider and one remittance CSV per provider."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from parcours.errors import Forbidden, NotFound
from serving.deps import CurrentUser, DbId, SessionDep, require_role
from serving.routers.idempotent import (
    IDEMPOTENCY_RESPONSES,
    IdempotencyKeyRequired,
    TodayDep,
    actor_of,
    run_idempotent,
)
from serving.schemas.errors import responses
from serving.schemas.payments import PaymentBatchPublic
from serving.services.payments import batch_summary, get_batch, run_payment_batch

router = APIRouter(prefix="/v1/payments", tags=["payments"])


@router.post(
    "/batches",
    status_code=201,
    response_model=PaymentBatchPublic,
    responses=IDEMPOTENCY_RESPONSES,
    dependencies=[require_role("admin")],
    summary="Pay every service-done file once (resumes a crashed batch); remittance CSV per provider",
)
def create_batch(
    request: Request, user: CurrentUser, today: TodayDep, idempotency_key: IdempotencyKeyRequired
) -> Response:
    settings = request.app.state.settings
    actor = actor_of(user)

    def operation(_session: Session) -> tuple[int, Any]:
        return 201, run_payment_batch(
            request.app.state.session_factory,
            actor=actor,
            on=today,
            remittance_dir=settings.resolved_remittance_dir(),
        )

    return run_idempotent(request, user, idempotency_key, None, operation)


@router.get("/batches/{batch_id}", response_model=PaymentBatchPublic, dependencies=[require_role("admin")],
            responses=responses(401, 403, 404, 422), summary="One payment batch")
def read_batch(batch_id: DbId, session: SessionDep) -> dict[str, object]:
    batch = get_batch(session, batch_id)
    if batch is None:
        raise NotFound(f"payment batch {batch_id} not found")
    return batch_summary(session, batch)


@router.get(
    "/batches/{batch_id}/remittances/{provider_id}",
    response_class=Response,  # the CSV for 200; the errors are JSON
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The CSV"},
               **responses(401, 403, 404, 422)},
    summary="The remittance CSV of one provider in a batch (the provider itself or an admin)",
)
def read_remittance(
    batch_id: DbId,
    provider_id: Annotated[str, Path(min_length=1, max_length=64)],
    user: CurrentUser,
    session: SessionDep,
) -> PlainTextResponse:
    if not (user.role == "admin" or (user.role == "provider" and user.provider_id == provider_id)):
        raise Forbidden("a remittance is read by its provider or an administrator")
    batch = get_batch(session, batch_id)
    if batch is None:
        raise NotFound(f"payment batch {batch_id} not found")
    for remittance in batch_summary(session, batch)["remittances"]:  # type: ignore[attr-defined]
        if remittance["provider_id"] == provider_id:
            return PlainTextResponse(remittance["csv"], media_type="text/csv")
    raise NotFound(f"provider {provider_id} has nothing in batch {batch_id}")
