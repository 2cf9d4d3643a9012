"""Training pairs read each holder's skills profile as it stood on the pair's day (``training.point_in_time``), on
the tiny world: a completed training's own skills never count as held in its pair's features, and the random
negatives drawn for a positive read the same profile as it. The abandonment warning compares with the settled
enrolments' completion rate and says so."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from features.pairs import FEATURE_NAMES, SkillSpace, pair_features

pytestmark = pytest.mark.xdist_group("tiny_world")


@pytest.fixture(scope="module")
def prepared(tiny_world):  # type: ignore[no-untyped-def]
    from training.pipeline import prepare

    _folder, url = tiny_world
    return prepare(url, show_progress=False)


def _first_days(train: pd.DataFrame) -> dict[tuple[str, str], pd.Timestamp]:
    """(holder, training) → UTC day of the pair's first enrolment or completion."""
    taken = train[train["event"].isin(("enrol", "complete"))]
    first = taken.groupby(["holder_id", "training_id"])["occurred_at"].min().dt.floor("D")
    return {(str(h), str(t)): day for (h, t), day in first.items()}


def _completed_on(frames) -> dict[tuple[str, str], pd.Timestamp]:  # type: ignore[no-untyped-def]
    done = frames.interactions[frames.interactions["event"] == "complete"]
    first = done.groupby(["holder_id", "training_id"])["occurred_at"].min()
    return {(str(h), str(t)): when for (h, t), when in first.items()}


def test_a_completed_trainings_own_skills_never_count_as_held(prepared) -> None:  # type: ignore[no-untyped-def]
    from training.fit import training_pairs
    from training.point_in_time import PointInTime

    frames, split, catalogue = prepared.frames, prepared.split, prepared.catalogue
    at_day = PointInTime.build(frames, prepared.holders, split.cut)
    holders = at_day.holders
    h, t, enrolled, completed = training_pairs(catalogue, holders, split.train, random_negatives=3, seed=1,
                                               hard_negatives=False, point_in_time=at_day)
    space = SkillSpace.load()
    evidence = frames.evidence
    completed_on = _completed_on(frames)
    first_day = _first_days(split.train)
    # Each holder's evidence rows: (skill, weight, training id or None), in stored order.
    rows_of: dict[str, list[tuple[str, float, str | None]]] = defaultdict(list)
    for code, skill, training, weight in zip(evidence.holder, evidence.skill, evidence.training, evidence.weight,
                                             strict=True):
        rows_of[evidence.holder_ids[code]].append(
            (evidence.skill_uris[skill], float(weight), None if training < 0 else evidence.training_ids[training]))
    novelty = FEATURE_NAMES.index("skill_novelty")
    checked = own_skills_checked = virtual = 0
    for i in np.flatnonzero((enrolled == 1) & (completed == 1)):
        holder_id, training_id = str(holders.holder_ids[h[i]]), str(catalogue.training_ids[t[i]])
        day = first_day[(holder_id, training_id)]
        # By hand: the noisy-or of the evidence rows not given by a completion on or after the pair's day.
        kept: dict[str, float] = {}
        own_only: set[str] = set()
        for uri, weight, source in rows_of.get(holder_id, []):
            when = completed_on.get((holder_id, source)) if source is not None else None
            if when is not None and when >= day:
                if source == training_id:
                    own_only.add(uri)
                continue
            kept[uri] = 1.0 - (1.0 - kept.get(uri, 0.0)) * (1.0 - min(max(weight, 0.0), 1.0))
        row = holders.skills[h[i]]
        got = {c: w for c, w in zip(row.indices.tolist(), row.data.tolist(), strict=True) if w > 0}
        expected = {space.skill_col[u]: w for u, w in kept.items() if u in space.skill_col and w > 0}
        assert got.keys() == expected.keys()
        assert all(abs(got[c] - expected[c]) < 1e-6 for c in got)
        taught = set(catalogue.skills[t[i]].indices.tolist())
        own = {space.skill_col[u] for u in own_only - kept.keys() if u in space.skill_col} & taught
        assert not own & got.keys()  # what only its own completion taught is not held
        own_skills_checked += len(own)
        virtual += int(h[i] >= at_day.base)
        checked += 1
    assert checked > 10 and own_skills_checked > 0 and virtual > 0
    # The leak it removes: on the profile before the cut, completed pairs hold their own training's skills.
    base_h, base_t, base_enrolled, base_completed = training_pairs(
        catalogue, prepared.holders, split.train, random_negatives=3, seed=1, hard_negatives=False)
    done = (base_enrolled == 1) & (base_completed == 1)
    leaky = pair_features(catalogue, prepared.holders, base_h[done], base_t[done], on=split.cut_date)[:, novelty]
    fixed = pair_features(catalogue, holders, h[done], t[done], on=split.cut_date)[:, novelty]
    assert np.array_equal(t[done], base_t[done]) and fixed.mean() > leaky.mean() + 0.1


