"""Shared pieces of the supporting-services routers: the business date, the acting user, and the wrapper that
runs a state-changing request under its ``Idempotency-Key``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from parcours.domain.calendar import business_today
from parcours.errors import Conflict
from parcours.store.models import User
from serving.schemas.errors import WRITE, responses
from serving.services.actors import Actor
from serving.services.idempotency import MAX_KEY_LENGTH, execute_idempotent

# PostgreSQL serialization failure and deadlock: the transaction was rolled back and may simply be retried.
RETRYABLE_SQLSTATES = ("40001", "40P01")
# What check_key accepts: printable ASCII, no space at either end (HTTP strips them anyway).
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"


class Strict(BaseModel):
    """Request bodies refuse unknown fields: no client field can set a state or an amount the rules compute."""

    model_config = ConfigDict(extra="forbid")


def business_date() -> dt.date:
    """The business date of every transition: ``PARCOURS_BUSINESS_DATE`` in demos, else the calendar's today
    (tests override this dependency to travel in time)."""
    return business_today()


TodayDep = Annotated[dt.date, Depends(business_date)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Optional here: a unique value (e.g. a UUID) per operation; when sent, a replay returns the "
        "first answer and reuse with another request gets 422.",
    ),
]
# The routes that refuse a request without a key (400, the contract's answer, not FastAPI's 422: see
# serving.app.request_validation_error).
IdempotencyKeyRequired = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Required: a unique value (e.g. a UUID) per operation, 1 to 255 printable ASCII characters. "
        "A replay returns the first answer (Idempotent-Replayed: true); reuse with another request gets 422.",
        examples=["5f0c6f8e-2f4b-4a53-9a59-8b6f0f2b7c11"],
    ),
]
IDEMPOTENCY_RESPONSES: dict[int | str, dict[str, Any]] = responses(*WRITE)


def actor_of(user: User) -> Actor:
    return Actor.from_user(user)


def body_of(model: BaseModel | dict[str, Any] | None) -> dict[str, Any]:
    """The canonical body of a request for its fingerprint: no body, ``{}`` and a body that only repeats the
    defaults (``{"session_start": null}``) are one request. A dict is taken as it is (already canonical)."""
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    return model.model_dump(mode="json", exclude_defaults=True)


def run_idempotent(
    request: Request,
    user: User,
    key: str | None,
    body: BaseModel | dict[str, Any] | None,
    operation: Callable[[Session], tuple[int, Any]],
    *,
    required: bool = True,
) -> Response:
    """Execute ``operation`` once per (user, key); a replay returns the stored answer
    (``Idempotent-Replayed``). ``required=False``: a request without a key simply runs (the routes that took none
    before); with one, it is honoured like everywhere else."""
    if key is None and not required:
        with request.app.state.session_factory() as session:
            try:
                status, answer = operation(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        return _response(status, answer, replayed=False)
    try:
        result = execute_idempotent(
            request.app.state.session_factory,
            caller=user.username,
            key=key,
            method=request.method,
            path=request.url.path,
            body=body_of(body),
            operation=operation,
        )
    except IntegrityError as exc:
        # A concurrent request changed the same rows first (unique place, same reference): nothing written.
        raise Conflict(f"concurrent change, nothing was done; retry ({type(exc.orig).__name__})") from exc
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            raise Conflict("concurrent transactions collided, nothing was done; retry") from exc
        raise
    return _response(result.status_code, result.body, replayed=result.replayed)


def _response(status: int, body: Any, *, replayed: bool) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if status == 204:
        return Response(status_code=204, headers=headers)
    return JSONResponse(status_code=status, content=jsonable_encoder(body), headers=headers)
