"""Which offering of a certification is shown (``recommender.offering``, ``training.fit.offering_choice_sets``): the
choice model learns a known utility from choice sets, refuses sets that are no choice, only swaps offerings of one
certification among the places the ranker gave them, and a bundle without it ranks as the ranker does."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from features.pairs import SkillSpace
from recommender.offering import OfferingChoice, offering_order
from recommender.served import LearnedRecommender


@pytest.mark.parametrize(("codes", "score", "expected"), [
    ([], [], []),
    (["A"], [1.0], [0]),
    (["A", "B", "C"], [0.0, 5.0, 9.0], [0, 1, 2]),  # one offering per certification: nothing moves
    (["A", "B", "A", "C", "A"], [1.0, 5.0, 3.0, 0.0, 2.0], [2, 1, 4, 3, 0]),  # A's best first among A's places
    (["A", "A", "B", "B"], [0.0, 1.0, 2.0, 2.0], [1, 0, 2, 3]),  # ties keep the ranker's order
    (["B", "A", "B", "A"], [1.0, 1.0, 3.0, 2.0], [2, 3, 0, 1]),
])
def test_offering_order_moves_offerings_within_their_certification_only(codes, score, expected) -> None:  # type: ignore[no-untyped-def]
    permutation = offering_order(np.array(codes, dtype=object), np.array(score))
    assert permutation.tolist() == expected
    assert [codes[i] for i in permutation] == codes  # every place keeps its certification


def _choice_sets(rng: np.random.Generator, weights: np.ndarray, n_sets: int) -> tuple[np.ndarray, ...]:
    """Sets of 2–6 offerings; the one taken maximises weights · x + Gumbel noise (a logit choice); the last column
    is the same for every offering of a set (as the holder's own status is)."""
    rows, set_id, chosen = [], [], []
    for s in range(n_sets):
        n = int(rng.integers(2, 7))
        x = rng.normal(size=(n, len(weights)))
        x[:, -1] = rng.normal()
        taken = int(np.argmax(x @ weights + rng.gumbel(size=n)))
        rows.append(x)
        set_id += [s] * n
        chosen += [i == taken for i in range(n)]
    return np.vstack(rows), np.array(set_id), np.array(chosen)


def test_the_choice_model_learns_a_logit_choice_and_ignores_what_a_set_shares() -> None:
    rng = np.random.default_rng(0)
    weights = np.array([2.0, -1.0, 0.0, 3.0])
    X, sets, chosen = _choice_sets(rng, weights, 3000)  # noqa: N806
    model = OfferingChoice(C=10.0).fit(X, sets, chosen)
    assert model.n_choice_sets_ == 3000 and model.n_features_in_ == 4
    assert model.coef_[-1] == 0.0  # constant within every set: no difference to learn from
    direction = model.coef_[:3] / np.linalg.norm(model.coef_[:3])
    assert direction @ (weights[:3] / np.linalg.norm(weights[:3])) > 0.98
    X_test, sets_test, chosen_test = _choice_sets(np.random.default_rng(1), weights, 1000)  # noqa: N806
    score = model.score(X_test)
    hits = [chosen_test[sets_test == s][np.argmax(score[sets_test == s])] for s in range(1000)]
    truth = [chosen_test[sets_test == s][np.argmax((X_test @ weights)[sets_test == s])] for s in range(1000)]
    assert np.mean(hits) > np.mean(truth) - 0.03  # as good as the noise-free utility, within noise
    assert np.mean(hits) > 0.5  # chance is about 0.3 for sets of 2–6


@pytest.mark.parametrize(("X", "sets", "chosen", "message"), [
    ([[1.0], [2.0]], [0, 0], [True, True], "exactly one chosen"),
    ([[1.0], [2.0]], [0, 0], [False, False], "exactly one chosen"),
    ([[1.0], [2.0]], [0, 1], [True, True], "at least one other"),
    ([[np.nan], [2.0]], [0, 0], [True, False], "NaN"),
    ([[1.0], [2.0]], [0], [True, False], "one choice_set"),
    ([], [], [], "exactly one chosen"),
])
def test_the_choice_model_refuses_sets_that_are_no_choice(X, sets, chosen, message) -> None:  # type: ignore[no-untyped-def]  # noqa: N803
    with pytest.raises(ValueError, match=message):
        OfferingChoice().fit(np.array(X, dtype=float).reshape(len(X), -1) if X else np.zeros((0, 1)),
                             np.array(sets), np.array(chosen, dtype=bool))


@pytest.mark.parametrize("C", [0.0, -1.0, float("nan"), float("inf")])
def test_the_choice_model_refuses_a_bad_regularisation(C: float) -> None:  # noqa: N803
    with pytest.raises(ValueError, match="C must be"):
        OfferingChoice(C=C).fit(np.array([[1.0], [2.0]]), np.array([0, 0]), np.array([True, False]))


@pytest.mark.parametrize("margin_weight", [-0.5, float("nan"), float("inf")])
def test_the_choice_model_refuses_a_bad_margin_weight(margin_weight: float) -> None:
    with pytest.raises(ValueError, match="margin_weight must be"):
        OfferingChoice(margin_weight=margin_weight).fit(np.array([[1.0], [2.0]]), np.array([0, 0]),
                                                        np.array([True, False]))


def test_the_served_order_adds_the_weighted_margin_to_the_choice_utility() -> None:
    from recommender.offering import choose_offerings

    class Catalogue:
        def certification_codes(self) -> np.ndarray:
            return np.array([0, 0, 1])

    choice = OfferingChoice().fit(np.array([[0.0], [1.0]]), np.array([0, 0]), np.array([False, True]))
    assert choice.coef_[0] > 0  # the larger feature is taken
    rows, features, margin = np.array([0, 1, 2]), np.array([[0.0], [1.0], [0.0]]), np.array([5.0, 0.0, 0.0])
    assert choose_offerings(choice, Catalogue(), rows, features, margin).tolist() == [1, 0, 2]  # type: ignore[arg-type]
    # an exposure price on the choice model's favourite moves it down among its certification's offerings
    price = np.array([0.0, 2.0 * choice.coef_[0], 0.0])
    assert choose_offerings(choice, Catalogue(), rows, features, margin, price).tolist() == [0, 1, 2]  # type: ignore[arg-type]
    choice.margin_weight = 1.0  # the ranker's margin now outweighs the choice utility
    assert choose_offerings(choice, Catalogue(), rows, features, margin).tolist() == [0, 1, 2]  # type: ignore[arg-type]


def test_an_unfitted_choice_model_does_not_score() -> None:
    with pytest.raises(NotFittedError):
        OfferingChoice().score(np.zeros((2, 3)))


def test_choice_sets_hold_the_taken_offering_and_others_of_its_certification() -> None:
    from training.fit import offering_choice_sets

    class Catalogue:  # only the certification codes are read
        def certification_codes(self) -> np.ndarray:
            return np.array([0, 0, 0, 1, 2, 2])

    h = np.array([7, 7, 8, 9, 9])
    t = np.array([0, 3, 4, 5, 1])
    enrolled = np.array([1, 1, 1, 0, 0])  # B has one offering: no set; the negatives make none
    set_h, set_t, sets, chosen = offering_choice_sets(Catalogue(), h, t, enrolled, seed=0, per_positive=1)  # type: ignore[arg-type]
    assert sets.tolist() == [0, 0, 2, 2]
    assert set_h.tolist() == [7, 7, 8, 8] and chosen.tolist() == [True, False, True, False]
    assert set_t[0] == 0 and set_t[1] in (1, 2) and set_t.tolist()[2:] == [4, 5]
    everything = offering_choice_sets(Catalogue(), h, t, enrolled, seed=0, per_positive=10)  # type: ignore[arg-type]
    assert sorted(everything[1][everything[2] == 0].tolist()) == [0, 1, 2]
    assert len(offering_choice_sets(Catalogue(), h, t, enrolled, per_positive=0)[0]) == 0  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted(tiny_unpriced_fit) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**tiny_unpriced_fit, "contexts": [c for c in tiny_unpriced_fit["contexts"] if c.personalised]}


