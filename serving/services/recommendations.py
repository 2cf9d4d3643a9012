"""Recommendations for a holder: which recommender answers, and the priced, explained list it gives.

Which recommender: the MLflow champion (``training.registry.load_champion``) over the open catalogue, loaded at
start and on the admin reload call. With no usable champion (none registered, the registry unreachable, a
catalogue too small to build on) the content-similarity recommender answers instead and says it is degraded;
``/health`` reports it. Every item is priced with the holder's real funding plan (the rule and balances a
confirmation would use today, top-ups included), so the cost in the reasons is the cost the holder would pay.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from features.catalogue import load_catalogue, training_texts
from features.esco import load_taxonomy
from features.pairs import CatalogueArrays, SkillSpace
from parcours.settings import Settings
from parcours.store.models import Holder, Training, TrainingSession
from recommender.base import Recommender
from recommender.content import ContentRecommender
from recommender.learned import compose_reasons
from recommender.served import LearnedRecommender, index_vector_search
from serving.services.enrolment_funding import estimate_funding
from serving.services.holders import holder_context, today

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecommenderState:
    """What answers recommendations, and why (shown by ``/health`` and the reload call)."""

    recommender: Recommender | None
    detail: str

    @property
    def model_version(self) -> str | None:
        return None if self.recommender is None else self.recommender.model_version

    @property
    def degraded(self) -> bool:
        return self.recommender is None or self.recommender.degraded

    def as_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "degraded": self.degraded, "detail": self.detail}


def catalogue_arrays(session: Session, vectors_for, *, on: dt.date) -> CatalogueArrays:  # type: ignore[no-untyped-def]
    """The open catalogue as the ranker's arrays, with popularity and completion records from every
    interaction before ``on``. ``vectors_for(frame)`` gives the rows' text vectors (index or embedding cache)."""
    from parcours.store.frames import load_interactions

    catalogue = load_catalogue(session, today=on)
    ids = catalogue["training_id"].tolist()
    sessions = pd.DataFrame(
        session.execute(select(TrainingSession.training_id, TrainingSession.start_date)
                        .where(TrainingSession.start_date >= on)).all(),
        columns=["training_id", "start_date"])
    sessions = sessions[sessions["training_id"].isin(set(ids))]
    interactions = load_interactions(session)
    interactions = interactions[interactions["occurred_at"] < pd.Timestamp(on, tz="UTC")]
    regions = dict(session.execute(select(Holder.holder_id, Holder.region_code)).all())
    return CatalogueArrays.build(catalogue, sessions, vectors_for(catalogue), interactions, regions,
                                 SkillSpace.load(), as_of=on)


def load_recommender(factory: sessionmaker[Session], settings: Settings,
                     catalogue_search: Any = None) -> RecommenderState:
    """The champion over the open catalogue, or content similarity (degraded) when there is no usable champion.
    ``catalogue_search``: the loaded ``CatalogueSearch``, whose index gives vectors and the ANN source."""
    from recommender.bundle import load_champion

    with factory() as session:
        catalogue = load_catalogue(session)
        if catalogue.empty:
            log.warning("empty catalogue: recommendations unavailable until a world is imported")
            return RecommenderState(None, "empty catalogue: run `parcours import`")
        bundle = load_champion(settings)
        if bundle is None:
            detail = "no champion model registered (run `parcours train`): content similarity answers"
            return RecommenderState(ContentRecommender(degraded=True).fit(catalogue), detail)
        try:
            index = None if catalogue_search is None else catalogue_search.index
            learned = build_learned_recommender(session, bundle, settings, index)
        except Exception as exc:  # noqa: BLE001 - any failure to build on the champion falls back, and says why
            log.exception("champion %s unusable", bundle.model_version)
            detail = (f"champion {bundle.model_version} unusable ({type(exc).__name__}: {exc}): "
                      "content similarity answers")
            return RecommenderState(ContentRecommender(degraded=True).fit(catalogue), detail)
    return RecommenderState(learned, f"champion {learned.model_version} over {len(learned.catalogue.training_ids)} "
                                     "open trainings")


def build_learned_recommender(session: Session, bundle, settings: Settings,  # type: ignore[no-untyped-def]
                              index: Any = None) -> LearnedRecommender:
    """``bundle`` over today's open catalogue; ``index`` (a ``CatalogueIndex``) gives the vectors and the ANN
    candidate source, else vectors come from the embedding cache and the ANN source is exact search."""
    from features.embedding_cache import encode_cached
    from features.encoder import model_id


    def vectors_for(frame: pd.DataFrame) -> np.ndarray:
        if index is not None:
            rows = [index.row_of(t) for t in frame["training_id"]]
            if all(r is not None for r in rows):
                return np.asarray(index.index.reconstruct_batch(np.array(rows, dtype=np.int64)), dtype=np.float32)
        vectors, _stats = encode_cached(training_texts(frame), settings=settings, show_progress=False)
        return vectors

    catalogue = catalogue_arrays(session, vectors_for, on=today())
    taxonomy = load_taxonomy()
    labels = dict(zip(taxonomy.skills.index, taxonomy.skills["label"].astype(str), strict=True))
    search = index_vector_search(catalogue, index) if index is not None else None
    vectors_model = index.meta.model_id if index is not None else model_id(settings)
    return LearnedRecommender(bundle=bundle, catalogue=catalogue, space=SkillSpace.load(), skill_labels=labels,
                              vectors_model=vectors_model, vector_search=search, today=today)


@dataclass(frozen=True)
class PricedRecommendation:
    training_id: str
    title: str
    score: float
    price_cents: int
    out_of_pocket_cents: int
    reasons: list[str]
    skills_closed: list[str]
    completion_probability: float | None
    risk: str | None


def recommendations_for(session: Session, recommender: Recommender, holder: Holder, k: int, *,
                        personalised: bool | None = None) -> tuple[bool, list[PricedRecommendation]]:
    """(personalised?, the ``k`` items priced with the holder's funding plan today and explained)."""
    context = holder_context(session, holder, personalised=personalised)
    on = today()
    items: list[PricedRecommendation] = []
    for rec in recommender.recommend(context, k=k):
        training = session.get(Training, rec.training_id)
        if training is None:  # removed since the recommender was loaded
            continue
        plan = estimate_funding(session, holder.holder_id, training.training_id, on, price_cents=training.price_cents)
        said = compose_reasons(rec.skills_closed, plan.out_of_pocket_cents, rec.reasons, rec.completion_probability,
                               rec.risk)
        items.append(PricedRecommendation(
            training_id=rec.training_id, title=training.title, score=rec.score, price_cents=training.price_cents,
            out_of_pocket_cents=plan.out_of_pocket_cents, reasons=said, skills_closed=list(rec.skills_closed),
            completion_probability=rec.completion_probability, risk=rec.risk,
        ))
    return context.personalised, items
