"""The catalogue embedding index: FAISS vectors of the training texts, their metadata, and a BM25 side index.

Layout of an index folder (written atomically: a new folder is staged, then swapped in):

- ``meta.json``: format version, model id, vectors id, dimension, kind (``flat`` or ``hnsw``) and its tuned
  parameters, build and update times, row counts.
- ``rows.npz``: one row per FAISS id (= row position): training id, text sha256, live flag and the filter
  columns (region, modality, price in cents, certification level, date of the last session).
- ``vectors.faiss``: ``IndexFlatIP`` (exact) below ``index_exact_below`` rows, ``IndexHNSWFlat`` above,
both on
  inner product of L2-normalised vectors (= cosine).
- ``lexical.npz``: term counts per row for BM25 (``recommender/lexical.py``).

Incremental updates never rewrite the graph: a changed training gets a new row and its old row is marked dead;
a removed training's row is marked dead. Searches only return live rows whose last session is not past, so
removed or expired trainings are never returned even before the next build. Once more than
``index_max_dead_fraction`` of the rows are dead the build compacts (rebuilds from the stored vectors, without
encoding anything).

An index is tied to the model that made its vectors: ``CatalogueIndex.load`` refuses (``IndexMismatch``)
an index
whose model id or dimension differ from what the caller encodes queries with. It is tied as well to the database
whose catalogue it holds: ``meta.json`` records that database's identity and catalogue fingerprint, which the
server checks (``recommender/provenance.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np
import pandas as pd

from parcours.errors import IndexMismatch
from recommender.lexical import BM25Index

faiss: Any = _faiss  # the bundled stubs lack SearchParametersHNSW, selectors and HNSW fields

FORMAT_VERSION = 2  # 2: BM25 counts of French-aware tokens (recommender/lexical.py); a version 1 index is rebuilt
EF_SEARCH_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
# A filtered search over at most this many rows scans them exactly instead of walking the graph. Above it the
# graph walk keeps FILTERED_EF_FACTOR × efSearch / (share of rows allowed) candidates, so that about twice the
# unfiltered efSearch of them pass the filter. Measured on the large world's 176k trainings with 200 real
# queries (docs/benchmarks.md): an exact scan of 14k allowed rows cost 5 ms in the endpoint (it reads 21 MB of
# vectors and evicts the query encoder's weights from the caches) where the walk costs about 1 ms for a
# recall@10 of 0.975; with the factor at 1 the walk kept only 0.86 of the exact top 10 for a 23k-row filter.
EXACT_SUBSET_MAX = 5_000
FILTERED_EF_FACTOR = 2.0
# The graph walk keeps at least this many candidates per neighbour asked for. efSearch is tuned on the catalogue's
# own vectors (0.994 of the exact top 10 at 24), but short queries sit elsewhere: with ESCO labels as queries and
# the search's 100 candidates, efSearch 100 kept 0.92 of the exact top 10, 150 kept 0.95, 300 0.96.
EF_OVER_K = 1.5


@dataclass
class IndexMetadata:
    model_id: str
    vectors_id: str
    dimension: int
    kind: str
    params: dict[str, Any]
    built_at: str
    updated_at: str
    rows: int
    live: int
    format_version: int = FORMAT_VERSION
    # The database it was built on and its catalogue fingerprint then (``recommender.provenance``); None in
    # indexes built before they were recorded.
    database_id: str | None = None
    catalogue_fingerprint: str | None = None
    catalogue_trainings: int | None = None

    @classmethod
    def read(cls, folder: Path) -> IndexMetadata:
        data = json.loads((folder / "meta.json").read_text())
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class SearchFilter:
    """Objective criteria a search may be restricted to (empty tuple / None = no restriction).

    ``today`` decides which trainings are expired (last session before it); ``exclude_ids`` and ``only_ids``
    let callers (ranker, paths) leave out or restrict to given trainings.
    """

    regions: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    max_price_cents: int | None = None
    levels: tuple[int, ...] = ()
    exclude_ids: frozenset[str] = field(default_factory=frozenset)
    only_ids: frozenset[str] | None = None
    today: dt.date | None = None

    def accepts(self, *, region_code: str, modality: str, price_cents: int, level: int | None) -> bool:
        """The same predicate on one training's current values (to re-check hits against the database)."""
        return (
            (not self.regions or region_code in self.regions)
            and (not self.modalities or modality in self.modalities)
            and (self.max_price_cents is None or price_cents <= self.max_price_cents)
            and (not self.levels or (level is not None and level in self.levels))
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _categorical(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[str]]:
    cat = pd.Categorical(np.asarray(values, dtype=object).astype(str))
    return cat.codes.astype(np.int32), [str(c) for c in cat.categories]


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _date_ordinals(values: pd.Series) -> np.ndarray:
    """Proleptic ordinals of dates (0 where missing), vectorised."""
    days = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="datetime64[D]")
    ordinals = days.astype("int64") + _EPOCH_ORDINAL
    return np.where(np.isnat(days), 0, ordinals).astype(np.int32)


