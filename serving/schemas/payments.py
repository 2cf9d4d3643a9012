"""Payment batches (``serving.routers.payments``)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class PaidFilePublic(BaseModel):
    enrolment_id: int
    provider_id: str
    amount_cents: int
    returned_cents: int


class RemittancePublic(BaseModel):
    provider_id: str
    path: str = Field(description="Where the remittance CSV was written")
    files: int
    amount_cents: int
    csv: str = Field(description="The remittance CSV itself")


class PaymentBatchPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "batch_id": 1, "state": "completed", "run_on": "2025-06-02",
        "files_paid": [{"enrolment_id": 12, "provider_id": "P0003", "amount_cents": 150_000, "returned_cents": 0}],
        "amounts_by_provider_cents": {"P0003": 150_000}, "total_cents": 150_000,
        "remittances": [{"provider_id": "P0003", "path": "data/remittances/remittance-000001-P0003.csv",
                         "files": 1, "amount_cents": 150_000, "csv": "batch_id,provider_id,…\n"}]}]})

    batch_id: int
    state: str = Field(description="running or completed")
    run_on: dt.date
    files_paid: list[PaidFilePublic]
    amounts_by_provider_cents: dict[str, int]
    total_cents: int
    remittances: list[RemittancePublic]
