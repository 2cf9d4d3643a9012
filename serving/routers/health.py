from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from parcours.domain.calendar import business_today, fixed_business_date
from recommender.provenance import RefusedRecommender
from serving.observability import metrics_payload, set_model_version
from serving.routers.trainings import index_health
from serving.schemas.health import HealthPublic, NotReadyPublic, ReadyPublic

router = APIRouter(tags=["health"])


def _database_error(request: Request) -> str | None:
    """None when the database answers ``SELECT 1``, else the error's type name."""
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: health and readiness must answer
        return type(exc).__name__
    return None


# Documented, not filtered through the models: /health and /ready report whatever their checks add.
@router.get("/health", responses={200: {"model": HealthPublic}},
            summary="Liveness, with the database, model and index status")
def health(request: Request) -> dict[str, object]:
    error = _database_error(request)
    database = "ok" if error is None else f"error: {error}"
    recommender = request.app.state.recommender.as_dict()
    index = index_health(request.app)
    degraded = database != "ok" or recommender["degraded"] or bool(index["degraded"])
    fixed = fixed_business_date()
    return {"status": "degraded" if degraded else "ok", "database": database,
            "model_version": recommender["model_version"], "recommender": recommender, "catalogue_index": index,
            # Set only by PARCOURS_BUSINESS_DATE (demos and tests): the date every transition is dated by.
            "business_date": business_today().isoformat(), "business_date_fixed": fixed is not None}


@router.get("/ready", summary="Readiness: 200 once the database answers and the recommender is loaded, else 503",
            responses={200: {"model": ReadyPublic},
                       503: {"model": NotReadyPublic, "description": "Not ready, with the reasons"}})
def ready(request: Request) -> JSONResponse:
    reasons: list[str] = []
    error = _database_error(request)
    if error is not None:
        reasons.append(f"database unreachable: {error}")
    state = request.app.state.recommender
    if state.detail == "starting":
        reasons.append(f"recommender not loaded: {state.detail}")
    # Refused state (another database's index or champion, another model's index): this instance would answer
    # search or recommendations with 503, so it takes no traffic until rebuilt; the reason says how.
    if getattr(request.app.state, "catalogue_search_mismatch", False):
        reasons.append(f"catalogue index refused: {request.app.state.catalogue_search_error}")
    if isinstance(state.recommender, RefusedRecommender):
        reasons.append(f"champion refused: {state.detail}")
    if reasons:
        return JSONResponse(status_code=503, content={"status": "not ready", "reasons": reasons})
    body: dict[str, object] = {"status": "ready", "model_version": state.model_version}
    freshness = getattr(request.app.state, "catalogue_search_freshness", None)
    if freshness is not None and freshness.state == "stale":
        body["notes"] = [freshness.detail]  # served (hits are re-checked against the database), but said
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", include_in_schema=False)
def metrics(request: Request) -> Response:
    set_model_version(request.app.state.recommender.model_version)
    payload, content_type = metrics_payload()
    return Response(payload, media_type=content_type)
