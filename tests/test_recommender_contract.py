"""One contract for every ``Recommender`` (``recommender.base``), on the tiny world: what the server serves and
what the offline evaluation measures answer ``recommend(holder, k)`` alike.

For each implementation: at most ``k`` items, no duplicate, never a training the holder already took nor one
closed on the recommender's date, scores non-increasing, the same answer to the same input, ``k = 0`` and ``k``
beyond the catalogue handled, a holder without any profile (cold start) answered, and a non-empty
``model_version``. A new recommender joins by adding one entry to ``RECOMMENDERS``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recommender.base import HolderContext, Recommender

pytestmark = pytest.mark.xdist_group("tiny_world")


@dataclass
class World:
    """The tiny world prepared as the evaluation prepares it, with a ranker fitted before the cut."""

    prepared: Any
    bundle: Any
    folder: Path
    url: str

    @property
    def cut(self) -> dt.date:
        return self.prepared.split.cut_date

    def at_cut(self) -> dt.date:
        return self.cut

    def open_ids(self, on: dt.date) -> set[str]:
        catalogue = self.prepared.catalogue
        return set(catalogue.training_ids[catalogue.open_mask(on)].tolist())


def _evaluated(name: str) -> Callable[[World], tuple[Recommender, set[str]]]:
    """One of the methods ``training.evaluate`` measures, as of the cut."""

    def build(world: World) -> tuple[Recommender, set[str]]:
        from training.evaluate import evaluation_recommenders

        holders = sorted(world.prepared.split.held_out)
        methods = evaluation_recommenders(world.bundle, world.prepared.catalogue, world.cut, truth_dir=world.folder,
                                          holder_ids=holders)
        return methods[name], world.open_ids(world.cut)

    return build


def _served_learned(world: World) -> tuple[Recommender, set[str]]:
    """The learned recommender as the server builds it from the database (today's open catalogue)."""
    from parcours.settings import get_settings
    from parcours.store.engine import session_scope
    from recommender.loading import build_learned_recommender

    with session_scope(world.url) as session:
        served = build_learned_recommender(session, world.bundle, get_settings())
    catalogue = served.catalogue
    return served, set(catalogue.training_ids[catalogue.open_mask(served.today())].tolist())


def _tfidf_content(world: World) -> tuple[Recommender, set[str]]:
    """The degraded fallback: TF-IDF over the catalogue open at the cut (it is fitted on the open catalogue)."""
    from features.catalogue import load_catalogue
    from parcours.store.engine import session_scope
    from recommender.content import ContentRecommender

    with session_scope(world.url) as session:
        catalogue = load_catalogue(session, today=world.cut)
    return ContentRecommender(degraded=True).fit(catalogue), set(catalogue["training_id"])


def _neutral(world: World) -> tuple[Recommender, set[str]]:
    from recommender.neutral import NeutralRecommender

    return NeutralRecommender(world.prepared.catalogue, today=world.at_cut), world.open_ids(world.cut)


def _popularity(world: World) -> tuple[Recommender, set[str]]:
    from recommender.baselines import PopularityRecommender

    return PopularityRecommender(world.prepared.catalogue, today=world.at_cut), world.open_ids(world.cut)


def _content(world: World) -> tuple[Recommender, set[str]]:
    from recommender.baselines import VectorContentRecommender

    return VectorContentRecommender(world.prepared.catalogue, today=world.at_cut), world.open_ids(world.cut)


# name → (builder giving the recommender and the trainings open on its date, answers a holder without profile)
RECOMMENDERS: dict[str, tuple[Callable[[World], tuple[Recommender, set[str]]], bool]] = {
    "learned (evaluated)": (_evaluated("model"), True),
    "learned (served)": (_served_learned, True),
    "neutral": (_neutral, True),
    "popularity": (_popularity, True),
    "content (vectors)": (_content, False),  # nothing to match without a profile: an empty list
    "content (tf-idf, fallback)": (_tfidf_content, True),
    "oracle": (_evaluated("oracle"), True),
    # Behaviour only: nothing to go on without a history (the cold-start holder has none).
    "collaborative (co-occurrence)": (_evaluated("cooccurrence"), False),
    "collaborative (ALS)": (_evaluated("als"), False),
}


@pytest.fixture(scope="module")
def world(tiny_world) -> World:  # type: ignore[no-untyped-def]
    from training.fit import fit_bundle
    from training.pipeline import prepare

    folder, url = tiny_world
    prepared = prepare(url, show_progress=False)
    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=0, frames=prepared.frames)
    return World(prepared, bundle, folder, url)


