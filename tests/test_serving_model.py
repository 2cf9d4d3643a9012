"""The server answers with the registered champion: loading at start and on reload, the degraded fallback,
personalisation switched off (neutral suggestions), priced and explained items, and one holder's arrays at
request time equal to the bulk ones the model was fitted with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import Holder, Interaction, Training
from recommender.learned import euros
from serving.app import create_app
from serving.services.users import UserSpec, upsert_users

pytestmark = pytest.mark.xdist_group("tiny_world")
PASSWORD = "serving-model-password"


def _profiled_holders(url: str, n: int) -> list[str]:
    with session_scope(url) as session:
        return list(session.scalars(text(
            "SELECT holder_id FROM holder_profiles WHERE dim > 0 AND n_skills > 3 ORDER BY holder_id LIMIT :n"),
            {"n": n}))


@pytest.fixture(scope="module")
def trained(tiny_world, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tiny world with a champion registered in a private MLflow store, and users to call the API."""
    from training.registry import train_and_register

    folder, url = tiny_world
    data_dir = tmp_path_factory.mktemp("served")
    settings = Settings(db_url=url, data_dir=data_dir, cache_dir=get_settings().resolved_cache_dir())
    holders = _profiled_holders(url, 4)
    upsert_users(url, [
        UserSpec("served-admin", PASSWORD, "admin"),
        *[UserSpec(f"served-{h}", PASSWORD, "holder", holder_id=h) for h in holders],
    ], source="test")
    summary = train_and_register(url, truth_dir=folder, settings=settings)
    assert "version 1 promoted to champion" in summary
    return settings, holders, folder


