from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from serving.observability import metrics_payload, set_model_version
from serving.routers.trainings import index_health

router = APIRouter(tags=["health"])


def _database_error(request: Request) -> str | None:
    """None when the database answers ``SELECT 1``, else the error's type name."""
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: health and readiness must answer
        return type(exc).__name__
    return None


@router.get("/health", summary="Liveness, with the database, model and index status")
def health(request: Request) -> dict[str, object]:
    error = _database_error(request)
    database = "ok" if error is None else f"error: {error}"
    recommender = request.app.state.recommender.as_dict()
    index = index_health(request.app)
    degraded = database != "ok" or recommender["degraded"] or bool(index["degraded"])
    return {"status": "degraded" if degraded else "ok", "database": database,
            "model_version": recommender["model_version"], "recommender": recommender, "catalogue_index": index}


@router.get("/ready", summary="Readiness: 200 once the database answers and the recommender is loaded, else 503",
            responses={503: {"description": "Not ready, with the reason"}})
def ready(request: Request) -> JSONResponse:
    reasons: list[str] = []
    error = _database_error(request)
    if error is not None:
        reasons.append(f"database unreachable: {error}")
    state = request.app.state.recommender
    if state.detail == "starting":
        reasons.append(f"recommender not loaded: {state.detail}")
    if reasons:
        return JSONResponse(status_code=503, content={"status": "not ready", "reasons": reasons})
    return JSONResponse({"status": "ready", "model_version": state.model_version})


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", include_in_schema=False)
def metrics(request: Request) -> Response:
    set_model_version(request.app.state.recommender.model_version)
    payload, content_type = metrics_payload()
    return Response(payload, media_type=content_type)
