"""Offline evaluation metrics as small pure functions.

Ranking metrics share one signature: ``metric(recommended, relevant, k) -> float`` for one holder, where
``recommended`` is the ranked list of training ids and ``relevant`` the set of held-out positives; the mean over
holders is taken by the caller. Catalogue-level metrics take every holder's list at once.

References:
- NDCG: Järvelin & Kekäläinen (2002), "Cumulated gain-based evaluation of IR techniques", ACM TOIS 20(4),
  with binary gains and the log2(rank + 1) discount.
- Recall@k and MRR: Manning, Raghavan & Schütze (2008), *Introduction to Information Retrieval*, ch. 8.
- Catalogue coverage: Ge, Delgado-Battenfeld & Jannach (2010), "Beyond accuracy", RecSys. Compared across numbers
  of lists by rarefaction: the expected number of distinct items in ``n`` lists drawn without replacement
  (Hurlbert (1971), "The nonconcept of species diversity", Ecology 52(4), eq. 6, with lists as samples).
- Intra-list diversity: Ziegler et al. (2005), "Improving recommendation lists through topic diversification", WWW.
- Gini coefficient of exposure: as in Microsoft Recommenders' ``gini_index`` (Lorenz-curve form).
- Provider exposure (impressions per provider, set against what the catalogue itself offers): Singh & Joachims
  (2018), "Fairness of exposure in rankings", KDD; the lift is the ratio of the lists' provider Gini to the
  catalogue's (our definition: > 1 means the lists concentrate exposure more than the catalogue does).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TypeVar

import numpy as np

Item = TypeVar("Item", bound=Hashable)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")


def ndcg_at_k(recommended: Sequence[Item], relevant: AbstractSet[Item], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance; 0 when nothing is relevant."""
    _check_k(k)
    if not relevant:
        return 0.0
    dcg = sum(1.0 / np.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in relevant)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return float(dcg / ideal)


def recall_at_k(recommended: Sequence[Item], relevant: AbstractSet[Item], k: int) -> float:
    """Share of the relevant items found in the top ``k``; 0 when nothing is relevant."""
    _check_k(k)
    if not relevant:
        return 0.0
    return len(set(recommended[:k]) & relevant) / len(relevant)


def precision_at_k(recommended: Sequence[Item], relevant: AbstractSet[Item], k: int) -> float:
    """Share of the top ``k`` slots holding a relevant item (divided by ``k`` even for shorter lists)."""
    _check_k(k)
    return len(set(recommended[:k]) & relevant) / k


def mrr_at_k(recommended: Sequence[Item], relevant: AbstractSet[Item], k: int) -> float:
    """Reciprocal rank of the first relevant item within the top ``k`` (0 if none)."""
    _check_k(k)
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def success_at_k(recommended: Sequence[Item], relevant: AbstractSet[Item], k: int) -> float:
    """1.0 when a relevant item is in the top ``k``, else 0.0 (success@k, hit rate; its mean over queries is the
    share of queries answered in the top ``k``)."""
    _check_k(k)
    return 1.0 if any(item in relevant for item in recommended[:k]) else 0.0


def catalogue_coverage(lists: Iterable[Sequence[Hashable]], catalogue_size: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list."""
    _check_k(k)
    if catalogue_size <= 0:
        raise ValueError("catalogue_size must be positive")
    shown = {item for ranked in lists for item in ranked[:k]}
    return len(shown) / catalogue_size


def rarefied_coverage(lists: Sequence[Sequence[Hashable]], catalogue_size: int, k: int, n: int) -> float:
    """Expected ``catalogue_coverage`` of ``n`` of the ``lists`` drawn at random without replacement: coverage grows
    with the number of lists, so two sets of lists compare at equal ``n`` (``n`` ≤ the number of lists)."""
    _check_k(k)
    if catalogue_size <= 0:
        raise ValueError("catalogue_size must be positive")
    total = len(lists)
    if not 0 < n <= total:
        raise ValueError(f"n must be between 1 and the number of lists ({total}), got {n}")
    lists_showing: dict[Hashable, int] = {}
    for ranked in lists:
        for item in set(ranked[:k]):
            lists_showing[item] = lists_showing.get(item, 0) + 1
    from scipy.special import gammaln

    def log_choose(a: np.ndarray, b: int) -> np.ndarray:
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    counts = np.fromiter(lists_showing.values(), dtype=np.float64, count=len(lists_showing))
    missed = total - counts  # lists not showing the item; the item is missed when all n drawn are among them
    p_missed = np.where(missed >= n, np.exp(log_choose(missed, n) - log_choose(np.array([float(total)]), n)), 0.0)
    return float(np.sum(1.0 - p_missed)) / catalogue_size


def intra_list_diversity(ranked: Sequence[Item], vectors: Mapping[Item, np.ndarray], k: int) -> float:
    """Mean pairwise cosine distance (1 − cosine) between the top ``k`` items' vectors; 0 for < 2 items."""
    _check_k(k)
    items = [item for item in ranked[:k] if item in vectors]
    if len(items) < 2:
        return 0.0
    matrix = np.stack([np.asarray(vectors[item], dtype=np.float64) for item in items])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms == 0, 1, norms)
    similarity = matrix @ matrix.T
    upper = similarity[np.triu_indices(len(items), k=1)]
    return float(np.mean(1.0 - upper))


def affordable_share(ranked: Sequence[Item], out_of_pocket_cents: Mapping[Item, int], k: int) -> float:
    """Share of the top ``k`` items the holder can take with no out-of-pocket cost."""
    _check_k(k)
    top = list(ranked[:k])
    if not top:
        return 0.0
    return sum(1 for item in top if out_of_pocket_cents[item] == 0) / len(top)


def gini(counts: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 = perfectly even, → 1 = all on one); 0 for empty/all-zero."""
    values = np.sort(np.asarray(counts, dtype=np.float64))
    if values.size == 0 or values.sum() == 0:
        return 0.0
    if (values < 0).any():
        raise ValueError("counts must be non-negative")
    n = values.size
    index = np.arange(1, n + 1)
    return float((2 * index - n - 1) @ values / (n * values.sum()))


def exposure_counts(lists: Iterable[Sequence[Item]], group_of: Mapping[Item, Hashable],
                    groups: Sequence[Hashable], k: int) -> np.ndarray:
    """Top-``k`` impressions per group (e.g. provider), in the order of ``groups``; groups never shown count 0,
    so the Gini over these counts reflects who gets no exposure at all."""
    _check_k(k)
    index = {group: i for i, group in enumerate(groups)}
    counts = np.zeros(len(groups), dtype=np.int64)
    for ranked in lists:
        for item in ranked[:k]:
            counts[index[group_of[item]]] += 1
    return counts


def gini_lift(exposure_gini: float, catalogue_gini: float) -> float:
    """Exposure concentration relative to the catalogue's own (1 = as concentrated as the offer itself).

    Not defined for a perfectly even catalogue (Gini 0); 0 is returned then, as for an empty report."""
    if exposure_gini < 0 or catalogue_gini < 0:
        raise ValueError("Gini coefficients are non-negative")
    return exposure_gini / catalogue_gini if catalogue_gini > 0 else 0.0


def flagged_slot_share(lists: Iterable[Sequence[Item]], flagged: AbstractSet[Item], k: int) -> float:
    """Share of all top-``k`` slots holding a flagged item (e.g. from a provider with a poor completion record);
    0 when no slot is filled."""
    _check_k(k)
    slots = flagged_slots = 0
    for ranked in lists:
        for item in ranked[:k]:
            slots += 1
            flagged_slots += item in flagged
    return flagged_slots / slots if slots else 0.0
