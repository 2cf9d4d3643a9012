"""Datasets for fitting and offline evaluation, with a time split that never leaks the future.

The split (WORLDS.md, "hold out by time"): interactions strictly before ``cut`` are the training data; the
held-out positives are each holder's enrolments (and completions) at or after ``cut`` in trainings they had not
enrolled in before. Everything a model or a baseline sees (popularity counts, exclusions, balances) is computed
from data before the cut only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, Text, cast, func, literal, select
from sqlalchemy.orm import Session

from serving.db.bulk import read_rows
from serving.db.models import Interaction

POSITIVE_EVENTS = ("enrol", "complete")


def _frame(session: Session, statement: Select[*tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    """A SELECT's rows as a frame, read by the driver in chunks (no per-row SQLAlchemy objects)."""
    parts = [pd.DataFrame.from_records(rows, columns=columns) for rows in read_rows(session, statement)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def load_interactions(session: Session) -> pd.DataFrame:
    """All interactions as a frame (holder_id, training_id, event, occurred_at as UTC timestamps)."""
    frame = _frame(
        session,
        select(Interaction.holder_id, Interaction.training_id, Interaction.event, Interaction.occurred_at)
        .order_by(Interaction.occurred_at, Interaction.interaction_id),
        ["holder_id", "training_id", "event", "occurred_at"],
    )
    # SQLite gives naive UTC timestamps as text, PostgreSQL aware datetimes: both parse to UTC.
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    return frame


def _concatenated(session: Session, column: Any, text: bool = False) -> Any:
    """The values of ``column`` in a group joined by spaces (``group_concat`` / ``string_agg``)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.string_agg(cast(column, Text) if text else column, literal(" "))
    return func.group_concat(column, literal(" "))


def load_sessions(session: Session) -> pd.DataFrame:
    """training_id (categorical), start_date (datetime64) of every session: one row per training is fetched
    (its dates concatenated by the database) and the millions of dates are parsed by numpy at once."""
    from serving.db.models import TrainingSession

    statement = select(TrainingSession.training_id, _concatenated(session, TrainingSession.start_date, text=True))
    rows = [row for chunk in read_rows(session, statement.group_by(TrainingSession.training_id)) for row in chunk]
    training_ids = [str(r[0]) for r in rows]
    dates = np.array(" ".join(r[1] for r in rows).split(), dtype="datetime64[D]") if rows else np.array(
        [], dtype="datetime64[D]")
    counts = [r[1].count(" ") + 1 for r in rows]
    return pd.DataFrame({
        "training_id": pd.Categorical.from_codes(np.repeat(np.arange(len(rows)), counts), categories=training_ids),
        "start_date": dates,
    })


def load_skill_weights(session: Session) -> pd.DataFrame:
    """holder_id, skill_uri (both categorical), weight: the noisy-or of each (holder, skill)'s stored evidence
    rows, as ``features.profile`` aggregates them.

    The database concatenates each holder's evidence into one row (``group_concat`` / ``string_agg``), so
    millions of evidence rows cost one row per holder to fetch, then numpy groups them.
    """
    from serving.db.models import HolderSkill

    uris = _concatenated(session, HolderSkill.skill_uri)
    weights = _concatenated(session, HolderSkill.weight, text=True)
    holder_ids: list[str] = []
    skill_codes: dict[str, int] = {}
    codes: list[np.ndarray] = []
    values: list[np.ndarray] = []
    statement = select(HolderSkill.holder_id, uris, weights).group_by(HolderSkill.holder_id)
    for rows in read_rows(session, statement, chunk_rows=10_000):
        for holder_id, holder_uris, holder_weights in rows:
            names = holder_uris.split(" ")
            holder_ids.append(holder_id)
            codes.append(np.fromiter((skill_codes.setdefault(u, len(skill_codes)) for u in names), np.int64,
                                     len(names)))
            values.append(np.array(holder_weights.split(" "), dtype=np.float64))
    if not holder_ids:
        return pd.DataFrame({"holder_id": pd.Series([], dtype=str), "skill_uri": pd.Series([], dtype=str),
                             "weight": pd.Series([], dtype=np.float64)})
    n_skills = len(skill_codes)
    holder_rows = np.repeat(np.arange(len(holder_ids), dtype=np.int64), [len(c) for c in codes])
    keys = holder_rows * n_skills + np.concatenate(codes)
    log_miss = np.log1p(-np.clip(np.concatenate(values), 0.0, 0.999999))
    unique, inverse = np.unique(keys, return_inverse=True)
    weight = 1.0 - np.exp(np.bincount(inverse, weights=log_miss, minlength=len(unique)))
    return pd.DataFrame({
        "holder_id": pd.Categorical.from_codes(unique // n_skills, categories=holder_ids),
        "skill_uri": pd.Categorical.from_codes(unique % n_skills, categories=list(skill_codes)),
        "weight": weight,
    })


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
    from serving.db.models import Experience, Holder, HolderProfile, LedgerAccount, LedgerEntry

    catalogue = load_catalogue(session, only_open=False)
    sessions = load_sessions(session)
    holders = _frame(session, select(
        Holder.holder_id, Holder.region_code, Holder.employment_status, Holder.qualification_level,
        Holder.preferred_modality, Holder.target_occupation),
        ["holder_id", "region_code", "employment_status", "qualification_level", "preferred_modality",
         "target_occupation"])
    skill_weights = load_skill_weights(session)
    embeddings = {
        str(holder_id): np.frombuffer(blob, dtype="<f4").copy()
        for rows in read_rows(session, select(HolderProfile.holder_id, HolderProfile.dim, HolderProfile.embedding))
        for holder_id, dim, blob in rows
        if dim
    }
    jobs = read_rows(
        session,
        select(Experience.holder_id, Experience.esco_uri)
        .where(Experience.kind == "job", Experience.esco_uri.is_not(None))
        .order_by(Experience.holder_id, Experience.start_date),
    )
    current_occupation = {str(h): str(uri) for rows in jobs for h, uri in rows}  # the latest job wins
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
