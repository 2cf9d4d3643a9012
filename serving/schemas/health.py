"""Liveness and readiness (``serving.routers.health``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RecommenderStatusPublic(BaseModel):
    model_version: str | None
    degraded: bool
    detail: str


class IndexStatusPublic(BaseModel):
    state: str = Field(description="ok, missing or mismatch")
    model_id: str | None = None
    trainings: int | None = None
    detail: str | None = None
    degraded: bool


class HealthPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "ok", "database": "ok", "model_version": "7",
        "recommender": {"model_version": "7", "degraded": False, "detail": "champion 7"},
        "catalogue_index": {"state": "ok", "model_id": "e5-small", "trainings": 2000, "degraded": False}}]})

    status: Literal["ok", "degraded"]
    database: str = Field(description="ok, or error: <type>")
    model_version: str | None
    recommender: RecommenderStatusPublic
    catalogue_index: IndexStatusPublic
    business_date: str | None = Field(default=None, description="The date transitions are dated by (ISO 8601)")
    business_date_fixed: bool | None = Field(default=None, description="True when PARCOURS_BUSINESS_DATE fixes it")


class ReadyPublic(BaseModel):
    status: Literal["ready"]
    model_version: str | None


class NotReadyPublic(BaseModel):
    status: Literal["not ready"]
    reasons: list[str]
