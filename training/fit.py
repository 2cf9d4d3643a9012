"""Fitting the ranker: training pairs from interactions before the cut, features, the two models.

Positives are the holder's enrolments (and completions); negatives are the trainings the holder viewed and did
not enrol in (hard negatives: a search showed them), plus ``random_negatives`` trainings drawn uniformly from
the catalogue per positive (easy negatives, so the model also learns what is plainly off-topic).
The completion model is fitted on enrolments only, with "completed" as the label.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.pairs import (
    FEATURE_NAMES,
    CatalogueArrays,
    HolderArrays,
    SkillSpace,
    pair_features,
    row_positions,
)
from recommender.ranker import TrainingRanker
from training.dataset import POSITIVE_EVENTS, TimeSplit, WorldFrames


@dataclass
class RankerBundle:
    """What ``parcours train`` fits, logs and registers, and what the server loads."""

    ranker: TrainingRanker
    completion: TrainingRanker | None
    feature_names: tuple[str, ...]
    trained_until: dt.date
    params: dict[str, object]
    stats: dict[str, float] = field(default_factory=dict)
    model_version: str = "unregistered"


def build_arrays(frames: WorldFrames, as_of: dt.date, interactions: pd.DataFrame,
                 vectors: np.ndarray, space: SkillSpace | None = None) -> tuple[CatalogueArrays, HolderArrays]:
    space = space or SkillSpace.load()
    holder_regions = dict(zip(frames.holders["holder_id"], frames.holders["region_code"], strict=True))
    catalogue = CatalogueArrays.build(frames.catalogue, frames.sessions, vectors, interactions, holder_regions,
                                      space, as_of=as_of)
    holders = HolderArrays.build(frames.holders, frames.skill_weights, frames.embeddings, frames.current_occupation,
                                 frames.balances, space, vectors.shape[1])
    return catalogue, holders


def training_pairs(
    catalogue: CatalogueArrays, holders: HolderArrays, interactions: pd.DataFrame, *,
    random_negatives: int = 2, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(holder rows, training rows, enrolled label, completed label) of every training pair.

    One pair per (holder, training) with any interaction, in holder id then training id order, then the random
    negatives; vectorised (integer keys, no per-interaction Python).
    """
    h_all = row_positions(interactions["holder_id"], holders.position)
    t_all = row_positions(interactions["training_id"], catalogue.position)
    known = (h_all >= 0) & (t_all >= 0)
    events = interactions["event"]
    positive = events.isin(POSITIVE_EVENTS).to_numpy()[known]
    complete = (events == "complete").to_numpy()[known]
    # Ranks of the ids, so that sorting integer keys sorts by (holder id, training id) like a sort on the ids.
    holder_by_rank = np.argsort(holders.holder_ids, kind="stable")
    training_by_rank = np.argsort(catalogue.training_ids, kind="stable")
    holder_rank = np.empty_like(holder_by_rank)
    holder_rank[holder_by_rank] = np.arange(len(holder_by_rank))
    training_rank = np.empty_like(training_by_rank)
    training_rank[training_by_rank] = np.arange(len(training_by_rank))
    n_trainings = len(catalogue.training_ids)
    keys = holder_rank[h_all[known]].astype(np.int64) * n_trainings + training_rank[t_all[known]]
    unique, inverse = np.unique(keys, return_inverse=True)
    h = holder_by_rank[unique // n_trainings].astype(np.int64)
    t = training_by_rank[unique % n_trainings].astype(np.int64)
    y = (np.bincount(inverse, weights=positive, minlength=len(unique)) > 0).astype(np.int8)
    completed = (np.bincount(inverse, weights=complete, minlength=len(unique)) > 0).astype(np.int8)
    rng = np.random.default_rng(seed)
    positive_h = h[y == 1]
    extra_h = np.repeat(positive_h, random_negatives)
    extra_t = rng.integers(0, n_trainings, size=len(extra_h))
    keep = ~np.isin(extra_h * n_trainings + extra_t, h * n_trainings + t)  # not a pair the holder interacted with
    h = np.concatenate([h, extra_h[keep]])
    t = np.concatenate([t, extra_t[keep]])
    return h, t, np.concatenate([y, np.zeros(keep.sum(), np.int8)]), np.concatenate(
        [completed, np.zeros(keep.sum(), np.int8)])


def fit_bundle(
    catalogue: CatalogueArrays, holders: HolderArrays, split: TimeSplit, *,
    random_negatives: int = 2, seed: int = 0, ranker_params: dict[str, Any] | None = None,
) -> RankerBundle:
    started = time.perf_counter()
    h, t, enrolled, completed = training_pairs(catalogue, holders, split.train, random_negatives=random_negatives,
                                               seed=seed)
    pairs_seconds = time.perf_counter() - started
    X = pair_features(catalogue, holders, h, t, on=split.cut_date)  # noqa: N806
    features_seconds = time.perf_counter() - started - pairs_seconds
    params = {"random_negatives": random_negatives, "seed": seed, **(ranker_params or {})}
    ranker = TrainingRanker(random_state=seed, **(ranker_params or {})).fit(X, enrolled)
    completion = None
    enrolled_rows = enrolled == 1
    if enrolled_rows.sum() >= 50 and 0 < completed[enrolled_rows].mean() < 1:
        completion = TrainingRanker(max_iter=100, random_state=seed).fit(X[enrolled_rows], completed[enrolled_rows])
    stats = {"pairs": float(len(h)), "positives": float(enrolled.sum()), "pairs_seconds": pairs_seconds,
             "features_seconds": features_seconds,
             "fit_seconds": time.perf_counter() - started - pairs_seconds - features_seconds}
    return RankerBundle(ranker, completion, FEATURE_NAMES, split.cut_date, params, stats)
