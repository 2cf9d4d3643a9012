"""The learned ranker: a scikit-learn estimator over ``features.pairs.FEATURE_NAMES``.

A ``Pipeline`` of a histogram gradient-boosting classifier whose scores are then calibrated (isotonic, on a
held-out slice of the training pairs, so a score reads as a probability of enrolment). The same class, fitted
on enrolments only with "completed" as the label, gives the completion probability shown to holders.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data


class TrainingRanker(ClassifierMixin, BaseEstimator):
    """Gradient boosting + isotonic calibration. Parameters are stored as given; checks happen in ``fit``."""

    def __init__(
        self,
        *,
        max_iter: int = 200,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 31,
        l2_regularization: float = 1.0,
        calibration_size: float = 0.15,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.calibration_size = calibration_size
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> TrainingRanker:  # noqa: N803 - scikit-learn naming
        X, y = validate_data(self, X, y, dtype=np.float32)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("the ranker needs positive and negative examples")
        if not 0 < self.calibration_size < 1:
            raise ValueError("calibration_size must be in (0, 1)")
        X_fit, X_cal, y_fit, y_cal = train_test_split(  # noqa: N806
            X, y, test_size=self.calibration_size, random_state=self.random_state, stratify=y)
        self.pipeline_ = Pipeline([(
            "boosting",
            HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                l2_regularization=self.l2_regularization, early_stopping=False, random_state=self.random_state,
            ),
        )]).fit(X_fit, y_fit)
        self.calibrated_ = CalibratedClassifierCV(FrozenEstimator(self.pipeline_), method="isotonic").fit(X_cal, y_cal)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "calibrated_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.calibrated_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def decision_function(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Uncalibrated margin: strictly monotone, so it breaks the ties isotonic calibration creates."""
        check_is_fitted(self, "calibrated_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.pipeline_.decision_function(X)
