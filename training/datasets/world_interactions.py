"""The interactions of a world over its 24-month window: views drawn by softmax over the catalogue (Gumbel top-k),
enrolments by utility + noise above a world threshold, then cancellations, completions and dropouts. The utility,
the view temperature and the enrolment noise are those of the world's variant (``inputs.variant``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from features.catalogue import WEEKLY_HOURS
from training.datasets.world_arrays import rank_within
from training.datasets.world_catalogue import Catalogue
from training.datasets.world_params import (
    ENROL_RATE,
    MAX_DAYS_BEFORE_SESSION,
    MAX_ENROLMENTS,
    MIN_DAYS_BEFORE_SESSION,
    WorldScale,
)
from training.datasets.world_reference import MODALITIES
from training.datasets.world_time import DAY, days_to_iso
from training.datasets.world_utility import UtilityInputs, block_gap, block_utility


@dataclass
class Interactions:
    """What the simulation drew, by holder and training position."""

    views: dict[str, np.ndarray]  # h, t, ts (seconds), u (noise-free utility)
    enrolments: dict[str, np.ndarray]  # one file per entry: session, outcome dates, completion rate
    threshold: float  # of utility + noise for enrolling, quantile ENROL_RATE of the enrollable views


def simulate(
    rng: np.random.Generator,
    scale: WorldScale,
    catalogue: Catalogue,
    activity: np.ndarray,
    inputs: UtilityInputs,
    *,
    quiet: bool,
) -> Interactions:
    """Views by softmax over the catalogue (Gumbel top-k), enrolments by utility + noise, outcomes.

    ``activity`` is each holder's propensity to search (the mean number of views is ``activity × mean_views``).
    """
    n_h, n_t = len(activity), catalogue.n_t
    as_of_day, window_start_day = catalogue.as_of_day, catalogue.window_start_day
    n_views = np.minimum(rng.poisson(activity * scale.mean_views), n_t)
    views: dict[str, list[np.ndarray]] = {k: [] for k in ("h", "t", "u", "met")}
    blocks = range(0, n_h, scale.block)
    for b0 in tqdm(blocks, desc="views", unit="block", disable=quiet):
        block = np.arange(b0, min(n_h, b0 + scale.block))
        active = block[n_views[block] > 0]
        if len(active) == 0:
            continue
        if scale.pool == "full":
            cand_h = np.repeat(block, n_t)
            cand_t = np.tile(np.arange(n_t), len(block))
            keep = n_views[cand_h] > 0
            cand_h, cand_t = cand_h[keep], cand_t[keep]
            utility, met = block_utility(inputs, block, cand_h, cand_t, dense=True)
        else:
            gap_m = block_gap(inputs, block)
            near: list[np.ndarray] = []
            k = scale.pool_overlap
            for row in range(len(block)):  # the k trainings closing most of this holder's gap
                lo, hi = gap_m.indptr[row], gap_m.indptr[row + 1]
                cols = gap_m.indices[lo:hi]
                if hi - lo > k:
                    cols = cols[np.argpartition(-gap_m.data[lo:hi], k - 1)[:k]]
                near.append(cols.astype(np.int64) + (block[row] * n_t))
            rand_h = np.repeat(block, scale.pool_random)
            rand_t = rng.integers(0, n_t, size=len(rand_h))
            key = np.sort(np.concatenate([*near, rand_h * n_t + rand_t]))
            key = key[np.r_[True, key[1:] != key[:-1]]]  # (np.unique hashes: much slower here)
            cand_h, cand_t = key // n_t, key % n_t
            keep = n_views[cand_h] > 0
            cand_h, cand_t = cand_h[keep], cand_t[keep]
            utility, met = block_utility(inputs, block, cand_h, cand_t, dense=False, gap_m=gap_m)
        keys = utility / inputs.variant.view_temperature + rng.gumbel(size=len(utility))
        order, rank = rank_within(cand_h, keys)
        chosen = order[rank < n_views[cand_h[order]]]
        chosen = chosen[np.lexsort((cand_t[chosen], cand_h[chosen]))]
        views["h"].append(cand_h[chosen])
        views["t"].append(cand_t[chosen])
        views["u"].append(np.round(utility[chosen], 10))
        views["met"].append(met[chosen])
    vh = np.concatenate(views["h"]).astype(np.int64)
    vt = np.concatenate(views["t"]).astype(np.int64)
    vu = np.concatenate(views["u"])
    vmet = np.concatenate(views["met"])
    # When: a few search episodes per holder; a view happens while the training is on the catalogue
    # (a session within the next 12 months).
    window_s, as_of_s = window_start_day * DAY, as_of_day * DAY
    n_episodes = 1 + rng.poisson(1.0, n_h)
    episode_start = window_s + (rng.random((n_h, int(n_episodes.max()))) * (as_of_s - window_s - 2 * DAY))
    episode = (rng.random(len(vh)) * n_episodes[vh]).astype(np.int64)
    when = episode_start[vh, episode] + rng.exponential(1.5 * DAY, len(vh))
    first_session = catalogue.sess_days[catalogue.sess_ptr[:-1]]
    last_session = catalogue.sess_days[catalogue.sess_ptr[1:] - 1]
    open_from = np.maximum((first_session[vt] - 365) * DAY, window_s)
    open_until = np.minimum(last_session[vt] * DAY, as_of_s - DAY) - 1
    outside = (when < open_from) | (when > open_until)
    redraw = open_from + rng.random(len(vh)) * np.maximum(open_until - open_from, 0)
    when = np.where(outside, redraw, when)
    valid = open_until > open_from
    when = np.floor(np.minimum(when, as_of_s - DAY - 1)).astype(np.int64)
    vh, vt, vu, vmet, when = vh[valid], vt[valid], vu[valid], vmet[valid], when[valid]
    # Enrolments: a session starting 14–180 days after the view; utility + noise above a world threshold.
    view_day = when // DAY
    session = catalogue.next_session(vt, view_day + MIN_DAYS_BEFORE_SESSION)
    eligible = (session >= 0) & (session <= view_day + MAX_DAYS_BEFORE_SESSION)
    decision = vu + rng.normal(0.0, inputs.variant.enrol_noise_sd, len(vu))
    threshold = float(np.quantile(decision[eligible], 1 - ENROL_RATE)) if eligible.any() else np.inf
    enrol = eligible & (decision > threshold)
    idx = best_per_certification(np.flatnonzero(enrol), vh, vt, catalogue.t_code, decision)
    order, rank = rank_within(vh[idx], decision[idx])
    idx = np.sort(idx[order[rank < MAX_ENROLMENTS]])
    eh, et, es = vh[idx], vt[idx], session[idx]
    upper = np.minimum.reduce(
        [np.full(len(idx), 5 * DAY), (es - 11) * DAY - when[idx], as_of_s - 1 - when[idx]]
    )
    enrol_ts = when[idx] + 3_600 + (rng.random(len(idx)) * np.maximum(upper - 3_600, 1)).astype(np.int64)
    quality = inputs.quality[et]
    n_pre = inputs.n_prerequisites[et]
    unmet = np.where(n_pre > 0, (n_pre - vmet[idx]) / np.maximum(n_pre, 1), 0.0)
    p_cancel = 0.05 + 0.2 * (1 - quality) + 0.1 * unmet
    cancel_ts = enrol_ts + (rng.random(len(idx)) * (es * DAY - enrol_ts)).astype(np.int64)
    cancelled = (rng.random(len(idx)) < p_cancel) & (cancel_ts < as_of_s)
    weekly = np.array([WEEKLY_HOURS[m] for m in MODALITIES])[catalogue.t_modality[et]]
    end_day = es + np.ceil(catalogue.t_hours[et] / weekly * 7).astype(np.int64)
    finished = ~cancelled & (end_day < as_of_day)
    p_complete = np.clip(0.2 + 0.75 * quality - 0.4 * unmet, 0.05, 0.97)
    completed = finished & (rng.random(len(idx)) < p_complete)
    complete_ts = end_day * DAY + rng.integers(9 * 3_600, 18 * 3_600, size=len(idx))
    dropout = finished & ~completed
    enrolments = {
        "h": eh,
        "t": et,
        "ts": enrol_ts,
        "day": enrol_ts // DAY,
        "session": days_to_iso(es),
        "session_day": es,
        "cancel_ts": np.where(cancelled, cancel_ts, -1),
        "cancel_day": np.where(cancelled, cancel_ts // DAY, -1),
        "complete_ts": np.where(completed, complete_ts, -1),
        "dropout_day": np.where(dropout, end_day, -1),
        "completion_pct": np.where(dropout, rng.integers(10, 71, size=len(idx)), 100),
    }
    return Interactions({"h": vh, "t": vt, "ts": when, "u": vu}, enrolments, threshold)


def best_per_certification(
    idx: np.ndarray, holder: np.ndarray, training: np.ndarray, certification: np.ndarray, decision: np.ndarray
) -> np.ndarray:
    """Of the views ``idx`` a holder would enrol from (``holder``, ``training`` and ``decision`` per view;
    ``certification`` per training), the one of highest ``decision`` per holder and certification, sorted; ties
    keep the earlier view.

    Offerings of one certification teach much the same and are closer in utility than the rest of the catalogue, so
    deciding each view alone let a holder enrol in two or three of them within months; a holder pays for a
    certification once, in the offering that suits them best (as the cap on enrolments keeps the highest values).
    """
    if len(idx) == 0:
        return idx
    _, cert = np.unique(certification[training[idx]].astype(str), return_inverse=True)
    order, rank = rank_within(holder[idx] * (int(cert.max()) + 1) + cert, decision[idx])
    return np.sort(idx[order[rank == 0]])