def test_random_negatives_read_their_positives_profile(prepared) -> None:  # type: ignore[no-untyped-def]
    from training.fit import training_pairs
    from training.point_in_time import PointInTime

    split, catalogue = prepared.split, prepared.catalogue
    at_day = PointInTime.build(prepared.frames, prepared.holders, split.cut)
    holders = at_day.holders
    k, seed = 4, 7
    h, t, enrolled, _completed = training_pairs(catalogue, holders, split.train, random_negatives=k, seed=seed,
                                                hard_negatives=False, point_in_time=at_day)
    n = int(enrolled.sum())
    assert (enrolled[:n] == 1).all() and not enrolled[n:].any()
    # The draws, redone: k per positive in order, those hitting a pair the holder interacted with dropped.
    drawn = np.random.default_rng(seed).integers(0, len(catalogue.training_ids), size=n * k)
    interacted = set(zip(split.train["holder_id"].astype(str), split.train["training_id"].astype(str), strict=True))
    rows = np.repeat(h[:n], k)
    keep = np.array([(str(holders.holder_ids[r]), str(catalogue.training_ids[d])) not in interacted
                     for r, d in zip(rows, drawn, strict=True)])
    assert np.array_equal(t[n:], drawn[keep])
    assert np.array_equal(h[n:], rows[keep])  # each negative on its positive's row, virtual rows included
    assert (h[n:] >= at_day.base).any() and (h[n:] < at_day.base).any()


