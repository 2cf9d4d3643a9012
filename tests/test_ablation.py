"""Fitting the ranker without some features (``training.fit.without_features``, the zoo ablation): their columns
are constant in the training pairs, so the fitted trees never read them and the served values do not matter."""

from __future__ import annotations

import numpy as np
import pytest

from features.pairs import FEATURE_NAMES
from recommender.ranker import TrainingRanker
from training.fit import without_features


def _pairs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((600, len(FEATURE_NAMES))).astype(np.float32)  # noqa: N806
    signal = X[:, FEATURE_NAMES.index("mf_score")] + 0.5 * X[:, FEATURE_NAMES.index("gap_coverage")]
    return X, (signal + 0.3 * rng.standard_normal(600) > 0).astype(np.int8)


def test_the_named_columns_are_zeroed_in_a_copy() -> None:
    X, _y = _pairs()  # noqa: N806
    out = without_features(X, ("mf_score", "cf_affinity"))
    dropped = [FEATURE_NAMES.index("mf_score"), FEATURE_NAMES.index("cf_affinity")]
    assert (out[:, dropped] == 0).all()
    kept = [i for i in range(len(FEATURE_NAMES)) if i not in dropped]
    assert np.array_equal(out[:, kept], X[:, kept])
    assert (X[:, dropped] != 0).any()  # the input is left as it was
    assert without_features(X, ()) is X


def test_an_unknown_feature_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown feature.*no_such_feature.*known: profile_similarity"):
        without_features(np.zeros((1, len(FEATURE_NAMES)), np.float32), ("no_such_feature",))


def test_a_ranker_fitted_without_a_feature_never_reads_it() -> None:
    X, y = _pairs()  # noqa: N806
    ranker = TrainingRanker(max_iter=30, random_state=0).fit(without_features(X, ("mf_score",)), y)
    served = X.copy()
    other = served.copy()
    other[:, FEATURE_NAMES.index("mf_score")] = np.random.default_rng(9).standard_normal(len(X))
    assert np.array_equal(ranker.probability_and_margin(served)[1], ranker.probability_and_margin(other)[1])
    # It still reads the others: the gap coverage moves its margins.
    moved = served.copy()
    moved[:, FEATURE_NAMES.index("gap_coverage")] += 2.0
    assert not np.array_equal(ranker.probability_and_margin(served)[1], ranker.probability_and_margin(moved)[1])


def test_the_ablation_table_shows_every_group_as_a_change_from_every_feature() -> None:
    from training.bench.bench_ablation import GROUPS, render

    def world(variant: str, base: float, cost: float) -> dict[str, object]:
        ndcg = {"all": base, **{group: base - cost for group in GROUPS}}
        return {"variant": variant, "seed": 42, "ndcg": ndcg, "baselines": {"als": 0.1, "oracle": 0.8},
                "seconds": 12.0}

    text = render([world("default", 0.40, 0.02), world("social", 0.80, 0.001)])
    assert "| every feature (NDCG@10) | 0.4000 | 0.8000 | 0.6000 | |" in text
    for group in GROUPS:
        assert f"| without {group} | -0.0200 | -0.0010 | -0.0105 | 1 of 2 |" in text
    assert "| default 42 | 0.1000 | 0.8000 | 12 |" in text