def _member_mask(codes: np.ndarray, wanted: list[int]) -> np.ndarray:
    """``np.isin(codes, wanted)`` for small non-negative integer codes, as one gather through a lookup table.

    ``np.isin`` sorted or hashed on every search (0.2 to 3 ms over 176k rows here); the lookup table is one
    pass. Codes outside the table (beyond every wanted value) are simply not members.
    """
    size = max(wanted, default=-1) + 1
    if size <= 0:
        return np.zeros(len(codes), dtype=bool)
    table = np.zeros(size + 1, dtype=bool)  # the last slot catches every code beyond the wanted ones
    table[[w for w in wanted if w >= 0]] = True
    return np.take(table, codes, mode="clip")  # codes are never negative (categorical codes, levels ≥ 0)


class RowTable:
    """Per-row arrays aligned with FAISS ids; categorical columns kept as integer codes for fast filters."""

    COLUMNS = (
        "training_id",
        "text_sha256",
        "live",
        "region",
        "modality",
        "price_cents",
        "level",
        "last_session",
    )

    def __init__(self, arrays: dict[str, np.ndarray], regions: list[str], modalities: list[str]) -> None:
        self.training_id = np.asarray(arrays["training_id"], dtype=object)
        self.text_sha256 = np.asarray(arrays["text_sha256"], dtype=object)
        self.live = np.asarray(arrays["live"], dtype=bool)
        self.region = np.asarray(arrays["region"], dtype=np.int32)
        self.modality = np.asarray(arrays["modality"], dtype=np.int32)
        self.price_cents = np.asarray(arrays["price_cents"], dtype=np.int64)
        self.level = np.asarray(arrays["level"], dtype=np.int16)
        self.last_session = np.asarray(arrays["last_session"], dtype=np.int32)
        self.regions = list(regions)
        self.modalities = list(modalities)

    def __len__(self) -> int:
        return len(self.training_id)

    @classmethod
    def from_catalogue(cls, catalogue: pd.DataFrame) -> RowTable:
        region, regions = _categorical(catalogue["region_code"])
        modality, modalities = _categorical(catalogue["modality"])
        arrays = {
            "training_id": catalogue["training_id"].astype(str).to_numpy(dtype=object),
            "text_sha256": catalogue["text_sha256"].astype(str).to_numpy(dtype=object),
            "live": np.ones(len(catalogue), dtype=bool),
            "region": region,
            "modality": modality,
            "price_cents": catalogue["price_cents"].astype("int64").to_numpy(),
            "level": catalogue["level"].astype("Int64").fillna(0).astype("int16").to_numpy(),
            "last_session": _date_ordinals(catalogue["last_session"]),
        }
        return cls(arrays, regions, modalities)

    def append(self, other: RowTable) -> None:
        """Add ``other``'s rows (their categorical codes are translated into this table's)."""

        def merge(own: list[str], codes: np.ndarray, theirs: list[str]) -> np.ndarray:
            lookup = {v: i for i, v in enumerate(own)}
            for value in theirs:
                if value not in lookup:
                    lookup[value] = len(own)
                    own.append(value)
            translate = np.array([lookup[v] for v in theirs], dtype=np.int32)
            return translate[codes] if len(codes) else codes

        self.region = np.concatenate([self.region, merge(self.regions, other.region, other.regions)])
        self.modality = np.concatenate(
            [self.modality, merge(self.modalities, other.modality, other.modalities)]
        )
        for name in ("training_id", "text_sha256", "live", "price_cents", "level", "last_session"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def take(self, rows: np.ndarray) -> RowTable:
        arrays = {name: getattr(self, name)[rows] for name in self.COLUMNS}
        return RowTable(arrays, self.regions, self.modalities)

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name) for name in self.COLUMNS}
        arrays["training_id"] = arrays["training_id"].astype(str)
        arrays["text_sha256"] = arrays["text_sha256"].astype(str)
        np.savez(
            path,
            regions=np.array(self.regions, dtype=str),
            modalities=np.array(self.modalities, dtype=str),
            **arrays,
        )

    @classmethod
    def load(cls, path: Path) -> RowTable:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in cls.COLUMNS}
            return cls(arrays, [str(v) for v in data["regions"]], [str(v) for v in data["modalities"]])


