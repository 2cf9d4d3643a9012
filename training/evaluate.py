"""Offline evaluation on a time split: the model against popularity and content similarity, in the same run,
on the same held-out holders, with the oracle (ranking by the world's noise-free utility) when truth is given.

Every method is a ``Recommender`` and is called as the server calls it: ``recommend(context, k)``, one
``HolderContext`` per evaluated holder as of the cut (``contexts_as_of``: the profile as it stood before the cut,
``training.dataset.profiles_before``; enrolled or completed before the cut excluded; built by
``recommender.context.context_from_rows``, which the server's ``holder_context`` calls too). The model is the
served ``LearnedRecommender`` itself, over the catalogue arrays as of the cut with ``today`` the cut; "neutral" is
what it answers a holder who switched personalisation off (``recommender.neutral.NeutralRecommender``);
popularity, content similarity and the two collaborative baselines (item co-occurrence, "cooccurrence", and
implicit-feedback matrix factorisation, "als") are ``recommender.baselines``; the oracle (``OracleRecommender``,
here since it reads truth) ranks by the noise-free utility. Every method proposes only what the holder could enrol
in at the cut: trainings open then (a session on or after it) not enrolled in or completed before it.

Provider exposure (issue 5, neutrality): per method, the Gini of top-10 impressions over the catalogue's
providers, its lift over the catalogue's own concentration (Gini of trainings per provider) and the share of
slots going to providers with a poor completion record (bottom fifth of the catalogue's trainings by their
provider's smoothed completion rate before the cut). ``report["exposure"]`` sets the personalised (model) and
neutral lists side by side.

Concentration of the lists (issue 13): per method, ``top_item_share`` (share of the evaluated holders whose
top-k holds the training shown most often) and ``training_gini`` (Gini of top-k impressions over the trainings
open at the cut); ``report["concentration"]`` sets the model, neutral and oracle lists side by side, with the
training shown most often.

Lists as they could be served (issue 13): the model's list is diversified (``recommender.learned.diversify``: one
training per certification code, a cap per provider), and so are the neutral list and every list the server gives;
the baselines and the oracle above are not, so part of what separates them from the model is that rule.
``report["diversified"]`` holds NDCG and recall of every baseline and of the oracle with their lists diversified
by the same rule (from their first ``DIVERSIFY_DEPTH`` items), and of the model before the rule
("model_undiversified"), so both comparisons can be read: raw lists, and servable lists.
``report["coverage_at_lists"]`` is the catalogue coverage each method would have over ``COVERAGE_LISTS`` lists
(``training.metrics.rarefied_coverage``), the count of served lists the over-HTTP check reads.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from features.pairs import MODALITY_CODES, CatalogueArrays, HolderArrays, SkillSpace, out_of_pocket_cents
from recommender.base import HolderContext, Recommendation, Recommender
from recommender.baselines import (
    ArraysRecommender,
    CoOccurrenceRecommender,
    FactorsRecommender,
    PopularityRecommender,
    VectorContentRecommender,
)
from recommender.context import context_from_rows
from recommender.learned import diversify
from recommender.served import LearnedRecommender
from training.dataset import TimeSplit, WorldFrames
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
    rarefied_coverage,
    recall_at_k,
)

CONCENTRATION_METHODS = ("model", "neutral", "oracle")
DIVERSIFY_DEPTH = 100  # items of a baseline's (or the oracle's) list the served rule picks its top k from
UNDIVERSIFIED_METHODS = ("popularity", "content", "cooccurrence", "als", "oracle")  # lists the rule is not applied to
COVERAGE_LISTS = 200


def evaluate(
    bundle, catalogue: CatalogueArrays, holders: HolderArrays, split: TimeSplit,  # type: ignore[no-untyped-def]
    frames: WorldFrames | None = None, *, k: int = 10, truth_dir: Path | None = None, max_holders: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics per method: ``{"k", "holders", "cut", "metrics": {"ndcg@10": {"model": …, "neutral": …,
    "popularity": …, …}, …}, "exposure": {"catalogue_gini": …, "personalised": {…}, "neutral": {…}},
    "concentration": {"model": {…}, "neutral": {…}, …}}``.

    ``frames`` (with the profiles as they stood before the cut, as ``training.pipeline.prepare`` gives them) are
    what the holders' contexts are built from; without them, from what ``holders`` holds (``contexts_from_arrays``,
    the same arrays for the model, for callers that only keep arrays)."""
    evaluated = sorted(h for h in split.held_out if h in holders.position)
    if max_holders is not None and len(evaluated) > max_holders:
        evaluated = sorted(np.random.default_rng(seed).choice(evaluated, max_holders, replace=False).tolist())
    contexts = (contexts_as_of(frames, split, evaluated) if frames is not None
                else contexts_from_arrays(holders, split, evaluated))
    relevant_sets = [{catalogue.position[t] for t in split.held_out[h] if t in catalogue.position} for h in evaluated]
    # One thread for OpenMP while the served recommender answers, as in the server (``single_threaded_openmp``);
    # the limit in force before is restored on leaving, so a fit after an evaluation keeps its threads.
    with threadpool_limits(limits=1, user_api="openmp"):
        methods = evaluation_recommenders(bundle, catalogue, split.cut_date, truth_dir=truth_dir,
                                          holder_ids=evaluated)
        lists: dict[str, list[list[int]]] = {name: [] for name in methods}
        served_rule: dict[str, list[list[int]]] = {name: [] for name in methods if name in UNDIVERSIFIED_METHODS}
        served_rule["model_undiversified"] = []
        model = methods["model"]
        for context in tqdm(contexts, desc="evaluating", unit="holder", disable=len(contexts) < 200):
            ranking = None
            for name, method in methods.items():
                if method is model and isinstance(model, LearnedRecommender):  # one pass gives both lists
                    recommended, ranking = model.recommend_and_rank(context, k)
                    lists[name].append(_rows(catalogue, recommended))
                else:
                    lists[name].append(_rows(catalogue, method.recommend(context, k)))
                if name in served_rule:
                    deep = _rows(catalogue, method.recommend(context, DIVERSIFY_DEPTH))
                    served_rule[name].append(diversify(deep, catalogue, k))
            served_rule["model_undiversified"].append(
                ranking.rows[:k].tolist() if ranking is not None else lists["model"][-1])
    open_rows = catalogue.open_mask(split.cut_date)
    metrics = _metrics(lists, relevant_sets, contexts, catalogue, open_rows, k)
    return {"k": k, "holders": len(evaluated), "cut": split.cut_date.isoformat(), "metrics": metrics,
            "exposure": _exposure_summary(metrics, catalogue),
            "concentration": _concentration_summary(lists, catalogue, open_rows, k),
            "diversified": _diversified_summary(lists, served_rule, relevant_sets, k),
            "coverage_at_lists": _coverage_at_lists(lists, len(catalogue.training_ids), k)}


