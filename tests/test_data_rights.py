"""Holders' data rights (issue 18): the access log (who read what, when, under which role or consent), the export
of everything held, and erasure of the profile, declared experience, preferences and consents that keeps the
ledger and the files and says why. Over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from parcours.store.models import (
    AuditLog,
    Consent,
    Experience,
    Holder,
    HolderProfile,
    HolderSkill,
    LedgerEntry,
    User,
)
from parcours.store.supporting_models import Enrolment, EnrolmentEvent
from tests.ledger_world import START, add_holder, add_training
from tests.test_api_supporting import Api

USERS = [
    ("h1", "holder", "H1"),
    ("h2", "holder", "H2"),
    ("adv", "adviser", None),
    ("p1", "provider", None),
    ("root", "admin", None),
]


@pytest.fixture
def api(db_url, tmp_path) -> Api:
    api = Api(db_url, tmp_path)

    def seed(session):
        add_training(session, "T1", provider_id="P1", price_cents=150_000)
        add_holder(session, "H1", cpf_cents=200_000)
        add_holder(session, "H2", cpf_cents=50_000)
        for username, role, holder_id in USERS:
            session.add(User(username=username, password_hash="x", role=role, holder_id=holder_id,
                             provider_id="P1" if role == "provider" else None))
        session.flush()
        holder = session.get(Holder, "H1")
        holder.preferred_modality = "remote"
        holder.preferred_region_code = "11"
        holder.max_out_of_pocket_cents = 5_000
        declared = Experience(holder_id="H1", kind="job", label="Boulanger", start_date=dt.date(2010, 1, 1),
                              source="declared")
        verified = Experience(holder_id="H1", kind="diploma", label="CAP boulanger",
                              start_date=dt.date(2008, 6, 1), source="verified")
        session.add_all([declared, verified])
        session.flush()
        session.add(HolderSkill(holder_id="H1", skill_uri="esco:bake", weight=1.0, source="declared",
                                experience_id=declared.experience_id))
        session.add(HolderProfile(holder_id="H1", model_id="m", dim=0, embedding=b"", n_skills=1))
        session.add(HolderSkill(holder_id="H2", skill_uri="esco:other", weight=1.0, source="declared"))

    api.world.seed(seed)
    assert api.post("h1", "/v1/holders/H1/consents", {"adviser": "adv"}, key=None).status_code == 201
    created = api.post("h1", "/v1/enrolments",
                       {"holder_id": "H1", "training_id": "T1", "session_start": START.isoformat()})
    assert created.status_code == 201, created.text
    api.file_id = created.json()["enrolment_id"]  # type: ignore[attr-defined]
    assert api.get("adv", "/v1/holders/H1/account").status_code == 200  # a read under the consent
    assert api.get("root", "/v1/holders/H1/account").status_code == 200
    return api


def _count(api: Api, model, *where) -> int:
    with api.world.factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_access_log_says_who_read_what_under_which_consent(api):
    answer = api.get("h1", "/v1/holders/H1/access-log")
    assert answer.status_code == 200, answer.text
    entries = answer.json()["entries"]
    adviser = next(e for e in entries if e["who"] == "adv")
    with api.world.factory() as session:
        consent_id = session.scalar(select(Consent.consent_id).where(Consent.holder_id == "H1"))
    assert adviser["role"] == "adviser" and adviser["consent_id"] == consent_id
    assert adviser["what"].startswith("/holders/H1/account") and adviser["at"]
    admin = next(e for e in entries if e["who"] == "root")
    assert admin["role"] == "admin" and admin["consent_id"] is None
    # newest first; each read of the log is itself logged (it shows in the next answer)
    again = api.get("root", "/v1/holders/H1/access-log").json()["entries"]
    assert again[0]["who"] == "h1" and again[0]["what"] == "/holders/H1/access-log"
    assert api.get("h1", "/v1/holders/H1/access-log").json()["entries"][0]["who"] == "root"
    assert all("H2" not in e["what"] for e in again)


def test_only_the_holder_or_an_admin_exercises_the_rights(api):
    for path in ("access-log", "export"):
        assert api.get("h2", f"/v1/holders/H1/{path}").status_code == 403
        assert api.get("adv", f"/v1/holders/H1/{path}").status_code == 403  # even with consent
        assert api.get("p1", f"/v1/holders/H1/{path}").status_code == 403
        assert api.get("root", f"/v1/holders/NOPE/{path}").status_code == 404
    for user in ("h2", "adv", "p1"):
        assert api.post(user, "/v1/holders/H1/erase").status_code == 403
    assert api.post("root", "/v1/holders/NOPE/erase").status_code == 404
    assert _count(api, Experience, Experience.holder_id == "H1") == 2  # nothing erased


def test_export_holds_everything_about_the_holder(api):
    answer = api.get("h1", "/v1/holders/H1/export")
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["holder"]["holder_id"] == "H1" and export["holder"]["birth_year"] == 1985
    assert export["preferences"]["preferred_modality"] == "remote"
    assert export["preferences"]["max_out_of_pocket_cents"] == 5_000
    assert {e["label"] for e in export["experience"]} == {"Boulanger", "CAP boulanger"}
    assert [s["skill_uri"] for s in export["skills_profile"]["skills"]] == ["esco:bake"]
    assert export["skills_profile"]["stored_profile"]["n_skills"] == 1
    assert "embedding" not in export["skills_profile"]["stored_profile"]
    assert [c["adviser_username"] for c in export["consents"]] == ["adv"]
    [file] = export["enrolment_files"]
    assert file["enrolment_id"] == api.file_id and file["events"][0]["action"] == "create"
    assert export["ledger"]["history"] and export["ledger"]["history"][0]["amount_cents"] == 200_000
    assert export["topups"] == [] and export["employments"][0]["employer_id"] == "EMP1"
    assert any(e["who"] == "adv" for e in export["access_log"])
    assert "H2" not in str({k: v for k, v in export.items() if k != "access_log"})
    # the export is audited
    assert _count(api, AuditLog, AuditLog.holder_id == "H1", AuditLog.action == "export") == 1


def test_erase_removes_the_profile_and_keeps_what_the_law_keeps(api):
    ledger_before = _count(api, LedgerEntry)
    key = str(uuid.uuid4())
    answer = api.post("h1", "/v1/holders/H1/erase", key=key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["erased"] == {
        "skills": 1, "excluded_skills": 0, "stored_profile": 1, "declared_experience": 1, "consents": 1,
        "interactions": 0, "impressions": 0, "preferences": 3,
    }
    kept = {k["what"]: k["why"] for k in answer.json()["kept"]}
    assert any("ledger" in what for what in kept) and any("enrolment files" in what for what in kept)
    assert all(why for why in kept.values())
    # a replay of the same key gives the first answer back
    replay = api.post("h1", "/v1/holders/H1/erase", key=key)
    assert replay.json() == answer.json() and replay.headers["Idempotent-Replayed"] == "true"
    # what is gone, what stays
    assert _count(api, HolderSkill, HolderSkill.holder_id == "H1") == 0
    assert _count(api, HolderProfile, HolderProfile.holder_id == "H1") == 0
    assert _count(api, Consent, Consent.holder_id == "H1") == 0
    assert _count(api, Experience, Experience.holder_id == "H1", Experience.source == "declared") == 0
    assert _count(api, Experience, Experience.holder_id == "H1", Experience.source == "verified") == 1
    assert _count(api, HolderSkill, HolderSkill.holder_id == "H2") == 1  # another holder untouched
    with api.world.factory() as session:
        holder = session.get(Holder, "H1")
        assert holder.preferred_modality is None and holder.max_out_of_pocket_cents is None
        assert holder.birth_year == 1985
    assert _count(api, LedgerEntry) == ledger_before
    assert _count(api, Enrolment, Enrolment.holder_id == "H1") == 1
    assert _count(api, EnrolmentEvent, EnrolmentEvent.enrolment_id == api.file_id) == 1
    assert api.get("h1", "/v1/holders/H1/account").json()["history"]
    # the adviser's access ended with the consent; the erasure is audited
    assert api.get("adv", "/v1/holders/H1/account").status_code == 403
    assert _count(api, AuditLog, AuditLog.holder_id == "H1", AuditLog.action == "erase") == 1
    # a second erasure (a new key, or none) finds nothing left to erase
    second = api.post("root", "/v1/holders/H1/erase", key=None)
    assert second.status_code == 200 and set(second.json()["erased"].values()) == {0}