def _served(bundle, prepared) -> LearnedRecommender:  # type: ignore[no-untyped-def]
    cut = prepared.split.cut_date
    return LearnedRecommender(bundle=bundle, catalogue=prepared.catalogue, space=SkillSpace.load(), skill_labels={},
                              today=lambda: cut)


@pytest.mark.xdist_group("tiny_world")
def test_fit_learns_the_choice_and_serving_swaps_offerings_in_the_rankers_places(fitted) -> None:  # type: ignore[no-untyped-def]
    prepared, bundle, contexts = fitted["prepared"], fitted["bundle"], fitted["contexts"]
    choice = bundle.offering_choice
    assert isinstance(choice, OfferingChoice) and choice.n_choice_sets_ == bundle.stats["offering_choice_sets"] > 0
    assert bundle.params["offering_choices"] > 0
    plain = copy.copy(bundle)
    plain.offering_choice = None
    codes = np.asarray(prepared.catalogue.certification_code)
    moved = 0
    for context in contexts[:30]:
        with_choice = _served(bundle, prepared).ranking(context)
        ranker_only = _served(plain, prepared).ranking(context)
        assert sorted(with_choice.rows.tolist()) == sorted(ranker_only.rows.tolist())
        assert codes[with_choice.rows].tolist() == codes[ranker_only.rows].tolist()  # certifications keep places
        # no exposure prices in this bundle: the margin is the ranker's own
        score = choice.margin_weight * with_choice.margin + choice.score(with_choice.features)
        for code in set(codes[with_choice.rows].tolist()):
            mine = np.flatnonzero(codes[with_choice.rows] == code)
            assert score[mine[0]] == score[mine].max()  # the certification's best offering stands first
        moved += with_choice.rows.tolist() != ranker_only.rows.tolist()
        # what each row carries travels with it
        at = {r: i for i, r in enumerate(ranker_only.rows.tolist())}
        back = [at[r] for r in with_choice.rows.tolist()]
        assert np.array_equal(with_choice.probability, ranker_only.probability[back])
        assert np.array_equal(with_choice.features, ranker_only.features[back])
    assert moved > 0


@pytest.mark.xdist_group("tiny_world")
def test_a_bundle_pickled_before_the_choice_model_ranks_as_the_ranker(fitted) -> None:  # type: ignore[no-untyped-def]
    prepared, bundle, contexts = fitted["prepared"], fitted["bundle"], fitted["contexts"]
    old = pickle.loads(pickle.dumps(bundle))
    del old.__dict__["offering_choice"]  # what unpickling a bundle saved before the field existed gives
    plain = copy.copy(bundle)
    plain.offering_choice = None
    served_old = _served(old, prepared)
    for context in contexts[:10]:
        assert served_old.recommend(context, 10) == _served(plain, prepared).recommend(context, 10)
