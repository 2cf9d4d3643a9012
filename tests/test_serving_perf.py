"""What the recommendation route's speed-ups keep: the ranking runs on one OpenMP thread in the thread that serves
the request, the co-occurrence scores stay those of the matrix the object holds, and one read of a holder's
experiences gives the same current occupation as its own query."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sqlalchemy import select
from threadpoolctl import threadpool_limits

from features.collaborative import CoOccurrence
from parcours.store.engine import session_scope
from parcours.store.models import Experience, Holder
from serving.services.holders import _latest_job_occupation, current_occupation, holder_context
from tests.test_serving_model import client, trained  # noqa: F401 - fixtures shared

pytestmark = pytest.mark.xdist_group("tiny_world")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenMP uses one thread anyway")
def test_ranking_runs_on_one_openmp_thread_in_the_request_thread(client, trained, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # The recommender is built in the app's loading thread; requests are served from worker threads, where
    # OpenMP's per-thread setting was still the default (two threads: several ms per request).
    import recommender.served as served

    seen: list[int] = []
    original = served.rank_candidates

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_openmp_effective_n_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(served, "rank_candidates", spy)
    settings, holders, _folder = trained
    recommender = client.app.state.recommender.recommender
    with session_scope(settings.resolved_db_url()) as session:
        holder = session.get(Holder, holders[0])
        assert holder is not None
        context = holder_context(session, holder)
    answered: list[int] = []

    def serve() -> None:
        # The tests run with OMP_NUM_THREADS=1; a server does not: this thread starts with two, as a server's would.
        threadpool_limits(limits=2, user_api="openmp")
        answered.append(len(recommender.recommend(context, k=10)))

    worker = threading.Thread(target=serve)
    worker.start()  # a thread that neither loaded the recommender nor served before
    worker.join()
    assert answered and answered[0] > 0
    assert seen == [1]


def test_cooccurrence_scores_follow_the_matrix_held() -> None:
    rng = np.random.default_rng(0)
    interest = sp.csr_matrix((rng.random((40, 12)) < 0.3).astype(np.float32))
    first = CoOccurrence.build(interest[:20])
    second = CoOccurrence.build(interest[20:])
    history = interest[3]
    scores = first.scores_for(history)
    assert np.array_equal(scores, CoOccurrence.build(interest[:20]).scores_for(history))
    np.testing.assert_allclose(scores, first.affinity(interest[:20], np.full(12, 3), np.arange(12)), atol=1e-6)
    # Replacing the fields gives the new matrix's scores, not the derived arrays of the old one.
    first.counts, first.holders_per_training = second.counts, second.holders_per_training
    assert np.array_equal(first.scores_for(history), second.scores_for(history))
    assert not np.array_equal(first.scores_for(history), scores)


def test_current_occupation_from_experiences_read_once_equals_its_query(trained) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    settings, _holders, _folder = trained
    with session_scope(settings.resolved_db_url()) as session:
        holders = session.scalars(select(Holder).order_by(Holder.holder_id).limit(200)).all()
        found = 0
        for holder in holders:
            expected = current_occupation(session, holder.holder_id)
            experiences = session.scalars(select(Experience).where(Experience.holder_id == holder.holder_id)).all()
            assert _latest_job_occupation(experiences) == expected, holder.holder_id
            found += expected is not None
        assert found > 0


def test_the_rate_limit_store_starts_no_thread_per_hit_and_still_limits() -> None:
    from limits import storage

    from serving.security import MemoryStore, RateLimit, RateLimited

    started: list[int] = []
    for store in (storage.MemoryStorage(), MemoryStore()):
        limit = RateLimit.parse("5/minute", "searches", store)
        time.sleep(0.05)  # the timer both stores start at creation has ended
        before = threading.active_count()
        threads = 0
        for _ in range(5):
            limit.hit("user", "1")
            threads = max(threads, threading.active_count() - before)
            time.sleep(0.02)  # past the library's 10 ms timer: its next hit starts another thread
        started.append(threads)
        with pytest.raises(RateLimited):
            limit.hit("user", "1")
    assert started[0] > 0  # the library's own store: the check can fail
    assert started[1] == 0


def test_the_rate_limit_store_still_drops_expired_entries(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from serving.security import MemoryStore, RateLimit

    store = MemoryStore()
    limit = RateLimit.parse("5/second", "searches", store)
    limit.hit("user", "1")
    assert store.events
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 5)
    monkeypatch.setattr(time, "monotonic", lambda: store._pruned_at + MemoryStore.PRUNE_EVERY_S)
    limit.hit("user", "2")  # prunes first: user 1's entry has expired
    kept = [key for key, entries in store.events.items() if entries]
    assert len(kept) == 1 and "/2/" in kept[0], kept
