"""Each metric on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import (
    affordable_share,
    catalogue_coverage,
    exposure_counts,
    flagged_slot_share,
    gini,
    gini_lift,
    intra_list_diversity,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    rarefied_coverage,
    recall_at_k,
)


@pytest.mark.parametrize(
    ("recommended", "relevant", "k", "expected"),
    [
        (["a", "b", "c"], {"a"}, 3, 1.0),
        (["b", "a", "c"], {"a"}, 3, 1 / math.log2(3)),
        (["b", "c", "a"], {"a"}, 2, 0.0),
        (["a", "x", "b"], {"a", "b"}, 3, (1 + 1 / 2) / (1 + 1 / math.log2(3))),
        (["x"], set(), 10, 0.0),
        ([], {"a"}, 10, 0.0),
    ],
)
def test_ndcg(recommended: list[str], relevant: set[str], k: int, expected: float) -> None:
    assert ndcg_at_k(recommended, relevant, k) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("recommended", "relevant", "k", "recall", "precision", "mrr"),
    [
        (["a", "b", "c"], {"a", "d"}, 3, 0.5, 1 / 3, 1.0),
        (["x", "y", "a"], {"a"}, 3, 1.0, 1 / 3, 1 / 3),
        (["x", "y", "a"], {"a"}, 2, 0.0, 0.0, 0.0),
        (["x"], set(), 5, 0.0, 0.0, 0.0),
    ],
)
def test_recall_precision_mrr(recommended: list[str], relevant: set[str], k: int, recall: float,
                              precision: float, mrr: float) -> None:
    assert recall_at_k(recommended, relevant, k) == pytest.approx(recall)
    assert precision_at_k(recommended, relevant, k) == pytest.approx(precision)
    assert mrr_at_k(recommended, relevant, k) == pytest.approx(mrr)


@pytest.mark.parametrize("metric", [ndcg_at_k, recall_at_k, precision_at_k, mrr_at_k])
def test_k_must_be_positive(metric) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="k must be at least 1"):
        metric(["a"], {"a"}, 0)


def test_coverage() -> None:
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 10, 2) == pytest.approx(0.3)
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 10, 1) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("lists", "k", "n", "expected_distinct"),
    [
        ([["a", "b"], ["b", "c"]], 2, 2, 3.0),  # every list drawn: the plain coverage
        ([["a", "b"], ["b", "c"]], 2, 1, 2.0),  # any one list shows two
        ([["a"], ["b"], ["c"], ["d"]], 1, 2, 2.0),  # disjoint lists: n of them show n items
        ([["a", "x"], ["a", "y"], ["a", "z"]], 2, 2, 1 + 3 * (2 / 3)),  # "a" always; each other in 2 of 3 draws
        ([["a", "b", "c"], ["a"]], 1, 1, 1.0),  # only the top k counts
    ],
)
def test_rarefied_coverage(lists: list[list[str]], k: int, n: int, expected_distinct: float) -> None:
    assert rarefied_coverage(lists, 10, k, n) == pytest.approx(expected_distinct / 10)


def test_rarefied_coverage_matches_drawing_lists_at_random() -> None:
    rng = np.random.default_rng(0)
    lists = [[f"t{int(i)}" for i in rng.zipf(1.6, size=10)] for _ in range(60)]
    drawn = [catalogue_coverage([lists[i] for i in rng.choice(60, 25, replace=False)], 1000, 10)
             for _ in range(4000)]
    assert rarefied_coverage(lists, 1000, 10, 25) == pytest.approx(np.mean(drawn), rel=0.01)


@pytest.mark.parametrize("n", [0, 3])
def test_rarefied_coverage_refuses_a_number_of_lists_it_does_not_have(n: int) -> None:
    with pytest.raises(ValueError, match="between 1 and the number of lists"):
        rarefied_coverage([["a"], ["b"]], 10, 1, n)


def test_intra_list_diversity() -> None:
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([2.0, 0.0])}
    assert intra_list_diversity(["a", "b"], vectors, 2) == pytest.approx(1.0)
    assert intra_list_diversity(["a", "c"], vectors, 2) == pytest.approx(0.0)
    assert intra_list_diversity(["a"], vectors, 2) == 0.0


def test_affordable_share() -> None:
    assert affordable_share(["a", "b", "c", "d"], {"a": 0, "b": 10, "c": 0, "d": 0}, 2) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [([5, 5, 5, 5], 0.0), ([0, 0, 0, 10], 0.75), ([], 0.0), ([0, 0], 0.0), ([1, 3], 0.25)],
)
def test_gini(counts: list[int], expected: float) -> None:
    assert gini(counts) == pytest.approx(expected)


def test_exposure_counts_include_providers_never_shown_and_stop_at_k() -> None:
    provider_of = {"a": "P1", "b": "P1", "c": "P2", "d": "P3"}
    counts = exposure_counts([["a", "c", "d"], ["b", "a"]], provider_of, ["P1", "P2", "P3", "P4"], 2)
    assert counts.tolist() == [3, 1, 0, 0]  # "d" is third (beyond k); P3 and P4 got nothing
    assert gini(counts) == pytest.approx(gini([3, 1, 0, 0]))
    with pytest.raises(KeyError):
        exposure_counts([["x"]], provider_of, ["P1"], 1)


@pytest.mark.parametrize(
    ("exposure", "catalogue", "expected"), [(0.6, 0.3, 2.0), (0.3, 0.3, 1.0), (0.0, 0.5, 0.0), (0.4, 0.0, 0.0)],
)
def test_gini_lift(exposure: float, catalogue: float, expected: float) -> None:
    assert gini_lift(exposure, catalogue) == pytest.approx(expected)


def test_gini_lift_rejects_negative_values() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        gini_lift(-0.1, 0.5)


def test_flagged_slot_share_counts_slots_not_lists() -> None:
    assert flagged_slot_share([["a", "b", "c"], ["a"]], {"a"}, 3) == pytest.approx(2 / 4)
    assert flagged_slot_share([["b", "c", "a"]], {"a"}, 2) == 0.0  # "a" is beyond k
    assert flagged_slot_share([[], []], {"a"}, 10) == 0.0