def evaluation_recommenders(bundle, catalogue: CatalogueArrays, cut: dt.date, *,  # type: ignore[no-untyped-def]
                            truth_dir: Path | None = None, holder_ids: Sequence[str] = ()) -> dict[str, Recommender]:
    """Every evaluated method as a ``Recommender`` over ``catalogue`` (arrays as of ``cut``), answering as of
    ``cut``: the served ``LearnedRecommender`` ("model"), the list it gives an opted-out holder ("neutral"),
    popularity, content similarity, the collaborative baselines (item co-occurrence, ALS matrix factorisation), and
    the oracle for ``holder_ids`` when ``truth_dir`` holds the truth.
    Building the ``LearnedRecommender`` sets OpenMP to one thread process-wide, as in the server (``evaluate``
    builds them inside a ``threadpool_limits`` block that restores the previous limit)."""

    def at_cut() -> dt.date:
        return cut

    model = LearnedRecommender(bundle=bundle, catalogue=catalogue, space=SkillSpace.load(), skill_labels={},
                               today=at_cut)
    methods: dict[str, Recommender] = {
        "model": model,
        "neutral": model.neutral,
        "popularity": PopularityRecommender(catalogue, today=at_cut),
        "content": VectorContentRecommender(catalogue, today=at_cut),
        "cooccurrence": CoOccurrenceRecommender(catalogue, today=at_cut),
        "als": FactorsRecommender(catalogue, today=at_cut),
    }
    oracle = oracle_recommender(truth_dir, catalogue, holder_ids, at_cut) if truth_dir else None
    if oracle is not None:
        methods["oracle"] = oracle
    return methods


