"""Item co-occurrence (features.collaborative): the holder is left out of the counts behind their own score,
checked against a recomputation without that holder; the per-request path equals the batch one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from features.collaborative import CoOccurrence, interest_matrix


def _random_interest(seed: int, holders: int = 40, trainings: int = 25, density: float = 0.2) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((holders, trainings)) < density).astype(np.float32))


def _affinity_without(interest: np.ndarray, h: int, t: int, min_count: int) -> float:
    """Reference: drop holder h from the data, recompute counts, average the cosine over h's history."""
    others = np.delete(interest, h, axis=0)
    counts = others.T @ others
    np.fill_diagonal(counts, 0)
    counts[counts < min_count] = 0
    n = others.sum(axis=0)
    history = [j for j in np.flatnonzero(interest[h]) if j != t]
    if not history or n[t] == 0:
        return 0.0
    total = sum(counts[j, t] / np.sqrt(n[j] * n[t]) for j in history if n[j] > 0)
    return float(total / len(history))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_affinity_leaves_the_holder_out_of_every_count(seed: int) -> None:
    interest = _random_interest(seed)
    dense = interest.toarray()
    # The kept counts are those of at least 2 holders *with* h; without h a kept pair may fall to 1 (kept) and
    # a dropped pair of 2 holders including h is 1 without h: the reference uses the same threshold on the
    # counts with h, then removes h's own contribution.
    model = CoOccurrence.build(interest, min_count=2)
    rng = np.random.default_rng(seed)
    h = rng.integers(0, dense.shape[0], 200)
    t = rng.integers(0, dense.shape[1], 200)
    got = model.affinity(interest, h, t)
    full = dense.T @ dense
    np.fill_diagonal(full, 0)
    for i in range(200):
        kept = full >= 2
        others = np.delete(dense, h[i], axis=0)
        counts = np.where(kept, others.T @ others, 0)
        np.fill_diagonal(counts, 0)
        n = others.sum(axis=0)
        history = [j for j in np.flatnonzero(dense[h[i]]) if j != t[i]]
        expected = 0.0
        if history and n[t[i]] > 0:
            expected = sum(counts[j, t[i]] / np.sqrt(n[j] * n[t[i]]) for j in history if n[j] > 0) / len(history)
        assert got[i] == pytest.approx(expected, abs=1e-5)


def test_without_pruning_it_equals_a_recomputation_without_the_holder() -> None:
    interest = _random_interest(5)
    dense = interest.toarray()
    model = CoOccurrence.build(interest, min_count=1)
    for h in range(0, 40, 7):
        for t in range(25):
            assert model.affinity(interest, np.array([h]), np.array([t]))[0] == pytest.approx(
                _affinity_without(dense, h, t, 1), abs=1e-5)


def test_a_holders_own_enrolment_does_not_raise_its_own_score() -> None:
    """Two trainings only this holder took together: without the holder they never co-occur."""
    dense = np.zeros((6, 4), dtype=np.float32)
    dense[0, [0, 1]] = 1  # holder 0 alone links 0 and 1
    dense[1:, 2] = 1
    dense[1:3, 3] = 1
    interest = sp.csr_matrix(dense)
    model = CoOccurrence.build(interest, min_count=1)
    assert model.affinity(interest, np.array([0]), np.array([1]))[0] == 0.0
    assert model.affinity(interest, np.array([1]), np.array([3]))[0] > 0.0


def test_scores_for_one_holder_equal_the_batch_affinity() -> None:
    interest = _random_interest(7, holders=60, trainings=30)
    model = CoOccurrence.build(interest)
    for h in (0, 5, 17):
        batch = model.affinity(interest, np.full(30, h), np.arange(30))
        assert np.allclose(model.scores_for(interest[h]), batch, atol=1e-6)
    assert not model.scores_for(sp.csr_matrix((1, 30), dtype=np.float32)).any()


def test_interest_matrix_counts_each_holder_once_per_training() -> None:
    interactions = pd.DataFrame({
        "holder_id": ["a", "a", "a", "b", "zz"], "training_id": ["x", "x", "y", "y", "x"],
        "event": ["view", "enrol", "view", "complete", "view"],
    })
    matrix = interest_matrix(interactions, {"a": 0, "b": 1}, {"x": 0, "y": 1}, 2, 2)
    assert matrix.toarray().tolist() == [[1, 1], [0, 1]]
