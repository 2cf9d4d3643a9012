"""Batch jobs partitioned over a Dask cluster: ``parcours batch profiles`` and ``parcours batch embed``
(docs/scaling.md, "Past one machine").

The work is split into partitions the driver plans and the workers run, each partition with its own database
session; nothing is shared between partitions but the database and the embedding cache:

- profiles: holders are split into contiguous ranges of their ids; each partition runs the existing
  ``features.profile.recompute.recompute_profiles`` on its range, committing chunk by chunk, so a holder is written
  whole by exactly one partition (no two workers write the same rows) and a failed partition can be run again;
- embed: the catalogue's training texts not yet in the embedding cache are split into partitions; workers encode
  them and return the vectors, and the driver writes them into the cache, from which ``parcours index build``
  then takes every vector without encoding. The index itself is built once, on one machine, and shipped.

``engine="serial"`` runs the same partitions one after the other in this process (the reference the Dask run must
equal); ``engine="dask"`` submits them to a ``distributed.LocalCluster`` of ``workers`` processes (or threads), or
to an existing scheduler at ``scheduler`` (``tcp://host:8786``): the same code runs on a laptop and on a cluster.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from parcours.errors import NotFound, ValidationFailed
from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import Holder

ENGINES = ("dask", "serial")


@dataclass
class BatchReport:
    job: str
    engine: str
    workers: int
    partitions: int
    items: int
    seconds: float
    per_partition: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"{self.job}: {self.items} done in {self.partitions} partitions on {self.engine} "
                f"({self.workers} workers), {self.seconds:.1f} s")


def partition(ids: Sequence[str], partitions: int) -> list[list[str]]:
    """``ids`` sorted and cut into at most ``partitions`` contiguous, disjoint, near-equal ranges (none empty)."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    ordered = sorted(dict.fromkeys(ids))
    bounds = np.linspace(0, len(ordered), min(partitions, len(ordered)) + 1).round().astype(int)
    return [ordered[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _run(engine: str, tasks: list[tuple[Any, ...]], function: Callable[..., dict[str, Any]], *, workers: int,
         scheduler: str | None, processes: bool) -> list[dict[str, Any]]:
    """``function(*task)`` for every task, serially or on Dask; results in the order of ``tasks``."""
    if engine not in ENGINES:
        raise ValidationFailed([{"field": "engine", "message": f"engine must be one of {ENGINES}, not {engine!r}"}],
                               f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if workers < 1:
        raise ValidationFailed([{"field": "workers", "message": "at least 1 worker"}], "--workers must be ≥ 1")
    if engine == "serial" or not tasks:
        return [function(*task) for task in tasks]
    from distributed import Client, LocalCluster

    # At the end of a local run the nanny kills workers that keep threads (ONNX, SQLite) a little longer than
    # its 4 s patience: expected, said as a warning per worker; kept to errors.
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    if scheduler:
        with Client(scheduler) as client:
            return list(client.gather(client.map(function, *zip(*tasks, strict=True), pure=False)))
    # One thread per worker: the encoders and the matcher are single-threaded by design (settings), the
    # parallelism is the workers'. The dashboard is off: no port to open for a local run.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None)
    with cluster, Client(cluster) as client:
        return list(client.gather(client.map(function, *zip(*tasks, strict=True), pure=False)))


# --- skills profiles ------------------------------------------------------------------------------------------


def recompute_partition(db_url: str, holder_ids: list[str], today: dt.date) -> dict[str, Any]:
    """One partition of ``parcours batch profiles``: the holders' profiles recomputed and committed by chunks."""
    from features.profile.recompute import recompute_profiles

    began = time.perf_counter()
    with session_scope(db_url) as session:
        done = recompute_profiles(session, holder_ids, today=today, show_progress=False, commit_chunks=True)
    return {"first": holder_ids[0], "last": holder_ids[-1], "holders": done,
            "seconds": round(time.perf_counter() - began, 3)}


def batch_profiles(db_url: str, *, engine: str = "dask", workers: int = 2, partitions: int | None = None,
                   holder_ids: Sequence[str] | None = None, today: dt.date | None = None,
                   scheduler: str | None = None, processes: bool = True) -> BatchReport:
    """Recompute the skills profiles of ``holder_ids`` (default: every holder) in partitions of holder ids."""
    with session_scope(db_url) as session:
        known = list(session.scalars(select(Holder.holder_id)))
    ids = list(holder_ids) if holder_ids is not None else known
    missing = sorted(set(ids) - set(known))
    if missing:
        raise NotFound(f"unknown holder(s): {', '.join(missing[:10])}")
    # Two partitions a worker by default: a slow partition leaves the others work to take.
    parts = partition(ids, partitions or 2 * workers)
    day = today or dt.date.today()
    began = time.perf_counter()
    results = _run(engine, [(db_url, part, day) for part in parts], recompute_partition, workers=workers,
                   scheduler=scheduler, processes=processes)
    return BatchReport("skills profiles", engine, workers, len(parts), sum(r["holders"] for r in results),
                       round(time.perf_counter() - began, 3), results)


# --- catalogue embeddings (the encoding half of re-indexing) ---------------------------------------------------


def encode_partition(texts: list[str], settings: Settings) -> dict[str, Any]:
    """One partition of ``parcours batch embed``: the texts' vectors (fp32, the index's bulk model)."""
    from features.encoder import encode

    began = time.perf_counter()
    # One encoder per worker: the parallelism is the cluster's, not a pool of processes inside each worker.
    vectors = encode(texts, settings=settings.model_copy(update={"embedding_bulk_workers": 1}))
    return {"vectors": np.asarray(vectors, dtype=np.float32), "texts": len(texts),
            "seconds": round(time.perf_counter() - began, 3)}


def batch_embed(db_url: str, *, engine: str = "dask", workers: int = 2, partitions: int | None = None,
                settings: Settings | None = None, scheduler: str | None = None,
                processes: bool = True) -> BatchReport:
    """Encode the open catalogue's texts missing from the embedding cache, in partitions, into the cache."""
    from features.embedding_cache import EmbeddingCache, text_sha256
    from features.encoder import bulk_model_id
    from recommender.indexing import load_index_catalogue

    settings = settings or get_settings()
    with session_scope(db_url) as session:
        catalogue = load_index_catalogue(session)
    texts = list(dict.fromkeys(catalogue["text"]))
    vectors_id = bulk_model_id(settings, int8=False)
    with EmbeddingCache.default(settings) as cache:
        cached = cache.get(vectors_id, [text_sha256(t) for t in texts])
        todo = [t for t in texts if text_sha256(t) not in cached]
        by_hash = {text_sha256(t): t for t in todo}
        parts = partition(list(by_hash), partitions or 2 * workers) if todo else []
        began = time.perf_counter()
        results = _run(engine, [([by_hash[h] for h in part], settings) for part in parts], encode_partition,
                       workers=workers, scheduler=scheduler, processes=processes)
        for part, result in zip(parts, results, strict=True):
            cache.put(vectors_id, part, result.pop("vectors"))
    return BatchReport("catalogue embeddings", engine, workers, len(parts), len(todo),
                       round(time.perf_counter() - began, 3), results)
