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
