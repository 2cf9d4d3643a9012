"""Embedding cache keyed by (vectors id, sha256 of the text), so re-indexing encodes only what changed.

Choice: a SQLite file ``<cache>/embeddings.sqlite`` (standard library, one table, primary key on the
pair, WAL)
rather than a table of the service database. The cache is derived data that any machine can rebuild;
keeping it
out of the service database keeps that database small, keeps PostgreSQL deployments free of 300 MB of
blobs per
model, and lets the benchmark and several databases share the cache. The key is the hash of the *text that is
encoded* (not of the raw fields), so a change of the text recipe or of an ESCO label also re-encodes.

``vectors_id`` is ``encoder.bulk_model_id(...)``: the model id, plus ``/int8`` for quantised vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from parcours.settings import Settings, get_settings

if TYPE_CHECKING:
    from features.encoder import ParallelEncoder

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    vectors_id TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (vectors_id, text_sha256)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per IN (...) query, under SQLite's variable limit


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Float32 vectors by (vectors id, text sha256) in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    @classmethod
    def default(cls, settings: Settings | None = None) -> EmbeddingCache:
        settings = settings or get_settings()
        return cls(settings.resolved_cache_dir() / "embeddings.sqlite")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, vectors_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``hashes`` (missing ones are simply absent)."""
        keys = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT text_sha256, dimension, vector FROM embeddings "  # noqa: S608 - placeholders only
                f"WHERE vectors_id = ? AND text_sha256 IN ({marks})",
                [vectors_id, *chunk],
            )
            for key, dimension, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32, count=dimension)
        return found

    def put(self, vectors_id: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(hashes) != len(vectors):
            raise ValueError("one vector per hash")
        rows = [
            (vectors_id, key, int(vectors.shape[1]), vectors[i].tobytes()) for i, key in enumerate(hashes)
        ]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)

    def count(self, vectors_id: str | None = None) -> int:
        if vectors_id is None:
            return int(self._conn.execute("SELECT count(*) FROM embeddings").fetchone()[0])
        query = "SELECT count(*) FROM embeddings WHERE vectors_id = ?"
        return int(self._conn.execute(query, [vectors_id]).fetchone()[0])


def encode_cached(
    texts: Sequence[str],
    *,
    settings: Settings | None = None,
    cache: EmbeddingCache | None = None,
    int8: bool = False,
    show_progress: bool = False,
    chunk_size: int = 2048,
    encoder: ParallelEncoder | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Vectors of ``texts`` (rows aligned), encoding only texts whose hash is not cached yet.

    New vectors are written to the cache chunk by chunk, so an interrupted build resumes where it stopped.
    More than ``embedding_parallel_above`` missing texts are encoded by ``embedding_bulk_workers`` processes
    (ONNX backend), or by ``encoder`` when the caller keeps one open across calls.
    Returns the vectors and stats: ``texts``, ``cached``, ``encoded``, ``encode_seconds``.
    """
    from features.encoder import ParallelEncoder, bulk_model_id, encode, spread_over_workers

    settings = settings or get_settings()
    vectors_id = bulk_model_id(settings, int8=int8)
    hashes = [text_sha256(t) for t in texts]
    own_cache = cache is None
    cache = cache or EmbeddingCache.default(settings)
    try:
        found = cache.get(vectors_id, hashes)
        missing: dict[str, str] = {}
        for key, text in zip(hashes, texts, strict=True):
            if key not in found and key not in missing:
                missing[key] = text
        seconds = 0.0
        if missing:
            keys = list(missing)
            parallel = encoder
            stack = contextlib.ExitStack()
            if parallel is None and spread_over_workers(settings, len(keys), int8=int8):
                parallel = stack.enter_context(
                    ParallelEncoder(settings, workers=settings.embedding_bulk_workers, int8=int8)
                )
            bar = None
            if show_progress:
                from tqdm import tqdm

                bar = tqdm(total=len(keys), desc="encoding trainings", unit="text")
            with stack:
                for start in range(0, len(keys), chunk_size):
                    chunk = keys[start : start + chunk_size]
                    chunk_texts = [missing[k] for k in chunk]
                    began = time.perf_counter()
                    if parallel is not None:
                        vectors = parallel.encode(chunk_texts)
                    else:
                        vectors = encode(chunk_texts, settings=settings, int8=int8)
                    seconds += time.perf_counter() - began
                    cache.put(vectors_id, chunk, vectors)
                    found.update(zip(chunk, vectors, strict=True))
                    if bar is not None:
                        bar.update(len(chunk))
            if bar is not None:
                bar.close()
        dimension = next(iter(found.values())).shape[0] if found else 0
        out = np.zeros((len(texts), dimension), dtype=np.float32)
        for i, key in enumerate(hashes):
            out[i] = found[key]
        stats = {
            "texts": float(len(texts)),
            "cached": float(len(texts) - sum(1 for k in hashes if k in missing)),
            "encoded": float(len(missing)),
            "encode_seconds": seconds,
        }
        return out, stats
    finally:
        if own_cache:
            cache.close()
