"""Declared experience (purpose 9): list, add, edit, delete, with the access rules and the profile recompute.

Plain Python (no FastAPI): the router calls these. Rules:

- reads: ``authorise_holder_read`` (the holder, an adviser with active consent, an admin);
- writes: the holder or an adviser with active consent only (an admin reads but does not declare for others);
- rows with ``source = 'verified'`` were recorded by the issuer: nobody edits or deletes them here (409);
- every write recomputes and stores the holder's skills profile in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from features.esco import load_taxonomy
from features.profile.recompute import recompute_profile
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.models import EXPERIENCE_KINDS, AuditLog, Experience, Holder, HolderSkillExclusion, User
from serving.services.access import active_consent, authorise_holder_read

MAX_LABEL_LENGTH = 500


@dataclass(frozen=True)
class ExperienceInput:
    kind: str
    label: str
    start_date: dt.date
    end_date: dt.date | None = None
    esco_uri: str | None = None


def authorise_holder_write(
    session: Session, user: User, holder_id: str, action: str, resource: str
) -> Holder:
    """The holder themself, or an adviser with the holder's active consent; anyone else gets 403."""
    if user.role == "holder":
        if user.holder_id != holder_id:
            raise Forbidden("a holder may change only their own declarations")
    elif user.role == "adviser":
        if not active_consent(session, holder_id, user.username):
            raise Forbidden("no active consent of this holder for this adviser")
    else:
        raise Forbidden(f"role {user.role} may not change a holder's declarations")
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(f"holder {holder_id} not found")
    session.add(
        AuditLog(actor=user.username, role=user.role, action=action, holder_id=holder_id, resource=resource)
    )
    return holder


def validate(data: ExperienceInput) -> ExperienceInput:
    problems: list[dict[str, object]] = []
    if data.kind not in EXPERIENCE_KINDS:
        problems.append({"field": "kind", "message": f"must be one of {', '.join(EXPERIENCE_KINDS)}"})
    label = " ".join((data.label or "").split())
    if not label:
        problems.append({"field": "label", "message": "must not be empty"})
    elif len(label) > MAX_LABEL_LENGTH:
        problems.append({"field": "label", "message": f"at most {MAX_LABEL_LENGTH} characters"})
    if data.end_date is not None and data.end_date < data.start_date:
        problems.append({"field": "end_date", "message": "must not be before start_date"})
    uri = (data.esco_uri or "").strip() or None
    if uri is not None:
        taxonomy = load_taxonomy()
        if not (taxonomy.is_occupation(uri) or taxonomy.is_skill(uri)):
            problems.append({"field": "esco_uri", "message": "not an ESCO occupation or skill URI"})
    if problems:
        raise ValidationFailed(problems)
    return ExperienceInput(data.kind, label, data.start_date, data.end_date, uri)


def list_experience(session: Session, holder_id: str) -> list[Experience]:
    return list(
        session.scalars(
            select(Experience)
            .where(Experience.holder_id == holder_id)
            .order_by(Experience.start_date, Experience.experience_id)
        )
    )


def _owned(session: Session, holder_id: str, experience_id: int) -> Experience:
    row = session.get(Experience, experience_id)
    if row is None or row.holder_id != holder_id:
        raise NotFound(f"experience {experience_id} not found for holder {holder_id}")
    return row


def _not_verified(row: Experience) -> None:
    if row.source == "verified":
        raise Conflict(
            f"experience {row.experience_id} was recorded by its issuer (verified) and cannot be "
            "changed or deleted here; ask the issuer to correct it"
        )


def add_experience(session: Session, holder_id: str, data: ExperienceInput) -> Experience:
    data = validate(data)
    row = Experience(
        holder_id=holder_id,
        kind=data.kind,
        label=data.label,
        esco_uri=data.esco_uri,
        start_date=data.start_date,
        end_date=data.end_date,
        source="declared",
    )
    session.add(row)
    session.flush()
    recompute_profile(session, holder_id)
    return row


def edit_experience(
    session: Session, holder_id: str, experience_id: int, changes: dict[str, object]
) -> Experience:
    row = _owned(session, holder_id, experience_id)
    _not_verified(row)
    unknown = set(changes) - {"kind", "label", "start_date", "end_date", "esco_uri"}
    if unknown:
        raise ValidationFailed([{"field": f, "message": "cannot be changed"} for f in sorted(unknown)])
    merged = ExperienceInput(
        kind=str(changes.get("kind", row.kind)),
        label=str(changes.get("label", row.label)),
        start_date=changes.get("start_date", row.start_date),  # type: ignore[arg-type]
        end_date=changes.get("end_date", row.end_date),  # type: ignore[arg-type]
        esco_uri=changes.get("esco_uri", row.esco_uri),  # type: ignore[arg-type]
    )
    data = validate(merged)
    row.kind, row.label, row.esco_uri = data.kind, data.label, data.esco_uri
    row.start_date, row.end_date = data.start_date, data.end_date
    row.source = "declared"
    session.flush()
    recompute_profile(session, holder_id)
    return row


def delete_experience(session: Session, holder_id: str, experience_id: int) -> None:
    row = _owned(session, holder_id, experience_id)
    _not_verified(row)
    session.delete(row)
    session.flush()
    recompute_profile(session, holder_id)


def exclude_skill(session: Session, holder_id: str, skill_uri: str, actor: str) -> None:
    """Remove a declared skill from the profile (kept out of later recomputes); verified skills: 409."""
    from features.profile.store import stored_profile

    skill = next((s for s in stored_profile(session, holder_id).skills if s.skill_uri == skill_uri), None)
    if skill is None:
        raise NotFound(f"skill {skill_uri} is not in the profile of holder {holder_id}")
    if skill.source == "verified":
        raise Conflict(
            f"skill {skill_uri} is verified (a completed certified training or a diploma recorded "
            "by its issuer) and cannot be removed"
        )
    exists = session.scalars(
        select(HolderSkillExclusion).where(
            HolderSkillExclusion.holder_id == holder_id, HolderSkillExclusion.skill_uri == skill_uri
        )
    ).first()
    if exists is None:
        session.add(HolderSkillExclusion(holder_id=holder_id, skill_uri=skill_uri, excluded_by=actor))
        session.flush()
    recompute_profile(session, holder_id)


__all__ = [
    "ExperienceInput",
    "add_experience",
    "authorise_holder_read",
    "authorise_holder_write",
    "delete_experience",
    "edit_experience",
    "exclude_skill",
    "list_experience",
]
