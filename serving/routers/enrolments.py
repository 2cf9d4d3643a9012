"""Enrolment files (purposes 3 and 4): ``POST /v1/enrolments`` and one endpoint per transition of docs/domain.md.

Every POST takes an ``Idempotency-Key``. Bodies forbid unknown fields, so no client field can set a state, a
price or an amount: those come from the catalogue and the rules.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from parcours.errors import ValidationFailed
from parcours.store.supporting_models import ENROLMENT_STATES
from serving.deps import MAX_DB_ID, CurrentUser, DbId, SessionDep
from serving.routers.idempotent import (
    IDEMPOTENCY_RESPONSES,
    IdempotencyKeyRequired,
    Strict,
    TodayDep,
    actor_of,
    run_idempotent,
)
from serving.schemas.enrolments import EnrolmentListPublic, EnrolmentPublic, MessageListPublic, MessagePublic
from serving.schemas.errors import responses
from serving.schemas.types import Day, WholeInt, decimal_as_number
from serving.services import enrolment_files as files
from serving.services import enrolment_messages as messages
from serving.services import enrolment_views as views

router = APIRouter(prefix="/v1/enrolments", tags=["enrolments"])

# OpenAPI links: the file an answer returns is the one the next transitions act on (schemathesis walks them).
_NEXT: dict[str, tuple[str, ...]] = {
    "create": ("read", "accept", "refuse", "cancel", "post_message"),
    "accept": ("read", "confirm", "cancel"),
    "confirm": ("read", "entry", "cancel"),
    "entry": ("read", "exit_"),
    "exit_": ("read", "service_done"),
    "service_done": ("read",),
}
_PATHS = {"read": ("", "get"), "accept": ("/accept", "post"), "refuse": ("/refuse", "post"),
          "confirm": ("/confirm", "post"), "cancel": ("/cancel", "post"), "entry": ("/entry", "post"),
          "exit_": ("/exit", "post"), "service_done": ("/service-done", "post"), "post_message": ("/messages", "post")}


def _operation_id(name: str) -> str:
    """FastAPI's generated operationId of a route of this module (``generate_unique_id``)."""
    suffix, method = _PATHS[name]
    path = f"/v1/enrolments/{{enrolment_id}}{suffix}"
    return re.sub(r"\W", "_", f"{name}{path}") + f"_{method}"


