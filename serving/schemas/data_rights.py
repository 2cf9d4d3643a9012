"""A holder's data rights: access log, export, erasure (``serving.routers.data_rights``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.enrolments import EnrolmentPublic
from serving.schemas.rights import AccountPublic, HolderTopUpPublic

Rows = list[dict[str, Any]]


class AccessLogEntryPublic(BaseModel):
    at: str | None = Field(description="When (ISO 8601)")
    who: str
    role: str
    action: str = Field(description="read, write, export, erase, …")
    what: str = Field(description="The resource")
    consent_id: int | None = Field(description="The consent an adviser read under")


class AccessLogPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"holder_id": "H000001", "entries": [
        {"at": "2026-12-06T01:29:06", "who": "adviser", "role": "adviser", "action": "read",
         "what": "/holders/H000001/skills (consent 7)", "consent_id": 7}]}]})

    holder_id: str
    entries: list[AccessLogEntryPublic] = Field(description="Newest first")


class SkillsProfileExportPublic(BaseModel):
    skills: Rows
    excluded_skills: Rows
    stored_profile: dict[str, Any] | None


class ExportPublic(BaseModel):
    """Every table's rows about the holder, as stored (column names as keys)."""

    exported_at: str = Field(description="ISO 8601")
    holder: dict[str, Any]
    preferences: dict[str, Any]
    experience: Rows
    skills_profile: SkillsProfileExportPublic
    consents: Rows
    enrolment_files: list[EnrolmentPublic]
    enrolment_messages: Rows
    ledger: AccountPublic
    topups: list[HolderTopUpPublic]
    employments: Rows
    work_declarations: Rows
    cec_declarations: Rows
    interactions: Rows
    impressions: Rows
    access_log: Rows


class KeptPublic(BaseModel):
    what: str
    why: str


class ErasePublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "holder_id": "H000001", "erased": {"skills": 42, "declared_experience": 2, "preferences": 1},
        "kept": [{"what": "access log", "why": "accountability (GDPR art. 5.2)"}]}]})

    holder_id: str
    erased: dict[str, int] = Field(description="Rows erased, by kind (0 when erased already)")
    kept: list[KeptPublic] = Field(description="What is kept, and why")
