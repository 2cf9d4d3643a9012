"""The ranker on the tiny world: contract of the estimator, time-split evaluation against baselines, the
business rules (prerequisites flagged, prices shown, diversification) and determinism."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from typer.testing import CliRunner

from features.pairs import FEATURE_NAMES
from recommender.candidates import generate_candidates
from recommender.learned import diversify, rank_candidates, reasons, score_candidates
from recommender.ranker import (
    PROBABILITY_FLOOR,
    LinearOffset,
    TrainingRanker,
    fit_platt,
    fit_signed_logistic,
    platt_probability,
)


def test_ranker_estimator_contract() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4)).astype(np.float32)  # noqa: N806
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int)
    ranker = TrainingRanker(max_iter=30)
    assert ranker.get_params()["max_iter"] == 30  # __init__ stores parameters only
    with pytest.raises(NotFittedError):
        ranker.predict_proba(X)
    ranker.fit(X, y)
    probability = ranker.predict_proba(X)
    assert probability.shape == (600, 2)
    assert np.all((probability >= 0) & (probability <= 1))
    assert np.allclose(probability.sum(axis=1), 1)
    assert ranker.score(X, y) > 0.75
    again = TrainingRanker(max_iter=30).fit(X, y).predict_proba(X)
    assert np.array_equal(probability, again)
    with pytest.raises(ValueError, match="positive and negative"):
        TrainingRanker().fit(X, np.zeros(600, dtype=int))
    with pytest.raises(ValueError, match="features"):
        ranker.predict_proba(X[:, :3])


def _monotone_data(seed: int, n: int = 1500, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels that rise with column 0 and fall with column 1 overall, but not everywhere: column 0 hurts in a
    band, so an unconstrained forest learns a dip there."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 4)).astype(np.float32)  # noqa: N806
    logit = 3 * X[:, 0] - 3 * X[:, 1] - 4 * ((X[:, 0] > 0.4) & (X[:, 0] < 0.6)) + X[:, 2] + shift
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8)


def _is_monotone(ranker: TrainingRanker, column: int, sign: int) -> bool:
    """Along ``column`` on a grid, from many starting rows, the margin never moves against ``sign``."""
    base = np.random.default_rng(5).uniform(0, 1, (60, 4)).astype(np.float32)
    grid = np.linspace(0, 1, 41, dtype=np.float32)
    rows = np.repeat(base, len(grid), axis=0)
    rows[:, column] = np.tile(grid, len(base))
    margin = ranker.probability_and_margin(rows)[1].reshape(len(base), len(grid))
    return bool((sign * np.diff(margin, axis=1) >= -1e-9).all())


def test_monotone_constraints_hold_after_fit_and_after_an_update() -> None:
    """``monotonic_cst``: the margin only rises along a +1 feature and only falls along a −1 one, after ``fit`` and
    after an ``update`` (its correction trees carry the same constraints); without them the dip is learnt."""
    X, y = _monotone_data(0)  # noqa: N806
    free = TrainingRanker(max_iter=60, max_leaf_nodes=8, random_state=0).fit(X, y)
    assert not _is_monotone(free, 0, 1)  # the data's dip, learnt when nothing forbids it
    ranker = TrainingRanker(max_iter=60, max_leaf_nodes=8, monotonic_cst=[1, -1, 0, 0], random_state=0).fit(X, y)
    assert _is_monotone(ranker, 0, 1) and _is_monotone(ranker, 1, -1)
    new_X, new_y = _monotone_data(1, n=600, shift=0.8)  # noqa: N806
    ranker.update(new_X, new_y, extra_iter=30)
    assert ranker.update_iterations_[-1] > 0
    assert _is_monotone(ranker, 0, 1) and _is_monotone(ranker, 1, -1)


def test_monotone_constraints_by_feature_name() -> None:
    from training.fit import RANKER_MONOTONE, monotone_constraints

    constraints = monotone_constraints()
    assert len(constraints) == len(FEATURE_NAMES)
    assert constraints[FEATURE_NAMES.index("cf_affinity")] == 1
    assert constraints[FEATURE_NAMES.index("log_out_of_pocket")] == -1
    assert constraints[FEATURE_NAMES.index("profile_similarity")] == 0
    assert sum(c != 0 for c in constraints) == len(RANKER_MONOTONE)
    with pytest.raises(ValueError, match="unknown feature.*no_such_feature"):
        monotone_constraints({"no_such_feature": 1})
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        monotone_constraints({"cf_affinity": 2})


@pytest.mark.parametrize(
    ("true", "signs", "expected"),
    [
        ((2.0, -1.0, 0.0), (0, 0, 0), (1, -1, 0)),  # free: the fitted signs are the data's
        ((2.0, -1.0, 0.0), (1, -1, 0), (1, -1, 0)),  # the data agree with the signs asked: nothing left out
        ((2.0, -1.0, 0.0), (1, 1, 0), (1, 0, 0)),  # column 1 falls where +1 is asked: left out (weight 0)
        ((2.0, -1.0, 0.0), (-1, 0, 0), (0, -1, 0)),  # column 0 rises where −1 is asked: left out, the rest refitted
        ((-2.0, -1.0, 0.5), (1, 1, 1), (0, 0, 1)),  # two left out at once
        ((-2.0, -1.0, -0.5), (1, 1, 1), (0, 0, 0)),  # nothing left: the intercept alone
    ],
)
def test_signed_logistic_keeps_the_signs_asked(true: tuple[float, ...], signs: tuple[int, ...],
                                               expected: tuple[int, ...]) -> None:
    """``fit_signed_logistic``: a weight never has the sign a constraint forbids (it is 0 then); where nothing is
    left out, it is the standardised logistic regression's margin read on raw features."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4000, 3)) * np.array([1.0, 3.0, 0.5]) + np.array([0.0, 5.0, -2.0])  # noqa: N806
    logit = ((X - np.array([0.0, 5.0, -2.0])) / np.array([1.0, 3.0, 0.5])) @ np.asarray(true) - 0.5
    y = rng.uniform(size=len(X)) < 1 / (1 + np.exp(-logit))
    weights, intercept = fit_signed_logistic(X, y, signs)
    fitted = np.where(np.abs(weights * X.std(axis=0)) < 0.05, 0, np.sign(weights))  # on the standardised scale
    assert tuple(int(v) for v in fitted) == expected
    if not any(expected):
        assert np.allclose(weights, 0) and intercept == pytest.approx(np.log(y.mean() / (1 - y.mean())))
    if signs == (0, 0, 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(X, y)
        assert np.allclose(X @ weights + intercept, reference.decision_function(X), atol=1e-8)
    with pytest.raises(ValueError, match="one entry per feature"):
        fit_signed_logistic(X, y, (1, 0))


def test_a_linear_term_beside_the_trees_keeps_the_margin_monotone_and_is_corrected_by_an_update() -> None:
    """``linear_weight``: the margin is the trees' plus the weighted linear term, monotone where asked after fit and
    after an update; the update corrects the whole margin (its base, ``LinearOffset``, is the margin before it)."""
    X, y = _monotone_data(0)  # noqa: N806
    trees = TrainingRanker(max_iter=60, max_leaf_nodes=3, monotonic_cst=[1, -1, 0, 0], random_state=0).fit(X, y)
    blended = TrainingRanker(max_iter=60, max_leaf_nodes=3, monotonic_cst=[1, -1, 0, 0], linear_weight=1.0,
                             random_state=0).fit(X, y)
    assert trees.linear_ is None and blended.linear_ is not None
    weights, intercept = blended.linear_
    assert weights[0] > 0 and weights[1] < 0  # the data's overall directions, which the constraints allow
    assert np.allclose(blended.decision_function(X),
                       trees.decision_function(X) + X.astype(np.float64) @ weights + intercept, atol=1e-9)
    probability, margin = blended.probability_and_margin(X[:40])
    assert np.allclose(margin, blended.decision_function(X[:40]), atol=1e-12)
    assert np.allclose(probability, blended.predict_proba(X[:40])[:, 1], atol=1e-12)
    assert _is_monotone(blended, 0, 1) and _is_monotone(blended, 1, -1)
    before = blended.decision_function(X)
    offset = LinearOffset(base=trees, weights=weights, intercept=intercept).fit(X, y)
    assert np.allclose(offset.decision_function(X), before, atol=1e-9)
    new_X, new_y = _monotone_data(1, n=600, shift=0.8)  # noqa: N806
    blended.update(new_X, new_y, extra_iter=30)
    assert blended.linear_ is None  # now inside the corrected base, not added twice
    assert blended.update_iterations_[-1] > 0
    assert blended.decision_function(new_X).mean() > before.mean()  # the shift, learnt
    assert _is_monotone(blended, 0, 1) and _is_monotone(blended, 1, -1)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="linear_weight"):
            TrainingRanker(linear_weight=bad).fit(X, y)


