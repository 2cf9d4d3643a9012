"""Which database an index or a model was built on, and whether the running server may use it (issue 17).

The index folder and the MLflow registry live in the data folder, not in the database: pointing
``PARCOURS_DB_URL`` at another database while keeping the data folder used to serve the first database's index
(another catalogue's neighbours) and champion without a word. ``parcours index build`` and ``parcours train``
now record a ``Provenance``: the database identity (``parcours.store.identity``) and a catalogue fingerprint.
At start and on reload the server compares them with the database it serves:

- another database → refused: search and recommendations answer 503 with the reason and how to rebuild;
- the same database, catalogue changed since (an import) → stale: served (hits are re-checked against the
  database, new trainings are scored from their content), and ``/health``, ``/ready`` and ``parcours index
  info`` suggest ``parcours index build`` (incremental: only changed texts are encoded);
- nothing recorded (built before this check) → served, said unknown.

The fingerprint covers every training, open or not (so it does not change from one day to the next as sessions
pass), through its update stamps (``catalogue_fingerprint``): any import moves it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.errors import IndexMismatch
from parcours.store.identity import database_identity
from parcours.store.models import Training, TrainingSession
from recommender.base import HolderContext, Recommendation, Recommender

# MLflow tags of a registered model version (and of its run).
DATABASE_TAG = "parcours.database_id"
FINGERPRINT_TAG = "parcours.catalogue_fingerprint"
TRAININGS_TAG = "parcours.catalogue_trainings"


class OtherDatabase(IndexMismatch):
    """An index or a model built on another database than the one configured (mapped to 503, as any
    ``IndexMismatch``)."""


@dataclass(frozen=True)
class Provenance:
    database_id: str
    catalogue_fingerprint: str
    trainings: int

    def tags(self) -> dict[str, str]:
        return {DATABASE_TAG: self.database_id, FINGERPRINT_TAG: self.catalogue_fingerprint,
                TRAININGS_TAG: str(self.trainings)}


def catalogue_fingerprint(session: Session) -> tuple[str, int]:
    """(sha256 of the catalogue's update stamps, number of trainings).

    Stamps rather than contents: the number of trainings and their latest ``updated_at`` (every import and every
    ORM update sets it), the number of sessions and their first and last dates, each read from an index (migration
    0009), where hashing every training's text hash and filter columns scans the wide rows (both measured in
    docs/benchmarks.md, section provenance). A re-import of unchanged trainings moves the stamp, so the index is then
    called stale: the incremental ``parcours index build`` it suggests finds nothing to encode.
    """
    # One aggregate a query: SQLite answers a lone min or max from an index, not one beside a count.
    trainings = session.scalar(select(func.count()).select_from(Training))
    updated = session.scalar(select(func.max(Training.updated_at)))
    sessions = session.scalar(select(func.count()).select_from(TrainingSession))
    first = session.scalar(select(func.min(TrainingSession.start_date)))
    last = session.scalar(select(func.max(TrainingSession.start_date)))
    stamp = "\x1f".join(str(v) for v in (trainings, updated, sessions, first, last))
    return hashlib.sha256(stamp.encode()).hexdigest(), int(trainings or 0)


def current_provenance(session: Session) -> Provenance:
    fingerprint, trainings = catalogue_fingerprint(session)
    return Provenance(database_identity(session), fingerprint, trainings)


@dataclass(frozen=True)
class Verdict:
    """``state``: ``ok``, ``stale`` (same database, catalogue changed) or ``unknown`` (nothing recorded)."""

    state: str
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail}


def check_index_provenance(database_id: str | None, fingerprint: str | None, recorded_trainings: int | None,
                           current: Provenance, *, where: object = "the index") -> Verdict:
    """Raise ``OtherDatabase`` for an index built on another database; else say whether it is up to date."""
    if database_id is None:
        return Verdict("unknown", f"{where} records no database (built before the check): rebuild it with "
                                  "`parcours index build --full` to record it")
    if database_id != current.database_id:
        raise OtherDatabase(
            f"{where} was built on database {database_id}, but the configured database is {current.database_id} "
            f"(another catalogue): rebuild it for this database with `parcours index build --full`, and train "
            f"a model on it with `parcours train`, or point PARCOURS_DATA_DIR (or PARCOURS_INDEX_DIR) at this "
            f"database's own folder")
    if fingerprint != current.catalogue_fingerprint:
        return Verdict("stale", f"the catalogue changed since {where} was built ({recorded_trainings} trainings "
                                f"then, {current.trainings} now): run `parcours index build` to bring it up to date")
    return Verdict("ok")


def check_model_provenance(database_id: str | None, current_database_id: str, *, model: str) -> Verdict:
    """Raise ``OtherDatabase`` for a model trained on another database."""
    if database_id is None:
        return Verdict("unknown", f"{model} records no database (registered before the check)")
    if database_id != current_database_id:
        raise OtherDatabase(
            f"{model} was trained on database {database_id}, but the configured database is "
            f"{current_database_id}: train and register a model on this database with `parcours train` (and "
            f"rebuild its index with `parcours index build --full`), or point PARCOURS_MLFLOW_TRACKING_URI / "
            f"PARCOURS_REGISTERED_MODEL_NAME at this database's registry")
    return Verdict("ok")


class RefusedRecommender(Recommender):
    """Stands in for a champion refused at load: every recommendation answers 503 with the reason (no content
    fallback: the operator pointed the server at state that is not this database's, and must hear it)."""

    model_version = "refused"
    degraded = True

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        raise OtherDatabase(self.reason)