def contexts_as_of(frames: WorldFrames, split: TimeSplit, holder_ids: Sequence[str]) -> list[HolderContext]:
    """The ``HolderContext`` of each holder as of the split's cut, from ``frames`` whose profiles stand as before
    the cut (``profiles_before``): skills and embedding of that profile, the stored balances, enrolled or
    completed before the cut excluded, the interactions before the cut as history. The declared experience's
    text is not in the frames: ``profile_text`` is empty (no evaluated method reads it)."""
    wanted = set(holder_ids)
    rows = {str(r["holder_id"]): r for r in frames.holders[frames.holders["holder_id"].isin(wanted)]
            .to_dict("records")}
    weights = frames.skill_weights[frames.skill_weights["holder_id"].isin(wanted)]
    skill_weights: dict[str, dict[str, float]] = {
        str(h): dict(zip(group["skill_uri"].astype(str), group["weight"].astype(float), strict=True))
        for h, group in weights.groupby("holder_id", observed=True)
    }
    events = _events_by_holder(split, wanted)
    contexts = []
    for holder_id in holder_ids:
        cpf, cec = frames.balances.get(holder_id, (0, 0))
        contexts.append(context_from_rows(
            rows[holder_id], cpf_balance_cents=cpf, cec_balance_cents=cec, events=events.get(holder_id, ()),
            skill_weights=skill_weights.get(holder_id, {}),
            embedding=frames.embeddings.get(holder_id), current_occupation=frames.current_occupation.get(holder_id),
        ))
    return contexts


def contexts_from_arrays(holders: HolderArrays, split: TimeSplit, holder_ids: Sequence[str]) -> list[HolderContext]:
    """Contexts holding what ``holders`` holds of each holder (for callers without the frames): the arrays the
    served recommender builds from such a context (``HolderArrays.single``) equal the holder's bulk row. The goal
    occupation stands as the target, a job seeker's status as the only employment status known."""
    space = SkillSpace.load()
    skill_uri = {col: uri for uri, col in space.skill_col.items()}
    occupation_uri = {row: uri for uri, row in space.occupation_row.items()}
    modality = {code: name for name, code in MODALITY_CODES.items()}
    events = _events_by_holder(split, set(holder_ids))
    contexts = []
    for holder_id in holder_ids:
        h = holders.position[holder_id]
        skills = holders.skills[h]
        level = float(holders.qualification_level[h])
        contexts.append(context_from_rows(
            {"holder_id": holder_id, "region_code": holders.region[h],
             "employment_status": "job_seeker" if holders.is_job_seeker[h] else "employee",
             "qualification_level": None if np.isnan(level) else int(level),
             "preferred_modality": modality.get(int(holders.preferred_modality[h])),
             "target_occupation": occupation_uri.get(int(holders.goal_occupation[h]))},
            cpf_balance_cents=int(holders.cpf_balance_cents[h]), cec_balance_cents=int(holders.cec_balance_cents[h]),
            events=events.get(holder_id, ()),
            skill_weights={skill_uri[c]: float(w) for c, w in zip(skills.indices, skills.data, strict=True)},
            embedding=holders.embeddings[h] if np.any(holders.embeddings[h]) else None,
        ))
    return contexts


def _events_by_holder(split: TimeSplit, holder_ids: set[str]) -> dict[str, list[tuple[str, str]]]:
    """Each holder's interactions before the cut as (training id, event)."""
    before = split.train[split.train["holder_id"].isin(holder_ids)]
    events: dict[str, list[tuple[str, str]]] = {}
    for holder_id, training_id, event in zip(before["holder_id"], before["training_id"], before["event"],
                                             strict=True):
        events.setdefault(str(holder_id), []).append((str(training_id), str(event)))
    return events


def _rows(catalogue: CatalogueArrays, recommended: list[Recommendation]) -> list[int]:
    return [catalogue.position[r.training_id] for r in recommended]


class OracleRecommender(ArraysRecommender):
    """Ranks the allowed trainings by the world's noise-free utility for the holders it was built for (an empty
    list for any other holder): the ceiling no method can pass on these holders."""

    model_version = "oracle"

    def __init__(self, catalogue: CatalogueArrays, holder_ids: Sequence[str], rows: np.ndarray, utility: np.ndarray,
                 *, today: Callable[[], dt.date] | None = None) -> None:
        super().__init__(catalogue, today=today)
        self.index = {h: i for i, h in enumerate(holder_ids)}
        self.rows = rows  # the catalogue rows ``utility``'s columns are about
        self.utility = utility  # holders × rows

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        i = self.index.get(holder.holder_id)
        if i is None or k <= 0:
            return []
        allowed = self.allowed(holder, self.today())[self.rows]
        rows, values = self.rows[allowed], self.utility[i][allowed]
        order = np.lexsort((self.catalogue.training_ids[rows], -values))[:k]
        return self.items(rows[order].tolist(), values[order].tolist())


