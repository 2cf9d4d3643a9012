"""Candidate sources read only what may be non-zero (``recommender.candidates``): the sparse top of the co-occurrence
source and the exact vector search pick the same rows as a brute-force pass over the whole catalogue, ties by row."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from features.collaborative import CoOccurrence, ItemFactors
from recommender.candidates import _top, _top_among, exact_vector_search


def _brute_top(scores: np.ndarray, allowed: np.ndarray, k: int) -> list[int]:
    """Allowed rows of positive score, best first, ties by row, written out."""
    rows = [r for r in range(len(scores)) if allowed[r] and scores[r] > 0]
    return sorted(rows, key=lambda r: (-scores[r], r))[:k]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [0, 1, 5, 40])
def test_the_sparse_top_is_the_top_of_the_dense_scores(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    rows = np.sort(rng.choice(n, 18, replace=False))
    values = rng.choice([-1.0, 0.0, 0.5, 0.5, 1.0, 2.0], len(rows)).astype(np.float32)  # ties, zeros, negatives
    allowed = rng.random(n) < 0.7
    dense = np.zeros(n, dtype=np.float32)
    dense[rows] = values
    expected = _brute_top(dense, allowed, k)
    assert _top_among(rows, values, allowed, k).tolist() == expected
    assert _top(dense, allowed, k).tolist() == expected


@pytest.mark.parametrize("seed", [0, 1])
def test_the_sparse_scores_hold_every_non_zero_score(seed: int) -> None:
    rng = np.random.default_rng(seed)
    interest = sp.csr_matrix((rng.random((50, 40)) < 0.15).astype(np.float32))
    cooccurrence = CoOccurrence.build(interest)
    factors = ItemFactors.build(interest, factors=6, iterations=4)
    for h in range(10):
        for model in (cooccurrence, factors):
            rows, values = model.sparse_scores_for(interest[h])
            dense = model.scores_for(interest[h])
            assert np.all(np.diff(rows) > 0), "rows ascending, each once"
            np.testing.assert_array_equal(dense[rows], values)
            outside = np.setdiff1d(np.arange(40), rows)
            assert not dense[outside].any()


def test_a_training_nobody_took_is_not_scored_by_the_factors() -> None:
    interest = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0]], dtype=np.float32))
    factors = ItemFactors.build(interest, factors=2, iterations=3)
    rows, _ = factors.sparse_scores_for(interest[0])
    assert 3 not in rows.tolist() and factors.scores_for(interest[0])[3] == 0.0


def test_the_exact_vector_search_gives_the_best_allowed_rows() -> None:
    from types import SimpleNamespace

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((200, 8)).astype(np.float32)
    vectors[17] = vectors[3]  # a tie: the lower row first
    allowed = rng.random(200) < 0.6
    allowed[[3, 17]] = True
    query = vectors[3].copy()
    search = exact_vector_search(SimpleNamespace(vectors=vectors))  # type: ignore[arg-type]
    got = search(query, 12, allowed).tolist()
    scores = vectors @ query
    expected = sorted(np.flatnonzero(allowed).tolist(), key=lambda r: (-scores[r], r))[:12]
    assert got == expected and got[:2] == [3, 17]
    assert search(np.zeros(8, np.float32), 5, allowed).tolist() == []
    assert search(query, 5, np.zeros(200, bool)).tolist() == []


def test_the_batched_nearest_rows_are_the_exact_searches_of_each_query() -> None:
    from types import SimpleNamespace

    from recommender.candidates import nearest_rows

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    vectors[40] = vectors[7]  # a tie: the lower row first
    catalogue = SimpleNamespace(vectors=vectors, training_ids=np.arange(300))
    queries = rng.standard_normal((7, 8)).astype(np.float32)
    queries[2] = vectors[7]
    queries[5] = 0.0  # no profile embedding: nothing
    search = exact_vector_search(catalogue)  # type: ignore[arg-type]
    everything = np.ones(300, dtype=bool)
    got = nearest_rows(catalogue, queries, 20, block=3)  # type: ignore[arg-type]
    assert [g.tolist() for g in got] == [search(q, 20, everything).tolist() for q in queries]
    assert got[2].tolist()[:2] == [7, 40] and got[5].tolist() == []


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("block", [1, 7, 4096])
def test_the_factor_norm_scan_gives_the_top_of_every_trainings_score(seed: int, block: int) -> None:
    """``ItemFactors.top_pool`` stops early down the factor norms; its top is the top of the whole catalogue's
    scores (history scored without itself, zero factors, ties, fewer positive scores than asked)."""
    rng = np.random.default_rng(seed)
    n = 120
    popularity = rng.pareto(1.2, n) + 0.05  # a few trainings taken often: the factor norms spread as in a world
    taken = rng.random((200, n)) < 0.04 * popularity / popularity.mean()
    taken[:, 7] = False  # nobody took it: a zero factor
    interest = sp.csr_matrix(taken.astype(np.float32))
    factors = ItemFactors.build(interest, factors=5, iterations=4, seed=seed)
    for h in range(40):
        history = interest[h]
        allowed = rng.random(n) < rng.choice([0.3, 0.9, 1.0])
        dense = factors.scores_for(history)
        for k in (1, 3, 10, 60, n):
            rows, scores = factors.top_pool(history, allowed, k, block=block)
            assert np.all(np.diff(rows) > 0), "rows ascending, each once"
            np.testing.assert_array_equal(scores, dense[rows])
            assert _top_among(rows, scores, allowed, k).tolist() == _top(dense, allowed, k).tolist()


def test_the_factor_norm_scan_reads_few_trainings_when_the_top_is_clear() -> None:
    """One training of much larger norm and a holder whose factor points at it: the scan stops after a block."""
    y = np.zeros((1000, 2), dtype=np.float32)
    y[:, 0] = 0.01
    y[0, 0] = 10.0
    factors = ItemFactors.of(y)
    history = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 1000), dtype=np.float32)
    allowed = np.ones(1000, dtype=bool)
    rows, _ = factors.top_pool(history, allowed, 1, block=10)
    assert len(rows) < 1000 and _top_among(rows, factors.scores_for(history)[rows], allowed, 1).tolist() == [0]
