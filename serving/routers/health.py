from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from serving.routers.trainings import index_health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and readiness: database and recommender state")
def health(request: Request) -> dict[str, object]:
    database = "ok"
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: health must answer
        database = f"error: {type(exc).__name__}"
    recommender = request.app.state.recommender.as_dict()
    index = index_health(request.app)
    degraded = database != "ok" or recommender["degraded"] or bool(index["degraded"])
    return {"status": "degraded" if degraded else "ok", "database": database,
            "model_version": recommender["model_version"], "recommender": recommender, "catalogue_index": index}
