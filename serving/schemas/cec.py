"""Citizen engagement account declarations and credit runs (``serving.routers.cec``)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class DeclarationPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "declaration_id": 1, "holder_id": "H000001", "activity_kind": "civic_service", "activity_year": 2024,
        "organisation_id": "EMP1", "hours": None, "days": None, "months": 7, "declared_on": "2025-03-03",
        "state": "validated", "decided_on": "2025-03-04", "credited_on": None}]})

    declaration_id: int
    holder_id: str
    activity_kind: str
    activity_year: int
    organisation_id: str
    hours: int | None
    days: int | None
    months: int | None
    declared_on: dt.date
    state: str = Field(description="declared, validated, rejected or credited")
    decided_on: dt.date | None
    credited_on: dt.date | None


class DeclarationListPublic(BaseModel):
    items: list[DeclarationPublic]


class CreditRunPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "activity_year": 2024, "credited_cents": {"H000001": 24_000}, "total_cents": 24_000}]})

    activity_year: int
    credited_cents: dict[str, int] = Field(description="Cents credited, by holder")
    total_cents: int
