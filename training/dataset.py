"""Datasets for fitting and offline evaluation, with a time split that never leaks the future.

The split (WORLDS.md, "hold out by time"): interactions strictly before ``cut`` are the training data; the
held-out positives are each holder's enrolments (and completions) at or after ``cut`` in trainings they had not
enrolled in before. Everything a model or a baseline sees (popularity counts, exclusions, balances) is computed
from data before the cut only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from serving.db.models import Interaction

POSITIVE_EVENTS = ("enrol", "complete")


def load_interactions(session: Session) -> pd.DataFrame:
    """All interactions as a frame (holder_id, training_id, event, occurred_at as UTC timestamps)."""
    rows = session.execute(
        select(Interaction.holder_id, Interaction.training_id, Interaction.event, Interaction.occurred_at)
        .order_by(Interaction.occurred_at, Interaction.interaction_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["holder_id", "training_id", "event", "occurred_at"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


@dataclass(frozen=True)
class TimeSplit:
    cut: pd.Timestamp
    train: pd.DataFrame
    # holder_id → set of training ids enrolled in at or after the cut (not enrolled in before)
    held_out: dict[str, set[str]]

    @property
    def cut_date(self) -> dt.date:
        return self.cut.date()


def time_split(interactions: pd.DataFrame, *, cut: pd.Timestamp | None = None, holdout_days: int = 120) -> TimeSplit:
    """Split at ``cut`` (default: ``holdout_days`` before the last interaction)."""
    if interactions.empty:
        raise ValueError("no interactions: import a world first")
    if cut is None:
        cut = interactions["occurred_at"].max() - pd.Timedelta(days=holdout_days)
    cut = pd.Timestamp(cut)
    if cut.tzinfo is None:
        cut = cut.tz_localize("UTC")
    before = interactions[interactions["occurred_at"] < cut]
    after = interactions[(interactions["occurred_at"] >= cut) & interactions["event"].isin(POSITIVE_EVENTS)]
    known = set(zip(before.loc[before["event"].isin(POSITIVE_EVENTS), "holder_id"],
                    before.loc[before["event"].isin(POSITIVE_EVENTS), "training_id"], strict=True))
    held_out: dict[str, set[str]] = {}
    for holder_id, training_id in zip(after["holder_id"], after["training_id"], strict=True):
        if (holder_id, training_id) not in known:
            held_out.setdefault(str(holder_id), set()).add(str(training_id))
    return TimeSplit(cut=cut, train=before.reset_index(drop=True), held_out=held_out)


@dataclass
class WorldFrames:
    """What the features are built from, read once from the database."""

    catalogue: pd.DataFrame
    sessions: pd.DataFrame
    holders: pd.DataFrame
    skill_weights: pd.DataFrame
    embeddings: dict[str, np.ndarray]
    current_occupation: dict[str, str]
    balances: dict[str, tuple[int, int]]
    interactions: pd.DataFrame


def load_world_frames(session: Session) -> WorldFrames:
    """Read the catalogue, holders, stored skills profiles, balances and interactions in bulk.

    Balances are today's ledger balances (imported worlds carry balances dated at their ``as_of``): a holder
    attribute, not an interaction, so it does not leak held-out enrolments.
    """
    from features.catalogue import load_catalogue
    from serving.db.models import Experience, Holder, LedgerAccount, LedgerEntry, TrainingSession

    catalogue = load_catalogue(session, only_open=False)
    sessions = pd.DataFrame(session.execute(select(TrainingSession.training_id, TrainingSession.start_date)).all(),
                            columns=["training_id", "start_date"])
    holders = pd.DataFrame(session.execute(select(
        Holder.holder_id, Holder.region_code, Holder.employment_status, Holder.qualification_level,
        Holder.preferred_modality, Holder.target_occupation)).all(),
        columns=["holder_id", "region_code", "employment_status", "qualification_level", "preferred_modality",
                 "target_occupation"])
    evidence = pd.DataFrame(session.execute(text("SELECT holder_id, skill_uri, weight FROM holder_skills")).all(),
                            columns=["holder_id", "skill_uri", "weight"])
    # noisy-or of the evidence rows of each (holder, skill), as features.profile aggregates them
    evidence["log_miss"] = np.log1p(-evidence["weight"].astype(float).clip(0, 0.999999))
    skill_weights = evidence.groupby(["holder_id", "skill_uri"], as_index=False)["log_miss"].sum()
    skill_weights["weight"] = 1.0 - np.exp(skill_weights.pop("log_miss"))
    embeddings = {
        str(holder_id): np.frombuffer(blob, dtype="<f4").copy()
        for holder_id, dim, blob in session.execute(text("SELECT holder_id, dim, embedding FROM holder_profiles"))
        if dim
    }
    jobs = session.execute(
        select(Experience.holder_id, Experience.esco_uri, Experience.start_date)
        .where(Experience.kind == "job", Experience.esco_uri.is_not(None))
        .order_by(Experience.holder_id, Experience.start_date)
    ).all()
    current_occupation = {str(h): str(uri) for h, uri, _start in jobs}  # the latest job wins
    balances_rows = session.execute(
        select(LedgerAccount.holder_id, LedgerAccount.kind, func.sum(LedgerEntry.amount_cents))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id)
        .where(LedgerAccount.holder_id.is_not(None), LedgerAccount.kind.in_(("cpf", "cec")))
        .group_by(LedgerAccount.holder_id, LedgerAccount.kind)
    ).all()
    balances: dict[str, list[int]] = {}
    for holder_id, kind, total in balances_rows:
        balances.setdefault(str(holder_id), [0, 0])[0 if kind == "cpf" else 1] = int(total or 0)
    return WorldFrames(catalogue, sessions, holders, skill_weights, embeddings, current_occupation,
                       {h: (v[0], v[1]) for h, v in balances.items()}, load_interactions(session))