def test_candidate_negatives_are_their_rows_served_candidates_never_interacted(prepared) -> None:  # type: ignore[no-untyped-def]
    from recommender.candidates import exact_vector_search, generate_candidates
    from training.fit import training_pairs, with_candidate_negatives
    from training.point_in_time import PointInTime

    split, catalogue = prepared.split, prepared.catalogue
    at_day = PointInTime.build(prepared.frames, prepared.holders, split.cut, windows_of=catalogue)
    holders = at_day.holders
    pairs = training_pairs(catalogue, holders, split.train, random_negatives=2, seed=1, hard_negatives=False,
                           point_in_time=at_day)
    k = 3
    h, t, enrolled, completed = with_candidate_negatives(catalogue, holders, at_day, split, pairs, per_positive=k,
                                                         seed=5)
    n = len(pairs[0])
    for before, after in zip(pairs, (h, t, enrolled, completed), strict=True):
        assert np.array_equal(after[:n], before)  # the pairs drawn before are kept as they were
    extra_h, extra_t = h[n:], t[n:]
    assert not enrolled[n:].any() and not completed[n:].any()
    positive_rows = pairs[0][pairs[2] == 1]
    assert set(extra_h.tolist()) <= set(positive_rows.tolist())
    assert len(extra_h) >= 0.5 * k * len(positive_rows)  # a few draws hit a training the holder interacted with
    interacted = set(zip(split.train["holder_id"].astype(str), split.train["training_id"].astype(str), strict=True))
    assert not any((str(holders.holder_ids[r]), str(catalogue.training_ids[c])) in interacted
                   for r, c in zip(extra_h.tolist(), extra_t.tolist(), strict=True))
    everything = np.ones(len(catalogue.training_ids), dtype=bool)
    search = exact_vector_search(catalogue)
    rows = np.unique(extra_h)
    assert (rows >= at_day.window_start).all()  # window rows: the profile and history of the pair's day
    for row in rows[:: max(1, len(rows) // 40)].tolist():
        served = set(generate_candidates(catalogue, holders, row, everything, vector_search=search).tolist())
        assert set(extra_t[extra_h == row].tolist()) <= served
    assert with_candidate_negatives(catalogue, holders, at_day, split, pairs, per_positive=0) is pairs


def test_point_in_time_rows_are_the_base_rows_when_nothing_is_dropped(prepared) -> None:  # type: ignore[no-untyped-def]
    from training.point_in_time import PointInTime, _days

    at_day = PointInTime.build(prepared.frames, prepared.holders, prepared.split.cut)
    rows = np.arange(at_day.base)
    cut_day = int(_days(pd.DatetimeIndex([prepared.split.cut]))[0])
    assert np.array_equal(at_day.rows(rows, np.full(at_day.base, cut_day)), rows)
    # A virtual row keeps its holder's id, balances and history; only the profile differs.
    stacked = at_day.holders
    virtual = np.arange(at_day.base, len(stacked.holder_ids))
    owner = at_day.virtual_holder
    assert len(virtual) and np.array_equal(stacked.holder_ids[virtual], stacked.holder_ids[owner])
    assert np.array_equal(stacked.cpf_balance_cents[virtual], stacked.cpf_balance_cents[owner])
    assert stacked.history is not None and (stacked.history[virtual] != stacked.history[owner]).nnz == 0
    assert all(stacked.skills[v].sum() < stacked.skills[o].sum() for v, o in zip(virtual, owner, strict=True))


def test_abandonment_is_compared_with_the_settled_rate(prepared) -> None:  # type: ignore[no-untyped-def]
    from recommender.learned import RankedItem, risk_of, typical_completion
    from training.fit import SETTLED_RATE, fit_bundle

    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=0, frames=prepared.frames,
                        ranker_params={"max_iter": 20}, completion_horizon_days=60)
    rate = bundle.stats[SETTLED_RATE]
    assert 0 < rate < 1 and typical_completion(bundle, prepared.catalogue) == rate
    features = dict.fromkeys(FEATURE_NAMES, 0.0) | {"prerequisites_met": 1.0}
    risk = risk_of(RankedItem(0, 0.5, 0.5 * rate, features), typical_completion(bundle, prepared.catalogue))
    assert risk is not None and f"{round(100 * rate)} %" in risk and "issue est connue" in risk


def test_popular_negatives_are_drawn_among_trainings_taken_before(prepared) -> None:  # type: ignore[no-untyped-def]
    from training.fit import training_pairs

    catalogue, split = prepared.catalogue, prepared.split
    args: dict[str, Any] = {"random_negatives": 5, "seed": 3, "hard_negatives": False}
    h, t, enrolled, _c = training_pairs(catalogue, prepared.holders, split.train, popular_negatives=1.0, **args)
    n = int(enrolled.sum())
    assert len(t) > n and (catalogue.popularity[t[n:]] > 0).all()
    _h, uniform_t, _e, _c = training_pairs(catalogue, prepared.holders, split.train, **args)
    assert (catalogue.popularity[uniform_t[n:]] == 0).mean() > 0.5  # uniform draws mostly hit untaken trainings


def _positive_collaborative(prepared, frames, train, *, window_days: int | None = 0):  # type: ignore[no-untyped-def]
    """(holder id, training id) → (cf_affinity, mf_score, pair day, day its history stops) of every positive
    training pair, computed as ``fit_bundle`` computes them (arrays of ``train``, window rows, then
    ``collaborative_features``) with ``window_days``; ``None``: as before the window rows (the holder's whole
    history, ALS out of fold)."""
    from training.fit import build_arrays, factors_out_of_fold, training_pairs
    from training.point_in_time import PointInTime, _days

    split = prepared.split
    catalogue, base = ((prepared.catalogue, prepared.holders) if train is split.train
                       else build_arrays(frames, split.cut_date, train, prepared.vectors))
    windowed = window_days is not None
    at_day = PointInTime.build(frames, base, split.cut, windows_of=catalogue if windowed else None,
                               window_days=window_days or 0)
    holders = at_day.holders
    h, t, enrolled, _completed = training_pairs(catalogue, holders, train, random_negatives=2, seed=1,
                                                hard_negatives=False, point_in_time=at_day)
    X = pair_features(catalogue, holders, h, t, on=split.cut_date)  # noqa: N806
    X = (at_day.collaborative_features(X, h, t) if windowed  # noqa: N806
         else factors_out_of_fold(X, catalogue, holders, h, t))
    cf, mf = FEATURE_NAMES.index("cf_affinity"), FEATURE_NAMES.index("mf_score")
    taken = train[train["event"].isin(("enrol", "complete"))]
    first = taken.groupby(["holder_id", "training_id"])["occurred_at"].min()
    day = dict(zip(first.index, _days(pd.DatetimeIndex(first.to_numpy())), strict=True))
    window = at_day.window_keys[h - at_day.window_start] % (1 << 20) if windowed else np.zeros(len(h), np.int64)
    out = {}
    for i in np.flatnonzero(enrolled == 1):
        key = (str(holders.holder_ids[h[i]]), str(catalogue.training_ids[t[i]]))
        origin = at_day.window_origin(int(window[i])) if windowed else 0
        out[key] = (float(X[i, cf]), float(X[i, mf]), int(day[key]), origin)
    return out


def _with_later_interactions(prepared, holder_id: str, training_id: str, day: int):  # type: ignore[no-untyped-def]
    """(frames, training interactions) with more interactions of ``holder_id`` from ``day`` on: its training
    ``training_id`` viewed again that day, five trainings viewed and one enrolled in that day or later."""
    import dataclasses

    catalogue, split, frames = prepared.catalogue, prepared.split, prepared.frames
    rng = np.random.default_rng(day)
    when = pd.Timestamp(day, unit="D", tz="UTC") + pd.Timedelta(hours=23)
    extra = [(holder_id, training_id, "view", when)]
    for other in rng.choice(catalogue.training_ids, 6):
        extra.append((holder_id, str(other), "view", when + pd.Timedelta(days=int(rng.integers(0, 60)))))
    extra.append((holder_id, str(extra[-1][1]), "enrol", extra[-1][3] + pd.Timedelta(hours=1)))
    added = pd.DataFrame(extra, columns=["holder_id", "training_id", "event", "occurred_at"])
    added = added[added["occurred_at"] < split.cut]
    train = pd.concat([split.train, added], ignore_index=True).sort_values("occurred_at", kind="stable")
    interactions = pd.concat([frames.interactions, added], ignore_index=True).sort_values("occurred_at",
                                                                                         kind="stable")
    return dataclasses.replace(frames, interactions=interactions), train.reset_index(drop=True)


@pytest.mark.parametrize("window_days", [0, 30])
def test_collaborative_features_of_a_pair_never_read_its_own_interaction_or_later_ones(
        prepared, window_days: int) -> None:  # type: ignore[no-untyped-def]
    """Interactions of a positive pair's holder added on or after the pair's day (its training viewed again, other
    trainings viewed and taken) leave the ``cf_affinity`` and ``mf_score`` of the holder's pairs of that day and
    before unchanged; before the window rows they read the holder's later interactions."""
    frames, split = prepared.frames, prepared.split
    before = _positive_collaborative(prepared, frames, split.train, window_days=window_days)
    leaky = _positive_collaborative(prepared, frames, split.train, window_days=None)
    assert all(origin <= day for _cf, _mf, day, origin in before.values())
    assert sum(cf > 0 for cf, _mf, _d, _o in before.values()) > 20  # the features are not all zero
    # Holders whose pair of that day already reads some history, on days well before the cut.
    cut_day = int(split.cut.normalize().value // 86_400_000_000_000)
    chosen = [(k, v[2]) for k, v in sorted(before.items())
              if (v[0] > 0 or window_days) and v[2] < cut_day - 90 and leaky[k][0] > 0][:3]
    assert len(chosen) == 3
    checked = leaked = 0
    for (holder_id, training_id), day in chosen:
        changed_frames, changed_train = _with_later_interactions(prepared, holder_id, training_id, day)
        after = _positive_collaborative(prepared, changed_frames, changed_train, window_days=window_days)
        leaky_after = _positive_collaborative(prepared, changed_frames, changed_train, window_days=None)
        for key, value in before.items():
            if key[0] == holder_id and value[2] <= day:
                assert after[key][:2] == pytest.approx(value[:2], abs=1e-6), key
                checked += 1
                leaked += leaky_after[key][:2] != pytest.approx(leaky[key][:2], abs=1e-6)
    assert checked >= 3 and leaked >= 3  # the leak the window rows remove: the same pairs moved before them


def test_a_pairs_collaborative_features_out_of_fold_by_hand(prepared) -> None:  # type: ignore[no-untyped-def]
    """With ``window_days`` 0, a positive pair's ``cf_affinity`` is the mean cosine of its training to the
    holder's trainings of the days before the pair's, over counts without the holder (written out here), and its
    ``mf_score`` the ALS score of the user step over that history with factors fitted on the other fold's holders
    (``scores_for``, the served path)."""
    from features.collaborative import ItemFactors
    from training.point_in_time import MF_FOLDS, _days

    split, catalogue, holders = prepared.split, prepared.catalogue, prepared.holders
    pairs = _positive_collaborative(prepared, prepared.frames, split.train, window_days=0)
    cooccurrence = catalogue.cooccurrence
    assert cooccurrence is not None and holders.history is not None
    counts, n = cooccurrence.counts.tocsr(), cooccurrence.holders_per_training
    train = split.train[split.train["event"].isin(("view", "enrol", "complete", "cancel"))]
    day_of = _days(train["occurred_at"])
    _ids, rank = np.unique(holders.holder_ids, return_inverse=True)
    fold = rank % MF_FOLDS
    order = np.argsort(catalogue.training_ids, kind="stable")
    factors = [ItemFactors.build((sp.diags((fold != f).astype(np.float32)) @ holders.history).tocsr(),
                                 item_order=order) for f in range(MF_FOLDS)]
    checked = 0
    for (holder_id, training_id), (cf, mf, day, _o) in list(pairs.items())[:60]:
        h, t = holders.position[holder_id], catalogue.position[training_id]
        everything = set(holders.history[h].indices.tolist())
        mine = (train["holder_id"] == holder_id).to_numpy() & (day_of < day)
        history = sorted({catalogue.position[x] for x in train.loc[mine, "training_id"]} - {t})
        own = t in everything
        total = 0.0
        for j in history:
            c = counts[j, t] - (1.0 if own and counts[j, t] > 0 else 0.0)
            total += c / np.sqrt(n[j] - 1) if n[j] > 1 else 0.0
        others = n[t] - own
        expected = total / (np.sqrt(others) * max(len(history), 1)) if others > 0 else 0.0
        assert cf == pytest.approx(expected, rel=1e-4, abs=1e-6)
        row = catalogue.history_row([str(catalogue.training_ids[j]) for j in history])
        assert mf == pytest.approx(float(factors[fold[h]].scores_for(row)[t]), rel=1e-4, abs=1e-5)
        checked += len(history) > 0
    assert checked > 10


def test_a_pairs_collaborative_features_by_window_are_the_served_scores_at_its_start(prepared) -> None:  # type: ignore[no-untyped-def]
    """With windows, each positive pair's ``cf_affinity`` and ``mf_score`` are what the served path
    (``scores_for`` of the co-occurrence and ALS fitted on the interactions before the pair's window, the holder's
    history before it) gives the holder for the pair's training."""
    from features.collaborative import CoOccurrence, ItemFactors, interest_matrix

    split, catalogue, holders = prepared.split, prepared.catalogue, prepared.holders
    pairs = _positive_collaborative(prepared, prepared.frames, split.train, window_days=120)
    origins = sorted({o for _cf, _mf, _d, o in pairs.values()})
    assert len(origins) > 1
    order = np.argsort(catalogue.training_ids, kind="stable")
    checked = 0
    for origin in origins:
        start = pd.Timestamp(origin, unit="D", tz="UTC")
        earlier = split.train[split.train["occurred_at"] < start]
        mine = [(k, v) for k, v in pairs.items() if v[3] == origin]
        if earlier.empty:
            assert all(v[:2] == (0.0, 0.0) for _k, v in mine)
            continue
        interest = interest_matrix(earlier, holders.position, catalogue.position, len(holders.holder_ids),
                                   len(catalogue.training_ids))
        cooccurrence, factors = CoOccurrence.build(interest), ItemFactors.build(interest, item_order=order)
        for (holder_id, training_id), (cf, mf, _day, _o) in mine[:30]:
            history = interest[holders.position[holder_id]]
            t = catalogue.position[training_id]
            assert cf == pytest.approx(float(cooccurrence.scores_for(history)[t]), abs=1e-5)
            assert mf == pytest.approx(float(factors.scores_for(history)[t]), rel=1e-4, abs=1e-5)
            checked += history.nnz > 0
    assert checked > 10


def test_candidates_hold_what_the_collaborative_baselines_rank_first(prepared) -> None:  # type: ignore[no-untyped-def]
    """The ranker can only reach what its candidates hold: every training the item co-occurrence and ALS
    baselines put in a holder's top 10 is a candidate."""
    from recommender.candidates import generate_candidates

    catalogue, holders = prepared.catalogue, prepared.holders
    assert holders.history is not None and catalogue.cooccurrence is not None and catalogue.factors is not None
    allowed = catalogue.open_mask()
    checked = 0
    for row in np.flatnonzero(np.diff(holders.history.indptr) > 2)[:40]:
        candidates = set(generate_candidates(catalogue, holders, int(row), allowed).tolist())
        history = holders.history[row]
        for scores in (catalogue.cooccurrence.scores_for(history), catalogue.factors.scores_for(history)):
            rows = np.flatnonzero(allowed & (scores > 0))
            top = rows[np.lexsort((catalogue.training_ids[rows], -scores[rows]))[:10]]
            assert set(top.tolist()) <= candidates
            checked += len(top) > 0
    assert checked > 20
