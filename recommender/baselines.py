"""The baselines every model is measured against, as ``Recommender``s over the catalogue arrays.

They answer ``recommend(holder, k)`` over the same ``CatalogueArrays`` (as of a date: the load day when
served, the cut when evaluated) and the same ``allowed`` rule as the learned model: open on ``today()`` and not
already enrolled in or completed by the holder. Popularity ranks by enrolments before the arrays' date; content
similarity by the cosine of the holder's profile embedding and the trainings' text vectors (the vectors the
model's ``profile_similarity`` feature uses). The collaborative baselines learn from behaviour only: item
co-occurrence with the holder's history (``CoOccurrenceRecommender``) and implicit-feedback matrix factorisation
(``FactorsRecommender``, ALS), both as the arrays computed them (``features.collaborative``). Neutral suggestions
are in ``recommender.neutral``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np

from features.pairs import CatalogueArrays
from recommender.base import HolderContext, Recommendation, Recommender
from recommender.candidates import VectorSearch, exact_vector_search


def allowed_mask(catalogue: CatalogueArrays, holder: HolderContext, on: dt.date) -> np.ndarray:
    """Open on ``on`` and not already enrolled in or completed: what the holder can be proposed."""
    allowed = catalogue.open_mask(on)
    taken = [catalogue.position[t] for t in holder.excluded_training_ids if t in catalogue.position]
    allowed[taken] = False
    return allowed


def non_increasing(scores: Sequence[float]) -> list[float]:
    """Scores as a list shows them: each at most the one above it (diversification can move an item below a
    lower-scored one; its score then reads as that item's)."""
    out: list[float] = []
    for score in scores:
        out.append(min(score, out[-1]) if out else score)
    return out


class ArraysRecommender(Recommender):
    """A recommender over ``CatalogueArrays``; ``today`` gives the date ``allowed`` is taken at."""

    def __init__(self, catalogue: CatalogueArrays, *, today: Callable[[], dt.date] | None = None) -> None:
        self.catalogue = catalogue
        self.today = today or (lambda: catalogue.as_of)

    def allowed(self, holder: HolderContext, on: dt.date) -> np.ndarray:
        return allowed_mask(self.catalogue, holder, on)

    def items(self, rows: Sequence[int], scores: Sequence[float], reason: tuple[str, ...] = ()) -> list[Recommendation]:
        return [Recommendation(str(self.catalogue.training_ids[r]), float(s), reason)
                for r, s in zip(rows, non_increasing(scores), strict=True)]


class PopularityRecommender(ArraysRecommender):
    """The most enrolled-in trainings before the arrays' date (ties by training id), the same for everyone."""

    model_version = "popularity"

    def __init__(self, catalogue: CatalogueArrays, *, today: Callable[[], dt.date] | None = None) -> None:
        super().__init__(catalogue, today=today)
        self.order = np.lexsort((catalogue.training_ids, -catalogue.popularity))

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        if k <= 0:
            return []
        allowed = self.allowed(holder, self.today())
        rows = self.order[allowed[self.order]][:k]
        return self.items(rows.tolist(), self.catalogue.popularity[rows].tolist(), ("often chosen",))


class VectorContentRecommender(ArraysRecommender):
    """Content similarity: the allowed trainings whose text vector is nearest the holder's profile embedding.

    Nothing of other holders' behaviour enters. A holder without a usable embedding (no profile yet, or an
    embedding from another model than the vectors') gets an empty list: there is nothing to match."""

    model_version = "content-vectors"

    def __init__(self, catalogue: CatalogueArrays, *, today: Callable[[], dt.date] | None = None,
                 vectors_model: str | None = None, vector_search: VectorSearch | None = None) -> None:
        super().__init__(catalogue, today=today)
        self.vectors_model = vectors_model
        self.vector_search = vector_search or exact_vector_search(catalogue)

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        embedding = holder.embedding
        if (k <= 0 or not holder.personalised or embedding is None
                or len(embedding) != self.catalogue.vectors.shape[1]
                or (holder.embedding_model and self.vectors_model and holder.embedding_model != self.vectors_model)):
            return []
        vector = np.asarray(embedding, dtype=np.float32)
        rows = self.vector_search(vector, k, self.allowed(holder, self.today()))
        scores = self.catalogue.vectors[rows] @ vector
        order = np.lexsort((self.catalogue.training_ids[rows], -scores))  # ANN order is approximate: re-sort
        return self.items(rows[order].tolist(), scores[order].tolist(), ("close to your declared experience",))


class _HistoryRecommender(ArraysRecommender):
    """Ranks the allowed trainings by a score of the holder's interaction history (``scores``); a holder without
    history, or with personalisation off, gets an empty list: there is no behaviour to go on."""

    reason: tuple[str, ...] = ("suivie par des personnes au parcours proche du vôtre",)

    def scores(self, holder: HolderContext) -> np.ndarray | None:
        raise NotImplementedError

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        if k <= 0 or not holder.personalised or not holder.interacted_training_ids:
            return []
        scores = self.scores(holder)
        if scores is None:
            return []
        rows = np.flatnonzero(self.allowed(holder, self.today()) & (scores > 0))
        order = np.lexsort((self.catalogue.training_ids[rows], -scores[rows]))[:k]
        return self.items(rows[order].tolist(), scores[rows[order]].tolist(), self.reason)


class CoOccurrenceRecommender(_HistoryRecommender):
    """Item-to-item co-occurrence with the holder's history (``features.collaborative.CoOccurrence``)."""

    model_version = "cooccurrence"

    def scores(self, holder: HolderContext) -> np.ndarray | None:
        if self.catalogue.cooccurrence is None:
            return None
        return self.catalogue.cooccurrence.scores_for(self.catalogue.history_row(holder.interacted_training_ids))


class FactorsRecommender(_HistoryRecommender):
    """Implicit-feedback matrix factorisation (ALS item factors, the holder folded in from their history:
    ``features.collaborative.ItemFactors``)."""

    model_version = "als"

    def scores(self, holder: HolderContext) -> np.ndarray | None:
        if self.catalogue.factors is None:
            return None
        return self.catalogue.factors.scores_for(self.catalogue.history_row(holder.interacted_training_ids))
