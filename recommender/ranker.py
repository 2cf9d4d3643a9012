"""The learned ranker: a scikit-learn estimator over ``features.pairs.FEATURE_NAMES``.

A ``Pipeline`` of a histogram gradient-boosting classifier, plus (``linear_weight`` > 0) the margin of a logistic
regression signed by the monotone constraints (``fit_signed_logistic``), whose summed margin is then calibrated on
a held-out slice of the training pairs (Platt scaling, below), so a score reads as a probability of enrolment. The
same class, fitted on enrolments only with "completed" as the label, gives the completion probability shown to
holders.

``TrainingRanker.update`` continues a fitted ranker on new pairs only (``parcours train --incremental``): the
fitted boosting is kept as it is and a ``MarginCorrection`` adds boosting iterations fitted on the new pairs,
then the calibration is refitted on a held-out slice of the new pairs. Why not
``HistGradientBoostingClassifier(warm_start=True)`` on the new pairs: a warm-started fit re-bins the features
from the data it is given, then computes the existing trees' predictions from bin indices with the old trees'
bin thresholds, so on data other than the first fit's its gradients start from wrong predictions. With
scikit-learn 1.9, on inputs shifted under the same relation, ten warm-started trees raised the log-loss on the
very data they were fitted on (0.26 → 0.34) and doubled it on the old data (0.19 → 0.38), where the update below
lowered the first (0.27 → 0.23) and kept the second (``tests/test_incremental.py`` checks both).
``MarginCorrection`` only calls the fitted model's ``decision_function`` on raw features: no such coupling.

Calibration: Platt scaling of the margin with Platt's smoothed targets (Platt 1999, "Probabilistic outputs for
support vector machines", §2.2: positives count as (N₊+1)/(N₊+2), negatives as 1/(N₋+2)), then bounded to
[``PROBABILITY_FLOOR``, 1 − ``PROBABILITY_FLOOR``]. It was isotonic regression, which gave exactly 0 % to whole
ranges of margins (253 of 300 served completion estimates on the demo) and needed five cross-validation folds
of each class, which a small incremental update does not have. A logistic curve is monotone in the margin, so
the ranking is the margin's order, as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

# No estimate from a few hundred enrolments is surer than this of either outcome.
PROBABILITY_FLOOR = 0.01
# Up to this many rows (a request's candidates) the margin walks the trees directly (``_tree_margin``); bigger
# batches (training, evaluation) take scikit-learn's own path and its OpenMP threads.
DIRECT_WALK_ROWS = 4096


def fit_platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of ``P(y=1) = σ(slope · margin + intercept)`` fitted by maximum likelihood on Platt's
    smoothed targets: each example is counted twice, as positive with weight t and negative with 1 − t."""
    margin = np.asarray(margin, dtype=np.float64).reshape(-1, 1)
    positive = np.asarray(y).astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    target = np.where(positive, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    model = LogisticRegression(C=1e6, max_iter=1000).fit(
        np.vstack([margin, margin]), np.r_[np.ones(len(margin)), np.zeros(len(margin))],
        sample_weight=np.r_[target, 1 - target])
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def platt_probability(margin: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    slope, intercept = calibration
    return np.clip(expit(slope * np.asarray(margin, dtype=np.float64) + intercept), PROBABILITY_FLOOR,
                   1.0 - PROBABILITY_FLOOR)


def fit_signed_logistic(X: np.ndarray, y: np.ndarray, signs: Sequence[int] | None = None, *,  # noqa: N803
                        C: float = 1.0) -> tuple[np.ndarray, float]:  # noqa: N803 - scikit-learn naming
    """(weights on the raw features, intercept) of an L2 logistic regression fitted on standardised features, whose
    weights keep the signs asked: ``signs[j]`` +1 for ≥ 0, −1 for ≤ 0, 0 free (as ``monotonic_cst``). Features whose
    weight comes out with the wrong sign are left out and the rest fitted again, until none is (at most one refit
    per feature): a linear term may then only add to a margin monotone in those features.

    Why not a bounded solver: scikit-learn's ``LogisticRegression`` takes no bounds, and leaving a feature out is
    what a bound at zero would do to it once active."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    n = X.shape[1]
    wanted = np.zeros(n) if signs is None else np.asarray(signs, dtype=np.float64)
    if wanted.shape != (n,):
        raise ValueError(f"signs must have one entry per feature ({n}), not {wanted.shape}")
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)  # noqa: N806
    active = np.ones(n, dtype=bool)
    coef = np.zeros(n)
    intercept = 0.0
    for _ in range(n + 1):
        coef = np.zeros(n)
        if active.any():
            model = LogisticRegression(C=C, max_iter=1000).fit(Z[:, active], y)
            coef[active], intercept = model.coef_[0], float(model.intercept_[0])
        else:
            intercept = float(np.log(max(y.mean(), 1e-12) / max(1 - y.mean(), 1e-12)))
        wrong = active & (coef * wanted < 0)
        if not wrong.any():
            break
        active &= ~wrong
    # margin = ((x − mean) / scale) · coef + intercept, read on raw features
    weights = coef / scaler.scale_
    return weights, intercept - float(scaler.mean_ @ weights)


class LinearOffset(ClassifierMixin, BaseEstimator):
    """A fitted classifier's margin plus a fixed linear term, ``base(X) + X @ weights + intercept``: the base an
    incremental update corrects when the ranker blends its trees with a linear term (``TrainingRanker``)."""

    def __init__(self, *, base: Any, weights: np.ndarray, intercept: float) -> None:
        self.base = base
        self.weights = weights
        self.intercept = intercept

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearOffset:  # noqa: N803
        check_is_fitted(self.base)
        self.classes_ = np.asarray(self.base.classes_)
        self.n_features_in_ = np.asarray(self.weights).shape[0]
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "classes_")
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        return np.asarray(self.base.decision_function(X), dtype=np.float64) + X @ self.weights + self.intercept


class TrainingRanker(ClassifierMixin, BaseEstimator):
    """Gradient boosting + Platt calibration of its margin. Parameters are stored as given; checks happen in ``fit``.

    Why trees of three leaves (two splits: each tree reads at most two features together), 200 of them at a
    learning rate of 0.08: chosen on the world zoo (docs/guidance.md, "Shallow trees"). With 31 leaves the ranker
    learnt its training holders' pairs, not the order among a new holder's candidates: three leaves ranked the
    held-out holders' candidates better on every world of the zoo, chosen on one seed and confirmed on the other.
    A forest that shallow is walked level by level for every tree at once (``ShallowForest``), so 200 of them
    cost a request less than the 100 trees of 31 leaves did. ``update`` has a step of its own
    (``update_learning_rate``): it fits on new pairs only, often few (a test checks that an update lowers the
    log-loss on data like the new).

    ``monotonic_cst`` (one of −1, 0, +1 per feature, as scikit-learn takes it): features along which the margin may
    only rise (+1) or only fall (−1); an update's correction trees keep the same constraints, so the updated margin
    does too.

    ``linear_weight``: with a positive weight, the margin is the trees' plus that weight times a logistic
    regression's on standardised features (``fit_signed_logistic``, fitted on the same pairs and keeping the signs of
    ``monotonic_cst``). Three-leaf trees read at most two features at a time; a linear term adds every feature's
    effect at once, which is what orders one holder's candidates among themselves (docs/guidance.md, "A linear term
    beside the trees"). The calibration reads the sum; an update corrects the sum (``LinearOffset``).
    """

    def __init__(
        self,
        *,
        max_iter: int = 200,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 3,
        l2_regularization: float = 1.0,
        calibration_size: float = 0.15,
        update_learning_rate: float = 0.08,
        monotonic_cst: Sequence[int] | None = None,
        linear_weight: float = 0.0,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.calibration_size = calibration_size
        self.update_learning_rate = update_learning_rate
        self.monotonic_cst = monotonic_cst
        self.linear_weight = linear_weight
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> TrainingRanker:  # noqa: N803 - scikit-learn naming
        X, y = validate_data(self, X, y, dtype=np.float32)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("the ranker needs positive and negative examples")
        if not 0 < self.calibration_size < 1:
            raise ValueError("calibration_size must be in (0, 1)")
        if not (np.isfinite(self.linear_weight) and self.linear_weight >= 0):
            raise ValueError(f"linear_weight must be a finite number ≥ 0, not {self.linear_weight!r}")
        X_fit, X_cal, y_fit, y_cal = train_test_split(  # noqa: N806
            X, y, test_size=self.calibration_size, random_state=self.random_state, stratify=y)
        self.linear_: tuple[np.ndarray, float] | None = None
        if self.linear_weight > 0:
            weights, intercept = fit_signed_logistic(X_fit, y_fit == self.classes_[1], self.monotonic_cst)
            self.linear_ = (self.linear_weight * weights, self.linear_weight * intercept)
        self.pipeline_ = Pipeline([(
            "boosting",
            HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                l2_regularization=self.l2_regularization, early_stopping=False,
                monotonic_cst=None if self.monotonic_cst is None else list(self.monotonic_cst),
                random_state=self.random_state,
            ),
        )]).fit(X_fit, y_fit)
        self.calibration_ = fit_platt(self.decision_function(X_cal), y_cal == self.classes_[1])
        self.update_iterations_: list[int] = []
        return self

    def _plus_linear(self, margin: np.ndarray, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """``margin`` plus the linear term, when the ranker has one (not after an update: it is in the base then)."""
        linear = getattr(self, "linear_", None)  # a ranker pickled before the linear term has none
        if linear is None:
            return margin
        weights, intercept = linear
        return margin + np.asarray(X, dtype=np.float64) @ weights + intercept

    def update(self, X: np.ndarray, y: np.ndarray, *, extra_iter: int = 100) -> TrainingRanker:  # noqa: N803
        """Continue the fitted ranker on new pairs only: at most ``extra_iter`` boosting iterations fitted on the
        new pairs (stopped early on a validation slice of them), then the calibration refitted on a
        held-out slice (``calibration_size``) of the new pairs. The previous trees are kept, not refitted.
        Changes the ranker in place (copy it first to keep the previous one) and returns it."""
        check_is_fitted(self, "calibration_")
        X, y = validate_data(self, X, y, dtype=np.float32, reset=False)
        if not set(np.unique(y).tolist()) == set(self.classes_.tolist()):
            raise ValueError("the update needs positive and negative examples of the fitted classes")
        if not isinstance(extra_iter, int | np.integer) or extra_iter < 1:
            raise ValueError(f"extra_iter must be a positive integer, not {extra_iter!r}")
        X_fit, X_cal, y_fit, y_cal = train_test_split(  # noqa: N806
            X, y, test_size=self.calibration_size, random_state=self.random_state, stratify=y)
        base: Any = self.pipeline_
        linear = getattr(self, "linear_", None)
        if linear is not None:  # the correction fits what the whole margin misses; the term is then in its base
            base = LinearOffset(base=FrozenEstimator(self.pipeline_), weights=linear[0], intercept=linear[1]).fit(
                X_fit, y_fit)
        correction = MarginCorrection(
            base=FrozenEstimator(base), max_iter=int(extra_iter), learning_rate=self.update_learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, l2_regularization=self.l2_regularization,
            monotonic_cst=getattr(self, "monotonic_cst", None),  # a ranker pickled before it had constraints
            random_state=self.random_state,
        )
        self.pipeline_ = Pipeline([("boosting", correction)]).fit(X_fit, y_fit)
        self.linear_ = None
        self.calibration_ = fit_platt(self.pipeline_.decision_function(X_cal), y_cal == self.classes_[1])
        self.update_iterations_ = [*getattr(self, "update_iterations_", []), int(correction.correction_.n_iter_)]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "calibration_")
        positive, _margin = self.probability_and_margin(X)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def decision_function(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Uncalibrated margin (the calibrated probability is a monotone function of it, bounded)."""
        check_is_fitted(self, "pipeline_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self._plus_linear(np.asarray(self.pipeline_.decision_function(X), dtype=np.float64), X)

    def probability_and_margin(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """(calibrated positive probability, margin) from one pass over the trees, for the serving path."""
        check_is_fitted(self, "calibration_")
        margin = _tree_margin(self, X)
        if margin is None:
            X = validate_data(self, X, dtype=np.float32, reset=False)
            margin = np.asarray(self.pipeline_.decision_function(X), dtype=np.float64)
        margin = self._plus_linear(margin, X)
        return platt_probability(margin, self.calibration_), margin


# Per fitted boosting model: (its trees' node arrays and category bitsets, known-category bitsets, feature map).
_WALKS: weakref.WeakKeyDictionary[Any, tuple[list[tuple[Any, Any]], Any, Any]] = weakref.WeakKeyDictionary()
# Forests at most this deep are walked level by level, every tree at once (``ShallowForest``): one compiled walk
# per tree costs a call each, which is most of the time when a tree is two or three comparisons deep.
SHALLOW_DEPTH = 4
# A deeper forest is walked level by level too when the rows are this few (a request's ten shown items through the
# completion model): a level is then a few small gathers, cheaper than one compiled call per tree.
FEW_ROWS = 32


def forest_depth(model: HistGradientBoostingClassifier) -> int:
    """The depth of the model's deepest tree (0 for a forest of single leaves)."""
    return max((int(tree.nodes["depth"].max()) for (tree,) in model._predictors), default=0)


class ShallowForest:
    """A fitted boosting model's trees as flat arrays, walked one level at a time for every (row, tree) at once.

    Gives ``decision_function`` to the bit: the same comparison per node as scikit-learn's walk on finite
    numeric input (``x <= threshold`` goes left), and the leaves added to the baseline tree after tree in the
    trees' order (``np.add.accumulate`` is sequential), as its prediction adds them."""

    def __init__(self, model: HistGradientBoostingClassifier) -> None:
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        offset = 0
        for (tree,) in model._predictors:
            nodes = tree.nodes
            leaf = nodes["is_leaf"].astype(bool)
            here = np.arange(len(nodes)) + offset
            feature.append(np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp))
            threshold.append(nodes["num_threshold"].astype(np.float64))
            # A leaf points to itself: once reached, later levels keep the row there.
            left.append(np.where(leaf, here, nodes["left"].astype(np.intp) + offset))
            right.append(np.where(leaf, here, nodes["right"].astype(np.intp) + offset))
            value.append(nodes["value"].astype(np.float64))
            roots.append(offset)
            offset += len(nodes)
        self.feature = np.concatenate(feature)
        self.threshold = np.concatenate(threshold)
        # children[2 n] is node n's left child, children[2 n + 1] its right one: one gather per level.
        self.children = np.column_stack([np.concatenate(left), np.concatenate(right)]).ravel()
        self.value = np.concatenate(value)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.depth = forest_depth(model)
        self.baseline = float(model._baseline_prediction[0, 0])

    def margin(self, rows: np.ndarray) -> np.ndarray:
        """Margins of ``rows`` (a float64 matrix of finite features), trees along the first axis."""
        n = len(rows)
        columns = np.ascontiguousarray(rows.T)  # a feature's values side by side: the root level reads them whole
        goes_right = columns[self.feature[self.roots]] > self.threshold[self.roots][:, None]
        node = self.children.take(2 * self.roots[:, None] + goes_right)
        flat = columns.ravel()
        at = np.arange(n, dtype=np.intp)[None, :]
        for _ in range(self.depth - 1):
            goes_right = flat.take(self.feature.take(node) * n + at) > self.threshold.take(node)
            node = self.children.take(2 * node + goes_right)
        leaves = np.empty((len(self.roots) + 1, n), dtype=np.float64)
        leaves[0] = self.baseline
        self.value.take(node, out=leaves[1:])
        return np.add.accumulate(leaves, axis=0)[-1]


_SHALLOW: weakref.WeakKeyDictionary[Any, ShallowForest | None] = weakref.WeakKeyDictionary()
_FLAT: weakref.WeakKeyDictionary[Any, ShallowForest] = weakref.WeakKeyDictionary()


def _shallow_forest(model: HistGradientBoostingClassifier, rows: int = DIRECT_WALK_ROWS) -> ShallowForest | None:
    """The model's ``ShallowForest`` when no tree is deeper than ``SHALLOW_DEPTH``, or when there are at most
    ``FEW_ROWS`` ``rows`` to walk; else ``None`` (the depth is read first: a deep model's trees are flattened only
    once few rows ask for it)."""
    if model not in _SHALLOW:
        _SHALLOW[model] = ShallowForest(model) if forest_depth(model) <= SHALLOW_DEPTH else None
    forest = _SHALLOW[model]
    if forest is None and rows <= FEW_ROWS:
        forest = _FLAT.get(model)
        if forest is None:
            forest = _FLAT[model] = ShallowForest(model)
    return forest


def _tree_margin(ranker: TrainingRanker, X: Any) -> np.ndarray | None:  # noqa: N803
    """``ranker.pipeline_.decision_function(X)`` computed as scikit-learn computes it (the baseline, then each
    tree's leaf value added in turn, in float64), calling its compiled tree walk once per tree without the
    per-call validation and dispatch around it, which were a quarter of a request's ranking and nearly all of
    its ten completion estimates. ``None`` where that shortcut does not apply (the caller then takes the
    general path): a large batch, input that is not a finite float32 matrix of the fitted width (the general
    path validates and refuses it), or a model other than one plain binary ``HistGradientBoostingClassifier`` on
    numeric features (an updated ranker's ``MarginCorrection``)."""
    if (not isinstance(X, np.ndarray) or X.dtype != np.float32 or X.ndim != 2
            or X.shape[1] != getattr(ranker, "n_features_in_", -1) or not 0 < len(X) <= DIRECT_WALK_ROWS):
        return None
    steps = ranker.pipeline_.steps
    model = steps[-1][1] if len(steps) == 1 else None
    if (not isinstance(model, HistGradientBoostingClassifier) or model.n_trees_per_iteration_ != 1
            or model._preprocessor is not None or model.is_categorical_ is not None):
        return None
    if not np.isfinite(X).all():
        return None
    forest = _shallow_forest(model, len(X))
    if forest is not None:
        return forest.margin(X.astype(np.float64))
    walk = _WALKS.get(model)
    if walk is None:
        known_bitsets, feature_map = model._bin_mapper.make_known_categories_bitsets()
        trees = [(tree.nodes, tree.raw_left_cat_bitsets) for (tree,) in model._predictors]
        walk = _WALKS[model] = (trees, known_bitsets, feature_map)
    try:  # scikit-learn's private compiled walk: should a release move it, the general path answers
        from sklearn.ensemble._hist_gradient_boosting._predictor import _predict_from_raw_data
    except ImportError:
        return None
    trees, known_bitsets, feature_map = walk
    rows = np.ascontiguousarray(X, dtype=np.float64)
    margin = np.zeros(len(rows), dtype=model._baseline_prediction.dtype)
    margin += model._baseline_prediction[0, 0]
    leaf = np.empty(len(rows), dtype=np.float64)  # the walk's output type (scikit-learn's Y_DTYPE)
    for nodes, left_bitsets in trees:
        _predict_from_raw_data(nodes, rows, left_bitsets, known_bitsets, feature_map, 1, leaf)
        margin += leaf
    return np.asarray(margin, dtype=np.float64)


class MarginCorrection(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier's margin plus a boosted correction fitted on new data only.

    One Newton step of LogitBoost (Friedman, Hastie & Tibshirani 2000, "Additive logistic regression: a
    statistical view of boosting", Ann. Statist. 28(2)): from the base margin ``F`` and ``p = σ(F)``, a
    histogram gradient-boosting regressor fits the working response ``z = (y − p) / (p (1 − p))`` (clipped to
    ±``max_response``, as the paper advises) with weights ``p (1 − p)``; each of its leaves is then the
    L2-regularised Newton step of the log-loss, as in ``HistGradientBoostingClassifier``. Its iterations stop
    early once a validation slice of the new data (``validation_fraction``) stops improving, so new data like
    the old adds few trees and shifted data more. The margin is ``F(x) + correction(x)``.

    ``base`` is used as given and never refitted; pass it wrapped in ``sklearn.frozen.FrozenEstimator`` so that
    ``clone`` keeps it fitted.
    """

    def __init__(
        self,
        *,
        base: Any,
        max_iter: int = 100,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 31,
        l2_regularization: float = 1.0,
        max_response: float = 4.0,
        validation_fraction: float = 0.15,
        n_iter_no_change: int = 5,
        monotonic_cst: Sequence[int] | None = None,
        random_state: int = 0,
    ) -> None:
        self.base = base
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.max_response = max_response
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.monotonic_cst = monotonic_cst
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> MarginCorrection:  # noqa: N803
        check_is_fitted(self.base)
        X, y = validate_data(self, X, y, dtype=np.float32)
        classes = np.asarray(self.base.classes_)
        if len(classes) != 2 or not np.isin(y, classes).all():
            raise ValueError(f"y must hold the base classifier's two classes {classes.tolist()}")
        if self.max_response <= 0:
            raise ValueError("max_response must be positive")
        self.classes_ = classes
        probability = expit(np.asarray(self.base.decision_function(X), dtype=np.float64))
        weight = np.clip(probability * (1.0 - probability), 1e-6, None)
        response = np.clip(((y == classes[1]) - probability) / weight, -self.max_response, self.max_response)
        self.correction_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization, early_stopping=True,
            validation_fraction=self.validation_fraction, n_iter_no_change=self.n_iter_no_change,
            monotonic_cst=None if self.monotonic_cst is None else list(self.monotonic_cst),
            random_state=self.random_state,
        ).fit(X, response, sample_weight=weight)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "correction_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return np.asarray(self.base.decision_function(X), dtype=np.float64) + self.correction_.predict(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        positive = expit(self.decision_function(X))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
