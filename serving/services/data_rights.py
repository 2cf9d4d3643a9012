"""Holders' data rights (GDPR art. 15, 20 and 17; issue 18): the access log, the export of everything held, and
erasure of what no legal obligation keeps.

Only the holder themself or an admin exercises them (``authorise_holder_manage``); an adviser, even with
consent, does not. Every use is written to the audit log. Erasure removes the skills profile (evidence rows,
exclusions, stored embedding), the declared experience, the preferences, the consents and the recommender's
record of what was shown and done; it keeps the ledger, the enrolment files and their history, top-ups,
employments, work and CEC declarations and the audit log, and says why in its answer (docs/data_sharing.md).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import delete, func, inspect, select
from sqlalchemy.orm import Session

from parcours.store.base import Base
from parcours.store.models import (
    AuditLog,
    Consent,
    Experience,
    HolderProfile,
    HolderSkill,
    HolderSkillExclusion,
    Interaction,
    User,
)
from parcours.store.supporting_models import (
    CecDeclaration,
    Employment,
    Enrolment,
    EnrolmentMessage,
    Impression,
    WorkDeclaration,
)
from serving.services.access import audit, authorise_holder_manage
from serving.services.actors import Actor
from serving.services.enrolment_views import enrolment_view
from serving.services.holders import account_view
from serving.services.topups import holder_topups

PREFERENCE_FIELDS = (
    "preferred_modality",
    "target_occupation",
    "target_occupation_text",
    "target_occupation_score",
    "preferred_region_code",
    "max_out_of_pocket_cents",
)
_CONSENT_IN_RESOURCE = re.compile(r"\(consent (\d+)\)")

KEPT = [
    {"what": "rights ledger (CPF and CEC accounts, their movements, reservations)",
     "why": "legal obligation: the training account's rights and every movement of them are kept for the "
            "management of the accounts (R6323-33, purpose 1), and accounting records for ten years"},
    {"what": "enrolment files, their transitions and messages, payments",
     "why": "legal obligation: proof of the training bought, of the service done and of the payment made with "
            "public money (purposes 3 and 4; accounting records for ten years)"},
    {"what": "top-ups, employments, work and CEC declarations",
     "why": "legal obligation: they justify the rights credited and the money funders spent"},
    {"what": "holder record (id, birth year, region, employment status, qualification level) and sign-in account",
     "why": "needed to keep the ledger and the files above attached to their holder"},
    {"what": "access log",
     "why": "accountability (GDPR art. 5.2): who read your data stays on record, for you and for the CNIL"},
    {"what": "verified or imported experience",
     "why": "given by a certifier or an import, not declared by you: it is corrected at its source"},
    {"what": "the personalisation switch",
     "why": "your choice about processing, not data about you: change it in your preferences"},
]


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _row(row: Base, *, skip: tuple[str, ...] = ()) -> dict[str, object]:
    return {c.key: _plain(getattr(row, c.key)) for c in row.__table__.columns if c.key not in skip}


def _rows(session: Session, model: type[Base], *where: Any, skip: tuple[str, ...] = ()) -> list[dict[str, object]]:
    pk = next(iter(inspect(model).primary_key))
    return [_row(r, skip=skip) for r in session.scalars(select(model).where(*where).order_by(pk))]


def _log(session: Session, holder_id: str, limit: int | None = None) -> list[dict[str, object]]:
    query = select(AuditLog).where(AuditLog.holder_id == holder_id).order_by(AuditLog.audit_id.desc())
    if limit is not None:
        query = query.limit(limit)
    out: list[dict[str, object]] = []
    for row in session.scalars(query):
        consent = _CONSENT_IN_RESOURCE.search(row.resource)
        out.append({
            "at": _plain(row.occurred_at),
            "who": row.actor,
            "role": row.role,
            "action": row.action,
            "what": row.resource,
            "consent_id": int(consent.group(1)) if consent else None,
        })
    return out


def access_log(session: Session, user: User, holder_id: str, *, limit: int = 500) -> dict[str, Any]:
    """Who read the holder's data, newest first (reads, writes and data-rights uses of the audit log)."""
    authorise_holder_manage(session, user, holder_id)
    entries = _log(session, holder_id, limit)
    audit(session, user, "read", holder_id, f"/holders/{holder_id}/access-log")
    return {"holder_id": holder_id, "entries": entries}


