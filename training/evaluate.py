"""Offline evaluation on a time split: the model against popularity and content similarity, in the same run,
on the same held-out holders, with the oracle (ranking by the world's noise-free utility) when truth is given.

Every method ranks the same allowed set per holder: trainings open at the cut (a session on or after it) that
the holder had not enrolled in before. The model's list is diversified as served; "neutral" is what a holder who
switched personalisation off gets (``recommender.neutral``: objective criteria only, diversified the same way).

Provider exposure (issue 5, neutrality): per method, the Gini of top-10 impressions over the catalogue's
providers, its lift over the catalogue's own concentration (Gini of trainings per provider) and the share of
slots going to providers with a poor completion record (bottom fifth of the catalogue's trainings by their
provider's smoothed completion rate before the cut). ``report["exposure"]`` sets the personalised (model) and
neutral lists side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from features.pairs import CatalogueArrays, HolderArrays, out_of_pocket_cents
from recommender.candidates import exact_vector_search, generate_candidates
from recommender.learned import diversify, rank_candidates
from recommender.neutral import neutral_order, neutral_rows
from training.dataset import POSITIVE_EVENTS, TimeSplit
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
    recall_at_k,
)

Ranker = Callable[[int, np.ndarray], list[int]]


def _taken_before(split: TimeSplit, holders: HolderArrays, catalogue: CatalogueArrays) -> dict[int, np.ndarray]:
    positives = split.train[split.train["event"].isin(POSITIVE_EVENTS)]
    taken: dict[int, list[int]] = {}
    for holder_id, training_id in zip(positives["holder_id"], positives["training_id"], strict=True):
        if holder_id in holders.position and training_id in catalogue.position:
            taken.setdefault(holders.position[holder_id], []).append(catalogue.position[training_id])
    return {h: np.array(rows) for h, rows in taken.items()}


def evaluate(
    bundle, catalogue: CatalogueArrays, holders: HolderArrays, split: TimeSplit, *,  # type: ignore[no-untyped-def]
    k: int = 10, truth_dir: Path | None = None, max_holders: int | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Metrics per method: ``{"k", "holders", "cut", "metrics": {"ndcg@10": {"model": …, "neutral": …,
    "popularity": …, …}, …}, "exposure": {"catalogue_gini": …, "personalised": {…}, "neutral": {…}}}``."""
    open_rows = catalogue.open_mask(split.cut_date)
    taken = _taken_before(split, holders, catalogue)
    evaluated = sorted(h for h in split.held_out if h in holders.position)
    if max_holders is not None and len(evaluated) > max_holders:
        evaluated = sorted(np.random.default_rng(seed).choice(evaluated, max_holders, replace=False).tolist())
    search = exact_vector_search(catalogue)

    def allowed_for(h: int) -> np.ndarray:
        allowed = open_rows.copy()
        if h in taken:
            allowed[taken[h]] = False
        return allowed

    def model(h: int, allowed: np.ndarray) -> list[int]:
        candidates = generate_candidates(catalogue, holders, h, allowed, vector_search=search)
        ranking = rank_candidates(bundle, catalogue, holders, h, candidates, on=split.cut_date)
        return diversify(ranking.rows.tolist(), catalogue, k)

    order = neutral_order(catalogue)

    def neutral(_h: int, allowed: np.ndarray) -> list[int]:
        return neutral_rows(catalogue, allowed, k, order=order)

    def popularity(_h: int, allowed: np.ndarray) -> list[int]:
        scores = np.where(allowed, catalogue.popularity, -np.inf)
        order = np.lexsort((catalogue.training_ids, -scores))
        return [int(r) for r in order[:k] if allowed[r]]

    def content(h: int, allowed: np.ndarray) -> list[int]:
        return [int(r) for r in search(holders.embeddings[h], k, allowed)]

    methods: dict[str, Ranker] = {"model": model, "neutral": neutral, "popularity": popularity, "content": content}
    oracle = _oracle(truth_dir, catalogue, holders, evaluated, open_rows, k) if truth_dir else None
    if oracle is not None:
        methods["oracle"] = oracle
    lists: dict[str, list[list[int]]] = {name: [] for name in methods}
    relevant_sets: list[set[int]] = []
    for holder_id in tqdm(evaluated, desc="evaluating", unit="holder", disable=len(evaluated) < 200):
        h = holders.position[holder_id]
        allowed = allowed_for(h)
        relevant = {catalogue.position[t] for t in split.held_out[holder_id] if t in catalogue.position}
        relevant_sets.append(relevant)
        for name, method in methods.items():
            lists[name].append(method(h, allowed))
    metrics = _metrics(lists, relevant_sets, evaluated, catalogue, holders, k)
    return {"k": k, "holders": len(evaluated), "cut": split.cut_date.isoformat(), "metrics": metrics,
            "exposure": _exposure_summary(metrics, catalogue)}


