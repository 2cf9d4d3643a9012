"""Datasets for fitting and offline evaluation, with a time split that never leaks the future.

The split (WORLDS.md, "hold out by time"): interactions strictly before ``cut`` are the training data; the
held-out positives are each holder's enrolments (and completions) at or after ``cut`` in trainings they had not
enrolled in before. Everything a model or a baseline sees (popularity counts, exclusions, balances) is computed
from data before the cut only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
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