def test_one_pass_probability_and_margin_equal_predict_proba_and_decision_function() -> None:
    """The serving path's single tree pass gives what the two scikit-learn calls give, fitted and updated."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 5)).astype(np.float32)  # noqa: N806
    y = (X[:, 0] - X[:, 1] + 0.7 * rng.normal(size=800) > 0).astype(int)
    ranker = TrainingRanker(max_iter=40).fit(X[:600], y[:600])
    with pytest.raises(NotFittedError):
        TrainingRanker().probability_and_margin(X)
    for fitted in (ranker, TrainingRanker(max_iter=40).fit(X[:600], y[:600]).update(X[600:], y[600:], extra_iter=5)):
        probability, margin = fitted.probability_and_margin(X)
        assert np.allclose(probability, fitted.predict_proba(X)[:, 1], atol=1e-12)
        assert np.allclose(margin, fitted.decision_function(X), atol=1e-12)
        assert ((probability >= 0) & (probability <= 1)).all() and len(np.unique(probability)) > 5
    with pytest.raises(ValueError, match="features"):
        ranker.probability_and_margin(X[:, :3])


@pytest.mark.parametrize(("slope", "intercept"), [(1.0, 0.0), (2.0, -1.0), (0.5, 1.5)])
def test_platt_scaling_recovers_a_logistic_relation(slope: float, intercept: float) -> None:
    rng = np.random.default_rng(2)
    margin = rng.normal(scale=2.0, size=20_000)
    y = rng.random(20_000) < 1 / (1 + np.exp(-(slope * margin + intercept)))
    fitted_slope, fitted_intercept = fit_platt(margin, y)
    assert fitted_slope == pytest.approx(slope, abs=0.08) and fitted_intercept == pytest.approx(intercept, abs=0.08)


def test_platt_targets_are_smoothed_so_a_separable_slice_gives_no_certainty() -> None:
    """Perfectly separated calibration data (a few enrolments) must not give a vertical curve: Platt's targets
    (N₊+1)/(N₊+2) and 1/(N₋+2) keep the slope finite, and probabilities stay within the floor."""
    margin = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    calibration = fit_platt(margin, margin > 0)
    probability = platt_probability(np.array([-100.0, 0.0, 100.0]), calibration)
    assert calibration[0] < 10
    assert probability[0] == PROBABILITY_FLOOR and probability[2] == 1 - PROBABILITY_FLOOR
    assert 0.3 < probability[1] < 0.7


def test_no_probability_is_exactly_zero_or_one_and_a_small_update_calibrates() -> None:
    """A small incremental update (4 calibration rows of each class) refits the calibration without the
    cross-validation folds isotonic calibration needed."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 4)).astype(np.float32)  # noqa: N806
    y = (3 * X[:, 0] + 0.1 * rng.normal(size=1000) > 0).astype(int)
    ranker = TrainingRanker(max_iter=40).fit(X, y)
    probability = ranker.predict_proba(X)[:, 1]
    assert probability.min() >= PROBABILITY_FLOOR and probability.max() <= 1 - PROBABILITY_FLOOR
    small_X, small_y = X[:50], np.r_[np.ones(25, dtype=int), np.zeros(25, dtype=int)]  # noqa: N806
    ranker.update(small_X, small_y, extra_iter=5)
    assert np.isfinite(ranker.calibration_).all()