def export_holder(session: Session, user: User, holder_id: str) -> dict[str, Any]:
    """Everything held about the holder (GDPR art. 15 and 20), as one JSON document."""
    holder = authorise_holder_manage(session, user, holder_id)
    actor = Actor.from_user(user)
    files = list(session.scalars(
        select(Enrolment).where(Enrolment.holder_id == holder_id).order_by(Enrolment.enrolment_id)
    ))
    file_ids = [f.enrolment_id for f in files]
    profile = session.get(HolderProfile, holder_id)
    export = {
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "holder": _row(holder, skip=PREFERENCE_FIELDS + ("personalisation_enabled",)),
        "preferences": {name: _plain(getattr(holder, name)) for name in
                        (*PREFERENCE_FIELDS, "personalisation_enabled")},
        "experience": _rows(session, Experience, Experience.holder_id == holder_id),
        "skills_profile": {
            "skills": _rows(session, HolderSkill, HolderSkill.holder_id == holder_id),
            "excluded_skills": _rows(session, HolderSkillExclusion, HolderSkillExclusion.holder_id == holder_id),
            "stored_profile": None if profile is None else _row(profile, skip=("embedding",)),
        },
        "consents": _rows(session, Consent, Consent.holder_id == holder_id),
        "enrolment_files": [enrolment_view(session, f, actor) for f in files],
        "enrolment_messages": _rows(session, EnrolmentMessage, EnrolmentMessage.enrolment_id.in_(file_ids)),
        "ledger": account_view(session, holder),
        "topups": holder_topups(session, holder_id),
        "employments": _rows(session, Employment, Employment.holder_id == holder_id),
        "work_declarations": _rows(session, WorkDeclaration, WorkDeclaration.holder_id == holder_id),
        "cec_declarations": _rows(session, CecDeclaration, CecDeclaration.holder_id == holder_id),
        "interactions": _rows(session, Interaction, Interaction.holder_id == holder_id),
        "impressions": _rows(session, Impression, Impression.holder_id == holder_id),
        "access_log": _log(session, holder_id),
    }
    audit(session, user, "export", holder_id, f"/holders/{holder_id}/export")
    return export


def _count(session: Session, model: type[Base], *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def erase_holder(session: Session, user: User, holder_id: str) -> dict[str, Any]:
    """Erase what no obligation keeps (GDPR art. 17) and say what is kept and why. Erasing twice erases
    nothing the second time (every count 0)."""
    holder = authorise_holder_manage(session, user, holder_id)
    erased: dict[str, int] = {}
    # Skill rows cascade from experience rows; delete them first so that each count is its own.
    for name, model, where in (
        ("skills", HolderSkill, (HolderSkill.holder_id == holder_id,)),
        ("excluded_skills", HolderSkillExclusion, (HolderSkillExclusion.holder_id == holder_id,)),
        ("stored_profile", HolderProfile, (HolderProfile.holder_id == holder_id,)),
        ("declared_experience", Experience, (Experience.holder_id == holder_id, Experience.source == "declared")),
        ("consents", Consent, (Consent.holder_id == holder_id,)),
        ("interactions", Interaction, (Interaction.holder_id == holder_id,)),
        ("impressions", Impression, (Impression.holder_id == holder_id,)),
    ):
        erased[name] = _count(session, model, *where)
        if erased[name]:
            session.execute(delete(model).where(*where).execution_options(synchronize_session=False))
    set_preferences = [name for name in PREFERENCE_FIELDS if getattr(holder, name) is not None]
    for name in set_preferences:
        setattr(holder, name, None)
    erased["preferences"] = len(set_preferences)
    session.flush()
    session.expire_all()
    audit(session, user, "erase", holder_id,
          f"/holders/{holder_id}/erase: " + ", ".join(f"{k}={v}" for k, v in erased.items()))
    return {"holder_id": holder_id, "erased": erased, "kept": KEPT}
