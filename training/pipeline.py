"""``parcours train`` and ``parcours evaluate``: read the world from the database, split by time, fit, evaluate
against the baselines in the same run, and (train) log to MLflow and register the model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.catalogue import training_texts
from features.embedding_cache import encode_cached
from features.pairs import CatalogueArrays, HolderArrays, SkillSpace
from parcours.settings import Settings, get_settings
from parcours.store.engine import migrate, session_scope
from recommender.bundle import RankerBundle
from training.dataset import TimeSplit, WorldFrames, load_world_frames, profiles_before, time_split
from training.evaluate import evaluate
from training.fit import NotEnoughData, build_arrays, fit_bundle


@dataclass
class Prepared:
    frames: WorldFrames
    split: TimeSplit
    catalogue: CatalogueArrays
    holders: HolderArrays
    vectors: np.ndarray


def prepare(db_url: str, *, holdout_days: int = 120, settings: Settings | None = None,
            show_progress: bool = True, timings: dict[str, float] | None = None) -> Prepared:
    """Read, vectorise and split the world. ``timings``, when given, receives the seconds of each phase:
    ``load`` (frames from the database), ``encode`` (training-text vectors, through the embedding cache),
    ``split`` (with the profiles as they stood before the cut, ``profiles_before``) and ``arrays``."""
    settings = settings or get_settings()
    clock = {"last": time.perf_counter()}

    def lap(name: str) -> None:
        now = time.perf_counter()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + now - clock["last"]
        clock["last"] = now

    migrate(db_url)
    with session_scope(db_url) as session:
        frames = load_world_frames(session)
    if frames.catalogue.empty or frames.interactions.empty:
        raise NotEnoughData("no trainings or no interactions in the database: run `parcours import` first")
    if frames.skill_weights.empty:
        raise NotEnoughData("no skills profiles in the database: run `parcours profile recompute` first")
    lap("load")
    vectors, _stats = encode_cached(training_texts(frames.catalogue), settings=settings, show_progress=show_progress)
    lap("encode")
    split = time_split(frames.interactions, holdout_days=holdout_days)
    if not split.held_out:
        raise NotEnoughData("no enrolment after the cut date: nothing to evaluate on")
    frames = profiles_before(frames, split.cut)
    lap("split")
    catalogue, holders = build_arrays(frames, split.cut_date, split.train, vectors, SkillSpace.load())
    lap("arrays")
    return Prepared(frames, split, catalogue, holders, vectors)


def fit_and_evaluate(prepared: Prepared, *, seed: int = 0, truth_dir: Path | None = None,
                     max_holders: int | None = 2000) -> tuple[RankerBundle, dict[str, Any]]:
    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=seed)
    report = evaluate(bundle, prepared.catalogue, prepared.holders, prepared.split, truth_dir=truth_dir,
                      max_holders=max_holders, seed=seed)
    return bundle, report
