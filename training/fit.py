"""Fitting the ranker: training pairs from interactions before the cut, features, the two models.

Positives are the holder's enrolments (and completions); negatives are ``random_negatives`` trainings drawn
from the catalogue per positive (uniformly, a tenth by popularity), so that it learns what a holder takes among
everything, not what tells a viewed training from an enrolled one (``HARD_NEGATIVES``: the viewed-and-not-taken
trainings as negatives too, as before December 2026; docs/guidance.md), and ``candidate_negatives`` drawn among
the candidates the server would propose to the positive's row (``training.negatives``): the order among those is
what the served model decides.
The completion model is fitted on enrolments only, with "completed" as the label. Popularity features of a
pair leave the holder's own enrolments out (``leave_own_enrolments_out``): counted over the same interactions
as the labels, they would otherwise tell every positive apart from a training nobody took yet. For the same
reason the provider's completion rate of a pair leaves out the holder's own enrolments and completions with
that provider (``leave_own_provider_out``): it would otherwise hold the completion model's own label.

``update_bundle`` (``parcours train --incremental``) continues a fitted bundle on the pairs that have an
interaction on or after its ``trained_until`` day only: features are computed for those pairs alone (where a
full fit spends its time), the rankers are continued with ``TrainingRanker.update`` and the new bundle's
``trained_until`` moves to the new cut.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.collaborative import ItemFactors, interest_matrix
from features.pairs import (
    FEATURE_NAMES,
    CatalogueArrays,
    HolderArrays,
    SkillSpace,
    mf_score,
    pair_features,
    row_positions,
    smoothed_completion_rate,
)
from parcours.errors import Conflict, ParcoursError
from recommender.bundle import RankerBundle
from recommender.exposure import bundle_prices
from recommender.offering import OfferingChoice
from recommender.ranker import TrainingRanker
from training.dataset import POSITIVE_EVENTS, TimeSplit, WorldFrames
from training.exposure import EXPOSURE_CAP, learn_exposure_prices
from training.negatives import candidate_negatives, interacted_keys
from training.point_in_time import MF_FOLDS, PointInTime, holder_folds, pair_days

# Fewest enrolments (with both outcomes) to fit or update the completion model on.
MIN_COMPLETION_ROWS = 50
# The completion model learns only from enrolments at least this long before the cut: a later one has not had
# the time to be completed yet, and counting it as "not completed" biased every estimate down (on the small
# world 95 % of completions come within 177 days of the enrolment; docs/guidance.md).
COMPLETION_HORIZON_DAYS = 180
# ``RankerBundle.stats`` key of the completion rate of the enrolments the completion model was fitted on
# (settled: at least ``COMPLETION_HORIZON_DAYS`` before the cut); ``recommender.learned.typical_completion``.
SETTLED_RATE = "settled_completion_rate"
# Fewest new enrolments (and new negatives) for an incremental update.
MIN_UPDATE_POSITIVES = 10


class NotEnoughData(ParcoursError):
    """The database holds too little to fit, update or evaluate (no world imported, no profiles, no held-out
    data, no new interactions)."""


def build_arrays(frames: WorldFrames, as_of: dt.date, interactions: pd.DataFrame,
                 vectors: np.ndarray, space: SkillSpace | None = None) -> tuple[CatalogueArrays, HolderArrays]:
    space = space or SkillSpace.load()
    holder_regions = dict(zip(frames.holders["holder_id"], frames.holders["region_code"], strict=True))
    catalogue = CatalogueArrays.build(frames.catalogue, frames.sessions, vectors, interactions, holder_regions,
                                      space, as_of=as_of)
    holders = HolderArrays.build(frames.holders, frames.skill_weights, frames.embeddings, frames.current_occupation,
                                 frames.balances, space, vectors.shape[1])
    holders.history = interest_matrix(interactions, holders.position, catalogue.position, len(holders.holder_ids),
                                      len(catalogue.training_ids))
    return catalogue, holders


def training_pairs(
    catalogue: CatalogueArrays, holders: HolderArrays, interactions: pd.DataFrame, *,
    random_negatives: int = 2, seed: int = 0, since: dt.date | None = None, hard_negatives: bool = True,
    point_in_time: PointInTime | None = None, popular_negatives: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(holder rows, training rows, enrolled label, completed label) of every training pair.

    One pair per (holder, training) with any interaction, in holder id then training id order, then the random
    negatives; vectorised (integer keys, no per-interaction Python). With ``since``, only the pairs with an
    interaction on or after that day (UTC), labelled from all their interactions, and random negatives for their
    positives; random negatives never hit a pair the holder interacted with at any time in ``interactions``.
    With ``point_in_time``, the holder row of each pair is the row of ``point_in_time.holders`` whose profile
    stands as on the day of the pair's first enrolment (or first interaction when it has none), so no pair reads
    the skills its own completion taught; the random negatives drawn for a positive share its row.
    ``popular_negatives``: the share of random negatives drawn in proportion to the training's enrolments before
    the cut to the power ``POPULAR_NEGATIVES_POWER`` (word2vec's unigram^0.75) instead of uniformly.
    """
    h_all = row_positions(interactions["holder_id"], holders.position)
    t_all = row_positions(interactions["training_id"], catalogue.position)
    known = (h_all >= 0) & (t_all >= 0)
    events = interactions["event"]
    positive = events.isin(POSITIVE_EVENTS).to_numpy()[known]
    complete = (events == "complete").to_numpy()[known]
    # Ranks of the ids, so that sorting integer keys sorts by (holder id, training id) like a sort on the ids.
    holder_by_rank = np.argsort(holders.holder_ids, kind="stable")
    training_by_rank = np.argsort(catalogue.training_ids, kind="stable")
    holder_rank = np.empty_like(holder_by_rank)
    holder_rank[holder_by_rank] = np.arange(len(holder_by_rank))
    training_rank = np.empty_like(training_by_rank)
    training_rank[training_by_rank] = np.arange(len(training_by_rank))
    n_trainings = len(catalogue.training_ids)
    keys = holder_rank[h_all[known]].astype(np.int64) * n_trainings + training_rank[t_all[known]]
    unique, inverse = np.unique(keys, return_inverse=True)
    h = holder_by_rank[unique // n_trainings].astype(np.int64)
    t = training_by_rank[unique % n_trainings].astype(np.int64)
    y = (np.bincount(inverse, weights=positive, minlength=len(unique)) > 0).astype(np.int8)
    completed = (np.bincount(inverse, weights=complete, minlength=len(unique)) > 0).astype(np.int8)
    seen = h * n_trainings + t  # every pair the holder interacted with, new or not
    row = h if point_in_time is None else point_in_time.rows(
        h, pair_days(interactions, inverse, known, positive, len(unique)))
    if since is not None:
        recent = (interactions["occurred_at"] >= pd.Timestamp(since, tz="UTC")).to_numpy()[known]
        new = np.isin(unique, keys[recent])
        h, t, y, completed, row = h[new], t[new], y[new], completed[new], row[new]
    if not hard_negatives:  # only what the holder took, against trainings drawn from the whole catalogue
        taken = y == 1
        h, t, y, completed, row = h[taken], t[taken], y[taken], completed[taken], row[taken]
    rng = np.random.default_rng(seed)
    extra_h = np.repeat(h[y == 1], random_negatives)
    extra_row = np.repeat(row[y == 1], random_negatives)  # a negative reads its positive's profile
    extra_t = rng.integers(0, n_trainings, size=len(extra_h))
    if popular_negatives > 0 and catalogue.popularity.sum() > 0:
        weight = np.power(catalogue.popularity.astype(np.float64), POPULAR_NEGATIVES_POWER)
        drawn = rng.random(len(extra_t)) < popular_negatives
        extra_t[drawn] = rng.choice(n_trainings, size=int(drawn.sum()), p=weight / weight.sum())
    keep = ~np.isin(extra_h * n_trainings + extra_t, seen)  # not a pair the holder interacted with
    h = np.concatenate([row, extra_row[keep]])
    t = np.concatenate([t, extra_t[keep]])
    return h, t, np.concatenate([y, np.zeros(keep.sum(), np.int8)]), np.concatenate(
        [completed, np.zeros(keep.sum(), np.int8)])


def settled_enrolments(interactions: pd.DataFrame, catalogue: CatalogueArrays, holders: HolderArrays,
                       holder_rows: np.ndarray, training_rows: np.ndarray, cut: pd.Timestamp, *,
                       horizon_days: int = COMPLETION_HORIZON_DAYS) -> np.ndarray:
    """Per pair: the holder enrolled in the training at least ``horizon_days`` before ``cut``, so its outcome
    (completed or not) is known."""
    enrolled = interactions[interactions["event"] == "enrol"]
    first = enrolled.groupby(["holder_id", "training_id"])["occurred_at"].min()
    keys = pd.MultiIndex.from_arrays([holders.holder_ids[holder_rows], catalogue.training_ids[training_rows]])
    when = first.reindex(keys)
    return (when < cut - pd.Timedelta(days=horizon_days)).to_numpy(bool)


def own_enrolments(interactions: pd.DataFrame, catalogue: CatalogueArrays, holders: HolderArrays,
                   holder_rows: np.ndarray, training_rows: np.ndarray) -> np.ndarray:
    """How many of the popularity counts of each pair's training are the pair's own holder's enrolments."""
    enrolled = interactions[interactions["event"] == "enrol"]
    counts = enrolled.groupby(["holder_id", "training_id"]).size()
    keys = pd.MultiIndex.from_arrays([holders.holder_ids[holder_rows], catalogue.training_ids[training_rows]])
    return counts.reindex(keys, fill_value=0).to_numpy(np.float32)


def leave_own_enrolments_out(X: np.ndarray, catalogue: CatalogueArrays, holders: HolderArrays,  # noqa: N803
                             holder_rows: np.ndarray, training_rows: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The popularity features of training pairs without the holder's own enrolments (leave-one-out).

    Popularity is counted over the same interactions the labels come from, so every positive pair's training
    would have at least its own enrolment and "no enrolment yet" would mean "never enrolled" with certainty;
    a training new to the catalogue would then score zero whatever its fit. At serving time the holder's own
    enrolments are not among the candidates, so the counts there are other holders' only, as here."""
    popularity = FEATURE_NAMES.index("log_relative_popularity")
    region_popularity = FEATURE_NAMES.index("log_relative_region_popularity")
    changed = np.flatnonzero(own > 0)
    X[changed, popularity] = catalogue.relative_popularity(catalogue.popularity[training_rows[changed]] - own[changed])
    regions = holders.region[holder_rows[changed]]
    for region in np.unique(regions):
        rows = changed[regions == region]
        counts = catalogue.region_popularity.get(str(region))
        regional = counts[training_rows[rows]] if counts is not None else np.zeros(len(rows), np.float32)
        X[rows, region_popularity] = catalogue.relative_popularity(regional - own[rows], str(region))
    return X


def own_provider_activity(interactions: pd.DataFrame, catalogue: CatalogueArrays, holders: HolderArrays,
                          holder_rows: np.ndarray, training_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair's own holder's (enrolments, completions) with the provider of the pair's training, counted as
    ``CatalogueArrays`` counts its provider statistics (events on trainings of the catalogue)."""
    events = interactions[interactions["event"].isin(("enrol", "complete"))]
    rows = events["training_id"].map(catalogue.position)
    known = rows.notna().to_numpy()
    events = events[known]
    frame = pd.DataFrame({
        "holder_id": events["holder_id"].to_numpy(),
        "provider_id": catalogue.provider_id[rows[known].astype(np.int64).to_numpy()],
        "enrol": (events["event"] == "enrol").to_numpy(np.float32),
        "complete": (events["event"] == "complete").to_numpy(np.float32),
    })
    counts = frame.groupby(["holder_id", "provider_id"])[["enrol", "complete"]].sum()
    keys = pd.MultiIndex.from_arrays([holders.holder_ids[holder_rows], catalogue.provider_id[training_rows]])
    own = counts.reindex(keys, fill_value=0.0)
    return own["enrol"].to_numpy(np.float32), own["complete"].to_numpy(np.float32)


def leave_own_provider_out(X: np.ndarray, catalogue: CatalogueArrays, holder_rows: np.ndarray,  # noqa: N803
                           training_rows: np.ndarray, own: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The provider completion rate of training pairs without the holder's own enrolments and completions.

    The rate is counted over the interactions the labels come from: a holder who completed a training raised
    its provider's rate, and the completion model would learn its own label back. Left out, the rate is
    ``smoothed_completion_rate`` of (completions − own, enrolments − own), as ``CatalogueArrays`` smooths, so a
    provider only this holder tried falls back to the overall rate, as an unseen provider does at serving."""
    column = FEATURE_NAMES.index("provider_completion")
    own_enrolments_, own_completions = own
    changed = np.flatnonzero((own_enrolments_ > 0) | (own_completions > 0))
    t = training_rows[changed]
    completes = np.maximum(catalogue.provider_completions[t] - own_completions[changed], 0)
    enrols = np.maximum(catalogue.provider_enrolments[t] - own_enrolments_[changed], 0)
    X[changed, column] = smoothed_completion_rate(completes, enrols, catalogue.completion_overall)
    return X


POPULAR_NEGATIVES_POWER = 0.75
# Chosen on the world zoo (docs/guidance.md, "Training pairs"): the holder's enrolments against trainings drawn
# from the whole catalogue. With the viewed-and-not-taken trainings as negatives (as before) the model learnt what
# tells an enrolment from a view, not what a holder would take among the whole catalogue, which is what it ranks:
# on weak_content it fell below item co-occurrence alone.
RANDOM_NEGATIVES = 10
HARD_NEGATIVES = False
# Share of the random negatives drawn by popularity (``training_pairs``): uniform negatives are mostly trainings
# nobody took, so popularity alone told them apart and a few popular trainings reached a quarter to a third of all
# lists; a tenth drawn by popularity halved that for a small loss of NDCG@10 (docs/guidance.md, "Concentration").
POPULAR_NEGATIVES = 0.1
# Negatives per positive drawn among the candidates served to its row (``training.negatives``), besides the random
# ones: the order among plausible trainings is what the ranker decides when it serves. Chosen on the world zoo,
# every variant and both seeds (docs/guidance.md, "Negatives among the served candidates").
CANDIDATE_NEGATIVES = 5


def factors_out_of_fold(X: np.ndarray, catalogue: CatalogueArrays, holders: HolderArrays,  # noqa: N803
                        holder_rows: np.ndarray, training_rows: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The ``mf_score`` of training pairs from item factors fitted without the pair's holder.

    The catalogue's factors were fitted on every holder's interactions, the pair's own label among them: a
    training a holder enrolled in has its factor pulled toward that holder, so the score would tell the model
    more on its training pairs than it can on a held-out holder's future enrolment. Holders are split into
    ``MF_FOLDS`` folds by id; each fold's pairs are scored by factors fitted on the other folds' holders only."""
    if holders.history is None or catalogue.factors is None or len(holder_rows) == 0:
        return X
    column = FEATURE_NAMES.index("mf_score")
    # Rank of each row's holder id: point-in-time rows (``training.point_in_time``) repeat their holder's id
    # after the base rows, take their holder's fold and are left out of the fits (their history is the holder's).
    fold = holder_folds(holders.holder_ids)
    base = len(np.unique(holders.holder_ids))
    order = np.argsort(catalogue.training_ids, kind="stable")
    for f in range(MF_FOLDS):
        others = sp.diags((fold[:base] != f).astype(np.float32)) @ holders.history[:base]
        factors = ItemFactors.build(others.tocsr(), item_order=order, seed=seed)
        mine = fold[holder_rows] == f
        X[mine, column] = mf_score(factors, holders, holder_rows[mine], training_rows[mine])
    return X


def _check_feature_names(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(FEATURE_NAMES))
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)} (known: {', '.join(FEATURE_NAMES)})")


def without_features(X: np.ndarray, names: tuple[str, ...]) -> np.ndarray:  # noqa: N803
    """``X`` with the columns of ``names`` set to 0 (a copy; ``X`` itself when there are none)."""
    _check_feature_names(names)
    if not names:
        return X
    out = X.copy()
    out[:, [FEATURE_NAMES.index(name) for name in names]] = 0.0
    return out


def with_candidate_negatives(catalogue: CatalogueArrays, holders: HolderArrays, at_day: PointInTime | None,
                             split: TimeSplit, pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], *,
                             per_positive: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``pairs`` (``training_pairs``' holder rows, training rows and labels) followed by ``per_positive`` negatives
    per positive drawn among its row's served candidates (``training.negatives``)."""
    h, t, enrolled, completed = pairs
    if per_positive <= 0:
        return pairs
    positive_rows = h[enrolled == 1]
    base_rows = at_day.base_rows(positive_rows) if at_day is not None else positive_rows
    extra_h, extra_t = candidate_negatives(catalogue, holders, positive_rows, base_rows,
                                           interacted_keys(split.train, catalogue, holders),
                                           per_positive=per_positive, seed=seed + 1)
    zeros = np.zeros(len(extra_h), dtype=np.int8)
    return (np.concatenate([h, extra_h]), np.concatenate([t, extra_t]), np.concatenate([enrolled, zeros]),
            np.concatenate([completed, zeros]))


# Features the ranker is fitted without by default: over the 12 zoo worlds (two seeds) leaving either out changed
# NDCG@10 by less than noise on average (docs/guidance.md, "Which hand-made features earn their place"); they are
# still computed, for the reasons said to holders and for the completion model.
RANKER_LEFT_OUT: tuple[str, ...] = ("target_match", "is_job_seeker")
# Directions the ranker's margin may only move in along a feature, whatever the world: more of the skill gap closed,
# prerequisites met, the preferred modality, the holder's region, a provider whose learners complete, a training
# more taken (overall, in the region, by holders with the same history) never make a training less likely to be
# chosen; a higher cost to the holder never makes it more likely. Left free: what depends on the holder (closeness
# to the profile, novelty, hours, level). Chosen on the zoo (docs/guidance.md, "Monotone constraints").
RANKER_MONOTONE: dict[str, int] = {
    "gap_coverage": 1, "gap_closed": 1, "prerequisites_met": 1, "modality_match": 1, "region_match": 1,
    "provider_completion": 1, "log_relative_popularity": 1, "log_relative_region_popularity": 1,
    "log_relative_audience": 1, "log_relative_region_audience": 1, "cf_affinity": 1, "mf_score": 1,
    "log_out_of_pocket": -1, "price_balance_ratio": -1,
}
# Weight of the linear term beside the ranker's trees (``TrainingRanker.linear_weight``; 0: trees only). Chosen on
# the zoo (docs/guidance.md, "A linear term beside the trees").
RANKER_LINEAR_WEIGHT = 1.0
# Other offerings of its certification each enrolment is set against, to fit the offering choice model
# (``offering_choice_sets``).
OFFERING_CHOICES = 10
# Left out of the offering choice model: the collaborative scores of a training pair are computed as of the start of
# its window, where a sibling the holder viewed earlier and left scores high, while at serving a holder's earlier
# views say what they like; the two disagree in sign within a certification (docs/guidance.md).
OFFERING_LEFT_OUT: tuple[str, ...] = ("cf_affinity", "mf_score")
# The choice model alone orders a certification's offerings (``OfferingChoice.margin_weight``): chosen on the zoo
# against adding the ranker's margin (docs/guidance.md, "Which offering of a certification").
OFFERING_MARGIN_WEIGHT = 0.0


def monotone_constraints(constraints: dict[str, int] | None = None) -> list[int]:
    """``constraints`` (default ``RANKER_MONOTONE``) as scikit-learn's ``monotonic_cst``, one per ``FEATURE_NAMES``."""
    constraints = RANKER_MONOTONE if constraints is None else constraints
    _check_feature_names(constraints)
    if any(v not in (-1, 0, 1) for v in constraints.values()):
        raise ValueError("a monotone constraint is -1, 0 or 1")
    return [int(constraints.get(name, 0)) for name in FEATURE_NAMES]


def fit_bundle(
    catalogue: CatalogueArrays, holders: HolderArrays, split: TimeSplit, *,
    random_negatives: int = RANDOM_NEGATIVES, seed: int = 0, ranker_params: dict[str, Any] | None = None,
    leave_own_out: bool = True, hard_negatives: bool = HARD_NEGATIVES,
    completion_horizon_days: int = COMPLETION_HORIZON_DAYS, frames: WorldFrames | None = None,
    popular_negatives: float = POPULAR_NEGATIVES, exposure_cap: float | None = EXPOSURE_CAP,
    candidate_negatives: int = CANDIDATE_NEGATIVES, without: tuple[str, ...] = RANKER_LEFT_OUT,
    offering_choices: int = OFFERING_CHOICES,
) -> RankerBundle:
    """Fit the ranker (and the completion model) on the training pairs before the split's cut.

    ``offering_choices``: the offering choice model (``recommender.offering``) is fitted on each positive against
    up to that many other offerings of its certification, their features computed as the pairs' are; 0: none.

    ``frames`` (those ``holders`` were built from, profiles before the cut): each pair reads the holder's profile
    as it stood on the pair's day (``training.point_in_time``); without them, the profile before the cut, which
    holds what the pair's own completion taught (the leak of docs/guidance.md, kept for comparison).

    ``leave_own_out=False`` keeps the holder's own activity in the popularity and provider completion
    features of its pairs (the leaks ``leave_own_enrolments_out`` and ``leave_own_provider_out`` remove; kept
    for comparison); ``completion_horizon_days=0`` fits the completion model on every enrolment, the unsettled
    ones too (the bias ``bench_ranker`` shows).

    ``exposure_cap``: once the models are fitted, the exposure prices that keep every training in at most that
    share of the top-10 lists served to the holders of the training data (``training.exposure``); ``None``: no
    prices (as before).

    ``without``: feature names the ranker is fitted without (default ``RANKER_LEFT_OUT``; ``()`` for every feature,
    as the ablation ``training/bench/bench_ablation.py`` compares): their columns are constant in its training
    pairs, so no tree splits on them and their served values are never read; the completion model keeps every
    feature."""
    started = time.perf_counter()
    base_holders = holders
    at_day = (PointInTime.build(frames, holders, split.cut, windows_of=catalogue, seed=seed)
              if frames is not None else None)
    holders = at_day.holders if at_day is not None else holders
    h, t, enrolled, completed = training_pairs(catalogue, holders, split.train, random_negatives=random_negatives,
                                               seed=seed, hard_negatives=hard_negatives, point_in_time=at_day,
                                               popular_negatives=popular_negatives)
    h, t, enrolled, completed = with_candidate_negatives(catalogue, holders, at_day, split, (h, t, enrolled, completed),
                                                         per_positive=candidate_negatives, seed=seed)
    pairs_seconds = time.perf_counter() - started
    X, collaborative_seconds = training_features(catalogue, holders, at_day, split, h, t,  # noqa: N806
                                                 leave_own_out=leave_own_out, seed=seed)
    features_seconds = time.perf_counter() - started - pairs_seconds
    params = {"random_negatives": random_negatives, "seed": seed, "leave_own_out": leave_own_out,
              "leave_own_provider_out": leave_own_out, "mf_out_of_fold": leave_own_out,
              "hard_negatives": hard_negatives, "point_in_time": at_day is not None,
              # −1: the pairs' collaborative features as of the cut (without frames); 0: out of fold, before the
              # pair's day; > 0: windows of that many days (``training.point_in_time``)
              "collaborative_window_days": -1 if at_day is None or at_day.window_days is None else at_day.window_days,
              "popular_negatives": popular_negatives, "candidate_negatives": candidate_negatives,
              **({"without": ",".join(without)} if without else {}),
              "exposure_cap": exposure_cap, **(ranker_params or {})}
    ranker_kwargs = {"monotonic_cst": monotone_constraints(), "linear_weight": RANKER_LINEAR_WEIGHT,
                     **(ranker_params or {})}
    # What the ranker was fitted with, not the default: ``ranker_params`` may replace the constraints.
    params["monotone"] = ",".join(f"{name}{'+' if sign > 0 else '-'}" for name, sign
                                  in zip(FEATURE_NAMES, ranker_kwargs["monotonic_cst"] or (), strict=False) if sign)
    params["linear_weight"] = float(ranker_kwargs["linear_weight"])
    ranker = TrainingRanker(random_state=seed, **ranker_kwargs).fit(without_features(X, without), enrolled)
    completion = None
    enrolled_rows = (enrolled == 1) & settled_enrolments(split.train, catalogue, holders, h, t, split.cut,
                                                         horizon_days=completion_horizon_days)
    if enrolled_rows.sum() >= MIN_COMPLETION_ROWS and 0 < completed[enrolled_rows].mean() < 1:
        # Its own parameters, as before the ranker's trees became shallow: calibrated on its own and checked in
        # docs/benchmarks.md (Brier, reliability), it was not part of that choice.
        completion = TrainingRanker(max_iter=50, learning_rate=0.16, max_leaf_nodes=31, random_state=seed).fit(
            X[enrolled_rows], completed[enrolled_rows])
    stats = {"pairs": float(len(h)), "positives": float(enrolled.sum()), "pairs_seconds": pairs_seconds,
             "features_seconds": features_seconds, "collaborative_seconds": collaborative_seconds,
             "fit_seconds": time.perf_counter() - started - pairs_seconds - features_seconds}
    if enrolled_rows.any():  # the rate the completion model learnt, which served estimates are compared with
        stats[SETTLED_RATE] = float(completed[enrolled_rows].mean())
    choice_started = time.perf_counter()
    set_h, set_t, choice_set, chosen = offering_choice_sets(catalogue, h, t, enrolled, seed=seed,
                                                            per_positive=offering_choices)
    offering_choice = None
    if len(choice_set):
        X_sets, _ = training_features(catalogue, holders, at_day, split, set_h, set_t,  # noqa: N806
                                      leave_own_out=leave_own_out, seed=seed)
        offering_choice = OfferingChoice(margin_weight=OFFERING_MARGIN_WEIGHT).fit(
            without_features(X_sets, OFFERING_LEFT_OUT), choice_set, chosen)
    params["offering_choices"] = offering_choices
    stats.update({"offering_choice_sets": float(offering_choice.n_choice_sets_ if offering_choice else 0),
                  "offering_choice_seconds": time.perf_counter() - choice_started})
    # Before the exposure prices: they are learnt on the lists as served, offerings chosen.
    bundle = RankerBundle(ranker, completion, FEATURE_NAMES, split.cut_date, params, stats,
                          offering_choice=offering_choice)
    if exposure_cap is not None:
        exposure = learn_exposure_prices(bundle, catalogue, base_holders, split, frames, cap=exposure_cap, seed=seed)
        bundle.exposure_prices = exposure.prices
        stats.update({"exposure_lists": float(exposure.lists), "exposure_top_share_before": exposure.top_share_before,
                      "exposure_top_share_after": exposure.top_share_after,
                      "exposure_priced": float(len(exposure.prices)), "exposure_iterations": float(exposure.iterations),
                      "exposure_seconds": exposure.seconds})
    return bundle


def training_features(catalogue: CatalogueArrays, holders: HolderArrays, at_day: PointInTime | None,
                      split: TimeSplit, h: np.ndarray, t: np.ndarray, *, leave_own_out: bool = True,
                      seed: int = 0) -> tuple[np.ndarray, float]:
    """The ``FEATURE_NAMES`` matrix of training pairs as ``fit_bundle`` fits on it (the holder's own activity left
    out, the collaborative features as of the pair's day), and the seconds spent on the collaborative part."""
    X = pair_features(catalogue, holders, h, t, on=split.cut_date)  # noqa: N806
    if leave_own_out:
        X = leave_own_enrolments_out(X, catalogue, holders, h, t,  # noqa: N806
                                     own_enrolments(split.train, catalogue, holders, h, t))
        X = leave_own_provider_out(X, catalogue, h, t,  # noqa: N806
                                   own_provider_activity(split.train, catalogue, holders, h, t))
    started = time.perf_counter()
    if leave_own_out and (at_day is None or at_day.window_days is None):  # else scored per window below
        X = factors_out_of_fold(X, catalogue, holders, h, t, seed=seed)  # noqa: N806
    if at_day is not None and at_day.window_days is not None:
        X = at_day.collaborative_features(X, h, t)  # noqa: N806
    return X, time.perf_counter() - started


def offering_choice_sets(catalogue: CatalogueArrays, h: np.ndarray, t: np.ndarray, enrolled: np.ndarray, *,
                         seed: int = 0, per_positive: int = OFFERING_CHOICES,
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Choice sets for ``OfferingChoice``: each positive pair (``enrolled`` 1) with up to ``per_positive`` other
    offerings of its certification (drawn at random when there are more), for the same holder row. Returns the
    pairs' holder rows, training rows, set id (the positive's index) and chosen flag; positives whose
    certification has no other offering make no set."""
    empty = np.zeros(0, dtype=np.int64)
    positives = np.flatnonzero(np.asarray(enrolled) == 1)
    if per_positive <= 0 or len(positives) == 0:
        return empty, empty, empty, np.zeros(0, dtype=bool)
    code_of_row = catalogue.certification_codes()
    by_code = np.argsort(code_of_row, kind="stable")
    starts = np.searchsorted(code_of_row[by_code], np.arange(code_of_row.max() + 2))
    rng = np.random.default_rng(seed)
    set_h: list[np.ndarray] = []
    set_t: list[np.ndarray] = []
    set_id: list[np.ndarray] = []
    for i in positives.tolist():
        code = code_of_row[t[i]]
        siblings = by_code[starts[code]:starts[code + 1]]
        siblings = siblings[siblings != t[i]]
        if len(siblings) == 0:
            continue
        if len(siblings) > per_positive:
            siblings = rng.choice(siblings, per_positive, replace=False)
        rows = np.r_[t[i], siblings]
        set_h.append(np.full(len(rows), h[i], dtype=np.int64))
        set_t.append(rows.astype(np.int64))
        set_id.append(np.full(len(rows), i, dtype=np.int64))
    if not set_id:
        return empty, empty, empty, np.zeros(0, dtype=bool)
    sets = np.concatenate(set_id)
    chosen = np.r_[True, sets[1:] != sets[:-1]]  # each set's first row is its positive
    return np.concatenate(set_h), np.concatenate(set_t), sets, chosen


def update_bundle(
    parent: RankerBundle, catalogue: CatalogueArrays, holders: HolderArrays, split: TimeSplit, *,
    extra_iter: int = 100, seed: int = 0, frames: WorldFrames | None = None,
) -> RankerBundle:
    """A new bundle continuing ``parent`` on the interactions from its ``trained_until`` day to the cut.

    ``parent`` is left unchanged (its rankers are copied). The pairs are drawn as for a full fit (the parent's
    number of random negatives), but only for pairs with an interaction since ``parent.trained_until``;
    the completion model is continued when those pairs hold enough enrolments with both outcomes, else kept.
    ``frames``: as in ``fit_bundle``, for a parent fitted on point-in-time profiles.
    """
    if tuple(parent.feature_names) != FEATURE_NAMES:
        raise Conflict("the champion was fitted on other features than this version computes: "
                       "run a full `parcours train` instead of --incremental")
    since = parent.trained_until
    if since >= split.cut_date:
        raise NotEnoughData(f"the champion is trained until {since.isoformat()}, not before the cut "
                            f"{split.cut_date.isoformat()}: no new interactions to update it with")
    started = time.perf_counter()
    random_negatives = int(parent.params.get("random_negatives", 2))  # type: ignore[call-overload]
    window_days = int(parent.params.get("collaborative_window_days", -1))  # type: ignore[call-overload]
    at_day = (PointInTime.build(frames, holders, split.cut, seed=seed,
                                windows_of=catalogue if window_days >= 0 else None, window_days=max(window_days, 0))
              if frames is not None and parent.params.get("point_in_time", False) else None)
    holders = at_day.holders if at_day is not None else holders
    h, t, enrolled, completed = training_pairs(
        catalogue, holders, split.train, random_negatives=random_negatives, seed=seed, since=since,
        hard_negatives=bool(parent.params.get("hard_negatives", True)), point_in_time=at_day,
        popular_negatives=float(parent.params.get("popular_negatives", 0.0)))  # type: ignore[arg-type]
    h, t, enrolled, completed = with_candidate_negatives(
        catalogue, holders, at_day, split, (h, t, enrolled, completed), seed=seed,
        per_positive=int(parent.params.get("candidate_negatives", 0)))  # type: ignore[call-overload]
    if enrolled.sum() < MIN_UPDATE_POSITIVES or (enrolled == 0).sum() < MIN_UPDATE_POSITIVES:
        raise NotEnoughData(f"{int(enrolled.sum())} enrolments among the interactions since {since.isoformat()} "
                            f"(at least {MIN_UPDATE_POSITIVES} needed): too few to update the model with")
    pairs_seconds = time.perf_counter() - started
    X = pair_features(catalogue, holders, h, t, on=split.cut_date)  # noqa: N806
    if parent.params.get("leave_own_out", False):  # as the parent was fitted (older bundles: not left out)
        X = leave_own_enrolments_out(X, catalogue, holders, h, t,  # noqa: N806
                                     own_enrolments(split.train, catalogue, holders, h, t))
    if parent.params.get("leave_own_provider_out", False):
        X = leave_own_provider_out(X, catalogue, h, t,  # noqa: N806
                                   own_provider_activity(split.train, catalogue, holders, h, t))
    if at_day is not None and at_day.window_days is not None:  # as the parent was fitted
        X = at_day.collaborative_features(X, h, t)  # noqa: N806
    elif parent.params.get("mf_out_of_fold", False):
        X = factors_out_of_fold(X, catalogue, holders, h, t, seed=seed)  # noqa: N806
    features_seconds = time.perf_counter() - started - pairs_seconds
    without = tuple(name for name in str(parent.params.get("without", "")).split(",") if name)
    ranker = copy.deepcopy(parent.ranker).update(without_features(X, without), enrolled, extra_iter=extra_iter)
    completion = parent.completion
    enrolled_rows = (enrolled == 1) & settled_enrolments(split.train, catalogue, holders, h, t, split.cut)
    if (completion is not None and enrolled_rows.sum() >= MIN_COMPLETION_ROWS
            and 0 < completed[enrolled_rows].mean() < 1):
        completion = copy.deepcopy(completion).update(X[enrolled_rows], completed[enrolled_rows],
                                                      extra_iter=extra_iter)
    params = {**parent.params, "incremental": True, "parent_version": parent.model_version,
              "parent_trained_until": since.isoformat(), "extra_iter": extra_iter, "seed": seed,
              "point_in_time": at_day is not None}
    stats = {"pairs": float(len(h)), "positives": float(enrolled.sum()), "pairs_seconds": pairs_seconds,
             "features_seconds": features_seconds,
             "fit_seconds": time.perf_counter() - started - pairs_seconds - features_seconds,
             "correction_iterations": float(ranker.update_iterations_[-1]),
             "completion_updated": float(completion is not parent.completion)}
    if SETTLED_RATE in parent.stats:  # the few new settled enrolments would not say the rate better
        stats[SETTLED_RATE] = parent.stats[SETTLED_RATE]
    # The parent's exposure prices, kept: learning them again builds every holder's served list (a minute on the
    # small world, where an update takes seconds); the update continues the parent's margins, in whose units
    # they are. A full `parcours train` learns them again.
    # The parent's offering choice model, kept for the same reason: it reads differences between offerings of
    # one certification, which an update's few new enrolments would say less well.
    return RankerBundle(ranker, completion, FEATURE_NAMES, split.cut_date, params, stats,
                        exposure_prices=dict(bundle_prices(parent)),
                        offering_choice=getattr(parent, "offering_choice", None))
