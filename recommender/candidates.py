"""Candidate generation: a few hundred trainings worth ranking, out of the whole open catalogue.

Sources, de-duplicated: the nearest trainings to the profile embedding; the trainings that close most of the
holder's skill gap (target occupation, or current job when none); trainings that target that occupation; the
trainings most often taken with those the holder interacted with (item co-occurrence, ``features.collaborative``);
the best-scored by the implicit-feedback matrix factorisation of the holder's history (``ItemFactors``); and the
most popular trainings in the holder's region. Closed trainings (no session ahead) and trainings the holder
already enrolled in or completed are never candidates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from features.pairs import CatalogueArrays, HolderArrays, matrix_row

# Trainings the embedding source proposes (nearest to the profile embedding).
N_SIMILAR = 150

# (vector, k, allowed mask) → catalogue rows, best first
VectorSearch = Callable[[np.ndarray, int, np.ndarray], np.ndarray]


def exact_vector_search(catalogue: CatalogueArrays) -> VectorSearch:
    def search(vector: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(allowed)
        if len(rows) == 0 or not np.any(vector):
            return np.zeros(0, dtype=np.int64)
        # Every row scored, then the allowed ones kept: gathering the allowed rows' vectors first copied most of
        # the matrix on every call, which cost more than the product.
        scores = catalogue.vectors @ vector
        return _best(rows, scores[rows], k)

    return search


def nearest_rows(catalogue: CatalogueArrays, queries: np.ndarray, k: int, *, block: int = 256) -> list[np.ndarray]:
    """``exact_vector_search(catalogue)(query, k, everything allowed)`` of each row of ``queries``, one matrix
    product per ``block`` of queries: a batch job (training negatives) reads the catalogue's vectors once per block
    where one query at a time reads them once per query."""
    out: list[np.ndarray] = []
    everything = np.arange(len(catalogue.training_ids))
    for start in range(0, len(queries), block):
        chunk = queries[start:start + block]
        scores = chunk @ catalogue.vectors.T
        for query, values in zip(chunk, scores, strict=True):
            out.append(_best(everything, values, k) if np.any(query) else np.zeros(0, dtype=np.int64))
    return out


def _top(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` allowed rows with the highest positive scores, best first, ties by row (deterministic)."""
    rows = np.flatnonzero(allowed & (scores > 0))
    return _best(rows, scores[rows], k)


def _top_among(rows: np.ndarray, values: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """``_top`` of the scores that are ``values`` at ``rows`` (ascending) and 0 elsewhere, reading only those."""
    keep = allowed[rows] & (values > 0)
    return _best(rows[keep], values[keep], k)


def _best(rows: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` rows of highest value, best first, ties by row."""
    if k <= 0 or len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(rows) > k:
        threshold = np.partition(values, len(values) - k)[len(values) - k]
        above = values > threshold
        tied = np.flatnonzero(values == threshold)[: k - int(above.sum())]
        keep = np.concatenate([np.flatnonzero(above), tied])
        rows, values = rows[keep], values[keep]
    return rows[np.lexsort((rows, -values))]


def _first_allowed(order: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` rows of a precomputed ``order`` that are allowed (scans only as far as needed)."""
    picked: list[np.ndarray] = []
    found = 0
    for start in range(0, len(order), 4 * k + 64):
        chunk = order[start:start + 4 * k + 64]
        chunk = chunk[allowed[chunk]]
        picked.append(chunk)
        found += len(chunk)
        if found >= k:
            break
    rows = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    return rows[:k]


def generate_candidates(
    catalogue: CatalogueArrays,
    holders: HolderArrays,
    holder_row: int,
    allowed: np.ndarray,
    *,
    vector_search: VectorSearch | None = None,
    n_similar: int = N_SIMILAR,
    n_gap: int = 100,
    n_target: int = 100,
    n_popular: int = 50,
    n_collaborative: int = 100,
    n_factors: int = 100,
    personalised: bool = True,
) -> np.ndarray:
    """Catalogue rows of the candidates (unique, in source order). ``allowed`` already excludes what the holder
    cannot be proposed (closed, taken). Without personalisation only the regional popularity source is used."""
    sources: list[np.ndarray] = []
    orders = catalogue.candidate_orders()
    if personalised:
        search = vector_search or exact_vector_search(catalogue)
        sources.append(search(holders.embeddings[holder_row], n_similar, allowed))
        gap = matrix_row(holders.gap, holder_row)
        if gap.nnz:
            closed = np.asarray(catalogue.skills_csc[:, gap.indices] @ gap.data).ravel()
            sources.append(_top(closed, allowed, n_gap))
        goal = int(holders.goal_occupation[holder_row])
        if goal >= 0:
            sources.append(_first_allowed(orders.by_occupation.get(goal, orders.empty), allowed, n_target))
        history = holders.history_of(holder_row)  # one slice of the history matrix, not one per use
        if history is not None and catalogue.cooccurrence is not None and history.nnz:
            rows, affinity = holders.cooccurrence_support(catalogue.cooccurrence, holder_row)  # features reuse it
            sources.append(_top_among(rows, affinity, allowed, n_collaborative))
        if history is not None and catalogue.factors is not None and history.nnz:
            step = holders.factor_step(catalogue.factors, holder_row)  # solved once: the features reuse it
            # Scored down the factor norms until no training left can enter the top: the rows ``_top`` of every
            # training's score would give, at a few per cent of the catalogue's products.
            rows, scores = catalogue.factors.top_pool(history, allowed, n_factors, step)
            sources.append(_top_among(rows, scores, allowed, n_factors))
    region = str(holders.region[holder_row])
    sources.append(_first_allowed(orders.by_region.get(region, orders.popular), allowed, n_popular))
    sources.append(_first_allowed(orders.overall, allowed, n_popular))
    merged = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int64)
    _, first = np.unique(merged, return_index=True)
    return merged[np.sort(first)]
