"""``parcours index build``: catalogue → texts → cached embeddings → FAISS + BM25 index folder.

Full or incremental automatically: if an index built with the same model and vectors exists, only trainings
whose text changed (new sha256) are encoded and added, removed or closed trainings are marked dead, and the
filter columns of the others are refreshed; otherwise (or with ``full=True``) everything is rebuilt, still
taking unchanged vectors from the embedding cache. An index built on another database (``meta.json`` records the
database identity, ``recommender/provenance.py``) is rebuilt in full, never updated in place.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from features.catalogue import load_catalogue, training_texts
from features.embedding_cache import EmbeddingCache, encode_cached, text_sha256
from features.encoder import bulk_model_id, int8_agreement, model_id
from parcours.errors import IndexMismatch, NotFound
from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import TrainingSession
from recommender.index import CatalogueIndex
from recommender.provenance import OtherDatabase, Provenance, check_index_provenance, current_provenance

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    mode: str
    path: str
    trainings: int
    kind: str
    vectors_id: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    encoded: int = 0
    cached: int = 0
    compacted: bool = False
    database_id: str = ""
    catalogue_fingerprint: str = ""
    replaced_other_database: bool = False
    int8_agreement: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return (
            f"{self.mode} build of {self.path}: {self.trainings} trainings ({self.kind}, {self.vectors_id}); "
            f"added {self.added}, updated {self.updated}, removed {self.removed}, unchanged "
            f"{self.unchanged}; "
            f"encoded {self.encoded}, from cache {self.cached}; {timing}"
            + ("; the folder held another database's index: rebuilt in full" if self.replaced_other_database else "")
        )


def load_index_catalogue(session: Session, *, today: dt.date | None = None) -> pd.DataFrame:
    """Open trainings (a session on or after ``today``) with their last session date, text and text hash."""
    catalogue = load_catalogue(session, today=today)
    last = dict(
        session.execute(
            select(TrainingSession.training_id, func.max(TrainingSession.start_date)).group_by(
                TrainingSession.training_id
            )
        ).all()
    )
    catalogue["last_session"] = catalogue["training_id"].map(last)
    catalogue["text"] = training_texts(catalogue)
    catalogue["text_sha256"] = [text_sha256(t) for t in catalogue["text"]]
    return catalogue


def _use_int8(settings: Settings, texts: list[str]) -> tuple[bool, float | None]:
    """Bulk int8 only when asked for and when it keeps enough top-10 neighbours of the fp32 vectors."""
    if not settings.embedding_bulk_int8:
        return False, None
    agreement = int8_agreement(texts, settings, sample=1000)
    if agreement < settings.embedding_int8_min_agreement:
        log.warning(
            "int8 keeps %.1f%% of top-10 neighbours (< %.0f%%): encoding in fp32",
            100 * agreement,
            100 * settings.embedding_int8_min_agreement,
        )
        return False, agreement
    return True, agreement


def build_index(
    db_url: str,
    settings: Settings | None = None,
    *,
    full: bool = False,
    show_progress: bool = False,
    today: dt.date | None = None,
    index_dir: Path | None = None,
    cache: EmbeddingCache | None = None,
) -> BuildReport:
    """Build or update the catalogue index of the database at ``db_url``; returns what was done."""
    settings = settings or get_settings()
    folder = Path(index_dir or settings.resolved_index_dir())
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    with session_scope(db_url) as session:
        catalogue = load_index_catalogue(session, today=today)
        provenance = current_provenance(session)
    seconds["catalogue"] = time.perf_counter() - began
    if catalogue.empty:
        raise NotFound("no open training (with a session to come) in the catalogue: import a world first")
    texts = catalogue["text"].tolist()
    int8, agreement = _use_int8(settings, texts)
    vectors_id = bulk_model_id(settings, int8=int8)
    query_model = model_id(settings)
    kind = "flat" if len(catalogue) < settings.index_exact_below else "hnsw"

    existing: CatalogueIndex | None = None
    replaced_other = _built_on_other_database(folder, provenance)
    if not full and not replaced_other:
        try:
            existing = CatalogueIndex.load(folder, model_id=query_model)
        except FileNotFoundError:
            existing = None
        except IndexMismatch as exc:
            log.warning("rebuilding in full: %s", exc)
            existing = None
        if existing is not None and (existing.meta.vectors_id != vectors_id or existing.meta.kind != kind):
            existing = None

    step = time.perf_counter()
    if existing is None:
        vectors, stats = encode_cached(
            texts, settings=settings, cache=cache, int8=int8, show_progress=show_progress
        )
        seconds["encode"] = time.perf_counter() - step
        step = time.perf_counter()
        index = CatalogueIndex.build(
            catalogue,
            vectors,
            model_id=query_model,
            vectors_id=vectors_id,
            texts=texts,
            exact_below=settings.index_exact_below,
            hnsw_m=settings.index_hnsw_m,
            ef_construction=settings.index_hnsw_ef_construction,
            target_recall=settings.index_target_recall,
            kind=kind,
        )
        seconds["index"] = time.perf_counter() - step
        report = BuildReport(
            mode="full",
            path=str(folder),
            trainings=len(catalogue),
            kind=index.meta.kind,
            vectors_id=vectors_id,
            added=len(catalogue),
        )
    else:
        index = existing
        live = {(index.rows.training_id[r], index.rows.text_sha256[r]) for r in index.rows.live.nonzero()[0]}
        todo = catalogue[
            [
                (t, s) not in live
                for t, s in zip(catalogue["training_id"], catalogue["text_sha256"], strict=True)
            ]
        ]
        todo = todo.drop_duplicates("text_sha256")
        vectors, stats = encode_cached(
            todo["text"].tolist(), settings=settings, cache=cache, int8=int8, show_progress=show_progress
        )
        seconds["encode"] = time.perf_counter() - step
        step = time.perf_counter()
        counts = index.update(
            catalogue,
            dict(zip(todo["text_sha256"], vectors, strict=True)),
            dict(zip(todo["text_sha256"], todo["text"], strict=True)),
            max_dead_fraction=settings.index_max_dead_fraction,
            target_recall=settings.index_target_recall,
        )
        seconds["index"] = time.perf_counter() - step
        report = BuildReport(
            mode="incremental",
            path=str(folder),
            trainings=len(catalogue),
            kind=index.meta.kind,
            vectors_id=vectors_id,
            added=counts["added"],
            updated=counts["updated"],
            removed=counts["removed"],
            unchanged=counts["unchanged"],
            compacted=bool(counts["compacted"]),
        )
    index.meta.database_id = provenance.database_id
    index.meta.catalogue_fingerprint = provenance.catalogue_fingerprint
    index.meta.catalogue_trainings = provenance.trainings
    report.database_id = provenance.database_id
    report.catalogue_fingerprint = provenance.catalogue_fingerprint
    report.replaced_other_database = replaced_other
    step = time.perf_counter()
    index.save(folder)
    seconds["save"] = time.perf_counter() - step
    seconds["total"] = time.perf_counter() - began
    report.encoded = int(stats["encoded"])
    report.cached = int(stats["cached"])
    report.int8_agreement = agreement
    report.params = dict(index.meta.params)
    report.seconds = {k: round(v, 3) for k, v in seconds.items()}
    return report


def _built_on_other_database(folder: Path, provenance: Provenance) -> bool:
    """Whether the index at ``folder`` records another database than ``provenance``'s (then rebuilt in full)."""
    from recommender.index import IndexMetadata

    if not (folder / "meta.json").exists():
        return False
    meta = IndexMetadata.read(folder)
    try:
        check_index_provenance(meta.database_id, meta.catalogue_fingerprint, meta.catalogue_trainings, provenance,
                               where=folder)
    except OtherDatabase as exc:
        log.warning("rebuilding in full: %s", exc)
        return True
    return False