@pytest.fixture(scope="module")
def client(trained) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings, _holders, _folder = trained
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def token(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def recommendations(client: TestClient, holder_id: str, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/v1/holders/{holder_id}/recommendations", params={"k": 10, **params},
                          headers=token(client, f"served-{holder_id}"))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_health_names_the_champion(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok", body
    assert body["model_version"] == "parcours-ranker/1"
    assert body["recommender"]["degraded"] is False


def test_personalised_items_are_open_untaken_priced_explained_and_deterministic(client, trained) -> None:  # type: ignore[no-untyped-def]
    settings, holders, _folder = trained
    holder_id = holders[0]
    body = recommendations(client, holder_id)
    assert body["model_version"] == "parcours-ranker/1" and body["personalised"] is True
    items = body["items"]
    assert len(items) == 10
    with session_scope(settings.resolved_db_url()) as session:
        taken = set(session.scalars(select(Interaction.training_id).where(
            Interaction.holder_id == holder_id, Interaction.event.in_(("enrol", "complete")))))
    ids = [item["training_id"] for item in items]
    assert not taken & set(ids)  # never what the holder already enrolled in or completed
    assert len(set(ids)) == 10
    for item in items:
        assert 0.0 <= item["score"] <= 1.0
        assert 0.0 <= item["completion_probability"] <= 1.0
        assert 0 <= item["out_of_pocket_cents"] <= item["price_cents"] + 20_000
        assert item["out_of_pocket_cents"] == min(item["with_rights_cents"], item["direct_cents"])
        assert item["cheaper"] == ("rights" if item["with_rights_cents"] < item["direct_cents"] else "direct")
        if item["cheaper"] == "direct" and item["rights_used_cents"] == 0:
            cost = f"vous coûte {euros(item['direct_cents'])} : aucun droit disponible"
        elif item["cheaper"] == "direct" and item["with_rights_cents"] == item["direct_cents"]:
            cost = f"payer directement coûte autant ({euros(item['direct_cents'])})"
        elif item["cheaper"] == "direct":
            cost = f"payer directement ({euros(item['direct_cents'])}) coûte moins cher"
        elif item["out_of_pocket_cents"] == 0:
            cost = "entièrement financée par " + ("vos droits" if item["rights_used_cents"] else "des abondements")
        else:
            cost = f"vous coûte {euros(item['out_of_pocket_cents'])} après " + (
                "vos droits" if item["rights_used_cents"] else "les abondements")
        assert any(r.startswith(cost) for r in item["reasons"])  # the cost said is the real funding plan's
        assert len(item["reasons"]) >= 3  # skills or cost, and at least one reason about this holder
        if item["skills_closed"]:
            assert item["reasons"][0].startswith("apporte des compétences de votre objectif : ")
    assert recommendations(client, holder_id) == body  # a fixed model gives the same list


def test_items_on_the_current_jobs_skills_say_so(client, trained) -> None:  # type: ignore[no-untyped-def]
    """"porte sur des compétences de votre métier actuel" is said exactly where the training's skills carry at
    least ``JOB_SKILLS_SHARE`` of the holder's current job's skill weight (ESCO links of the job the profile reads
    from the declared experience)."""
    from recommender.learned import JOB_SKILLS_SHARE, current_job_share
    from serving.services.holders import holder_context

    settings, holders, _folder = trained
    recommender = client.app.state.recommender.recommender
    catalogue, space = recommender.catalogue, recommender.space
    said = 0
    for holder_id in _profiled_holders(settings.resolved_db_url(), 40):
        with session_scope(settings.resolved_db_url()) as session:
            context = holder_context(session, session.get_one(Holder, holder_id))
        shares = space.occupation_share_of(context.current_occupation)
        for item in recommender.recommend(context, k=10):
            row = catalogue.position[item.training_id]
            taught = catalogue.skills.indices[catalogue.skills.indptr[row]:catalogue.skills.indptr[row + 1]]
            on_the_job = current_job_share(taught.tolist(), shares) >= JOB_SKILLS_SHARE
            assert ("porte sur des compétences de votre métier actuel" in item.reasons) is on_the_job
            said += on_the_job
    assert said > 0  # the tiny world has such items: the check above is not vacuous


def test_neutral_suggestions_are_the_same_for_everyone(client, trained) -> None:  # type: ignore[no-untyped-def]
    _settings, holders, _folder = trained
    neutral = [recommendations(client, h, personalised="false") for h in holders]
    personalised = [recommendations(client, h) for h in holders]
    assert all(body["personalised"] is False for body in neutral)
    assert all(any("suggestion neutre" in r for r in item["reasons"]) for body in neutral for item in body["items"])
    assert all(item["completion_probability"] is None for body in neutral for item in body["items"])
    lists = [[item["training_id"] for item in body["items"]] for body in neutral]
    # Only each holder's own exclusions (already taken) can differ: shared items keep one order.
    for a in lists:
        for b in lists:
            shared = [t for t in a if t in b]
            assert shared == [t for t in b if t in a]
            assert len(shared) >= 7
    personalised_lists = {tuple(item["training_id"] for item in body["items"]) for body in personalised}
    assert len(personalised_lists) > 1  # personalised lists do depend on the holder


def test_a_holder_who_opted_out_cannot_be_personalised_by_the_request(client, trained) -> None:  # type: ignore[no-untyped-def]
    settings, holders, _folder = trained
    holder_id = holders[1]
    url = settings.resolved_db_url()
    with session_scope(url) as session:
        session.execute(update(Holder).where(Holder.holder_id == holder_id).values(personalisation_enabled=False))
    try:
        body = recommendations(client, holder_id, personalised="true")
        assert body["personalised"] is False
        assert all(any("suggestion neutre" in r for r in item["reasons"]) for item in body["items"])
    finally:
        with session_scope(url) as session:
            session.execute(update(Holder).where(Holder.holder_id == holder_id).values(personalisation_enabled=True))


def test_a_holder_without_rights_gets_clearly_priced_items(client, trained) -> None:  # type: ignore[no-untyped-def]
    settings, _holders, _folder = trained
    url = settings.resolved_db_url()
    with session_scope(url) as session:
        from parcours.domain.ledger import available_balances_cents

        ids = [h for h in session.scalars(select(Holder.holder_id).order_by(Holder.holder_id))]
        poorest = min(ids, key=lambda h: sum(available_balances_cents(session, h).get(k, 0) for k in ("cpf", "cec")))
    upsert_users(url, [UserSpec(f"served-{poorest}", PASSWORD, "holder", holder_id=poorest)], source="test")
    items = recommendations(client, poorest)["items"]
    assert items
    for item in items:
        assert any("€" in r or "covered" in r for r in item["reasons"])
        assert item["out_of_pocket_cents"] >= 0


CHOSEN_REGION = "disponible dans la région que vous avez choisie ou à distance"
HOME_REGION = "disponible dans votre région ou à distance"


def test_the_preferred_region_is_where_the_holder_trains(client, trained) -> None:  # type: ignore[no-untyped-def]
    settings, holders, _folder = trained
    holder_id, url = holders[1], settings.resolved_db_url()
    with session_scope(url) as session:
        home = session.get(Holder, holder_id).region_code  # type: ignore[union-attr]
        chosen = session.scalar(  # the region with the most trainings given on site, other than home
            select(Training.region_code).where(Training.region_code != home, Training.modality != "remote")
            .group_by(Training.region_code).order_by(func.count().desc(), Training.region_code).limit(1))
        where = {t: (r, m) for t, r, m in session.execute(
            select(Training.training_id, Training.region_code, Training.modality))}
    try:
        with session_scope(url) as session:
            session.execute(update(Holder).where(Holder.holder_id == holder_id).values(preferred_region_code=chosen))
        items = recommendations(client, holder_id)["items"]
        assert items
        for item in items:
            region, modality = where[item["training_id"]]
            assert (CHOSEN_REGION in item["reasons"]) == (region == chosen or modality == "remote"), item
            assert HOME_REGION not in item["reasons"]
    finally:
        with session_scope(url) as session:
            session.execute(update(Holder).where(Holder.holder_id == holder_id).values(preferred_region_code=None))
    items = recommendations(client, holder_id)["items"]
    assert not any(CHOSEN_REGION in item["reasons"] for item in items)
    for item in items:
        region, modality = where[item["training_id"]]
        assert (HOME_REGION in item["reasons"]) == (region == home or modality == "remote"), item


def test_the_most_out_of_pocket_is_a_ceiling_on_every_item(client, trained) -> None:  # type: ignore[no-untyped-def]
    settings, holders, _folder = trained
    holder_id, url = holders[2], settings.resolved_db_url()
    before = recommendations(client, holder_id)
    costs = sorted(item["out_of_pocket_cents"] for item in before["items"])
    ceiling = costs[len(costs) // 2]
    assert costs[-1] > ceiling  # some items are dearer: the ceiling has work to do
    try:
        with session_scope(url) as session:
            session.execute(update(Holder).where(Holder.holder_id == holder_id).values(
                max_out_of_pocket_cents=ceiling))
        capped = recommendations(client, holder_id)
    finally:
        with session_scope(url) as session:
            session.execute(update(Holder).where(Holder.holder_id == holder_id).values(max_out_of_pocket_cents=None))
    assert capped["max_out_of_pocket_cents"] == ceiling and len(capped["items"]) == 10
    assert all(item["out_of_pocket_cents"] <= ceiling for item in capped["items"])
    # What fitted before is still there, in the same order; dearer items made room for others.
    kept = [item["training_id"] for item in before["items"] if item["out_of_pocket_cents"] <= ceiling]
    ids = [item["training_id"] for item in capped["items"]]
    assert [t for t in ids if t in kept] == kept
    assert recommendations(client, holder_id) == before


def test_reload_is_for_admins_and_swaps_in_the_new_champion(client, trained) -> None:  # type: ignore[no-untyped-def]
    from training.registry import train_and_register

    settings, holders, folder = trained
    refused = client.post("/v1/admin/model/reload",
                          headers=token(client, f"served-{holders[0]}"))
    assert refused.status_code == 403
    summary = train_and_register(settings.resolved_db_url(), truth_dir=folder, settings=settings, force=True)
    assert "version 2 promoted to champion" in summary
    assert client.get("/health").json()["model_version"] == "parcours-ranker/1"  # not until reloaded
    reloaded = client.post("/v1/admin/model/reload", headers=token(client, "served-admin"))
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json() == {"model_version": "parcours-ranker/2", "degraded": False,
                               "detail": reloaded.json()["detail"]}
    assert client.get("/health").json()["model_version"] == "parcours-ranker/2"
    assert recommendations(client, holders[0])["model_version"] == "parcours-ranker/2"


def test_without_a_champion_content_similarity_answers_and_health_says_degraded(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, holders, _folder = trained
    empty_registry = settings.model_copy(update={"data_dir": tmp_path})
    with TestClient(create_app(empty_registry)) as bare:
        health = bare.get("/health").json()
        assert health["status"] == "degraded"
        assert health["model_version"] == "content-tfidf" and health["recommender"]["degraded"] is True
        assert "no champion" in health["recommender"]["detail"]
        body = recommendations(bare, holders[0])
        assert body["degraded"] is True and body["model_version"] == "content-tfidf"
        assert body["items"] and all(item["reasons"] for item in body["items"])


def test_one_holder_arrays_at_request_time_equal_the_bulk_arrays(tiny_world) -> None:  # type: ignore[no-untyped-def]
    from features.pairs import HolderArrays, SkillSpace, pair_features
    from training.pipeline import prepare

    _folder, url = tiny_world
    data = prepare(url, show_progress=False)
    frames, bulk, catalogue = data.frames, data.holders, data.catalogue
    space = SkillSpace.load()
    rows = frames.holders.set_index("holder_id")
    weights = frames.skill_weights
    for holder_id in _profiled_holders(url, 5):
        row = rows.loc[holder_id]
        target = row["target_occupation"] if isinstance(row["target_occupation"], str) and row["target_occupation"] \
            else None
        cpf, cec = frames.balances.get(holder_id, (0, 0))
        one = HolderArrays.single(
            holder_id=holder_id,
            skill_weights=dict(zip(weights.loc[weights["holder_id"] == holder_id, "skill_uri"],
                                   weights.loc[weights["holder_id"] == holder_id, "weight"], strict=True)),
            embedding=frames.embeddings.get(holder_id),
            goal_occupation=target or frames.current_occupation.get(holder_id),
            cpf_balance_cents=cpf, cec_balance_cents=cec, region_code=row["region_code"],
            preferred_modality=row["preferred_modality"] if isinstance(row["preferred_modality"], str) else None,
            qualification_level=None if row["qualification_level"] is None or np.isnan(row["qualification_level"])
            else int(row["qualification_level"]),
            employment_status=row["employment_status"], space=space, dimension=catalogue.vectors.shape[1])
        train = data.split.train
        one.history = catalogue.history_row(train.loc[train["holder_id"] == holder_id, "training_id"])
        trainings = np.arange(len(catalogue.training_ids))
        h = bulk.position[holder_id]
        expected = pair_features(catalogue, bulk, np.full(len(trainings), h), trainings)
        got = pair_features(catalogue, one, np.zeros(len(trainings), dtype=np.int64), trainings)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_served_statistics_are_those_the_model_was_fitted_on(tiny_world) -> None:  # type: ignore[no-untyped-def]
    """Train/serve parity: served months after the cut, the popularity, provider completion records,
    co-occurrences and matrix-factorisation item factors the served arrays hold are the fitted arrays' (counted
    before ``trained_until``), not counts grown past the range the trees saw."""
    import datetime as dt

    from features.pairs import FEATURE_NAMES
    from recommender.bundle import RankerBundle
    from recommender.loading import build_learned_recommender
    from training.pipeline import prepare

    _folder, url = tiny_world
    data = prepare(url, show_progress=False)
    fitted = data.catalogue
    bundle = RankerBundle(ranker=None, completion=None, feature_names=FEATURE_NAMES,  # type: ignore[arg-type]
                          trained_until=data.split.cut_date, params={})
    later = data.split.cut_date + dt.timedelta(days=90)
    with session_scope(url) as session:
        served = build_learned_recommender(session, bundle, get_settings(), today=lambda: later).catalogue
    rows = np.array([fitted.position[t] for t in served.training_ids])
    assert len(rows) > 0 and served.as_of == later
    np.testing.assert_array_equal(served.popularity, fitted.popularity[rows])
    np.testing.assert_allclose(served.provider_completion, fitted.provider_completion[rows])
    assert served.popularity_scale == pytest.approx(fitted.popularity_scale)
    assert fitted.cooccurrence is not None and served.cooccurrence is not None
    np.testing.assert_array_equal(served.cooccurrence.counts[rows][:, rows].toarray(),
                                  fitted.cooccurrence.counts[rows][:, rows].toarray())
    # The matrix factorisation too: the same interactions, fitted in training-id order, give the same factors.
    assert fitted.factors is not None and served.factors is not None
    np.testing.assert_allclose(served.factors.factors, fitted.factors.factors[rows], rtol=1e-4, atol=1e-5)
    # The world has enrolments after the cut: counted up to the serving day, popularity would differ.
    assert (data.frames.interactions["occurred_at"] >= data.split.cut).any()


def test_a_champion_fitted_on_other_features_is_refused_with_the_fix(tiny_world) -> None:  # type: ignore[no-untyped-def]
    """A bundle of an older feature list would fail at its first prediction (a 500 per request): building the
    served recommender refuses it and says to retrain, and the server then answers with content similarity."""
    import datetime as dt

    from features.pairs import FEATURE_NAMES
    from recommender.bundle import RankerBundle
    from recommender.loading import build_learned_recommender

    _folder, url = tiny_world
    older = tuple(name for name in FEATURE_NAMES if name != "mf_score")
    bundle = RankerBundle(ranker=None, completion=None, feature_names=older,  # type: ignore[arg-type]
                          trained_until=dt.date(2026, 1, 1), params={})
    with session_scope(url) as session, pytest.raises(ValueError, match=r"missing \['mf_score'\].*parcours train"):
        build_learned_recommender(session, bundle, get_settings())
