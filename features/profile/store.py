"""The stored profile: its evidence rows (``holder_skills``) and embedding (``holder_profiles``) written in
bulk, and read back as a ``Profile``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

import numpy as np
from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from features.profile.aggregate import aggregate
from features.profile.model import Evidence, Profile
from parcours.store.bulk import is_in, write_rows
from parcours.store.models import HolderProfile, HolderSkill

EVIDENCE_COLUMNS = (
    "holder_id",
    "skill_uri",
    "weight",
    "source",
    "experience_id",
    "training_id",
    "via_uri",
    "confidence",
    "low_confidence",
    "computed_at",
)
PROFILE_COLUMNS = ("holder_id", "model_id", "dim", "embedding", "n_skills", "version", "computed_at")


def store_profiles(session: Session, profiles: Sequence[Profile]) -> None:
    """Replace the stored evidence rows and profile embeddings of these holders, in the caller's transaction:
    one ``DELETE … IN`` of evidence, one bulk insert of evidence, one bulk upsert of profile rows."""
    if not profiles:
        return
    ids = [p.holder_id for p in profiles]
    if len(set(ids)) != len(ids):
        raise ValueError("one profile per holder")
    now = dt.datetime.now(dt.UTC)
    session.execute(delete(HolderSkill).where(is_in(session, HolderSkill.holder_id, ids)))
    write_rows(
        session,
        cast(Table, HolderSkill.__table__),
        EVIDENCE_COLUMNS,
        [
            (
                profile.holder_id,
                skill.skill_uri,
                max(e.weight, 1e-4),
                e.source,
                e.experience_id,
                e.training_id,
                e.via_uri,
                e.confidence,
                e.low_confidence,
                now,
            )
            for profile in profiles
            for skill in profile.skills
            for e in skill.evidence
        ],
    )
    versions = dict(
        session.execute(
            select(HolderProfile.holder_id, HolderProfile.version).where(
                is_in(session, HolderProfile.holder_id, ids)
            )
        ).all()
    )
    rows = []
    for profile in profiles:
        vector = np.zeros(0, dtype="<f4") if profile.embedding is None else np.asarray(profile.embedding, "<f4")
        rows.append(
            (
                profile.holder_id,
                profile.model_id or "",
                int(vector.shape[0]),
                vector.tobytes(),
                len(profile.skills),
                (versions.get(profile.holder_id) or 0) + 1,
                now,
            )
        )
    write_rows(
        session, cast(Table, HolderProfile.__table__), PROFILE_COLUMNS, rows, key=["holder_id"], on_conflict="update"
    )
    # Profile objects this session loaded earlier are stale now: the next access reloads them.
    written = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, HolderProfile) and obj.holder_id in written:
            session.expire(obj)


def store_profile(session: Session, profile: Profile, embedding: np.ndarray | None, model: str) -> None:
    """Replace the holder's stored evidence rows and profile embedding (one transaction, the caller's)."""
    profile.embedding, profile.model_id = embedding, model
    store_profiles(session, [profile])


def stored_profile(session: Session, holder_id: str) -> Profile:
    """The stored profile (evidence rows grouped by skill), as last recomputed; empty if never computed."""
    rows = session.scalars(select(HolderSkill).where(HolderSkill.holder_id == holder_id)).all()
    evidence = [
        Evidence(
            r.skill_uri,
            r.weight,
            r.source,
            r.experience_id,
            r.training_id,
            r.via_uri,
            r.confidence,
            r.low_confidence,
        )
        for r in rows
    ]
    profile = aggregate(holder_id, evidence)
    stored = session.get(HolderProfile, holder_id)
    if stored is not None and stored.dim:
        profile.embedding = np.frombuffer(stored.embedding, dtype="<f4").copy()
        profile.model_id = stored.model_id
    return profile


def stored_embedding(session: Session, holder_id: str) -> tuple[np.ndarray | None, str | None]:
    """The stored profile embedding and the model that made it (None, None before the first compute)."""
    stored = session.get(HolderProfile, holder_id)
    if stored is None or not stored.dim:
        return None, None if stored is None else stored.model_id
    return np.frombuffer(stored.embedding, dtype="<f4").copy(), stored.model_id