def _answers(name: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """The statuses of a transition, with links from the file it answers to the next transitions."""
    links = {
        _operation_id(step): {"operationId": _operation_id(step),
                              "parameters": {"enrolment_id": "$response.body#/enrolment_id"}}
        for step in _NEXT.get(name, ())
    }
    return {**IDEMPOTENCY_RESPONSES, status: {"description": "The file after the transition", "links": links}}


class EnrolmentCreate(Strict):
    holder_id: str = Field(min_length=1, max_length=64)
    training_id: str = Field(min_length=1, max_length=64)
    session_start: Day


class AcceptBody(Strict):
    session_start: Day | None = Field(None, description="Propose another session of the same training")


class ReasonBody(Strict):
    reason: str = Field("", max_length=500)


class ConfirmBody(Strict):
    max_out_of_pocket_cents: WholeInt = Field(
        0,
        ge=0,
        description="The most the holder agrees to pay towards the price from their own money, beyond the "
        "flat participation; confirmation is refused (409) when rights and top-ups leave more uncovered",
    )


class ExitBody(Strict):
    exit_date: Day | None = Field(None, description="Day the holder left (default: today)")


class ServiceDoneBody(Strict):
    completion_rate: Decimal = Field(ge=0, le=100, decimal_places=2, description="Completion rate, 0–100 %",
                                     json_schema_extra=decimal_as_number(0, 100, 2))


class MessageBody(Strict):
    body: str = Field(min_length=1, max_length=messages.MAX_MESSAGE_LENGTH)


def _transition(
    request: Request, user: CurrentUser, key: str | None, body: BaseModel | None, act: Any, status: int = 200
) -> Response:
    actor = actor_of(user)

    def operation(session: Session) -> tuple[int, Any]:
        enrolment = act(session, actor)
        return status, views.enrolment_view(session, enrolment, actor)

    return run_idempotent(request, user, key, body, operation)


@router.post(
    "", status_code=201, response_model=EnrolmentPublic, responses=_answers("create", 201),
    summary="The holder asks for a place in a session",
)
def create(
    body: EnrolmentCreate,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        body,
        lambda s, a: files.create_enrolment(
            s,
            actor=a,
            holder_id=body.holder_id,
            training_id=body.training_id,
            session_start=body.session_start,
            on=today,
        ),
        status=201,
    )


@router.get("", response_model=EnrolmentListPublic, responses=responses(401, 422),
            summary="The files the caller may see, newest first")
def list_files(
    user: CurrentUser,
    session: SessionDep,
    state: Annotated[str | None, Query(description="Filter on a state",
                                       json_schema_extra={"enum": list(ENROLMENT_STATES)})] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
) -> EnrolmentListPublic:
    if state is not None and state not in ENROLMENT_STATES:
        raise ValidationFailed(
            [{"field": "state", "message": f"must be one of {', '.join(ENROLMENT_STATES)}"}]
        )
    actor = actor_of(user)
    found = views.list_enrolments(session, actor, state=state, limit=limit, offset=offset)
    return EnrolmentListPublic.model_validate({
        "items": [
            {
                "enrolment_id": e.enrolment_id,
                "state": e.state,
                "training_id": e.training_id,
                "provider_id": e.provider_id,
                "session_start": e.session_start,
                "price_cents": e.price_cents,
            }
            for e in found
        ]
    })


@router.get("/{enrolment_id}", response_model=EnrolmentPublic, response_model_exclude_unset=True,
            responses=responses(401, 403, 404, 422),
            summary="One file: state, deadlines, funding from the ledger, history")
def read(enrolment_id: DbId, user: CurrentUser, session: SessionDep) -> dict[str, object]:
    actor = actor_of(user)
    return views.enrolment_view(session, views.get_enrolment(session, enrolment_id, actor), actor)


@router.post(
    "/{enrolment_id}/accept",
    response_model=EnrolmentPublic, responses=_answers("accept"),
    summary="The provider accepts (optionally proposing another session)",
)
def accept(
    enrolment_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
    body: AcceptBody | None = None,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        body,
        lambda s, a: files.accept(
            s, enrolment_id, actor=a, on=today, session_start=body.session_start if body else None
        ),
    )


@router.post("/{enrolment_id}/refuse", response_model=EnrolmentPublic, responses=_answers("refuse"),
             summary="The provider refuses")
def refuse(
    enrolment_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
    body: ReasonBody | None = None,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        body,
        lambda s, a: files.refuse(s, enrolment_id, actor=a, on=today, reason=body.reason if body else ""),
    )


@router.post(
    "/{enrolment_id}/confirm",
    response_model=EnrolmentPublic, responses=_answers("confirm"),
    summary="The holder confirms: rights and top-ups are reserved, the participation is paid",
)
def confirm(
    enrolment_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
    body: ConfirmBody | None = None,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        body,
        lambda s, a: files.confirm(
            s,
            enrolment_id,
            actor=a,
            on=today,
            max_out_of_pocket_cents=body.max_out_of_pocket_cents if body else 0,
        ),
    )


@router.post(
    "/{enrolment_id}/cancel",
    response_model=EnrolmentPublic, responses=_answers("cancel"),
    summary="The holder or the provider cancels before the start; every reserved cent goes back",
)
def cancel(
    enrolment_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
    body: ReasonBody | None = None,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        body,
        lambda s, a: files.cancel(s, enrolment_id, actor=a, on=today, reason=body.reason if body else ""),
    )


@router.post(
    "/{enrolment_id}/entry",
    response_model=EnrolmentPublic, responses=_answers("entry"),
    summary="The provider declares the entry (within 3 working days of the start)",
)
def entry(
    enrolment_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        None,
        lambda s, a: files.declare_entry(s, enrolment_id, actor=a, on=today),
    )


@router.post(
    "/{enrolment_id}/exit",
    response_model=EnrolmentPublic, responses=_answers("exit_"),
    summary="The provider declares the exit (within 3 working days of it)",
)
def exit_(
    enrolment_id: DbId,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
    body: ExitBody | None = None,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        body,
        lambda s, a: files.declare_exit(
            s, enrolment_id, actor=a, on=today, exit_date=body.exit_date if body else None
        ),
    )


@router.post(
    "/{enrolment_id}/service-done",
    response_model=EnrolmentPublic, responses=_answers("service_done"),
    summary="The provider declares the service done with a completion rate (no-show: 0 from confirmed)",
)
def service_done(
    enrolment_id: DbId,
    body: ServiceDoneBody,
    request: Request,
    user: CurrentUser,
    today: TodayDep,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    return _transition(
        request,
        user,
        idempotency_key,
        body,
        lambda s, a: files.declare_service_done(
            s, enrolment_id, actor=a, on=today, completion_rate=body.completion_rate
        ),
    )


@router.post(
    "/{enrolment_id}/messages",
    status_code=201,
    response_model=MessagePublic,
    responses=IDEMPOTENCY_RESPONSES,
    summary="A message between the holder and the provider of the file",
)
def post_message(
    enrolment_id: DbId,
    body: MessageBody,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyRequired,
) -> Response:
    actor = actor_of(user)

    def operation(session: Session) -> tuple[int, Any]:
        return 201, messages.message_view(messages.post_message(session, enrolment_id, actor=actor, body=body.body))

    return run_idempotent(request, user, idempotency_key, body, operation)


@router.get("/{enrolment_id}/messages", response_model=MessageListPublic, responses=responses(401, 403, 404, 422),
            summary="Messages of the file, oldest first")
def read_messages(enrolment_id: DbId, user: CurrentUser, session: SessionDep) -> dict[str, object]:
    return {"items": messages.list_messages(session, enrolment_id, actor=actor_of(user))}