pytestmark = pytest.mark.xdist_group("tiny_world")


@pytest.fixture(scope="module")
def prepared(tiny_world):  # type: ignore[no-untyped-def]
    from training.pipeline import prepare

    folder, url = tiny_world
    return prepare(url, show_progress=False), folder, url


def test_evaluation_reports_model_and_baselines_on_the_same_holders(prepared) -> None:  # type: ignore[no-untyped-def]
    from training.pipeline import fit_and_evaluate

    data, folder, _url = prepared
    bundle, report = fit_and_evaluate(data, seed=0, truth_dir=folder)
    assert bundle.feature_names == FEATURE_NAMES
    assert report["k"] == 10 and report["holders"] > 0
    ndcg = report["metrics"]["ndcg@10"]
    assert set(ndcg) == {"model", "neutral", "popularity", "content", "cooccurrence", "als", "oracle"}
    # The oracle bounds what any method reaches; the learned model beats content similarity here.
    assert ndcg["oracle"] >= max(v for name, v in ndcg.items() if name != "oracle")
    assert ndcg["model"] > ndcg["content"]
    for metric in ("recall@10", "mrr@10", "coverage@10", "diversity@10", "affordable@10", "provider_gini",
                   "poor_provider_share"):
        assert all(0.0 <= v <= 1.0 for v in report["metrics"][metric].values())
    # Provider exposure, personalised vs neutral, against the catalogue's own concentration.
    exposure = report["exposure"]
    assert 0.0 < exposure["catalogue_gini"] < 1.0
    for label, method in (("personalised", "model"), ("neutral", "neutral")):
        assert exposure[label]["method"] == method
        for metric in ("provider_gini", "provider_gini_lift", "poor_provider_share"):
            assert exposure[label][metric] == report["metrics"][metric][method]
        assert exposure[label]["provider_gini_lift"] == pytest.approx(
            exposure[label]["provider_gini"] / exposure["catalogue_gini"], abs=1e-5)
    # Neutral suggestions rank by the completion record first: no slot goes to a poor-record provider here.
    assert exposure["neutral"]["poor_provider_share"] <= exposure["personalised"]["poor_provider_share"]
    # Concentration of the lists: the neutral list is the same for everyone, personalised lists are not.
    concentration = report["concentration"]
    assert set(concentration) == {"model", "neutral", "oracle"}
    for method, values in concentration.items():
        assert values["top_item_share"] == report["metrics"]["top_item_share"][method]
        assert values["training_gini"] == report["metrics"]["training_gini"][method]
        assert values["top_item"] in set(data.catalogue.training_ids.tolist())
    assert concentration["neutral"]["top_item_share"] == 1.0
    assert concentration["model"]["top_item_share"] < 1.0
    assert concentration["model"]["training_gini"] < concentration["neutral"]["training_gini"]
    # Servable lists: the model and neutral lists as they are, the others diversified, the model before the rule.
    diversified = report["diversified"]["ndcg@10"]
    assert set(diversified) == set(ndcg) | {"model_undiversified"}
    assert diversified["model"] == ndcg["model"] and diversified["neutral"] == ndcg["neutral"]
    assert all(0.0 <= v <= 1.0 for v in [*diversified.values(), *report["diversified"]["recall@10"].values()])
    # Coverage at the over-HTTP check's count of lists; with fewer held-out lists, all of them: the plain coverage.
    coverage = report["coverage_at_lists"]
    assert coverage["lists"] == min(report["holders"], 200)
    if report["holders"] <= 200:
        for method, value in report["metrics"]["coverage@10"].items():
            assert coverage[method] == pytest.approx(value, abs=1e-5)
    # Fixed model and data: identical results.
    _bundle_again, report_again = fit_and_evaluate(data, seed=0, truth_dir=folder)
    assert report_again == report


