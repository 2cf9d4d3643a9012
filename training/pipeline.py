"""``parcours train`` and ``parcours evaluate``: read the world from the database, split by time, fit, evaluate
against the baselines in the same run, and (train) log to MLflow and register the model. Every evaluation goes
through ``evaluate_prepared``, so ``parcours train`` and ``parcours evaluate`` report the same numbers for the
same model and split."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.catalogue import training_texts
from features.embedding_cache import encode_cached
from features.pairs import FEATURE_NAMES, CatalogueArrays, HolderArrays, SkillSpace
from parcours.settings import Settings, get_settings
from parcours.store.engine import migrate, session_scope
from recommender.bundle import RankerBundle
from training.dataset import TimeSplit, WorldFrames, load_world_frames, profiles_before, time_split
from training.evaluate import evaluate
from training.fit import NotEnoughData, build_arrays, fit_bundle

# Held-out holders evaluated (a seeded sample beyond): the same for ``parcours train`` and ``parcours evaluate``.
MAX_HOLDERS = 2000


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


def evaluate_prepared(bundle: RankerBundle, prepared: Prepared, *, seed: int = 0, truth_dir: Path | None = None,
                      max_holders: int | None = MAX_HOLDERS) -> dict[str, Any]:
    """``training.evaluate.evaluate`` of ``bundle`` on the prepared split: the one call ``parcours train`` (the
    challenger, the champion), ``parcours evaluate`` and the notebooks make, so equal inputs give equal reports."""
    return evaluate(bundle, prepared.catalogue, prepared.holders, prepared.split, prepared.frames,
                    truth_dir=truth_dir, max_holders=max_holders, seed=seed)


def fit_and_evaluate(prepared: Prepared, *, seed: int = 0, truth_dir: Path | None = None,
                     max_holders: int | None = MAX_HOLDERS) -> tuple[RankerBundle, dict[str, Any]]:
    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=seed, frames=prepared.frames)
    return bundle, evaluate_prepared(bundle, prepared, seed=seed, truth_dir=truth_dir, max_holders=max_holders)


def evaluate_champion(prepared: Prepared, champion: RankerBundle | None, *, seed: int = 0,
                      truth_dir: Path | None = None) -> tuple[str, dict[str, Any]]:
    """(what was evaluated, the report) for ``parcours evaluate``: ``champion`` (the registered one, the model the
    server answers with, loaded by the caller with its database check), evaluated as ``parcours train`` evaluated
    it (``evaluate_prepared``, on the held-out sample of its own training seed), so both print the same numbers
    for the same model and split. With no champion, one fitted on other features than this version computes, or
    one trained past this split's cut (it would have learnt from the held-out period), a model is fitted on the
    split with ``seed`` instead."""
    cut = prepared.split.cut_date
    if champion is None:
        why = "no champion registered"
    elif tuple(champion.feature_names) != FEATURE_NAMES:
        why = f"the champion {champion.model_version} was fitted on other features than this version computes"
    elif champion.trained_until > cut:
        why = (f"the champion {champion.model_version} was trained until {champion.trained_until.isoformat()}, "
               f"past this split's cut {cut.isoformat()}")
    else:
        sample_seed = int(champion.params.get("seed", seed))  # type: ignore[call-overload]
        report = evaluate_prepared(champion, prepared, seed=sample_seed, truth_dir=truth_dir)
        return (f"evaluated the champion {champion.model_version} (trained until "
                f"{champion.trained_until.isoformat()}, seed {sample_seed})", report)
    _bundle, report = fit_and_evaluate(prepared, seed=seed, truth_dir=truth_dir)
    return f"{why}: evaluated a model fitted on the split (seed {seed})", report