def oracle_recommender(truth_dir: Path, catalogue: CatalogueArrays, holder_ids: Sequence[str],
                       today: Callable[[], dt.date]) -> OracleRecommender | None:
    """The oracle over the trainings open on ``today()`` for ``holder_ids`` (utilities from
    ``training.datasets.world_utility.truth_utility``), or ``None`` when there is no truth or no holder."""
    from training.datasets.world_utility import truth_utility

    world_dir = truth_dir.parent if truth_dir.name == "truth" else truth_dir
    if not (world_dir / "truth").is_dir() or not holder_ids:
        return None
    rows = np.flatnonzero(catalogue.open_mask(today()))
    utility = np.asarray(truth_utility(world_dir, list(holder_ids), [str(t) for t in catalogue.training_ids[rows]]))
    return OracleRecommender(catalogue, holder_ids, rows, utility, today=today)


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


def _most_shown(ranked: list[list[int]], k: int) -> tuple[int | None, float]:
    """The row shown in most top-``k`` lists (ties: the lowest row) and the share of the lists showing it."""
    counts = Counter(row for top in ranked for row in top[:k])
    if not counts:
        return None, 0.0
    row = min(counts, key=lambda r: (-counts[r], r))
    return row, counts[row] / len(ranked)  # a list holds a training at most once


def _training_gini(ranked: list[list[int]], open_rows: np.ndarray, k: int) -> float:
    """Gini of top-``k`` impressions over the trainings open at the cut (those never shown count 0)."""
    shown = [row for top in ranked for row in top[:k]]
    counts = np.bincount(np.asarray(shown, dtype=np.int64), minlength=len(open_rows))
    return gini(counts[open_rows | (counts > 0)])


def _concentration_summary(lists: dict[str, list[list[int]]], catalogue: CatalogueArrays, open_rows: np.ndarray,
                           k: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for method in CONCENTRATION_METHODS:
        if method not in lists:
            continue
        row, share = _most_shown(lists[method], k)
        summary[method] = {
            "top_item": None if row is None else str(catalogue.training_ids[row]),
            "top_item_share": round(share, 6),
            "training_gini": round(_training_gini(lists[method], open_rows, k), 6),
        }
    return summary


def _diversified_summary(lists: dict[str, list[list[int]]], served_rule: dict[str, list[list[int]]],
                         relevant_sets: list[set[int]], k: int) -> dict[str, dict[str, float]]:
    """NDCG and recall of the lists as they could be served: the model's and neutral lists as they are (already
    diversified), every other method's list diversified by the served rule, and the model's before the rule."""
    chosen = {name: lists[name] for name in ("model", "neutral") if name in lists} | served_rule
    out: dict[str, dict[str, float]] = {f"ndcg@{k}": {}, f"recall@{k}": {}}
    for name, ranked in chosen.items():
        pairs = list(zip(ranked, relevant_sets, strict=True))
        ndcg = float(np.mean([ndcg_at_k(top, rel, k) for top, rel in pairs])) if pairs else 0.0
        recall = float(np.mean([recall_at_k(top, rel, k) for top, rel in pairs])) if pairs else 0.0
        out[f"ndcg@{k}"][name] = round(ndcg, 6)
        out[f"recall@{k}"][name] = round(recall, 6)
    return out


def _coverage_at_lists(lists: dict[str, list[list[int]]], catalogue_size: int, k: int) -> dict[str, Any]:
    """Expected coverage@k of ``COVERAGE_LISTS`` of each method's lists (all of them when there are fewer)."""
    n = min(COVERAGE_LISTS, min((len(ranked) for ranked in lists.values()), default=0))
    if n == 0:
        return {"lists": 0}
    return {"lists": n, **{name: round(rarefied_coverage(ranked, catalogue_size, k, n), 6)
                           for name, ranked in lists.items()}}


def _metrics(lists: dict[str, list[list[int]]], relevant_sets: list[set[int]], contexts: list[HolderContext],
             catalogue: CatalogueArrays, open_rows: np.ndarray, k: int) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    vectors = {row: catalogue.vectors[row] for ranked in lists.values() for top in ranked for row in top}
    providers, catalogue_gini = _provider_concentration(catalogue)
    provider_of = dict(enumerate(catalogue.provider_id.tolist()))
    poor = set(np.flatnonzero(catalogue.provider_completion < _poor_completion_threshold(catalogue)).tolist())
    for name, ranked in lists.items():
        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else 0.0

        oop: list[float] = []
        for context, top in zip(contexts, ranked, strict=True):
            n = len(top)
            costs = out_of_pocket_cents(catalogue.price_cents[top], np.full(n, context.cpf_balance_cents),
                                        np.full(n, context.cec_balance_cents),
                                        np.full(n, context.employment_status == "job_seeker"), catalogue.as_of)
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
            "top_item_share": _most_shown(ranked, k)[1] if ranked else 0.0,
            "training_gini": _training_gini(ranked, open_rows, k),
        }
        for metric, value in values.items():
            metrics.setdefault(metric, {})[name] = round(float(value), 6)
    return metrics
