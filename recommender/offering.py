"""Which offering of a certification a holder takes: a choice model applied after the ranker.

A certification is taught by several offerings (providers, places, modalities, prices). The served list shows one
per certification (``recommender.learned.diversify``), so once the ranker has put a certification high, what the
holder gets out of it depends on which of its offerings is shown. The ranker learns what a holder takes against
other trainings, mostly of other certifications: it tells certifications apart well and offerings of one
certification less well (docs/guidance.md, "Which offering of a certification").

``OfferingChoice`` learns that second choice on its own: each enrolment of the training data against other
offerings of its certification, a pairwise logistic model of the choice (the taken offering's features minus
another's, both signs, no intercept; standardised, L2). Features that every offering of a certification shares
(the target occupation, the holder's own status) cancel in the differences and get no weight. ``choose_offerings``
then reorders the offerings of each certification among the places the ranker gave them, so the ranker still
decides where a certification stands and the choice model only which of its offerings stands there.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from features.pairs import CatalogueArrays


class OfferingChoice(BaseEstimator):  # type: ignore[misc]
    """A linear utility over pair features, fitted on choice sets: the offering taken and others it was taken over.

    ``C``: inverse L2 strength of the logistic regression on standardised differences. ``margin_weight``: what
    serving adds of the ranker's margin to the choice utility when it orders a certification's offerings (0: the
    choice model alone; 1: both log-odds added, a product of the two models).
    Fitted: ``coef_`` (one weight per feature, in the features' own units: ``score`` is ``X @ coef_``),
    ``n_features_in_``, ``n_choice_sets_``."""

    def __init__(self, *, C: float = 0.1, margin_weight: float = 0.0, max_iter: int = 2000) -> None:  # noqa: N803
        self.C = C
        self.margin_weight = margin_weight
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, choice_set: np.ndarray, chosen: np.ndarray) -> OfferingChoice:  # noqa: N803
        """``X``: one row of features per (set, offering); ``choice_set``: each row's set id; ``chosen``: the row is
        the offering taken. Every set holds exactly one chosen row and at least one other."""
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        choice_set = np.asarray(choice_set)
        chosen = np.asarray(chosen, dtype=bool)
        if X.ndim != 2 or len(X) != len(choice_set) or len(X) != len(chosen):
            raise ValueError("X must be 2-D with one choice_set and one chosen flag per row")
        if not np.isfinite(X).all():
            raise ValueError("X holds NaN or infinite values")
        if not (np.isfinite(self.C) and self.C > 0):
            raise ValueError(f"C must be a positive number, not {self.C!r}")
        if not (np.isfinite(self.margin_weight) and self.margin_weight >= 0):
            raise ValueError(f"margin_weight must be a number ≥ 0, not {self.margin_weight!r}")
        sets, set_index = np.unique(choice_set, return_inverse=True)
        n_chosen = np.bincount(set_index, weights=chosen, minlength=len(sets))
        size = np.bincount(set_index, minlength=len(sets))
        if len(sets) == 0 or (n_chosen != 1).any() or (size < 2).any():
            raise ValueError("every choice set needs exactly one chosen row and at least one other")
        taken_row = np.empty(len(sets), dtype=np.int64)
        taken_row[set_index[chosen]] = np.flatnonzero(chosen)
        others = np.flatnonzero(~chosen)
        differences = X[taken_row[set_index[others]]] - X[others]
        scale = np.sqrt((differences**2).mean(axis=0))  # the spread of the mirrored differences, whose mean is 0
        varies = scale > 0
        coef = np.zeros(X.shape[1])
        if varies.any():
            z = differences[:, varies] / scale[varies]
            model = LogisticRegression(C=self.C, fit_intercept=False, max_iter=self.max_iter)
            model.fit(np.vstack([z, -z]), np.r_[np.ones(len(z)), np.zeros(len(z))])
            coef[varies] = model.coef_.ravel() / scale[varies]
        self.coef_ = coef
        self.n_features_in_ = X.shape[1]
        self.n_choice_sets_ = len(sets)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """The choice utility of each row (only differences within a certification mean anything)."""
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float64) @ self.coef_


def offering_order(codes: np.ndarray, score: np.ndarray) -> np.ndarray:
    """A permutation of positions ``0..n-1`` (a ranked list whose items have certification ``codes``) that puts
    each certification's offerings, in the places they already hold, in decreasing ``score`` (ties keep their
    order); items alone in their certification keep their place."""
    position = np.arange(len(codes))
    # Both orders group the positions by certification: the first lists each group's places in ascending order,
    # the second its offerings best first; the k-th place of a group takes its k-th best offering.
    places = np.lexsort((position, codes))
    best_first = np.lexsort((position, -np.asarray(score, dtype=np.float64), codes))
    permutation = np.empty_like(position)
    permutation[places] = best_first
    return permutation


def choice_utility(choice: OfferingChoice, features: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """What orders a certification's offerings before any exposure price: the choice model's utility plus
    ``choice.margin_weight`` × the ranker's margin."""
    utility = choice.score(features)
    if choice.margin_weight:
        utility = utility + choice.margin_weight * np.asarray(margin, dtype=np.float64)
    return utility


def choose_offerings(choice: OfferingChoice, catalogue: CatalogueArrays, rows: np.ndarray, features: np.ndarray,
                     margin: np.ndarray, price: np.ndarray | None = None) -> np.ndarray:
    """``offering_order`` of ranked catalogue ``rows`` (their feature rows ``features``, ranker ``margin``s and
    exposure ``price``s) by ``choice_utility`` minus the price: an offering shown to too many holders
    (``recommender.exposure``) pays its price here too, or the choice model would bring it back first among its
    certification's offerings wherever the prices had moved it down."""
    utility = choice_utility(choice, features, margin)
    if price is not None:
        utility = utility - np.asarray(price, dtype=np.float64)
    return offering_order(catalogue.certification_codes()[rows], utility)
