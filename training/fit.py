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

from features.pairs import FEATURE_NAMES, CatalogueArrays, HolderArrays, SkillSpace, pair_features
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
    """(holder rows, training rows, enrolled label, completed label) of every training pair."""
    frame = interactions[interactions["holder_id"].isin(holders.position)
                         & interactions["training_id"].isin(catalogue.position)]
    flags = frame.assign(
        positive=frame["event"].isin(POSITIVE_EVENTS), completed=frame["event"] == "complete"
    ).groupby(["holder_id", "training_id"], sort=True)[["positive", "completed"]].any().reset_index()
    h = flags["holder_id"].map(holders.position).to_numpy(np.int64)
    t = flags["training_id"].map(catalogue.position).to_numpy(np.int64)
    y = flags["positive"].to_numpy(np.int8)
    completed = flags["completed"].to_numpy(np.int8)
    rng = np.random.default_rng(seed)
    positive_h = h[y == 1]
    extra_h = np.repeat(positive_h, random_negatives)
    extra_t = rng.integers(0, len(catalogue.training_ids), size=len(extra_h))
    seen = set(zip(h.tolist(), t.tolist(), strict=True))
    keep = np.array([(a, b) not in seen for a, b in zip(extra_h.tolist(), extra_t.tolist(), strict=True)], dtype=bool)
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
    X = pair_features(catalogue, holders, h, t, on=split.cut_date)  # noqa: N806
    features_seconds = time.perf_counter() - started
    params = {"random_negatives": random_negatives, "seed": seed, **(ranker_params or {})}
    ranker = TrainingRanker(random_state=seed, **(ranker_params or {})).fit(X, enrolled)
    completion = None
    enrolled_rows = enrolled == 1
    if enrolled_rows.sum() >= 50 and 0 < completed[enrolled_rows].mean() < 1:
        completion = TrainingRanker(max_iter=100, random_state=seed).fit(X[enrolled_rows], completed[enrolled_rows])
    stats = {"pairs": float(len(h)), "positives": float(enrolled.sum()), "features_seconds": features_seconds,
             "fit_seconds": time.perf_counter() - started - features_seconds}
    return RankerBundle(ranker, completion, FEATURE_NAMES, split.cut_date, params, stats)