def neighbour_recall_at_k(exact_scores: np.ndarray, found_scores: np.ndarray, k: int = 10) -> float:
    """Recall of an approximate nearest-neighbour search against the exact one: the share of the exact
    top-``k`` neighbours it found, counting ties at the ``k``-th score as found (not the recommendation metric
    ``training.metrics.recall_at_k``).

    Catalogues hold near-duplicate texts, whose vectors tie; with ties the exact top-``k`` ids are one
    arbitrary choice among equals, so a result is right when its similarity reaches the exact ``k``-th one.
    """
    threshold = exact_scores[:, k - 1 : k] - 1e-6
    hits = (found_scores[:, :k] >= threshold).sum(axis=1)
    return float(np.mean(np.minimum(hits, k) / k))


class CatalogueIndex:
    """Vectors, rows and lexical counts of the catalogue; search by vector with filters."""

    def __init__(self, meta: IndexMetadata, index: faiss.Index, rows: RowTable, lexical: BM25Index) -> None:
        self.meta = meta
        self.index = index
        self.rows = rows
        self.lexical = lexical
        self._position: dict[str, int] = {}
        self._refresh()

    # --- construction -------------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        catalogue: pd.DataFrame,
        vectors: np.ndarray,
        *,
        model_id: str,
        vectors_id: str,
        texts: list[str],
        exact_below: int = 20_000,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        target_recall: float = 0.99,
        kind: str | None = None,
    ) -> CatalogueIndex:
        """A new index over ``catalogue`` (rows aligned with ``vectors`` and ``texts``).

        ``kind`` forces ``flat`` or ``hnsw``; by default flat below ``exact_below`` rows, else HNSW with
        efSearch tuned on a sample of the catalogue's own vectors to reach ``target_recall`` at 10.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) != len(catalogue) or len(texts) != len(catalogue):
            raise ValueError("catalogue, vectors and texts must have one row per training")
        dimension = int(vectors.shape[1]) if vectors.ndim == 2 and len(vectors) else 0
        kind = kind or ("flat" if len(vectors) < exact_below else "hnsw")
        index, params = _make_faiss(vectors, dimension, kind, hnsw_m, ef_construction, target_recall)
        now = _now()
        meta = IndexMetadata(
            model_id=model_id,
            vectors_id=vectors_id,
            dimension=dimension,
            kind=kind,
            params=params,
            built_at=now,
            updated_at=now,
            rows=len(vectors),
            live=len(vectors),
        )
        return cls(meta, index, RowTable.from_catalogue(catalogue), BM25Index.from_texts(texts))

    def update(
        self,
        catalogue: pd.DataFrame,
        new_vectors: dict[str, np.ndarray],
        texts: dict[str, str],
        *,
        max_dead_fraction: float = 0.2,
        target_recall: float = 0.99,
    ) -> dict[str, int]:
        """Bring the index to ``catalogue`` without re-encoding what did not change.

        ``new_vectors`` and ``texts`` hold, by text sha256, the vectors and texts of every training whose text
        is not already live in the index. Returns counts: added, updated, removed, unchanged, compacted.
        """
        live_rows = np.flatnonzero(self.rows.live)
        current = {self.rows.training_id[r]: r for r in live_rows}
        wanted = catalogue.set_index(catalogue["training_id"].astype(str), drop=False)
        changed_rows: list[str] = []
        counts = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0, "compacted": 0}
        for training_id, sha in zip(wanted.index, wanted["text_sha256"], strict=True):
            row = current.get(training_id)
            if row is None:
                counts["added"] += 1
                changed_rows.append(training_id)
            elif self.rows.text_sha256[row] != sha:
                counts["updated"] += 1
                changed_rows.append(training_id)
                self.rows.live[row] = False
            else:
                counts["unchanged"] += 1
        gone = [r for t, r in current.items() if t not in wanted.index]
        counts["removed"] = len(gone)
        self.rows.live[gone] = False
        # Filter columns of unchanged trainings follow the catalogue (price, sessions, region may change).
        changed = set(changed_rows)
        kept = wanted.loc[[t for t in wanted.index if t in current and t not in changed]]
        if len(kept):
            fresh = RowTable.from_catalogue(kept)
            rows = np.array([current[t] for t in kept.index], dtype=np.int64)
            regions = np.array([self._code(self.rows.regions, v) for v in fresh.regions], dtype=np.int32)
            modalities = np.array(
                [self._code(self.rows.modalities, v) for v in fresh.modalities], dtype=np.int32
            )
            self.rows.region[rows] = regions[fresh.region]
            self.rows.modality[rows] = modalities[fresh.modality]
            self.rows.price_cents[rows] = fresh.price_cents
            self.rows.level[rows] = fresh.level
            self.rows.last_session[rows] = fresh.last_session
        if changed_rows:
            added = wanted.loc[changed_rows]
            vectors = np.stack([new_vectors[s] for s in added["text_sha256"]]).astype(np.float32)
            if vectors.shape[1] != self.meta.dimension:
                raise IndexMismatch(
                    f"new vectors have dimension {vectors.shape[1]}, the index {self.meta.dimension}"
                )
            self.index.add(np.ascontiguousarray(vectors))
            self.rows.append(RowTable.from_catalogue(added))
            self.lexical.append([texts[s] for s in added["text_sha256"]])
        dead = len(self.rows) - int(self.rows.live.sum())
        if len(self.rows) and dead / len(self.rows) > max_dead_fraction:
            self.compact(target_recall=target_recall)
            counts["compacted"] = 1
        self.meta.updated_at = _now()
        self._refresh()
        return counts

    @staticmethod
    def _code(values: list[str], value: str) -> int:
        if value not in values:
            values.append(value)
        return values.index(value)

    def compact(self, *, target_recall: float = 0.99) -> None:
        """Rebuild FAISS and lexical structures from the live rows' stored vectors (no encoding)."""
        keep = np.flatnonzero(self.rows.live)
        vectors = (
            self.index.reconstruct_batch(keep.astype(np.int64))
            if len(keep)
            else np.zeros((0, self.meta.dimension), dtype=np.float32)
        )
        params = self.meta.params
        self.index, self.meta.params = _make_faiss(
            np.ascontiguousarray(vectors, dtype=np.float32),
            self.meta.dimension,
            self.meta.kind,
            int(params.get("M", 32)),
            int(params.get("efConstruction", 80)),
            target_recall,
        )
        self.rows = self.rows.take(keep)
        self.lexical = self.lexical.take(keep)
        self._refresh()

    def _refresh(self) -> None:
        self.meta.rows = len(self.rows)
        self.meta.live = int(self.rows.live.sum())
        live = np.flatnonzero(self.rows.live)
        self._position = {str(self.rows.training_id[r]): int(r) for r in live}
        self.lexical.set_live(self.rows.live)  # BM25 weights are computed when first needed

    # --- persistence --------------------------------------------------------------------------------------

    def save(self, folder: Path) -> Path:
        """Write the index to ``folder`` atomically (staged next to it, then swapped in)."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.staging-", dir=folder.parent))
        try:
            faiss.write_index(self.index, str(staging / "vectors.faiss"))
            self.rows.save(staging / "rows.npz")
            self.lexical.save(staging / "lexical.npz")
            (staging / "meta.json").write_text(json.dumps(asdict(self.meta), indent=2))
            old = None
            if folder.exists():
                old = folder.parent / f".{folder.name}.old-{time.time_ns()}"
                folder.rename(old)
            staging.rename(folder)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return folder

    @classmethod
    def load(
        cls, folder: Path, *, model_id: str | None = None, dimension: int | None = None, mmap: bool = False
    ) -> CatalogueIndex:
        """Read an index; refuse it (``IndexMismatch``) if it was built for another model or dimension.

        ``FileNotFoundError`` if there is no index at ``folder``.
        """
        folder = Path(folder)
        if not (folder / "meta.json").exists():
            raise FileNotFoundError(f"no catalogue index in {folder}: run `parcours index build`")
        meta = IndexMetadata.read(folder)
        check_compatible(meta, model_id=model_id, dimension=dimension, where=folder)
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(folder / "vectors.faiss"), flags)
        if index.d != meta.dimension or index.ntotal != meta.rows:
            raise IndexMismatch(
                f"index in {folder} is inconsistent: FAISS has {index.ntotal} vectors of dimension "
                f"{index.d}, its metadata says {meta.rows} of dimension {meta.dimension}"
            )
        if meta.kind == "hnsw":
            faiss.downcast_index(index).hnsw.efSearch = int(meta.params["efSearch"])
        return cls(meta, index, RowTable.load(folder / "rows.npz"), BM25Index.load(folder / "lexical.npz"))

    # --- queries ------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.meta.live

    @property
    def training_ids(self) -> list[str]:
        """Ids of the live trainings (expired ones included: expiry depends on the day of the search)."""
        return list(self._position)

    def row_of(self, training_id: str) -> int | None:
        return self._position.get(training_id)

    def vectors_of(self, training_ids: list[str]) -> np.ndarray:
        """Stored vectors of live trainings (``KeyError`` for an unknown or removed id)."""
        rows = np.array([self._position[t] for t in training_ids], dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.meta.dimension), dtype=np.float32)
        return np.asarray(self.index.reconstruct_batch(rows), dtype=np.float32)

    def allowed_mask(self, search_filter: SearchFilter | None = None) -> np.ndarray:
        """Rows a search may return: live, not expired, and passing the filter."""
        f = search_filter or SearchFilter()
        today = (f.today or dt.date.today()).toordinal()
        mask = self.rows.live & (self.rows.last_session >= today)
        if f.regions:
            mask &= _member_mask(self.rows.region, [self.rows.regions.index(r) for r in f.regions
                                                    if r in self.rows.regions])
        if f.modalities:
            mask &= _member_mask(self.rows.modality, [self.rows.modalities.index(m) for m in f.modalities
                                                      if m in self.rows.modalities])
        if f.max_price_cents is not None:
            mask &= self.rows.price_cents <= f.max_price_cents
        if f.levels:
            mask &= _member_mask(self.rows.level, list(f.levels))
        if f.only_ids is not None:
            only = np.zeros_like(mask)
            only[[self._position[t] for t in f.only_ids if t in self._position]] = True
            mask &= only
        if f.exclude_ids:
            rows = [self._position[t] for t in f.exclude_ids if t in self._position]
            mask[rows] = False
        return mask

    def search(
        self,
        vector: np.ndarray,
        k: int = 10,
        search_filter: SearchFilter | None = None,
        *,
        mask: np.ndarray | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """The ``k`` allowed trainings nearest to ``vector`` (cosine), best first: (training ids, scores)."""
        rows, scores = self.search_rows(
            vector, k, mask if mask is not None else self.allowed_mask(search_filter)
        )
        return [str(self.rows.training_id[r]) for r in rows], scores

    def scans_exactly(self, n_allowed: int) -> bool:
        """Whether a search over ``n_allowed`` rows scans them exactly (flat index, or a small filtered set)
        rather than walking the graph."""
        return self.meta.kind == "flat" or n_allowed <= EXACT_SUBSET_MAX

    def search_rows(self, vector: np.ndarray, k: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.meta.dimension:
            raise IndexMismatch(
                f"query vector has dimension {query.shape[1]}, the index {self.meta.dimension}"
            )
        n_allowed = int(mask.sum())
        k = min(k, n_allowed)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        bits = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        if self.scans_exactly(n_allowed):
            flat = self.index if self.meta.kind == "flat" else faiss.downcast_index(self.index.storage)
            scores, rows = flat.search(query, k, params=faiss.SearchParameters(sel=selector))
        else:
            params = faiss.SearchParametersHNSW()
            params.sel = selector
            base = int(self.meta.params["efSearch"])
            share = n_allowed / max(len(mask), 1)
            params.efSearch = int(min(4096, max(base, EF_OVER_K * k, FILTERED_EF_FACTOR * base / share)))
            scores, rows = self.index.search(query, k, params=params)
        del bits
        found = rows[0] >= 0
        return rows[0][found].astype(np.int64), scores[0][found]


def _make_faiss(
    vectors: np.ndarray, dimension: int, kind: str, hnsw_m: int, ef_construction: int, target_recall: float
) -> tuple[faiss.Index, dict[str, Any]]:
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index, {}
    if kind != "hnsw":
        raise ValueError(f"index kind must be flat or hnsw, not {kind!r}")
    index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    if len(vectors):
        index.add(vectors)
    ef, recall = tune_ef_search(index, vectors, target_recall=target_recall)
    index.hnsw.efSearch = ef
    return index, {
        "M": hnsw_m,
        "efConstruction": ef_construction,
        "efSearch": ef,
        "tuned_recall_at_10": round(recall, 4),
        "target_recall_at_10": target_recall,
    }


def tune_ef_search(
    index: faiss.IndexHNSW,
    vectors: np.ndarray,
    *,
    target_recall: float = 0.99,
    sample: int = 1000,
    seed: int = 0,
) -> tuple[int, float]:
    """Smallest efSearch from ``EF_SEARCH_STEPS`` whose recall@10 on a sample of the catalogue's own vectors
    (against exact search over the same vectors) reaches ``target_recall``."""
    if len(vectors) <= 10:
        return EF_SEARCH_STEPS[0], 1.0
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
    queries = np.ascontiguousarray(vectors[picks])
    flat = faiss.downcast_index(index.storage)
    exact_scores, _ = flat.search(queries, 10)
    recall = 0.0
    for ef in EF_SEARCH_STEPS:
        params = faiss.SearchParametersHNSW()
        params.efSearch = ef
        found_scores, _ = index.search(queries, 10, params=params)
        recall = neighbour_recall_at_k(exact_scores, found_scores)
        if recall >= target_recall:
            return ef, recall
    return EF_SEARCH_STEPS[-1], recall


def check_compatible(
    meta: IndexMetadata, *, model_id: str | None, dimension: int | None, where: Path | str = "the index"
) -> None:
    """Raise ``IndexMismatch`` unless the index was built for ``model_id`` and ``dimension``."""
    if meta.format_version != FORMAT_VERSION:
        raise IndexMismatch(
            f"{where} has format version {meta.format_version}, this code reads {FORMAT_VERSION}: "
            "rebuild it with `parcours index build --full`"
        )
    if model_id is not None and meta.model_id != model_id:
        raise IndexMismatch(
            f"{where} was built with model {meta.model_id!r} but queries are encoded with "
            f"{model_id!r}: rebuild it with `parcours index build --full`"
        )
    if dimension is not None and meta.dimension != dimension:
        raise IndexMismatch(
            f"{where} holds vectors of dimension {meta.dimension} but the encoder gives "
            f"{dimension}: rebuild it with `parcours index build --full`"
        )
