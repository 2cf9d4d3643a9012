"""Holders' data rights (issue 18): who read my data (``access-log``), everything held about me (``export``),
and erasure of what the law does not require to keep (``erase``) — ``serving.services.data_rights``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from serving.deps import CurrentUser, HolderIdPath, SessionDep
from serving.routers.idempotent import IDEMPOTENCY_RESPONSES, IdempotencyKeyHeader, run_idempotent
from serving.schemas.data_rights import AccessLogPublic, ErasePublic, ExportPublic
from serving.schemas.errors import responses
from serving.services import data_rights

router = APIRouter(prefix="/v1/holders", tags=["data rights"])


@router.get(
    "/{holder_id}/access-log",
    response_model=AccessLogPublic,
    responses=responses(401, 403, 404, 422),
    summary="Who read the holder's data, what, when, under which role or consent (the holder, admin)",
)
def get_access_log(
    holder_id: HolderIdPath,
    user: CurrentUser,
    session: SessionDep,
    limit: int = Query(500, ge=1, le=5000),
) -> dict[str, Any]:
    return data_rights.access_log(session, user, holder_id, limit=limit)


@router.get(
    "/{holder_id}/export",
    response_model=ExportPublic,
    responses=responses(401, 403, 404, 422),
    summary="Everything Parcours holds about the holder, as JSON (the holder, admin)",
)
def get_export(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return data_rights.export_holder(session, user, holder_id)


@router.post(
    "/{holder_id}/erase",
    response_model=ErasePublic,
    summary="Erase the profile, declared experience, preferences and consents; say what is kept and why "
    "(the holder, admin; Idempotency-Key honoured when given)",
    responses=IDEMPOTENCY_RESPONSES,
)
def post_erase(
    holder_id: HolderIdPath, request: Request, user: CurrentUser, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    def operation(session: Session) -> tuple[int, Any]:
        return 200, data_rights.erase_holder(session, user, holder_id)

    return run_idempotent(request, user, idempotency_key, None, operation, required=False)
