"""MLflow tracking and registry for the ranker.

Each ``parcours train`` is one MLflow run (local store by default: ``data/mlflow.db`` and ``data/mlruns``;
``PARCOURS_MLFLOW_TRACKING_URI`` for a server) logging parameters, metrics, the evaluation report (JSON) and a
plot (PNG), and registering the fitted bundle as a new version of ``parcours-ranker``. The alias ``champion``
marks the served version: a challenger takes it only if its NDCG@10 on the same split is at least the
champion's (re-evaluated in the same run), unless ``force``.

``incremental=True`` (``parcours train --incremental``) continues the champion on the interactions since its
``trained_until`` instead of fitting from scratch (``training.fit.update_bundle``); the new version's parameters
say ``incremental=True`` and name the parent version, and the same promotion rule applies.

Each version records the database it was trained on (identity and catalogue fingerprint,
``recommender/provenance.py``) in its bundle and as tags of the run and of the version; the server refuses a
champion of another database. A champion of another database found here is replaced by the new fit (it cannot be
compared on this database's split), and cannot be continued with ``--incremental``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from parcours.errors import NotFound  # noqa: E402
from parcours.settings import Settings, get_settings  # noqa: E402
from parcours.store.engine import migrate, session_scope  # noqa: E402
from parcours.store.models import Interaction  # noqa: E402
from recommender.bundle import CHAMPION, BundleModel, RankerBundle, load_champion  # noqa: E402
from recommender.provenance import OtherDatabase, Provenance, current_provenance  # noqa: E402
from training.fit import NotEnoughData, update_bundle  # noqa: E402
from training.pipeline import Prepared, evaluate_prepared, fit_and_evaluate, prepare  # noqa: E402

log = logging.getLogger(__name__)
EXPERIMENT = "parcours-ranker"


def _configure(settings: Settings) -> MlflowClient:
    uri = settings.resolved_mlflow_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        if uri.startswith(("http://", "https://")):
            # A tracking server keeps the artefacts (``--serve-artifacts``, deploy/): every API host loads them
            # from it, which a folder on the training host would not allow.
            mlflow.create_experiment(EXPERIMENT)
        else:
            artifacts = (settings.data_dir / "mlruns").resolve()
            mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return MlflowClient(tracking_uri=uri)


def _plot(report: dict[str, Any], path: Path) -> Path:
    metrics = report["metrics"]
    names = [m for m in (f"ndcg@{report['k']}", f"recall@{report['k']}", f"mrr@{report['k']}") if m in metrics]
    methods = list(metrics[names[0]])
    figure, axis = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        axis.bar([x + i * width for x in range(len(names))], [metrics[n][method] for n in names], width, label=method)
    axis.set_xticks([x + 0.4 - width / 2 for x in range(len(names))], names)
    axis.set_ylabel("mean over held-out holders")
    axis.set_title(f"Ranker vs baselines ({report['holders']} holders, cut {report['cut']})")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def incremental_holdout_days(db_url: str, trained_until: dt.date, holdout_days: int) -> int:
    """The held-out window of an incremental update: ``holdout_days`` when its cut falls after the champion's
    ``trained_until``, else half the days from ``trained_until`` to the last interaction, so the update has new
    interactions to learn from and later ones to be evaluated on (a champion trained with the default window,
    as ``make demo`` does, would otherwise leave nothing between its cut and the same cut)."""
    with session_scope(db_url) as session:
        last = session.scalar(select(func.max(Interaction.occurred_at)))
    if last is None:
        return holdout_days
    stamp = pd.Timestamp(last)  # SQLite gives naive UTC, PostgreSQL an aware datetime
    last_day = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).date()
    days_after = (last_day - trained_until).days
    if days_after - holdout_days >= 1:
        return holdout_days
    if days_after < 2:
        raise NotEnoughData(f"the champion is trained until {trained_until.isoformat()} and the last interaction "
                            f"is of {last_day.isoformat()}: import newer interactions before --incremental")
    return days_after // 2


def _champion_of(settings: Settings, provenance: Provenance,
                 incremental: bool) -> tuple[RankerBundle | None, str | None]:
    """(the champion, if trained on this database; the other database's refusal, if it was trained elsewhere).

    A champion of another database is no champion here: the new fit takes the alias without a comparison (its
    scores on this database's split mean nothing), and ``--incremental`` has nothing to continue."""
    try:
        return load_champion(settings, database_id=provenance.database_id), None
    except OtherDatabase as exc:
        if incremental:
            raise NotFound(f"--incremental continues the champion, but {exc}; run a full `parcours train` first") \
                from exc
        log.warning("%s: the new fit replaces it", exc)
        return None, str(exc).split(",")[0]


def train_and_register(db_url: str, *, holdout_days: int = 120, seed: int = 0, truth_dir: Path | None = None,
                       force: bool = False, incremental: bool = False, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    # As `prepare` and every other command do: a database never imported into then says "import first", not a
    # missing table.
    migrate(db_url)
    with session_scope(db_url) as session:
        provenance = current_provenance(session)
    champion, replaced = _champion_of(settings, provenance, incremental)
    parent = champion if incremental else None
    if incremental and parent is None:
        raise NotFound(f"--incremental updates the champion of {settings.registered_model_name}, and there is no "
                       f"usable one at {settings.resolved_mlflow_uri()}: run a full `parcours train` first")
    if parent is not None:
        holdout_days = incremental_holdout_days(db_url, parent.trained_until, holdout_days)
    prepared: Prepared = prepare(db_url, holdout_days=holdout_days, settings=settings)
    client = _configure(settings)
    if parent is not None:
        bundle = update_bundle(parent, prepared.catalogue, prepared.holders, prepared.split, seed=seed,
                               frames=prepared.frames)
        report = evaluate_prepared(bundle, prepared, seed=seed, truth_dir=truth_dir)
    else:
        bundle, report = fit_and_evaluate(prepared, seed=seed, truth_dir=truth_dir)
    champion_ndcg = None
    if champion is not None:
        champion_report = evaluate_prepared(champion, prepared, seed=seed)
        champion_ndcg = champion_report["metrics"][f"ndcg@{report['k']}"]["model"]
    ndcg = report["metrics"][f"ndcg@{report['k']}"]["model"]
    bundle.database_id = provenance.database_id
    bundle.catalogue_fingerprint = provenance.catalogue_fingerprint
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as scratch:
        mlflow.log_params({"incremental": False, **bundle.params, "holdout_days": holdout_days,
                           "cut": prepared.split.cut_date.isoformat(),
                           "trained_until": bundle.trained_until.isoformat(),
                           "features": ",".join(bundle.feature_names)})
        for metric, values in report["metrics"].items():
            for method, value in values.items():
                mlflow.log_metric(f"{metric.replace('@', '_at_')}.{method}", value)
        mlflow.log_metrics({f"fit.{k}": v for k, v in bundle.stats.items()})
        report_path = Path(scratch) / "evaluation.json"
        report_path.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
        mlflow.log_artifact(str(report_path))
        mlflow.log_artifact(str(_plot(report, Path(scratch) / "ndcg_recall_mrr.png")))
        info = mlflow.pyfunc.log_model(name="model", python_model=BundleModel(bundle),
                                       pip_requirements=["scikit-learn", "numpy"])
        mlflow.set_tags(provenance.tags())
        version = mlflow.register_model(info.model_uri, settings.registered_model_name, tags=provenance.tags())
    promoted = force or champion_ndcg is None or ndcg >= champion_ndcg
    if promoted:
        client.set_registered_model_alias(settings.registered_model_name, CHAMPION, version.version)
    verdict = ("promoted to champion" if promoted else
               f"NOT promoted: NDCG@10 {ndcg:.4f} < champion's {champion_ndcg:.4f} (use --force)")
    kind = f"incremental update of {bundle.params['parent_version']}" if incremental else "full fit"
    lines = [f"run {run.info.run_id}: {settings.registered_model_name} version {version.version} {verdict}",
             f"  {kind}, trained until {bundle.trained_until.isoformat()}, {bundle.stats['pairs']:,.0f} pairs",
             f"  on database {provenance.database_id} ({provenance.trainings} trainings)"]
    if replaced:
        lines.append(f"  {replaced}, not this one: replaced without comparison")
    for metric in (f"ndcg@{report['k']}", f"recall@{report['k']}"):
        values = report["metrics"][metric]
        lines.append(f"  {metric}: " + ", ".join(f"{m}={v:.4f}" for m, v in values.items()))
    return "\n".join(lines)
