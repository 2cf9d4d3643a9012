"""Operations on the running service (admin): reload the served model after `parcours train` promoted one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from serving.deps import require_role
from serving.services.recommendations import load_recommender

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class RecommenderStatePublic(BaseModel):
    model_version: str | None
    degraded: bool
    detail: str


@router.post("/model/reload", response_model=RecommenderStatePublic, dependencies=[require_role("admin")],
             summary="Load the current champion (or fall back to content similarity) without a restart")
async def reload_model(request: Request) -> RecommenderStatePublic:
    app = request.app
    # Built aside, then swapped in one assignment: requests in flight keep the recommender they started with.
    state = await run_in_threadpool(load_recommender, app.state.session_factory, app.state.settings,
                                    app.state.catalogue_search)
    app.state.recommender = state
    return RecommenderStatePublic(**state.as_dict())
