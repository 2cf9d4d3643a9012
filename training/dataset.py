"""Datasets for fitting and offline evaluation, with a time split that never leaks the future.

The split holds out by time: interactions strictly before ``cut`` are the training data; the
held-out positives are each holder's enrolments (and completions) at or after ``cut`` in trainings they had not
enrolled in before. Everything a model or a baseline sees (popularity counts, exclusions, balances) is computed
from data before the cut only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Text, cast, func, literal, select
from sqlalchemy.orm import Session

from features.profile.weights import noisy_or_by_key
from parcours.store.bulk import read_rows
from parcours.store.frames import load_interactions, read_frame

POSITIVE_EVENTS = ("enrol", "complete")
NO_TRAINING = "-"  # the training column of evidence from a declaration (training ids hold no space)


def _concatenated(session: Session, column: Any, text: bool = False) -> Any:
    """The values of ``column`` in a group joined by spaces (``group_concat`` / ``string_agg``)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.string_agg(cast(column, Text) if text else column, literal(" "))
    return func.group_concat(column, literal(" "))


def load_sessions(session: Session) -> pd.DataFrame:
    """training_id (categorical), start_date (datetime64) of every session: one row per training is fetched
    (its dates concatenated by the database) and the millions of dates are parsed by numpy at once."""
    from parcours.store.models import TrainingSession

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


