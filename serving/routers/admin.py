"""Operations on the running service (admin): reload the served model after `parcours train` promoted one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from serving.deps import CurrentUser, require_role
from serving.routers.idempotent import IDEMPOTENCY_RESPONSES, IdempotencyKeyHeader, run_idempotent
from serving.routers.trainings import load_catalogue_search
from serving.services.recommendations import load_recommender

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class RecommenderStatePublic(BaseModel):
    model_version: str | None
    degraded: bool
    detail: str


@router.post("/model/reload", response_model=RecommenderStatePublic, dependencies=[require_role("admin")],
             responses=IDEMPOTENCY_RESPONSES,
             summary="Load the current champion (or fall back to content similarity) without a restart; with an "
                     "Idempotency-Key, a replay answers the first reload's result without reloading again")
def reload_model(
    request: Request, user: CurrentUser, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    app = request.app

    def operation(_session: Session) -> tuple[int, Any]:
        # The index too is re-checked (another database's is refused) and picked up if rebuilt since.
        load_catalogue_search(app, app.state.settings)
        # Built aside, then swapped in one assignment: requests in flight keep the recommender they started with.
        state = load_recommender(app.state.session_factory, app.state.settings, app.state.catalogue_search)
        app.state.recommender = state
        return 200, RecommenderStatePublic(**state.as_dict()).model_dump()

    return run_idempotent(request, user, idempotency_key, None, operation, required=False)