def test_business_rules_on_served_lists(prepared) -> None:  # type: ignore[no-untyped-def]
    from training.fit import fit_bundle

    data, _folder, _url = prepared
    bundle = fit_bundle(data.catalogue, data.holders, data.split, seed=0)
    catalogue, holders = data.catalogue, data.holders
    allowed = catalogue.open_mask(data.split.cut_date)
    broke = int(np.argmin(holders.cpf_balance_cents + holders.cec_balance_cents))
    candidates = generate_candidates(catalogue, holders, broke, allowed)
    assert len(candidates) > 10 and allowed[candidates].all()
    ranked = score_candidates(bundle, catalogue, holders, broke, candidates, on=data.split.cut_date)
    top = diversify([item.row for item in ranked], catalogue, 10)
    assert len(top) == 10
    codes = [catalogue.certification_code[r] for r in top]
    assert len(set(codes)) == len(codes)  # never two sessions of the same certification
    by_row = {item.row: item for item in ranked}
    for row in top:
        said = reasons(by_row[row], [], int(catalogue.price_cents[row]), catalogue.completion_overall)
        assert any("€" in r or "financée" in r for r in said)  # the cost is always shown
    unmet = [item for item in ranked if item.features["prerequisites_met"] < 1.0]
    for item in unmet[:5]:
        assert any("prérequis" in r for r in reasons(item, [], 0, catalogue.completion_overall))
    # What a request builds: the ranking, then items for the ten shown only (completion model included);
    # the same values as scoring every candidate.
    ranking = rank_candidates(bundle, catalogue, holders, broke, candidates, on=data.split.cut_date)
    assert ranking.rows.tolist() == [item.row for item in ranked]
    shown = ranking.items(top)
    assert [item.row for item in shown] == top
    for item in shown:
        assert item == by_row[item.row]
    assert all(item.completion_probability is not None for item in shown)
    assert ranking.items([]) == []


