"""Exposure prices on the tiny world (``training.exposure``, ``recommender.exposure``): learnt with the model, they
keep the most shown training under the cap in the lists the served ``LearnedRecommender.recommend`` builds, change
no estimate or reason of an item, and a bundle without them (pickled before they existed) ranks as before."""

from __future__ import annotations

import copy
import pickle
from collections import Counter
from typing import Any

import pytest

from features.pairs import SkillSpace
from recommender.served import LearnedRecommender

pytestmark = pytest.mark.xdist_group("tiny_world")


@pytest.fixture(scope="module")
def fitted(tiny_unpriced_fit) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return tiny_unpriced_fit  # type: ignore[no-any-return]


def _served(bundle, fitted: dict[str, Any]) -> LearnedRecommender:  # type: ignore[no-untyped-def]
    prepared = fitted["prepared"]
    cut = prepared.split.cut_date
    return LearnedRecommender(bundle=bundle, catalogue=prepared.catalogue, space=SkillSpace.load(), skill_labels={},
                              today=lambda: cut)


def _top_share(recommender: LearnedRecommender, contexts: list[Any]) -> float:
    lists = [recommender.recommend(c, 10) for c in contexts if c.personalised]
    counts = Counter(item.training_id for items in lists for item in items)
    return max(counts.values()) / len(lists)


def test_learnt_prices_keep_every_training_under_the_cap_in_served_lists(fitted) -> None:  # type: ignore[no-untyped-def]
    from training.exposure import learn_exposure_prices

    prepared, bundle, contexts = fitted["prepared"], fitted["bundle"], fitted["contexts"]
    assert bundle.exposure_prices == {} and "exposure_cap" in bundle.params
    before = _top_share(_served(bundle, fitted), contexts)
    cap = round(before / 2, 3)  # the tiny world's catalogue is small: half the share is still feasible
    assert before > cap
    learnt = learn_exposure_prices(bundle, prepared.catalogue, prepared.holders, prepared.split, prepared.frames,
                                   cap=cap)
    assert learnt.top_share_before == pytest.approx(before)  # the solver saw the lists the server builds
    assert learnt.top_share_after <= cap and learnt.prices and min(learnt.prices.values()) > 0
    priced = copy.copy(bundle)
    priced.exposure_prices = learnt.prices
    assert _top_share(_served(priced, fitted), contexts) <= cap  # the served recommend itself, with the prices
    assert _top_share(_served(bundle, fitted), contexts) == before  # the unpriced bundle is left as it was


def test_prices_change_the_order_only(fitted) -> None:  # type: ignore[no-untyped-def]
    """An item shown with and without prices carries the same completion estimate, reasons and risk."""
    bundle, contexts = fitted["bundle"], fitted["contexts"]
    plain = _served(bundle, fitted)
    candidates = plain.ranking(contexts[0]).rows.tolist()
    priced = copy.copy(bundle)
    priced.exposure_prices = {str(plain.catalogue.training_ids[r]): 5.0 for r in candidates[:3]}
    served = _served(priced, fitted)
    changed = 0
    for context in contexts[:20]:
        if not context.personalised:
            continue
        before = {item.training_id: item for item in plain.recommend(context, 10)}
        after = served.recommend(context, 10)
        changed += [i.training_id for i in after] != list(before)
        for item in after:
            if item.training_id in before:
                same = before[item.training_id]
                assert (item.completion_probability, item.reasons, item.skills_closed, item.risk) == (
                    same.completion_probability, same.reasons, same.skills_closed, same.risk)
    assert changed > 0


def test_a_bundle_pickled_before_prices_ranks_as_before(fitted) -> None:  # type: ignore[no-untyped-def]
    bundle, contexts = fitted["bundle"], fitted["contexts"]
    old = pickle.loads(pickle.dumps(bundle))
    del old.__dict__["exposure_prices"]  # what unpickling a bundle saved before the field existed gives
    assert not hasattr(old, "exposure_prices")
    served_old, served_new = _served(old, fitted), _served(bundle, fitted)
    assert served_old.prices is None and served_new.prices is None
    for context in contexts[:30]:
        assert served_old.recommend(context, 10) == served_new.recommend(context, 10)


def test_fit_learns_and_records_the_prices(fitted) -> None:  # type: ignore[no-untyped-def]
    from training.fit import fit_bundle

    prepared = fitted["prepared"]
    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=0, frames=prepared.frames,
                        exposure_cap=0.15)
    assert bundle.params["exposure_cap"] == 0.15
    assert bundle.stats["exposure_top_share_after"] <= 0.15 < bundle.stats["exposure_top_share_before"]
    assert bundle.stats["exposure_priced"] == len(bundle.exposure_prices) > 0
    assert _top_share(_served(bundle, fitted), fitted["contexts"]) <= 0.15