EXPOSURE_METRICS = ("provider_gini", "provider_gini_lift", "poor_provider_share")
POOR_COMPLETION_QUANTILE = 0.2


def _provider_concentration(catalogue: CatalogueArrays) -> tuple[list[str], float]:
    """The catalogue's providers (sorted) and the Gini of their numbers of trainings."""
    providers = sorted(set(catalogue.provider_id.tolist()))
    index = {p: i for i, p in enumerate(providers)}
    counts = np.bincount([index[p] for p in catalogue.provider_id], minlength=len(providers))
    return providers, gini(counts)


def _poor_completion_threshold(catalogue: CatalogueArrays) -> float:
    return float(np.quantile(catalogue.provider_completion, POOR_COMPLETION_QUANTILE))


def _exposure_summary(metrics: dict[str, dict[str, float]], catalogue: CatalogueArrays) -> dict[str, Any]:
    """Personalised (model) vs neutral provider exposure, next to the catalogue's own concentration."""
    _providers, catalogue_gini = _provider_concentration(catalogue)
    summary: dict[str, Any] = {
        "catalogue_gini": round(catalogue_gini, 6),
        "poor_provider_completion_below": round(_poor_completion_threshold(catalogue), 6),
    }
    for label, method in (("personalised", "model"), ("neutral", "neutral")):
        summary[label] = {"method": method, **{m: metrics[m][method] for m in EXPOSURE_METRICS}}
    return summary


def _metrics(lists: dict[str, list[list[int]]], relevant_sets: list[set[int]], evaluated: list[str],
             catalogue: CatalogueArrays, holders: HolderArrays, k: int) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    vectors = {row: catalogue.vectors[row] for ranked in lists.values() for top in ranked for row in top}
    providers, catalogue_gini = _provider_concentration(catalogue)
    provider_of = dict(enumerate(catalogue.provider_id.tolist()))
    poor = set(np.flatnonzero(catalogue.provider_completion < _poor_completion_threshold(catalogue)).tolist())
    for name, ranked in lists.items():
        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else 0.0

        oop: list[float] = []
        for holder_id, top in zip(evaluated, ranked, strict=True):
            h = holders.position[holder_id]
            costs = out_of_pocket_cents(catalogue.price_cents[top], np.full(len(top), holders.cpf_balance_cents[h]),
                                        np.full(len(top), holders.cec_balance_cents[h]),
                                        np.full(len(top), holders.is_job_seeker[h]), catalogue.as_of)
            oop.append(affordable_share(top, dict(zip(top, costs.tolist(), strict=True)), k))
        exposure_gini = gini(exposure_counts(ranked, provider_of, providers, k))
        values = {
            f"ndcg@{k}": mean([ndcg_at_k(top, rel, k) for top, rel in zip(ranked, relevant_sets, strict=True)]),
            f"recall@{k}": mean([recall_at_k(top, rel, k) for top, rel in zip(ranked, relevant_sets, strict=True)]),
            f"mrr@{k}": mean([mrr_at_k(top, rel, k) for top, rel in zip(ranked, relevant_sets, strict=True)]),
            f"coverage@{k}": catalogue_coverage(ranked, len(catalogue.training_ids), k),
            f"diversity@{k}": mean([intra_list_diversity(top, vectors, k) for top in ranked]),
            f"affordable@{k}": mean(oop),
            "provider_gini": exposure_gini,
            "provider_gini_lift": gini_lift(exposure_gini, catalogue_gini),
            "poor_provider_share": flagged_slot_share(ranked, poor, k),
        }
        for metric, value in values.items():
            metrics.setdefault(metric, {})[name] = round(float(value), 6)
    return metrics


def _oracle(truth_dir: Path, catalogue: CatalogueArrays, holders: HolderArrays, evaluated: list[str],
            open_rows: np.ndarray, k: int) -> Ranker | None:
    """Ranks by the world's noise-free utility (``training.datasets.world_utility.truth_utility``), when truth
    exists."""
    from training.datasets.world_utility import truth_utility

    world_dir = truth_dir.parent if truth_dir.name == "truth" else truth_dir
    if not (world_dir / "truth").is_dir() or not evaluated:
        return None
    rows = np.flatnonzero(open_rows)
    utility = np.asarray(truth_utility(world_dir, evaluated, [str(t) for t in catalogue.training_ids[rows]]))
    by_holder = {holder_id: i for i, holder_id in enumerate(evaluated)}

    def oracle(h: int, allowed: np.ndarray) -> list[int]:
        values = np.where(allowed[rows], utility[by_holder[str(holders.holder_ids[h])]], -np.inf)
        order = np.argsort(-values, kind="stable")[:k]
        return [int(rows[i]) for i in order if np.isfinite(values[i])]

    return oracle
