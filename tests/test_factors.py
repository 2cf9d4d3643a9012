"""Implicit-feedback matrix factorisation (features.collaborative.ItemFactors): a holder's score for a training
is the exact ALS user step over their history without that training; the per-request, per-candidate and batch
paths agree; the same interactions give the same factors whatever the catalogue's row order."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from features.collaborative import ItemFactors


def _interest(seed: int, holders: int = 60, trainings: int = 30, density: float = 0.15) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((holders, trainings)) < density).astype(np.float32))


def _reference_score(factors: ItemFactors, history: set[int], t: int) -> float:
    """The ALS user step written out: (YᵀY + λI + Σ (α − 1) y yᵀ) u = α Σ y over the history without t."""
    y = factors.factors.astype(np.float64)
    items = sorted(history - {t})
    if not items:
        return 0.0
    a = factors.gram.copy()
    b = np.zeros(y.shape[1])
    for j in items:
        a += (factors.alpha - 1.0) * np.outer(y[j], y[j])
        b += factors.alpha * y[j]
    return float(y[t] @ np.linalg.solve(a, b))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_training_s_score_never_reads_its_own_interaction(seed: int) -> None:
    interest = _interest(seed)
    factors = ItemFactors.build(interest, factors=6, iterations=5)
    for h in range(5):
        row = interest[h]
        history = set(row.indices.tolist())
        scores = factors.scores_for(row)
        for t in range(interest.shape[1]):
            assert scores[t] == pytest.approx(_reference_score(factors, history, t), rel=1e-4, abs=1e-5)
    assert history, "the sample must include trainings in the history"


def test_the_request_and_batch_paths_agree() -> None:
    interest = _interest(3)
    factors = ItemFactors.build(interest, factors=6, iterations=5)
    h = np.repeat(np.arange(8), interest.shape[1])
    t = np.tile(np.arange(interest.shape[1]), 8)
    batch = factors.affinity(interest, h, t)
    for holder in range(8):
        full = factors.scores_for(interest[holder])
        np.testing.assert_allclose(batch[h == holder], full, rtol=1e-4, atol=1e-6)
        rows = np.array([3, 0, 7, 3])
        np.testing.assert_allclose(factors.scores_at(interest[holder], rows), full[rows], rtol=1e-5, atol=1e-6)


def test_the_same_interactions_give_the_same_factors_in_any_row_order() -> None:
    interest = _interest(4)
    order = np.arange(interest.shape[1])
    fitted = ItemFactors.build(interest, item_order=order, factors=6, iterations=5)
    permutation = np.random.default_rng(0).permutation(interest.shape[1])
    # Rows permuted (the served catalogue's order), with the order that sorts them back (by training id).
    again = ItemFactors.build(interest[:, permutation], item_order=np.argsort(permutation), factors=6, iterations=5)
    np.testing.assert_allclose(again.factors, fitted.factors[permutation], rtol=1e-5, atol=1e-6)


def test_no_history_scores_zero() -> None:
    factors = ItemFactors.build(_interest(5), factors=4, iterations=3)
    empty = sp.csr_matrix((1, 30), dtype=np.float32)
    assert not factors.scores_for(empty).any()
    assert not factors.scores_at(empty, np.arange(5)).any()
