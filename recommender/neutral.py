"""Neutral suggestions: what a holder who switched personalisation off gets (R6323-33 purpose 7, neutrality).

Objective criteria only, the same for every holder: the provider's completion record (smoothed, computed before
the date the catalogue arrays are "as of") first, then how many people enrolled, then the training id so the
order is total and reproducible. Nothing of the holder's profile, region, balance or history enters the order;
the only holder-specific step is the business rule that removes what the holder cannot be proposed (closed or
already taken), applied through ``allowed`` as for every list. The top is diversified as personalised lists are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from features.pairs import CatalogueArrays
from recommender.base import HolderContext, Recommendation
from recommender.baselines import ArraysRecommender
from recommender.learned import diversify

# Popularity only breaks near-ties of completion records: at most this much is added to a completion rate.
POPULARITY_WEIGHT = 0.05
NEUTRAL_REASON = ("suggestion neutre : choisie sur des critères objectifs (taux d'achèvement, inscriptions), "
                  "pas sur votre profil")


def neutral_scores(catalogue: CatalogueArrays) -> np.ndarray:
    """One objective score per catalogue row (higher first): completion record plus a small popularity term."""
    popularity = np.log1p(catalogue.popularity.astype(np.float64))
    top = popularity.max() if len(popularity) else 0.0
    scaled = popularity / top if top > 0 else np.zeros_like(popularity)
    return catalogue.provider_completion.astype(np.float64) + POPULARITY_WEIGHT * scaled


def neutral_order(catalogue: CatalogueArrays, scores: np.ndarray | None = None) -> np.ndarray:
    """Every catalogue row, best first (score, then training id): computed once per catalogue, not per request."""
    scores = neutral_scores(catalogue) if scores is None else scores
    return np.lexsort((catalogue.training_ids, -scores))


def neutral_rows(catalogue: CatalogueArrays, allowed: np.ndarray, k: int, *,
                 order: np.ndarray | None = None) -> list[int]:
    """The ``k`` neutral suggestions among the ``allowed`` rows, diversified (one per certification, at most two
    per provider). ``order`` is ``neutral_order(catalogue)`` when the caller keeps it between requests."""
    order = neutral_order(catalogue) if order is None else order
    head: list[int] = []
    # Enough rows for diversification to find k distinct certifications without scanning the whole catalogue.
    for row in order:
        if allowed[row]:
            head.append(int(row))
            if len(head) >= 20 * k:
                break
    return diversify(head, catalogue, k)


class NeutralRecommender(ArraysRecommender):
    """What a holder who switched personalisation off gets: ``neutral_rows`` among what they can be proposed,
    each item scored by the objective score it is ordered by (``neutral_scores``, scaled to [0, 1]) and saying why
    it is there. The order is computed once per catalogue arrays, not per request."""

    model_version = "neutral"

    def __init__(self, catalogue: CatalogueArrays, *, today: Callable[[], dt.date] | None = None) -> None:
        super().__init__(catalogue, today=today)
        scores = neutral_scores(catalogue)
        self.order = neutral_order(catalogue, scores)
        self.scores = scores / (1.0 + POPULARITY_WEIGHT)

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        if k <= 0:
            return []
        rows = neutral_rows(self.catalogue, self.allowed(holder, self.today()), k, order=self.order)
        return self.items(rows, self.scores[rows].tolist(), (NEUTRAL_REASON,))
