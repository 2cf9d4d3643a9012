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
from recommender.offering import OfferingChoice
from recommender.provenance import DATABASE_TAG, check_model_provenance
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
    # The database it was trained on and its catalogue fingerprint then (``recommender.provenance``), also set
    # as tags of the registered version; None in bundles registered before they were recorded.
    database_id: str | None = None
    catalogue_fingerprint: str | None = None
    # Exposure prices by training id, in the ranker's margin units (``recommender.exposure``, learnt by
    # ``training.exposure``); empty: no training is priced. Bundles pickled before the field lack the attribute:
    # read it with ``recommender.exposure.bundle_prices``.
    exposure_prices: dict[str, float] = field(default_factory=dict)
    # Which offering of a certification to show where the ranker put it (``recommender.offering``); None: the
    # ranker's order. Bundles pickled before the field lack the attribute (read with ``getattr``).
    offering_choice: OfferingChoice | None = None


class BundleModel(PythonModel):  # type: ignore[misc]
    """The fitted ``RankerBundle`` as an MLflow model; ``predict`` scores a feature matrix."""

    # MLflow wraps ``predict`` to validate inputs against its type hints, and without hints prints advice to every
    # `parcours` command; the feature matrix is a plain array whose columns ``feature_names`` names: no schema.
    _skip_type_hint_validation = True

    def __init__(self, bundle: RankerBundle) -> None:
        self.bundle = bundle

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return self.bundle.ranker.predict_proba(model_input)[:, 1]


def load_champion(settings: Settings | None = None, *, database_id: str | None = None) -> RankerBundle | None:
    """The bundle under the ``champion`` alias, or ``None`` when there is none or it cannot be loaded.

    With ``database_id`` (the configured database's identity), a champion trained on another database raises
    ``OtherDatabase`` (checked on the version's tags before the model is loaded, then on the bundle itself)."""
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
        name = f"champion {settings.registered_model_name}/{version.version}"
        if database_id is not None:
            check_model_provenance((version.tags or {}).get(DATABASE_TAG), database_id, model=name)
        model: Any = mlflow.pyfunc.load_model(f"models:/{settings.registered_model_name}@{CHAMPION}")
    except (MlflowException, OSError) as exc:
        log.warning("no usable champion model: %s", exc)
        return None
    bundle: RankerBundle = model.unwrap_python_model().bundle
    if database_id is not None:
        check_model_provenance(bundle.database_id, database_id, model=name)
    bundle.model_version = f"{settings.registered_model_name}/{version.version}"
    return bundle