@pytest.fixture
def private_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An MLflow store of the test's own (``PARCOURS_DATA_DIR``), the embedding cache shared."""
    from parcours.settings import get_settings

    monkeypatch.setenv("PARCOURS_CACHE_DIR", str(get_settings().resolved_cache_dir()))
    monkeypatch.setenv("PARCOURS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_evaluate_cli_prints_the_contract_json(prepared, private_store: Path) -> None:  # type: ignore[no-untyped-def]
    from parcours.cli import app

    _data, _folder, url = prepared
    result = CliRunner().invoke(app, ["evaluate", "--json", "--db", url])
    assert result.exit_code == 0, result.output
    assert "no champion registered: evaluated a model fitted on the split" in result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["k"] == 10
    assert {"model", "neutral", "popularity", "content"} <= set(report["metrics"]["ndcg@10"])
    assert {"ndcg@10", "recall@10", "mrr@10", "top_item_share", "training_gini"} <= set(report["metrics"])
    assert {"catalogue_gini", "personalised", "neutral"} <= set(report["exposure"])
    assert set(report["concentration"]) == {"model", "neutral"}  # the oracle needs --truth
    for values in report["concentration"].values():
        assert 0.0 < values["top_item_share"] <= 1.0 and 0.0 <= values["training_gini"] <= 1.0


def test_train_and_evaluate_report_the_same_numbers_for_the_champion(prepared, private_store: Path) -> None:  # type: ignore[no-untyped-def]
    """``parcours train`` evaluates the model it registers; ``parcours evaluate --json`` evaluates the champion
    the server loads, through the same ``evaluate_prepared``: the same model on the same split, the same report
    to the last digit (the one ``train`` logged to MLflow and the lines it printed)."""
    import mlflow

    from parcours.cli import app
    from parcours.settings import get_settings

    _data, folder, url = prepared
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--truth", str(folder), "--db", url])
    assert trained.exit_code == 0, trained.output
    assert "version 1 promoted to champion" in trained.output
    evaluated = runner.invoke(app, ["evaluate", "--json", "--truth", str(folder), "--db", url])
    assert evaluated.exit_code == 0, evaluated.output
    assert "evaluated the champion parcours-ranker/1" in evaluated.output
    report = json.loads(evaluated.output.strip().splitlines()[-1])
    settings = get_settings()
    client = mlflow.tracking.MlflowClient(tracking_uri=settings.resolved_mlflow_uri())
    run_id = client.get_model_version_by_alias(settings.registered_model_name, "champion").run_id
    logged = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="evaluation.json",
                                                 dst_path=str(private_store / "artifacts"),
                                                 tracking_uri=settings.resolved_mlflow_uri())
    assert json.loads(Path(logged).read_text(encoding="utf-8")) == report
    assert set(report["metrics"]["ndcg@10"]) == {"model", "neutral", "popularity", "content", "cooccurrence", "als",
                                                 "oracle"}
    for metric in ("ndcg@10", "recall@10"):
        line = next(line for line in trained.output.splitlines() if line.startswith(f"  {metric}: "))
        printed = dict(pair.split("=") for pair in line.removeprefix(f"  {metric}: ").split(", "))
        assert printed == {method: f"{value:.4f}" for method, value in report["metrics"][metric].items()}


