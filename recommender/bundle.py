"""The fitted model bundle the server serves, and how it is loaded from the MLflow registry.

``parcours train`` (``training/``) fits and registers a ``RankerBundle``; the server loads the version under
the ``champion`` alias through ``load_champion`` here, so no training code enters an API process. MLflow is
imported only when a champion is loaded.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.pyfunc import PythonModel

from parcours.settings import Settings, get_settings
from recommender.ranker import TrainingRanker

log = logging.getLogger(__name__)
CHAMPION = "champion"


@dataclass
class RankerBundle:
    """What ``parcours train`` fits, logs and registers, and what the server loads."""

    ranker: TrainingRanker
    completion: TrainingRanker | None
    feature_names: tuple[str, ...]
    trained_until: dt.date
    params: dict[str, object]
    stats: dict[str, float] = field(default_factory=dict)
    model_version: str = "unregistered"


class BundleModel(PythonModel):  # type: ignore[misc]
    """The fitted ``RankerBundle`` as an MLflow model; ``predict`` scores a feature matrix."""

    def __init__(self, bundle: RankerBundle) -> None:
        self.bundle = bundle

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # MLflow reads hints
        return self.bundle.ranker.predict_proba(model_input)[:, 1]


def load_champion(settings: Settings | None = None) -> RankerBundle | None:
    """The bundle under the ``champion`` alias, or ``None`` when there is none or it cannot be loaded."""
    settings = settings or get_settings()
    uri = settings.resolved_mlflow_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None  # no store yet: nothing was ever trained here (and reading must not create one)
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(tracking_uri=uri)
        version = client.get_model_version_by_alias(settings.registered_model_name, CHAMPION)
        model: Any = mlflow.pyfunc.load_model(f"models:/{settings.registered_model_name}@{CHAMPION}")
    except (MlflowException, OSError) as exc:
        log.warning("no usable champion model: %s", exc)
        return None
    bundle: RankerBundle = model.unwrap_python_model().bundle
    bundle.model_version = f"{settings.registered_model_name}/{version.version}"
    return bundle
