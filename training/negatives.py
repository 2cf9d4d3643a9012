"""Negatives drawn among the served candidates: what the ranker must tell apart when it serves.

The ranker orders the few hundred candidates ``recommender.candidates.generate_candidates`` proposes for a holder,
never the whole catalogue. Negatives drawn from the whole catalogue (``training.fit.training_pairs``) are mostly
trainings no candidate source would propose, told apart from a positive by popularity or by any similarity at
all; they teach little about the order among plausible trainings, where the collaborative scores and the skill gap
decide. Each positive therefore also gets negatives drawn uniformly among the candidates its own row (profile and
history as on the pair's day, ``training.point_in_time``) gets from the same sources the server uses: the
"sampled from the first stage" negatives of two-stage recommenders (Covington, Adams & Sargin, "Deep Neural
Networks for YouTube Recommendations", RecSys 2016; Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large
Corpus Item Recommendations", RecSys 2019).

A training the holder interacted with at any time before the cut is never a negative (as for the random ones).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.pairs import CatalogueArrays, HolderArrays, row_positions
from recommender.candidates import N_SIMILAR, VectorSearch, generate_candidates, nearest_rows

# Positives' rows whose candidates are generated (a seeded sample beyond, as the exposure step samples holders):
# each costs a candidate generation and a share of a vector search over the whole catalogue.
MAX_ROWS = 5000


def interacted_keys(interactions: pd.DataFrame, catalogue: CatalogueArrays, holders: HolderArrays) -> np.ndarray:
    """Sorted keys base holder row × trainings + training row of every pair with an interaction."""
    h = row_positions(interactions["holder_id"], holders.position)
    t = row_positions(interactions["training_id"], catalogue.position)
    known = (h >= 0) & (t >= 0)
    return np.unique(h[known].astype(np.int64) * len(catalogue.training_ids) + t[known])


def candidate_negatives(catalogue: CatalogueArrays, holders: HolderArrays, rows: np.ndarray, base_rows: np.ndarray,
                        interacted: np.ndarray, *, per_positive: int, seed: int = 0,
                        max_rows: int = MAX_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """(holder rows, training rows) of ``per_positive`` negatives for each positive, drawn uniformly with
    replacement among the candidates of its row of ``holders`` (``rows``; ``base_rows``: the real holder's row,
    which ``interacted`` keys are on), the trainings its holder interacted with left out. Rows beyond a seeded
    sample of ``max_rows`` get none."""
    rows = np.asarray(rows, dtype=np.int64)
    base_rows = np.asarray(base_rows, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if per_positive <= 0 or len(rows) == 0:
        return empty, empty
    rng = np.random.default_rng(seed)
    unique = np.unique(rows)
    if len(unique) > max_rows:
        unique = np.sort(rng.choice(unique, max_rows, replace=False))
    n = len(catalogue.training_ids)
    everything = np.ones(n, dtype=bool)
    nearest = nearest_rows(catalogue, holders.embeddings[unique], N_SIMILAR)
    candidates: dict[int, np.ndarray] = {}
    for row, found in zip(unique.tolist(), nearest, strict=True):
        candidates[row] = generate_candidates(catalogue, holders, row, everything, n_similar=N_SIMILAR,
                                              vector_search=_found(found))
        holders.forget_row(row)  # visited once: keep no catalogue-sized array per row
    out_rows, out_bases, out_trainings = [], [], []
    for row, base in zip(rows.tolist(), base_rows.tolist(), strict=True):
        pool = candidates.get(row)
        if pool is None or not len(pool):
            continue
        out_rows.append(np.full(per_positive, row, dtype=np.int64))
        out_bases.append(np.full(per_positive, base, dtype=np.int64))
        out_trainings.append(pool[rng.integers(0, len(pool), size=per_positive)])
    if not out_rows:
        return empty, empty
    h, base, t = np.concatenate(out_rows), np.concatenate(out_bases), np.concatenate(out_trainings)
    keep = ~np.isin(base * n + t, interacted)
    return h[keep], t[keep]


def _found(rows: np.ndarray) -> VectorSearch:
    """A vector search answering the rows found beforehand (``nearest_rows``, every row allowed)."""

    def search(_vector: np.ndarray, k: int, _allowed: np.ndarray) -> np.ndarray:
        return rows[:k]

    return search