def test_evaluate_cli_refuses_an_empty_database(sqlite_url: str, private_store: Path) -> None:
    """(A registry of its own: a champion in the developer's, e.g. ``make demo``'s, was found before the check.)"""
    from parcours.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--json", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "parcours import" in result.output


def test_one_holder_fast_path_gives_the_general_features(prepared) -> None:  # type: ignore[no-untyped-def]
    """A request scores one holder's candidates through sparse matrix-vector products; training mixes holders
    and takes the element-wise path. Both must give the same features."""
    from features.pairs import pair_features

    data, _folder, _url = prepared
    catalogue, holders = data.catalogue, data.holders
    rng = np.random.default_rng(5)
    trainings = rng.choice(len(catalogue.training_ids), size=120, replace=False)
    for holder in rng.choice(len(holders.holder_ids), size=5, replace=False).tolist():
        other = (holder + 1) % len(holders.holder_ids)
        alone = pair_features(catalogue, holders, np.full(len(trainings), holder), trainings)
        mixed_holders = np.concatenate([np.full(len(trainings), holder), [other]])
        mixed = pair_features(catalogue, holders, mixed_holders, np.concatenate([trainings, trainings[:1]]))
        np.testing.assert_allclose(alone, mixed[: len(trainings)], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("cents", "said"),
    [(0, "0,00 €"), (10_223, "102,23 €"), (123_456, "1\u202f234,56 €"), (100_000_000, "1\u202f000\u202f000,00 €")],
)
def test_amounts_are_said_the_french_way(cents: int, said: str) -> None:
    from recommender.learned import euros

    assert euros(cents) == said


def test_abandonment_is_flagged_only_well_below_the_typical_rate() -> None:
    from recommender.learned import RISK_RATIO, RankedItem, fit_reasons, risk_of

    features = dict.fromkeys(FEATURE_NAMES, 0.0) | {"prerequisites_met": 1.0}
    typical = 0.5
    for p, flagged in [(0.45, False), (RISK_RATIO * typical + 0.01, False), (RISK_RATIO * typical - 0.01, True)]:
        risk = risk_of(RankedItem(0, 0.5, p, features), typical)
        assert (risk is not None) is flagged
        if flagged:
            assert "29 %" in risk and "50 %" in risk  # both figures are said
    assert "prérequis" in risk_of(RankedItem(0, 0.5, 0.9, features | {"prerequisites_met": 0.5}), typical)
    assert fit_reasons(RankedItem(0, 0.5, None, features))  # never without a reason about the holder


