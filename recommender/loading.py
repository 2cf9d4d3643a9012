"""Building the served recommender from the database: the open catalogue as the ranker's arrays "as of" a day,
and the ``LearnedRecommender`` over them. The server calls it at start and on reload; benchmarks call it to time
what is served."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from features.catalogue import load_catalogue, training_texts
from features.esco_fr import display_labels, load_french_labels
from features.pairs import CatalogueArrays, SkillSpace
from parcours.settings import Settings
from parcours.store.models import Holder, TrainingSession
from recommender.served import LearnedRecommender, index_vector_search


def catalogue_arrays(session: Session, vectors_for, *, on: dt.date,  # type: ignore[no-untyped-def]
                     statistics_until: dt.date | None = None) -> CatalogueArrays:
    """The catalogue open on ``on`` as the ranker's arrays, with popularity, completion records and
    co-occurrences from the interactions before ``statistics_until`` (default ``on``). ``vectors_for(frame)``
    gives the rows' text vectors (index or embedding cache).

    The server passes the model's ``trained_until``: the behavioural statistics are then exactly those the model
    was fitted on. Counted up to today instead, months of further enrolments pushed a few trainings past the
    trees' thresholds and into most holders' lists (docs/guidance.md); a newer model, or
    ``parcours train --incremental``, brings the statistics forward."""
    from parcours.store.frames import load_interactions

    # Every training, closed ones included, as the fitted arrays have them: a provider's completion record and
    # the mean popularity are counted over all its trainings; closed rows are never candidates (open mask).
    catalogue = load_catalogue(session, today=on, only_open=False)
    ids = catalogue["training_id"].tolist()
    sessions = pd.DataFrame(
        session.execute(select(TrainingSession.training_id, TrainingSession.start_date)
                        .where(TrainingSession.start_date >= on)).all(),
        columns=["training_id", "start_date"])
    sessions = sessions[sessions["training_id"].isin(set(ids))]
    interactions = load_interactions(session)
    until = min(on, statistics_until) if statistics_until is not None else on
    interactions = interactions[interactions["occurred_at"] < pd.Timestamp(until, tz="UTC")]
    regions = dict(session.execute(select(Holder.holder_id, Holder.region_code)).all())
    open_now = catalogue["next_session"].notna().to_numpy()
    open_vectors = vectors_for(catalogue[open_now].reset_index(drop=True))
    vectors = np.zeros((len(catalogue), open_vectors.shape[1] if open_vectors.ndim == 2 else 0), dtype=np.float32)
    vectors[open_now] = open_vectors  # closed rows keep a zero vector: no vector search or encoding for them
    return CatalogueArrays.build(catalogue, sessions, vectors, interactions, regions, SkillSpace.load(), as_of=on)


def build_learned_recommender(session: Session, bundle, settings: Settings,  # type: ignore[no-untyped-def]
                              index: Any = None, *,
                              today: Callable[[], dt.date] = dt.date.today) -> LearnedRecommender:
    """``bundle`` over the catalogue open on ``today()``; ``index`` (a ``CatalogueIndex``) gives the vectors and
    the ANN candidate source, else vectors come from the embedding cache and the ANN source is exact search."""
    from features.embedding_cache import encode_cached
    from features.encoder import model_id
    from features.pairs import FEATURE_NAMES

    # A champion fitted on another feature list would fail at its first prediction: refuse it here, with the fix.
    if tuple(bundle.feature_names) != tuple(FEATURE_NAMES):
        missing = sorted(set(FEATURE_NAMES) - set(bundle.feature_names))
        extra = sorted(set(bundle.feature_names) - set(FEATURE_NAMES))
        raise ValueError(f"fitted on other features (missing {missing}, unknown {extra}): retrain with "
                         "`parcours train`")

    def vectors_for(frame: pd.DataFrame) -> np.ndarray:
        if index is not None:
            rows = [index.row_of(t) for t in frame["training_id"]]
            if all(r is not None for r in rows):
                return np.asarray(index.index.reconstruct_batch(np.array(rows, dtype=np.int64)), dtype=np.float32)
        vectors, _stats = encode_cached(training_texts(frame), settings=settings, show_progress=False)
        return vectors

    catalogue = catalogue_arrays(session, vectors_for, on=today(), statistics_until=bundle.trained_until)
    search = index_vector_search(catalogue, index) if index is not None else None
    vectors_model = index.meta.model_id if index is not None else model_id(settings)
    return LearnedRecommender(bundle=bundle, catalogue=catalogue, space=SkillSpace.load(),
                              skill_labels=display_labels("skill"),
                              french_skills=frozenset(load_french_labels("skill").preferred),
                              vectors_model=vectors_model, vector_search=search, today=today)
