"""Funders, employments, top-ups, work declarations and the holder's accounts (``serving.routers.rights``,
``serving.routers.holders``)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.cec import DeclarationPublic


class FunderPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "funder_id": "EMP7", "kind": "employer", "name": "Boulangerie Martin", "opco_id": "OPCO2",
        "region_code": None}]})

    funder_id: str
    kind: str
    name: str
    opco_id: str | None
    region_code: str | None


class EmploymentPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "employment_id": 4, "holder_id": "H000001", "employer_id": "EMP7", "start_date": "2019-09-01",
        "end_date": None}]})

    employment_id: int
    holder_id: str
    employer_id: str
    start_date: dt.date
    end_date: dt.date | None = Field(description="Last day (inclusive); empty while it lasts")


class EmploymentListPublic(BaseModel):
    items: list[EmploymentPublic]


class TopUpPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "topup_id": 3, "holder_id": "H000001", "training_id": "T000024", "enrolment_id": 12,
        "funder_kind": "employer", "funder_id": "EMP1", "amount_cents": 50_000, "spend_before_rights": False,
        "granted_on": "2025-03-03", "released": False}]})

    topup_id: int
    holder_id: str
    training_id: str | None
    enrolment_id: int | None
    funder_kind: str
    funder_id: str
    amount_cents: int
    spend_before_rights: bool
    granted_on: dt.date
    released: bool = Field(description="Withdrawn or given back: no longer usable")


class HolderTopUpPublic(BaseModel):
    topup_id: int
    enrolment_id: int | None
    training_id: str | None
    funder_kind: str
    funder_id: str
    amount_cents: int
    spend_before_rights: bool
    granted_on: dt.date
    available_cents: int = Field(description="Waiting to be used")
    reserved_cents: int = Field(description="Reserved by its file")
    released: bool


class FundingEstimatePublic(BaseModel):
    allocation_cents: dict[str, int] = Field(description="Who would pay what: cpf, cec, topup:<id>, holder")
    participation_cents: int
    out_of_pocket_cents: int


class HolderTopUpsPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"topup_id": 3, "enrolment_id": None, "training_id": "T1", "funder_kind": "employer",
                   "funder_id": "EMP1", "amount_cents": 1000, "spend_before_rights": False,
                   "granted_on": "2025-03-03", "available_cents": 1000, "reserved_cents": 0, "released": False}],
        "training_id": "T1", "eligible_topups_cents": 1000,
        "funding": {"allocation_cents": {"topup:3": 1000, "cpf": 149_000}, "participation_cents": 10_223,
                    "out_of_pocket_cents": 10_223}}]})

    items: list[HolderTopUpPublic]
    training_id: str | None = Field(default=None, description="With ?training_id=: the training asked about")
    eligible_topups_cents: int | None = Field(default=None, description="Top-ups a new file for it could use")
    funding: FundingEstimatePublic | None = Field(default=None, description="How a file for it would be funded")


class WorkDeclarationPublic(BaseModel):
    holder_id: str
    year: int
    status: str
    worked_hours: int
    reference_hours: int | None
    disability: bool
    low_qualification: bool
    credited_cents: int
    posted_on: dt.date


class AnnualCreditsPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "credits": [{"holder_id": "H000001", "year": 2024, "status": "employee", "worked_hours": 1607,
                     "reference_hours": None, "disability": False, "low_qualification": False,
                     "credited_cents": 50_000, "posted_on": "2025-03-03"}],
        "total_cents": 50_000}]})

    credits: list[WorkDeclarationPublic]
    total_cents: int


class CorrectiveTopUpPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"holder_id": "H000001", "credited_cents": 300_000}]})

    holder_id: str
    credited_cents: int


class ReservationPublic(BaseModel):
    enrolment_id: int
    training_id: str
    state: str
    held_cents: dict[str, int] = Field(description="Held by source")
    held_total_cents: int


class AvailablePublic(BaseModel):
    cpf: int = Field(description="CPF available (rights and corrective top-ups) after reservations")
    cpf_rights: int
    cpf_corrective: int
    cec: int


class LedgerLinePublic(BaseModel):
    date: dt.date
    kind: str
    reference: str
    account: str
    amount_cents: int


class AccountPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "holder_id": "H000001", "cpf_balance_cents": 150_000, "cec_balance_cents": 24_000,
        "available_cents": {"cpf": 150_000, "cpf_rights": 150_000, "cpf_corrective": 0, "cec": 24_000},
        "topups": [], "reservations": [], "balances_cents": {"cpf": 150_000, "cec": 24_000},
        "history": [{"date": "2025-01-01", "kind": "opening_balance", "reference": "opening:cpf", "account": "cpf",
                     "amount_cents": 150_000}]}]})

    holder_id: str
    cpf_balance_cents: int = Field(description="CPF available after reservations")
    cec_balance_cents: int = Field(description="CEC available after reservations")
    available_cents: AvailablePublic
    topups: list[HolderTopUpPublic]
    reservations: list[ReservationPublic]
    balances_cents: dict[str, int] = Field(description="Ledger balance by account kind (before reservations)")
    history: list[LedgerLinePublic] = Field(description="Ledger movements, newest first")


class CpfPublic(BaseModel):
    available_cents: int
    rights_cents: int
    corrective_topups_cents: int


class CecPublic(BaseModel):
    available_cents: int
    ceiling_cents: int = Field(description="The CEC ceiling that applies to new credits")
    declarations: list[DeclarationPublic]


class CpaPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "holder_id": "H000001",
        "cpf": {"available_cents": 150_000, "rights_cents": 150_000, "corrective_topups_cents": 0},
        "cec": {"available_cents": 0, "ceiling_cents": 72_000, "declarations": []},
        "topups": [], "reservations": [], "work_declarations": []}]})

    holder_id: str
    cpf: CpfPublic
    cec: CecPublic
    topups: list[HolderTopUpPublic]
    reservations: list[ReservationPublic]
    work_declarations: list[WorkDeclarationPublic]
