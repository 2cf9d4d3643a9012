"""Vectorised helpers of the generator over NumPy arrays and CSR matrices."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def expand_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each entry of ``rows``, the nonzeros of that CSR row: (position in rows, column, value)."""
    starts = matrix.indptr[rows]
    counts = matrix.indptr[rows + 1] - starts
    position = np.repeat(np.arange(len(rows)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    flat = np.repeat(starts, counts) + offsets
    return position, matrix.indices[flat], matrix.data[flat]


def group_max(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.maximum.reduceat(values, starts)


def rank_within(groups: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order by group then score descending; returns (order, rank of each ordered item within its group)."""
    order = np.lexsort((-scores, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    lengths = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, lengths)
    return order, rank


def weighted_sample(rng: np.random.Generator, items: np.ndarray, k: int, weights: np.ndarray) -> np.ndarray:
    """k items without replacement, probability ∝ weight at each draw (Gumbel top-k: one vectorised draw)."""
    keys = np.log(weights) + rng.gumbel(size=len(items))
    return np.asarray(items)[np.argsort(-keys, kind="stable")[:k]]
