"""Reading the world for training and turning it into pairs, on a generated tiny world.

The bulk readers (driver-level rows, per-holder concatenated evidence) are checked against plain ORM reads on
SQLite and PostgreSQL; the vectorised pairs and catalogue statistics against straightforward loops.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from features.pairs import COMPLETION_PRIOR_WEIGHT, SkillSpace
from features.profile.recompute import recompute_profiles
from features.profile.store import stored_embedding, stored_profile
from parcours.store.engine import session_scope
from parcours.store.models import Experience, Holder, Interaction, Training, TrainingSession
from training.dataset import POSITIVE_EVENTS, WorldFrames, load_world_frames, profiles_before, time_split
from training.fit import build_arrays, training_pairs

pytestmark = pytest.mark.slow
TODAY = dt.date(2026, 11, 1)
PROFILED = 60  # holders given a stored profile (the others have none, as after an import)


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.datasets.world import generate_world

    folder = tmp_path_factory.mktemp("training-world") / "world"
    generate_world(folder, scale="tiny", seed=6)
    return folder


def _import_and_profile(folder: Path, url: str) -> list[str]:
    from ingest.world_import import import_folder

    import_folder(folder, url, progress=False)
    with session_scope(url) as session:
        profiled = sorted(session.scalars(select(Holder.holder_id)))[:PROFILED]
        recompute_profiles(session, profiled, today=TODAY, show_progress=False)
    return profiled


@pytest.fixture(scope="module")
def world_db(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('training-db') / 'world.db'}"
    _import_and_profile(tiny_world, url)
    return url


@pytest.fixture(scope="module")
def frames(world_db: str) -> WorldFrames:
    with session_scope(world_db) as session:
        return load_world_frames(session)


def test_world_frames_read_what_the_orm_reads(db_url: str, tiny_world: Path) -> None:
    profiled = _import_and_profile(tiny_world, db_url)
    with session_scope(db_url) as session:
        frames = load_world_frames(session)
        interactions = session.execute(
            select(Interaction.holder_id, Interaction.training_id, Interaction.event, Interaction.occurred_at)
            .order_by(Interaction.occurred_at, Interaction.interaction_id)
        ).all()
        assert len(interactions) > 1000
        assert frames.interactions["holder_id"].tolist() == [r[0] for r in interactions]
        assert frames.interactions["training_id"].tolist() == [r[1] for r in interactions]
        assert frames.interactions["event"].tolist() == [r[2] for r in interactions]
        expected_times = pd.to_datetime(pd.Series([r[3] for r in interactions]), utc=True)
        assert (frames.interactions["occurred_at"] == expected_times).all()

        # Skill weights: the stored profiles (noisy-or of the evidence rows; stored profiles round to 1e-4).
        expected = {(h, s): w for h in profiled for s, w in stored_profile(session, h).weights().items()}
        got = {(str(h), str(s)): w for h, s, w in frames.skill_weights.itertuples(index=False)}
        assert len(expected) > 20 * PROFILED and got.keys() == expected.keys()
        assert max(abs(got[key] - expected[key]) for key in got) <= 5.01e-5
        for holder_id in profiled:
            vector, _model = stored_embedding(session, holder_id)
            assert (vector is None and holder_id not in frames.embeddings) or np.array_equal(
                frames.embeddings[holder_id], vector
            )
        assert len(frames.embeddings) == sum(1 for h in profiled if stored_embedding(session, h)[0] is not None)

        trainings = session.scalars(select(Training).order_by(Training.training_id)).all()
        catalogue = frames.catalogue
        assert catalogue["training_id"].tolist() == [t.training_id for t in trainings]
        for column in ("skills", "prerequisites", "target_occupations", "price_cents", "level"):
            values = [getattr(t, column) for t in trainings]
            assert [None if v != v else v for v in catalogue[column].tolist()] == values, column  # NaN ≙ None
        sessions = session.execute(select(TrainingSession.training_id, TrainingSession.start_date)).all()
        today = dt.date.today()
        upcoming: dict[str, dt.date] = {}
        for training_id, start in sessions:
            if start >= today and (training_id not in upcoming or start < upcoming[training_id]):
                upcoming[training_id] = start
        assert catalogue["next_session"].tolist() == [upcoming.get(t.training_id) for t in trainings]
        assert sorted(zip(frames.sessions["training_id"], frames.sessions["start_date"].dt.date, strict=True)) == (
            sorted((t, d) for t, d in sessions)
        )
        assert sorted(frames.holders["holder_id"]) == sorted(session.scalars(select(Holder.holder_id)))
        jobs = session.execute(
            select(Experience.holder_id, Experience.esco_uri, Experience.start_date, Experience.experience_id)
            .where(Experience.kind == "job", Experience.esco_uri.is_not(None))
        ).all()
        latest: dict[str, tuple[dt.date, str]] = {}
        for holder_id, uri, start, _id in jobs:
            if holder_id not in latest or start > latest[holder_id][0]:
                latest[holder_id] = (start, uri)
        # Ties on the start date may resolve either way; the holders and the dates must agree.
        assert frames.current_occupation.keys() == latest.keys()


def test_training_pairs_are_one_per_interacted_training_then_random_negatives(frames: WorldFrames) -> None:
    split = time_split(frames.interactions)
    vectors = np.eye(len(frames.catalogue), 8, dtype=np.float32)
    catalogue, holders = build_arrays(frames, split.cut_date, split.train, vectors, SkillSpace.load())
    h, t, enrolled, completed = training_pairs(catalogue, holders, split.train, random_negatives=2, seed=4)

    flags: dict[tuple[str, str], list[bool]] = {}
    for holder_id, training_id, event in zip(split.train["holder_id"], split.train["training_id"],
                                             split.train["event"], strict=True):
        if holder_id in holders.position and training_id in catalogue.position:
            pair = flags.setdefault((holder_id, training_id), [False, False])
            pair[0] |= event in POSITIVE_EVENTS
            pair[1] |= event == "complete"
    n = len(flags)
    pairs = [(holders.holder_ids[a], catalogue.training_ids[b]) for a, b in zip(h[:n], t[:n], strict=True)]
    assert pairs == sorted(flags)  # one pair per (holder, training) interacted with, in id order
    assert enrolled[:n].tolist() == [int(flags[p][0]) for p in pairs]
    assert completed[:n].tolist() == [int(flags[p][1]) for p in pairs]
    assert 0 < enrolled[:n].sum() < n and completed[:n].sum() > 0

    negatives = list(zip(h[n:].tolist(), t[n:].tolist(), strict=True))
    interacted = set(zip(h[:n].tolist(), t[:n].tolist(), strict=True))
    per_holder = defaultdict(int)
    for holder_row, training_row in negatives:
        assert (holder_row, training_row) not in interacted
        per_holder[holder_row] += 1
    positives = defaultdict(int)
    for holder_row in h[:n][enrolled[:n] == 1].tolist():
        positives[holder_row] += 1
    assert negatives and all(count <= 2 * positives[row] for row, count in per_holder.items())
    assert not enrolled[n:].any() and not completed[n:].any()
    again = training_pairs(catalogue, holders, split.train, random_negatives=2, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(again, (h, t, enrolled, completed), strict=True))


def test_catalogue_statistics_count_only_what_happened_before_the_cut(frames: WorldFrames) -> None:
    split = time_split(frames.interactions)
    vectors = np.eye(len(frames.catalogue), 8, dtype=np.float32)
    catalogue, _holders = build_arrays(frames, split.cut_date, split.train, vectors, SkillSpace.load())
    region_of = dict(zip(frames.holders["holder_id"], frames.holders["region_code"], strict=True))
    provider_of = dict(zip(frames.catalogue["training_id"], frames.catalogue["provider_id"], strict=True))

    popularity: dict[str, int] = defaultdict(int)
    by_region: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for holder_id, training_id, event in zip(split.train["holder_id"], split.train["training_id"],
                                             split.train["event"], strict=True):
        if event == "enrol":
            popularity[training_id] += 1
            by_region[region_of[holder_id]][training_id] += 1
        if event in ("enrol", "complete"):
            counts[provider_of[training_id]][0 if event == "enrol" else 1] += 1
    overall = sum(c for _, c in counts.values()) / max(sum(e for e, _ in counts.values()), 1)
    for row, training_id in enumerate(catalogue.training_ids):
        assert catalogue.popularity[row] == popularity.get(training_id, 0)
        enrols, completes = counts.get(provider_of[training_id], (0, 0))
        rate = ((completes + COMPLETION_PRIOR_WEIGHT * overall) / (enrols + COMPLETION_PRIOR_WEIGHT)
                if provider_of[training_id] in counts else overall)
        assert catalogue.provider_completion[row] == np.float32(rate)
    assert catalogue.region_popularity.keys() == by_region.keys()
    for region, vector in catalogue.region_popularity.items():
        assert vector.tolist() == [by_region[region].get(t, 0) for t in catalogue.training_ids]

    first: dict[str, dt.date] = {}
    for training_id, start in zip(frames.sessions["training_id"], frames.sessions["start_date"].dt.date,
                                  strict=True):
        if start >= split.cut_date and (training_id not in first or start < first[training_id]):
            first[training_id] = start
    assert catalogue.next_session_ordinal.tolist() == [
        first[t].toordinal() if t in first else 0 for t in catalogue.training_ids
    ]
    assert 0 < int((catalogue.next_session_ordinal > 0).sum()) < len(catalogue.training_ids) + 1


@pytest.mark.parametrize(
    ("sorted_keys", "keys"),
    [
        ([], [0, 5]),
        ([3], [2, 3, 4]),
        ([1, 4, 9, 16], [0, 1, 2, 4, 9, 15, 16, 17, 10**12]),
        ([0, 10**12], [0, 10**12, 10**12 - 1]),
    ],
)
def test_sorted_contains_is_isin_for_sorted_keys(sorted_keys: list[int], keys: list[int]) -> None:
    from features.pairs import sorted_contains

    expected = np.isin(np.array(keys, np.int64), np.array(sorted_keys, np.int64))
    found = sorted_contains(np.array(sorted_keys, np.int64), np.array(keys, np.int64))
    assert found.dtype == bool and np.array_equal(found, expected)


def test_sorted_contains_agrees_with_isin_on_random_keys() -> None:
    from features.pairs import sorted_contains

    rng = np.random.default_rng(3)
    universe = np.unique(rng.integers(0, 50_000, size=5_000))
    keys = rng.integers(-10, 50_010, size=2_000)
    assert np.array_equal(sorted_contains(universe, keys), np.isin(keys, universe))


def test_profiles_before_the_cut_forget_what_later_completions_taught(world_db: str, frames: WorldFrames) -> None:
    """The evaluation's profiles must not hold the skills of trainings completed in the held-out period."""
    from features.esco_matcher import get_index
    from features.profile.aggregate import aggregate
    from features.profile.embedding import profile_embedding

    done = frames.interactions[frames.interactions["event"] == "complete"]
    cut = pd.Timestamp(TODAY - dt.timedelta(days=120), tz="UTC")
    later = done[done["occurred_at"] >= cut]
    taught_later = defaultdict(set)
    for holder_id, training_id in zip(later["holder_id"], later["training_id"], strict=True):
        taught_later[holder_id].add(training_id)
    before = profiles_before(frames, cut)
    got = {(str(h), str(s)): w for h, s, w in before.skill_weights.itertuples(index=False)}
    skills = get_index("skill", "names")
    affected = 0
    with session_scope(world_db) as session:
        for holder_id in sorted({str(h) for h in frames.skill_weights["holder_id"]}):
            evidence = [e for s in stored_profile(session, holder_id).skills for e in s.evidence]
            kept = [e for e in evidence if e.training_id not in taught_later.get(holder_id, set())]
            expected = aggregate(holder_id, kept)
            assert {s for h, s in got if h == holder_id} == set(expected.weights()), holder_id
            assert all(abs(got[(holder_id, uri)] - w) <= 5.01e-5 for uri, w in expected.weights().items())
            if len(kept) < len(evidence):
                affected += 1
                assert before.embeddings[holder_id] is not frames.embeddings[holder_id]
                vector = profile_embedding(expected, skills)
                assert vector is not None and np.abs(before.embeddings[holder_id] - vector).max() < 1e-5
                assert float(before.embeddings[holder_id] @ frames.embeddings[holder_id]) < 1 - 1e-6
            else:
                assert before.embeddings.get(holder_id) is frames.embeddings.get(holder_id)
    assert affected >= 3, "the tiny world should have profiled holders who completed trainings after the cut"
    assert profiles_before(frames, frames.interactions["occurred_at"].max() + pd.Timedelta(days=1)) is frames
