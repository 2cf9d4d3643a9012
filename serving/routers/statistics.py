"""Statistics for analysts (R6323-33 purpose 5): ``GET /v1/statistics/{indicator}?by=…`` (analyst or admin).

Pseudonymised aggregates only: cells count distinct holders, no holder id is ever returned, and small cells are
suppressed (``serving.services.statistics``, ``parcours.domain.disclosure``). JSON by default, ``format=csv``
for spreadsheets (formula-like cells neutralised).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from serving.deps import SessionDep, require_role
from serving.schemas.errors import responses
from serving.services.statistics import BY, INDICATORS, statistics_table, table_csv

router = APIRouter(prefix="/v1/statistics", tags=["statistics"])


class StatisticsCellPublic(BaseModel):
    key: str = Field(description="The group: a month (YYYY-MM), region code, certification code, age band, "
                                 "employment status or qualification level; 'total' for the total")
    holders: int | None = Field(description="Distinct holders in the cell; null when suppressed")
    value: int | float | None = Field(description="The indicator (files, cents, %, impressions); null when "
                                                  "suppressed or undefined (a rate over no file)")
    suppressed: bool = Field(description="True: fewer than 11 holders, or hidden so that no small cell can be "
                                         "recovered by difference")


class StatisticsTablePublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "indicator": "enrolments",
        "by": "region",
        "unit": "dossiers",
        "cells": [
            {"key": "11", "holders": 1520, "value": 1796, "suppressed": False},
            {"key": "24", "holders": None, "value": None, "suppressed": True},
            {"key": "28", "holders": None, "value": None, "suppressed": True},
            {"key": "84", "holders": 977, "value": 1130, "suppressed": False},
        ],
        "total": {"key": "total", "holders": 2530, "value": 2974, "suppressed": False},
        "threshold": 11,
    }]})

    indicator: str
    by: str
    unit: str = Field(description="Unit of the values (dossiers, centimes, %, affichages)")
    cells: list[StatisticsCellPublic]
    total: StatisticsCellPublic
    threshold: int = Field(description="Smallest number of holders a published cell counts (0 apart)")


@router.get(
    "/{indicator}",
    response_model=StatisticsTablePublic,
    dependencies=[require_role("analyst", "admin")],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                     "description": "The table (JSON, or CSV with format=csv)"},
               **responses(401, 403, _422="Unknown indicator or dimension; the detail lists the allowed values")},
    summary="One indicator by one dimension, small cells suppressed (analyst, admin)",
)
def get_statistics(
    session: SessionDep,
    indicator: Annotated[str, Path(description="The indicator", json_schema_extra={"enum": list(INDICATORS)})],
    by: Annotated[str, Query(description="The dimension", json_schema_extra={"enum": list(BY)})] = "month",
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",  # noqa: A002
) -> StatisticsTablePublic | Response:
    table = statistics_table(session, indicator, by)
    if format == "csv":
        return Response(
            table_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{table.indicator.name}_by_{table.by}.csv"'},
        )
    return StatisticsTablePublic.model_validate(table.as_dict())