@dataclass(frozen=True)
class SkillEvidence:
    """Every stored evidence row of every holder's skills profile, as codes (one entry per row).

    ``training`` is the code of the training whose completion in our files gave the row, -1 for evidence from
    a declaration: it lets an evaluation drop what completions after its cut taught (``weights(drop=…)``).
    """

    holder_ids: list[str]
    skill_uris: list[str]
    training_ids: list[str]
    holder: np.ndarray
    skill: np.ndarray
    training: np.ndarray
    weight: np.ndarray

    def weights(self, drop: np.ndarray | None = None) -> pd.DataFrame:
        """holder_id, skill_uri (both categorical), weight: the noisy-or of each (holder, skill)'s evidence rows
        (``features.profile.weights.noisy_or_by_key``, as the profile aggregates them), without the rows where
        ``drop`` is true."""
        keep = slice(None) if drop is None else ~drop
        n_skills = max(len(self.skill_uris), 1)
        unique, weight = noisy_or_by_key(self.holder[keep] * n_skills + self.skill[keep], self.weight[keep])
        return pd.DataFrame({
            "holder_id": pd.Categorical.from_codes(unique // n_skills, categories=self.holder_ids),
            "skill_uri": pd.Categorical.from_codes(unique % n_skills, categories=self.skill_uris),
            "weight": weight,
        })

    def from_completions(self, completions: pd.DataFrame) -> np.ndarray:
        """Rows given by these completions (holder_id, training_id): the evidence each of them taught."""
        if completions.empty or not len(self.holder):
            return np.zeros(len(self.holder), dtype=bool)
        holder_code = {h: i for i, h in enumerate(self.holder_ids)}
        training_code = {t: i for i, t in enumerate(self.training_ids)}
        pairs = {
            (holder_code[h], training_code[t])
            for h, t in zip(completions["holder_id"].astype(str), completions["training_id"].astype(str),
                            strict=True)
            if h in holder_code and t in training_code
        }
        if not pairs:
            return np.zeros(len(self.holder), dtype=bool)
        n_trainings = len(self.training_ids)
        wanted = np.fromiter((h * n_trainings + t for h, t in pairs), np.int64, len(pairs))
        keys = self.holder * n_trainings + self.training
        return (self.training >= 0) & np.isin(keys, wanted)


def load_skill_evidence(session: Session) -> SkillEvidence:
    """Every holder's stored evidence rows (``holder_skills``), read in bulk.

    The database concatenates each holder's evidence into one row (``group_concat`` / ``string_agg``), so
    millions of evidence rows cost one row per holder to fetch, then numpy codes them.
    """
    from parcours.store.models import HolderSkill

    uris = _concatenated(session, HolderSkill.skill_uri)
    weights = _concatenated(session, HolderSkill.weight, text=True)
    trainings = _concatenated(session, func.coalesce(HolderSkill.training_id, literal(NO_TRAINING)), text=True)
    holder_ids: list[str] = []
    skill_codes: dict[str, int] = {}
    training_codes: dict[str, int] = {}
    skills: list[np.ndarray] = []
    sources: list[np.ndarray] = []
    values: list[np.ndarray] = []
    statement = select(HolderSkill.holder_id, uris, weights, trainings).group_by(HolderSkill.holder_id)
    for rows in read_rows(session, statement, chunk_rows=10_000):
        for holder_id, holder_uris, holder_weights, holder_trainings in rows:
            names = holder_uris.split(" ")
            holder_ids.append(holder_id)
            skills.append(np.fromiter((skill_codes.setdefault(u, len(skill_codes)) for u in names), np.int64,
                                      len(names)))
            sources.append(np.fromiter(
                (-1 if t == NO_TRAINING else training_codes.setdefault(t, len(training_codes))
                 for t in holder_trainings.split(" ")), np.int64, len(names)))
            values.append(np.array(holder_weights.split(" "), dtype=np.float64))

    def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.array([], dtype=dtype)

    return SkillEvidence(
        holder_ids=holder_ids,
        skill_uris=list(skill_codes),
        training_ids=list(training_codes),
        holder=np.repeat(np.arange(len(holder_ids), dtype=np.int64), [len(c) for c in skills]),
        skill=joined(skills, np.int64),
        training=joined(sources, np.int64),
        weight=joined(values, np.float64),
    )


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
    """Split at ``cut`` (default: midnight UTC of the day ``holdout_days`` before the last interaction, so that
    "before the cut" and "before ``cut_date``", which a fitted model records as its ``trained_until``, are the
    same interactions)."""
    if interactions.empty:
        raise ValueError("no interactions: import a world first")
    if cut is None:
        cut = (interactions["occurred_at"].max() - pd.Timedelta(days=holdout_days)).normalize()
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
    skill_weights: pd.DataFrame  # the stored profiles' weights (``evidence.weights()``)
    embeddings: dict[str, np.ndarray]
    current_occupation: dict[str, str]
    balances: dict[str, tuple[int, int]]
    interactions: pd.DataFrame
    evidence: SkillEvidence


def load_world_frames(session: Session) -> WorldFrames:
    """Read the catalogue, holders, stored skills profiles, balances and interactions in bulk.

    Balances are today's ledger balances (imported worlds carry balances dated at their ``as_of``): a holder
    attribute, not an interaction, so it does not leak held-out enrolments.
    """
    from features.catalogue import load_catalogue
    from parcours.store.models import Experience, Holder, HolderProfile, LedgerAccount, LedgerEntry

    catalogue = load_catalogue(session, only_open=False)
    sessions = load_sessions(session)
    holders = read_frame(session, select(
        Holder.holder_id, Holder.region_code, Holder.employment_status, Holder.qualification_level,
        Holder.preferred_modality, Holder.target_occupation),
        ["holder_id", "region_code", "employment_status", "qualification_level", "preferred_modality",
         "target_occupation"])
    evidence = load_skill_evidence(session)
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
    return WorldFrames(catalogue, sessions, holders, evidence.weights(), embeddings, current_occupation,
                       {h: (v[0], v[1]) for h, v in balances.items()}, load_interactions(session), evidence)


def profiles_before(frames: WorldFrames, cut: pd.Timestamp) -> WorldFrames:
    """``frames`` with each skills profile as it stood before ``cut``: without the evidence that trainings
    completed at or after the cut gave (held-out behaviour, which a model evaluated on that split must not
    see), and with the embeddings of the holders concerned recomputed from what remains
    (``features.profile.embedding.profile_embedding``'s recipe). Other holders keep their stored profile."""
    from features.esco_matcher import get_index
    from features.profile.embedding import top_skills, weighted_skill_vector

    interactions = frames.interactions
    later = interactions[(interactions["event"] == "complete") & (interactions["occurred_at"] >= cut)]
    drop = frames.evidence.from_completions(later)
    if not drop.any():
        return frames
    weights = frames.evidence.weights(drop)
    affected = {frames.evidence.holder_ids[i] for i in np.unique(frames.evidence.holder[drop])}
    embeddings = {h: v for h, v in frames.embeddings.items() if h not in affected}
    rows = weights[weights["holder_id"].isin(affected)]
    skills = get_index("skill", "names")
    for holder_id, group in rows.groupby("holder_id", observed=True):
        uris = group["skill_uri"].astype(str).tolist()
        values = group["weight"].to_numpy()
        top = top_skills(uris, values)
        vector = weighted_skill_vector([uris[i] for i in top], values[top], skills)
        if vector is not None:
            embeddings[str(holder_id)] = vector
    return dataclasses.replace(frames, skill_weights=weights, embeddings=embeddings)
