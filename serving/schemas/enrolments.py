"""Enrolment files and their messages (``serving.routers.enrolments``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DeadlinesPublic(BaseModel):
    confirm_by: dt.date = Field(description="Last day the holder may confirm (11 working days before the start)")
    declare_entry_by: dt.date = Field(description="Last day the provider may declare the entry")
    declare_exit_by: dt.date | None = Field(description="Last day the provider may declare the exit, once known")


class FundingPublic(BaseModel):
    reserved_cents: dict[str, int] = Field(description="Reserved at confirmation, by source (cpf, cec, topup:<id>)")
    reserved_total_cents: int
    participation_cents: int = Field(description="Flat participation the holder paid")
    paid_cents: int = Field(description="Paid to the provider")
    returned_cents: int = Field(description="Given back to the sources")
    held_cents: int = Field(description="Still held for the file")


class FilePaymentPublic(BaseModel):
    batch_id: int
    amount_cents: int
    returned_cents: int


class EventPublic(BaseModel):
    action: str
    from_state: str | None
    to_state: str
    on: dt.date = Field(description="Business date of the transition")
    actor: str = Field(description="Who did it (funders see the role only)")
    actor_role: str
    at: str | None = Field(description="When it was recorded (ISO 8601)")
    detail: dict[str, Any] | None


class EnrolmentPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "enrolment_id": 12, "state": "confirmed", "holder_id": "H000001", "training_id": "T000024",
        "provider_id": "P0003", "session_start": "2025-04-07", "price_cents": 150_000, "completion_rate": None,
        "confirmed_on": "2025-03-03", "entry_date": None, "exit_date": None,
        "deadlines": {"confirm_by": "2025-03-21", "declare_entry_by": "2025-04-10", "declare_exit_by": None},
        "funding": {"reserved_cents": {"cpf": 140_000, "topup:3": 10_000}, "reserved_total_cents": 150_000,
                    "participation_cents": 10_223, "paid_cents": 0, "returned_cents": 0, "held_cents": 150_000},
        "payment": None, "allowed_actions": ["cancel"],
        "events": [{"action": "create", "from_state": None, "to_state": "submitted", "on": "2025-03-03",
                    "actor": "h1", "actor_role": "holder", "at": "2025-03-03T09:00:00", "detail": {}}],
    }]})

    enrolment_id: int
    state: str
    holder_id: str | None = Field(default=None, description="Absent for funders (pseudonymised data)")
    training_id: str
    provider_id: str
    session_start: dt.date
    price_cents: int
    completion_rate: float | None = Field(description="Completion in %, once the service is declared done")
    confirmed_on: dt.date | None
    entry_date: dt.date | None
    exit_date: dt.date | None
    deadlines: DeadlinesPublic
    funding: FundingPublic
    payment: FilePaymentPublic | None
    allowed_actions: list[str] = Field(description="The transitions the caller may ask for now")
    events: list[EventPublic] = Field(description="History, oldest first")


class EnrolmentSummaryPublic(BaseModel):
    enrolment_id: int
    state: str
    training_id: str
    provider_id: str
    session_start: dt.date
    price_cents: int


class EnrolmentListPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [{
        "enrolment_id": 12, "state": "accepted", "training_id": "T000024", "provider_id": "P0003",
        "session_start": "2025-04-07", "price_cents": 150_000}]}]})

    items: list[EnrolmentSummaryPublic]


class MessagePublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "message_id": 3, "enrolment_id": 12, "author": "h1", "author_role": "holder",
        "body": "Bonjour, la session est-elle maintenue ?", "created_at": "2025-03-03T09:00:00"}]})

    message_id: int
    enrolment_id: int
    author: str
    author_role: str
    body: str
    created_at: str | None = Field(description="ISO 8601")


class MessageListPublic(BaseModel):
    items: list[MessagePublic]
