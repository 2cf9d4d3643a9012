"""Content-similarity recommender: TF-IDF over the training text against the holder's profile text.

The simplest honest baseline: it knows what a holder declared and what a training teaches, nothing about
other holders. It also serves as the fallback when no learned model is usable (``/health`` then says degraded),
fitted on the catalogue open at load time. The offline evaluation's "content" method is its counterpart over the
catalogue arrays (``recommender.baselines.VectorContentRecommender``: the profile embedding against the trainings'
text vectors, which the frames hold where the declared text is not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from features.catalogue import training_texts
from recommender.base import HolderContext, Recommendation, Recommender


class ContentRecommender(BaseEstimator, Recommender):
    model_version = "content-tfidf"

    def __init__(self, *, max_features: int = 50_000, degraded: bool = False) -> None:
        self.max_features = max_features
        self.degraded = degraded

    def fit(self, catalogue: pd.DataFrame) -> ContentRecommender:
        if catalogue.empty:
            raise ValueError("the catalogue is empty: import a world first")
        texts = training_texts(catalogue)
        self.vectorizer_ = TfidfVectorizer(max_features=self.max_features, sublinear_tf=True, ngram_range=(1, 2),
                                           min_df=1, stop_words="english")
        self.matrix_ = self.vectorizer_.fit_transform(texts)
        self.training_ids_ = catalogue["training_id"].to_numpy()
        return self

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        check_is_fitted(self, "matrix_")
        if k <= 0:
            return []
        text = holder.profile_text if holder.personalised else ""
        if text.strip():
            scores = (self.matrix_ @ self.vectorizer_.transform([text]).T).toarray().ravel()
        else:
            scores = np.zeros(len(self.training_ids_))
        order = np.lexsort((self.training_ids_, -scores))
        picked: list[Recommendation] = []
        for i in order:
            training_id = str(self.training_ids_[i])
            if training_id in holder.excluded_training_ids:
                continue
            picked.append(Recommendation(training_id, float(scores[i]), ("close to your declared experience",)
                                         if scores[i] > 0 else ()))
            if len(picked) == k:
                break
        return picked