def index_info(settings: Settings | None = None, index_dir: Path | None = None,
               db_url: str | None = None) -> dict[str, Any]:
    """Metadata of the stored index and whether it can be served: built with the configured model and, when
    ``db_url`` is given, on that database (``freshness``: ok, stale or unknown)."""
    from recommender.index import IndexMetadata, check_compatible

    settings = settings or get_settings()
    folder = Path(index_dir or settings.resolved_index_dir())
    if not (folder / "meta.json").exists():
        raise NotFound(f"no catalogue index in {folder}: run `parcours index build`")
    meta = IndexMetadata.read(folder)
    info: dict[str, Any] = {"path": str(folder), **asdict(meta)}
    try:
        check_compatible(meta, model_id=model_id(settings), dimension=None, where=folder)
        if db_url is not None:
            try:
                with session_scope(db_url) as session:
                    current = current_provenance(session)
            except SQLAlchemyError as exc:  # not migrated, unreachable: the index is not the question then
                info["freshness"] = {"state": "unknown", "detail": f"the database could not be read "
                                     f"({type(exc).__name__}): run `parcours import` or check PARCOURS_DB_URL"}
            else:
                verdict = check_index_provenance(meta.database_id, meta.catalogue_fingerprint,
                                                 meta.catalogue_trainings, current, where=folder)
                info["freshness"] = verdict.as_dict()
        info["compatible"] = True
    except IndexMismatch as exc:
        info["compatible"] = False
        info["problem"] = str(exc)
    return info