@pytest.fixture(scope="module")
def contexts(world: World) -> list[HolderContext]:
    """Held-out holders as of the cut (as evaluated), a holder with no profile at all, and one with no history."""
    from training.evaluate import contexts_as_of

    holders = sorted(world.prepared.split.held_out)[:6]
    found = contexts_as_of(world.prepared.frames, world.prepared.split, holders)
    with_text = [dataclasses.replace(c, profile_text="project management, accounting and spreadsheets")
                 for c in found]
    cold = dataclasses.replace(found[0], skill_weights={}, embedding=None, embedding_model=None,
                               current_occupation=None, target_occupation=None, profile_text="",
                               excluded_training_ids=frozenset(), interacted_training_ids=frozenset())
    return [*with_text, cold]


@pytest.fixture(scope="module", params=list(RECOMMENDERS))
def case(request, world: World) -> tuple[str, Recommender, set[str], bool]:  # type: ignore[no-untyped-def]
    build, answers_cold_start = RECOMMENDERS[request.param]
    recommender, open_ids = build(world)
    return request.param, recommender, open_ids, answers_cold_start


def test_recommender_contract(case, contexts: list[HolderContext], world: World) -> None:  # type: ignore[no-untyped-def]
    name, recommender, open_ids, answers_cold_start = case
    assert isinstance(recommender.model_version, str) and recommender.model_version, name
    n_catalogue = len(world.prepared.catalogue.training_ids)
    for context in contexts:
        for k in (1, 10, n_catalogue + 5):
            items = recommender.recommend(context, k)
            ids = [item.training_id for item in items]
            assert len(ids) <= k, (name, k)
            assert len(set(ids)) == len(ids), (name, "duplicates")
            assert not set(ids) & context.excluded_training_ids, (name, "an excluded training")
            assert set(ids) <= open_ids, (name, "a closed training")
            scores = [item.score for item in items]
            assert all(a >= b for a, b in zip(scores, scores[1:], strict=False)), (name, scores)
            assert all(isinstance(t, str) for t in ids)
        assert recommender.recommend(context, 0) == [], name
        # Deterministic: the same answer again, and to an equal context.
        first = recommender.recommend(context, 10)
        assert recommender.recommend(context, 10) == first, name
        assert recommender.recommend(dataclasses.replace(context), 10) == first, name
        # What the holder took is never proposed, whatever it was.
        if first:
            taken = context.excluded_training_ids | {item.training_id for item in first[:3]}
            again = recommender.recommend(dataclasses.replace(context, excluded_training_ids=taken), 10)
            assert not {item.training_id for item in again} & taken, name
    cold = contexts[-1]
    answer = recommender.recommend(cold, 10)
    assert (len(answer) > 0) == answers_cold_start, (name, "cold start")


def test_an_opted_out_holder_gets_the_neutral_recommender_list(world: World, contexts: list[HolderContext]) -> None:
    """The learned recommender answers a holder who switched personalisation off with exactly the neutral list
    the evaluation measures as "neutral"."""
    from recommender.neutral import NeutralRecommender
    from training.evaluate import evaluation_recommenders

    methods = evaluation_recommenders(world.bundle, world.prepared.catalogue, world.cut)
    neutral = NeutralRecommender(world.prepared.catalogue, today=world.at_cut)
    for context in contexts:
        opted_out = dataclasses.replace(context, personalised=False)
        assert methods["model"].recommend(opted_out, 10) == neutral.recommend(context, 10)
        assert methods["neutral"].recommend(context, 10) == neutral.recommend(context, 10)


def test_the_server_and_the_evaluation_build_contexts_with_one_function(world: World) -> None:
    """``holder_context`` (the database, today) and ``contexts_as_of`` (the frames, as of the cut) agree on what
    did not change in between: for a holder with no interaction after the cut, the same context but for the
    balances (available today vs the ledger's) and the declared text (only the database holds it)."""
    from parcours.store.engine import session_scope
    from parcours.store.models import Holder
    from serving.services.holders import holder_context
    from training.evaluate import contexts_as_of

    interactions = world.prepared.frames.interactions
    after = set(interactions.loc[interactions["occurred_at"] >= world.prepared.split.cut, "holder_id"])
    quiet = sorted(h for h in world.prepared.frames.embeddings if h not in after)[:5]
    assert quiet
    evaluated = contexts_as_of(world.prepared.frames, world.prepared.split, quiet)
    with session_scope(world.url) as session:
        served = [holder_context(session, session.get_one(Holder, h)) for h in quiet]
    ignored: dict[str, Any] = {"cpf_balance_cents": 0, "cec_balance_cents": 0, "profile_text": "", "embedding": None,
                               "embedding_model": None, "skill_weights": {}}
    for ours, theirs in zip(evaluated, served, strict=True):
        assert dataclasses.replace(ours, **ignored) == dataclasses.replace(theirs, **ignored)
        assert ours.skill_weights == pytest.approx(theirs.skill_weights, abs=1e-9)
        assert ours.embedding is not None and theirs.embedding is not None
        assert abs(ours.embedding - theirs.embedding).max() < 1e-6
