"""What the recommendation route's latency cuts keep (issue 17): the same answers computed with less work.

- the ranker's margin from its trees walked directly is scikit-learn's margin to the last bit, and anything the
  shortcut does not cover (other input, an updated ranker) takes scikit-learn's own path;
- one holder's skill gap built without sparse-matrix operations is the sparse computation's, entry for entry;
- a request computes the co-occurrence scores of its holder once (candidates and features share them);
- regions compared by code match as names do, a region no training has included;
- the answer is the response model's own JSON;
- on PostgreSQL, a read's transaction (audit row, impressions) commits without waiting for the disk, and only
  that transaction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sqlalchemy import text
from sqlalchemy.orm import Session

from features.collaborative import CoOccurrence, ItemFactors
from features.pairs import HolderArrays, SkillSpace, pair_features
from parcours.store.engine import session_factory
from recommender.ranker import FEW_ROWS, SHALLOW_DEPTH, TrainingRanker, _shallow_forest, _tree_margin
from serving.services.at_commit import at_commit, commit_without_disk_wait
from tests.test_serving_model import client, token, trained  # noqa: F401 - fixtures shared

pytestmark = pytest.mark.xdist_group("tiny_world")


# --- the ranker's margin ----------------------------------------------------------------------------------------


# 31 leaves: deep trees, one compiled walk per tree; 2 to 4 leaves: the level-by-level walk (``ShallowForest``).
@pytest.fixture(scope="module", params=[31, 4, 3, 2])
def fitted(request) -> tuple[TrainingRanker, np.ndarray]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3000, 18)).astype(np.float32)  # noqa: N806
    y = (X[:, 0] + 0.5 * X[:, 3] * X[:, 5] + rng.normal(scale=0.7, size=len(X)) > 0.3).astype(int)
    ranker = TrainingRanker(max_iter=40, max_leaf_nodes=request.param).fit(X, y)
    return ranker, rng.normal(size=(500, 18)).astype(np.float32)


def test_shallow_forests_are_walked_level_by_level_and_deep_ones_tree_by_tree(fitted) -> None:  # type: ignore[no-untyped-def]
    ranker, X = fitted  # noqa: N806
    model = ranker.pipeline_.steps[-1][1]
    depth = max(int(tree.nodes["depth"].max()) for (tree,) in model._predictors)
    assert (_shallow_forest(model) is not None) == (depth <= SHALLOW_DEPTH)
    assert (depth <= SHALLOW_DEPTH) == (ranker.max_leaf_nodes <= 4)
    # A request's ten shown items: any forest is walked level by level, deep ones included.
    assert _shallow_forest(model, FEW_ROWS) is not None
    assert (_shallow_forest(model, FEW_ROWS + 1) is not None) == (depth <= SHALLOW_DEPTH)


@pytest.mark.parametrize("leaves", [3, 31])
def test_a_value_equal_to_a_split_threshold_goes_left_as_in_scikit_learn(leaves: int) -> None:
    rng = np.random.default_rng(3)
    # Whole and half values: the bins' thresholds (midpoints of distinct values) are then exact in float32, so
    # rows can sit exactly on a split.
    X = np.round(rng.normal(scale=3.0, size=(3000, 6))).astype(np.float32)  # noqa: N806
    y = (X[:, 0] + X[:, 1] * (X[:, 2] > 0) + rng.normal(size=len(X)) > 0).astype(int)
    ranker = TrainingRanker(max_iter=30, max_leaf_nodes=leaves).fit(X, y)
    model = ranker.pipeline_.steps[-1][1]
    splits = [(int(n["feature_idx"]), float(n["num_threshold"])) for (tree,) in model._predictors
              for n in tree.nodes if not n["is_leaf"]]
    rows = np.repeat(X[:50], 4, axis=0)
    on_split = 0
    for i, (feature, threshold) in enumerate(splits[: len(rows)]):
        rows[i, feature] = np.float32(threshold)
        on_split += float(rows[i, feature]) == threshold
    assert on_split == min(len(splits), len(rows))
    np.testing.assert_array_equal(_tree_margin(ranker, rows), _sklearn_margin(ranker, rows))
    for start in range(0, len(rows), FEW_ROWS):  # the same rows a few at a time: the level walk of any forest
        few = rows[start:start + FEW_ROWS]
        np.testing.assert_array_equal(_tree_margin(ranker, few), _sklearn_margin(ranker, few))


def _sklearn_margin(ranker: TrainingRanker, X: np.ndarray) -> np.ndarray:  # noqa: N803
    return np.asarray(ranker.pipeline_.decision_function(X), dtype=np.float64)


def test_the_direct_tree_walk_gives_scikit_learns_margin_to_the_bit(fitted) -> None:  # type: ignore[no-untyped-def]
    ranker, X = fitted  # noqa: N806
    for rows in (X[:1], X[:10], X[:FEW_ROWS], X[:FEW_ROWS + 1], X, np.asfortranarray(X[:50])):
        walked = _tree_margin(ranker, rows)
        assert walked is not None  # the shortcut applies to a request's candidates
        np.testing.assert_array_equal(walked, _sklearn_margin(ranker, rows))
        probability, margin = ranker.probability_and_margin(rows)
        np.testing.assert_array_equal(margin, _sklearn_margin(ranker, rows))
        assert probability.shape == (len(rows),)


def test_what_the_walk_does_not_cover_takes_scikit_learns_path(fitted) -> None:  # type: ignore[no-untyped-def]
    ranker, X = fitted  # noqa: N806
    assert _tree_margin(ranker, X.astype(np.float64)) is None
    np.testing.assert_array_equal(ranker.probability_and_margin(X.astype(np.float64))[1],
                                  ranker.probability_and_margin(X)[1])
    with_nan = X[:5].copy()
    with_nan[2, 4] = np.nan
    assert _tree_margin(ranker, with_nan) is None
    with pytest.raises(ValueError, match="NaN"):  # refused as before, never scored
        ranker.probability_and_margin(with_nan)
    assert _tree_margin(ranker, X[:, :17]) is None
    with pytest.raises(ValueError):
        ranker.probability_and_margin(X[:, :17])
    assert _tree_margin(ranker, np.zeros((0, 18), dtype=np.float32)) is None

    import copy

    rng = np.random.default_rng(8)
    new = rng.normal(size=(800, 18)).astype(np.float32)
    updated = copy.deepcopy(ranker).update(new, (new[:, 1] > 0).astype(int), extra_iter=5)
    assert _tree_margin(updated, X) is None  # a MarginCorrection: scikit-learn's path
    np.testing.assert_array_equal(updated.probability_and_margin(X)[1], _sklearn_margin(updated, X))


# --- one holder's arrays ----------------------------------------------------------------------------------------


def _sparse_gap(space: SkillSpace, weights: dict[str, float], goal: str | None) -> sp.csr_matrix:
    """The gap as ``HolderArrays.build`` computes it, with sparse matrices."""
    n = len(space.skill_col)
    cols = sorted(space.skill_col[u] for u in weights if u in space.skill_col)
    by_col = {space.skill_col[u]: w for u, w in weights.items() if u in space.skill_col}
    skills = sp.csr_matrix((np.array([min(max(by_col[c], 0.0), 1.0) for c in cols], dtype=np.float32),
                            np.array(cols, dtype=np.int64), np.array([0, len(cols)])), shape=(1, n))
    row = space.occupation_row.get(goal or "", -1)
    importance = (space.occupation_skills[row].tocsr().astype(np.float32) if row >= 0
                  else sp.csr_matrix((1, n), dtype=np.float32))
    held = skills.multiply(importance > 0).tocsr()
    gap = (importance - importance.multiply(held)).tocsr()
    gap.eliminate_zeros()
    return gap


def test_one_holders_gap_is_the_sparse_computations_entry_for_entry() -> None:
    space = SkillSpace.load()
    rng = np.random.default_rng(3)
    uris = list(space.skill_col)
    occupations = list(space.occupation_row)
    checked = 0
    for case in range(60):
        goal = None if case % 10 == 0 else occupations[int(rng.integers(len(occupations)))]
        goal_skills = [] if goal is None else [
            uris[c] for c in space.occupation_skills[space.occupation_row[goal]].indices.tolist()]
        # Some of the goal's skills held (fully, partly, not at all, or beyond 1 and clipped), some others.
        held = goal_skills[: int(rng.integers(len(goal_skills) + 1))] if goal_skills else []
        others = [uris[int(i)] for i in rng.integers(len(uris), size=int(rng.integers(0, 30)))]
        weights = {u: float(rng.choice([0.0, 1.0, 1.7, -0.2, rng.random()])) for u in held + others}
        weights["not an ESCO skill"] = 0.9
        one = HolderArrays.single(
            holder_id="H", skill_weights=weights, embedding=None, goal_occupation=goal, cpf_balance_cents=0,
            cec_balance_cents=0, region_code="11", preferred_modality=None, qualification_level=None,
            employment_status="employee", space=space, dimension=4)
        expected = _sparse_gap(space, weights, goal)
        np.testing.assert_array_equal(one.gap.indices, expected.indices)
        np.testing.assert_array_equal(one.gap.data, expected.data)
        assert one.gap.data.dtype == np.float32 and one.gap.shape == expected.shape
        np.testing.assert_array_equal(one.gap_total, np.asarray(expected.sum(axis=1)).ravel().astype(np.float32))
        checked += bool(expected.nnz) and len(held) > 0
    assert checked > 10  # cases where the holder held part of a real gap


def test_current_job_share_is_the_share_of_the_jobs_skill_weight_a_training_teaches() -> None:
    """``SkillSpace.occupation_share_of`` gives each skill's share of an occupation's weight (they sum to 1);
    ``current_job_share`` adds those of the skills a training teaches, each counted once."""
    from recommender.learned import current_job_share

    space = SkillSpace.load()
    rng = np.random.default_rng(11)
    occupations = list(space.occupation_row)
    for job in [occupations[int(i)] for i in rng.integers(len(occupations), size=6)]:
        shares = space.occupation_share_of(job)
        weights = space.occupation_skills[space.occupation_row[job]]
        assert set(shares) == set(weights.indices.tolist())
        assert sum(shares.values()) == pytest.approx(1.0, rel=1e-5)
        taught = weights.indices[: max(1, len(weights.indices) // 3)].tolist()  # a third of the job's skills
        others = [int(c) for c in rng.integers(len(space.skill_col), size=3) if int(c) not in shares]
        expected = sum(float(weights[0, c]) for c in set(taught)) / float(weights.sum())
        assert current_job_share(taught + taught[:1] + others, shares) == pytest.approx(expected, rel=1e-5)
        assert current_job_share(list(shares), shares) == pytest.approx(1.0, rel=1e-5)
        assert current_job_share(others, shares) == 0.0
    assert space.occupation_share_of(None) == {} and space.occupation_share_of("not an occupation") == {}


def _tiny_catalogue_and_holder(trained_client) -> tuple[Any, list[HolderArrays]]:  # type: ignore[no-untyped-def]
    from parcours.store.models import Holder
    from serving.services.holders import holder_context

    recommender = trained_client.app.state.recommender.recommender
    with trained_client.app.state.session_factory() as session:
        holder_ids = [str(h) for h in session.scalars(text(
            "SELECT holder_id FROM interactions GROUP BY holder_id HAVING count(*) > 2 ORDER BY holder_id LIMIT 3"))]
        contexts = [holder_context(session, session.get(Holder, h)) for h in holder_ids]
    return recommender, [recommender.holder_arrays(c) for c in contexts]


def _count_calls(monkeypatch, owner, name: str) -> tuple[list[int], Any]:  # type: ignore[no-untyped-def]
    """Calls of ``owner.name`` from now on are counted; returns (the count list, the original method)."""
    calls: list[int] = []
    original = getattr(owner, name)

    def counted(self, history_row):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, history_row)

    monkeypatch.setattr(owner, name, counted)
    return calls, original


def _counted_request(trained_client, monkeypatch, owner, name: str):  # type: ignore[no-untyped-def]
    """One holder's candidates and feature matrix computed as a request does, with ``owner.name`` counted:
    (catalogue, holder arrays, calls, the original method, candidates, features)."""
    from recommender.candidates import generate_candidates

    recommender, arrays = _tiny_catalogue_and_holder(trained_client)
    catalogue, one = recommender.catalogue, arrays[0]
    calls, original = _count_calls(monkeypatch, owner, name)
    candidates = generate_candidates(catalogue, one, 0, catalogue.open_mask(), vector_search=recommender.vector_search)
    features = pair_features(catalogue, one, np.zeros(len(candidates), dtype=np.int64), candidates)
    return catalogue, one, calls, original, candidates, features


def test_a_request_computes_its_holders_cooccurrence_scores_once(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    catalogue, one, calls, _original, candidates, features = _counted_request(client, monkeypatch, CoOccurrence,
                                                                              "sparse_scores_for")
    assert len(calls) == 1 and one.history is not None
    expected = catalogue.cooccurrence.scores_for(one.history[0])  # scored afresh: a second call
    np.testing.assert_array_equal(features[:, -2], expected[candidates])
    # A replaced history (or matrix) is scored afresh, never read from the other one's scores.
    one.history = catalogue.history_row([str(t) for t in catalogue.training_ids[:3]])
    np.testing.assert_array_equal(one.cooccurrence_scores(catalogue.cooccurrence, 0),
                                  catalogue.cooccurrence.scores_for(one.history[0]))
    assert len(calls) == 4


def test_a_request_solves_its_holders_als_user_step_once(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    catalogue, one, calls, _original, candidates, features = _counted_request(client, monkeypatch, ItemFactors,
                                                                              "user_step")
    assert len(calls) == 1 and one.history is not None and catalogue.factors is not None
    # The same scores as solving afresh (what the candidates' mf_score read before).
    fresh = catalogue.factors.scores_for(one.history[0])
    assert len(calls) == 2
    np.testing.assert_allclose(features[:, -1], fresh[candidates], rtol=1e-5, atol=1e-6)
    # A replaced history is solved afresh, never read from the other one's step.
    one.history = catalogue.history_row([str(t) for t in catalogue.training_ids[:3]])
    rows = np.arange(5)
    np.testing.assert_array_equal(
        catalogue.factors.scores_at(one.history, rows, one.factor_step(catalogue.factors, 0)),
        catalogue.factors.scores_at(one.history, rows))
    assert len(calls) == 4


def test_regions_compared_by_code_match_as_their_names_do(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    recommender, arrays = _tiny_catalogue_and_holder(client)
    catalogue = recommender.catalogue
    regions = np.array([str(a.region[0]) for a in arrays] + ["a region no training has"])
    many = HolderArrays.single(
        holder_id="X", skill_weights={}, embedding=None, goal_occupation=None, cpf_balance_cents=0,
        cec_balance_cents=0, region_code="unused", preferred_modality=None, qualification_level=None,
        employment_status="employee", space=recommender.space, dimension=catalogue.vectors.shape[1])
    many.region = regions
    for field in ("holder_ids", "gap_total", "goal_occupation", "cpf_balance_cents", "cec_balance_cents",
                  "preferred_modality", "qualification_level", "is_job_seeker"):
        setattr(many, field, np.repeat(getattr(many, field), len(regions)))
    many.embeddings = np.zeros((len(regions), catalogue.vectors.shape[1]), dtype=np.float32)
    many.skills = sp.csr_matrix((len(regions), many.skills.shape[1]), dtype=np.float32)
    many.gap = sp.csr_matrix((len(regions), many.gap.shape[1]), dtype=np.float32)
    rows = np.arange(len(catalogue.training_ids))
    h = np.repeat(np.arange(len(regions)), len(rows))
    t = np.tile(rows, len(regions))
    features = pair_features(catalogue, many, h, t)
    remote = catalogue.modality[t] == 1
    np.testing.assert_array_equal(features[:, 9] == 1.0, (regions[h] == catalogue.region[t]) | remote)
    for i, region in enumerate(regions):
        mine = h == i
        counts = catalogue.region_popularity.get(region)
        expected = (np.zeros(len(rows), dtype=np.float32) if counts is None
                    else catalogue.relative_popularity(counts[rows], region))
        np.testing.assert_array_equal(features[mine, 14], expected)
    assert not (features[h == len(regions) - 1, 9][~remote[h == len(regions) - 1]]).any()


# --- the answer -------------------------------------------------------------------------------------------------


def test_the_answer_is_the_response_models_json_and_still_documented(client, trained) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from serving.routers.holders import RecommendationsPublic

    _settings, holders, _folder = trained
    answer = client.get(f"/v1/holders/{holders[0]}/recommendations", params={"k": 5},
                        headers=token(client, f"served-{holders[0]}"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.content == RecommendationsPublic.model_validate_json(answer.content).model_dump_json().encode()
    assert len(answer.json()["items"]) == 5
    documented = client.get("/openapi.json").json()["paths"]["/v1/holders/{holder_id}/recommendations"]["get"]
    assert documented["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RecommendationsPublic")


# --- a read's commit --------------------------------------------------------------------------------------------


def _synchronous_commit(session: Session) -> str:
    return str(session.execute(text("SHOW synchronous_commit")).scalar())


def test_a_reads_records_commit_without_waiting_for_the_disk_in_that_transaction_only(db_url: str) -> None:
    factory = session_factory(db_url)
    postgres = db_url.startswith("postgresql")
    seen: list[str] = []
    with factory() as session:
        commit_without_disk_wait(session)
        at_commit(session, lambda s: s.execute(text(
            "INSERT INTO audit_log (occurred_at, actor, role, action, resource) "
            "VALUES (CURRENT_TIMESTAMP, 'latency-test', 'admin', 'read', '/x')")))
        if postgres:
            at_commit(session, lambda s: seen.append(_synchronous_commit(s)))
        session.commit()
        if postgres:  # the same connection, the next transaction: back to the server's setting
            seen.append(_synchronous_commit(session))
            session.commit()
        # A rolled-back transaction takes its wish with it.
        commit_without_disk_wait(session)
        session.rollback()
        if postgres:
            at_commit(session, lambda s: seen.append(_synchronous_commit(s)))
        session.commit()
    with factory() as session:
        assert session.execute(text("SELECT count(*) FROM audit_log WHERE actor = 'latency-test'")).scalar() == 1
    assert seen == (["off", "on", "on"] if postgres else [])


# --- a token's verification -------------------------------------------------------------------------------------


def test_a_verified_token_is_still_refused_once_expired_or_revoked(client, trained, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    import datetime as dt

    import jwt

    from parcours.store.engine import session_scope
    from parcours.store.models import User
    from serving import security

    settings, holders, _folder = trained
    username = f"served-{holders[1]}"
    with session_scope(settings.resolved_db_url()) as session:
        user = session.scalar(text("SELECT user_id FROM users WHERE username = :u"), {"u": username})
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user), "usr": username, "role": "holder", "iat": now}
    route = f"/v1/holders/{holders[1]}/account"
    with session_scope(settings.resolved_db_url()) as session:
        version = session.get(User, user).token_version  # type: ignore[union-attr]
    short = jwt.encode({**claims, "ver": version, "exp": now + dt.timedelta(seconds=30)},
                       settings.resolved_jwt_secret(), algorithm=settings.jwt_algorithm)
    assert client.get(route, headers={"Authorization": f"Bearer {short}"}).status_code == 200
    assert client.get(route, headers={"Authorization": f"Bearer {short}"}).status_code == 200  # verified once
    # Past its expiry the cached token is refused, as a fresh decode refuses it.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def]
            return later

    monkeypatch.setattr(security.dt, "datetime", Later)
    assert client.get(route, headers={"Authorization": f"Bearer {short}"}).status_code == 401
    monkeypatch.undo()
    # A revoked user (its token version bumped) is refused at the next request, verified token or not.
    good = token(client, username)
    assert client.get(route, headers=good).status_code == 200
    with session_scope(settings.resolved_db_url()) as session:
        session.execute(text("UPDATE users SET token_version = token_version + 1 WHERE username = :u"),
                        {"u": username})
    assert client.get(route, headers=good).status_code == 401
    # A token whose signature does not check out is never kept, whatever it claims.
    forged = jwt.encode({**claims, "ver": version + 1, "exp": now + dt.timedelta(hours=1)}, "x" * 40,
                        algorithm=settings.jwt_algorithm)
    for _ in range(2):
        assert client.get(route, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