@pytest.mark.parametrize(
    ("features", "said", "not_said"),
    [
        ({"target_match": 1.0}, "prépare à votre métier cible", "métier actuel"),
        ({"job": 0.25, "profile_similarity": 0.9}, "compétences de votre métier actuel",
         "proche de ce que vous faites"),  # the skills say it better than the embedding
        ({"job": 0.05, "profile_similarity": 0.9}, "proche de ce que vous faites", "métier actuel"),
        ({"cf_affinity": 0.2}, "personnes au parcours proche", "métier actuel"),
        ({"skill_novelty": 0.5}, "prolonge des compétences", "métier actuel"),
        ({"profile_similarity": 0.31}, "proximité avec votre profil : 31 %", "métier actuel"),
        # What the holder's own history predicts (ALS), said once with co-occurrence's sentence taking precedence.
        ({"mf_score": 0.5}, "dans la lignée des formations que vous avez consultées", "proximité avec votre profil"),
        ({"mf_score": 0.49, "profile_similarity": 0.2}, "proximité avec votre profil : 20 %", "dans la lignée"),
        ({"mf_score": 0.9, "cf_affinity": 0.2}, "personnes au parcours proche", "dans la lignée"),
        # Among the region's most taken, when nothing about the holder's skills or history says more.
        ({"log_relative_region_popularity": 2.4}, "parmi les plus suivies dans votre région", "proximité avec"),
        ({"log_relative_region_popularity": 2.4, "chosen": 1.0},
         "parmi les plus suivies dans la région que vous avez choisie", "votre région"),
        ({"log_relative_region_popularity": 2.3}, "proximité avec votre profil", "parmi les plus suivies"),
        ({"log_relative_region_popularity": 3.0, "target_match": 1.0}, "métier cible", "parmi les plus suivies"),
        # … or, below that, among those its holders looked at most (views included).
        ({"log_relative_region_audience": 2.4}, "parmi les plus consultées dans votre région", "proximité avec"),
        ({"log_relative_region_audience": 2.4, "chosen": 1.0},
         "parmi les plus consultées dans la région que vous avez choisie", "votre région"),
        ({"log_relative_region_audience": 2.3}, "proximité avec votre profil", "plus consultées"),
        ({"log_relative_region_audience": 3.0, "log_relative_region_popularity": 3.0},
         "parmi les plus suivies dans votre région", "plus consultées"),
        ({"log_relative_region_audience": 3.0, "cf_affinity": 0.2}, "personnes au parcours proche", "plus consultées"),
        ({"modality_match": 1.0, "region_match": 1.0, "job": 0.1}, "dans la modalité que vous préférez",
         "proximité avec votre profil"),
        ({"region_match": 1.0}, "disponible dans votre région ou à distance", "région que vous avez choisie"),
        ({"region_match": 1.0, "chosen": 1.0}, "disponible dans la région que vous avez choisie ou à distance",
         "votre région"),
        ({"region_match": 0.0, "chosen": 1.0}, "proximité avec votre profil", "région"),
    ],
)
def test_fit_reasons_say_what_the_features_show(features: dict[str, float], said: str, not_said: str) -> None:
    from recommender.learned import RankedItem, fit_reasons

    job = features.pop("job", 0.0)
    chosen = bool(features.pop("chosen", 0.0))
    reasons = fit_reasons(RankedItem(0, 0.5, None, dict.fromkeys(FEATURE_NAMES, 0.0) | features), job_skill_share=job,
                          region_chosen=chosen)
    assert any(said in reason for reason in reasons), reasons
    assert not any(not_said in reason for reason in reasons), reasons


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_train_and_evaluate_refuse_a_truth_folder_without_truth_and_a_negative_holdout(
        command: str, sqlite_url: str, tmp_path: Path) -> None:
    """A wrong ``--truth`` used to drop the oracle from the report without a word; both are refused before any work."""
    from parcours.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, [command, "--truth", str(tmp_path / "nope"), "--db", sqlite_url])
    assert missing.exit_code == 2
    assert f"file={tmp_path / 'nope'}: no truth/ folder" in missing.output
    (tmp_path / "world" / "truth").mkdir(parents=True)
    from parcours.cli import truth_folder

    assert truth_folder(tmp_path / "world") == tmp_path / "world"
    assert truth_folder(tmp_path / "world" / "truth") == tmp_path / "world" / "truth"
    negative = runner.invoke(app, [command, "--holdout-days", "-5", "--db", sqlite_url])
    assert negative.exit_code == 2
    assert "--holdout-days" in negative.output
