"""Catalogue index and search: relevance on hand-written queries, false friends, filters, expiry, incremental
updates, the embedding cache, the ONNX encoder and refusal of a mismatched index."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalogue import training_text, training_texts
from features.embedding_cache import EmbeddingCache, encode_cached, text_sha256
from parcours.errors import IndexMismatch
from parcours.settings import Settings
from parcours.store.engine import get_engine, session_scope
from parcours.store.models import Training, TrainingSession
from recommender.index import CatalogueIndex, SearchFilter, neighbour_recall_at_k
from recommender.indexing import build_index, index_info, load_index_catalogue
from recommender.search import CatalogueSearch
from tests.search_catalogue import TODAY, TRAININGS, cache_folder, seed_catalogue

ACCOUNTING = {"ACC-01", "ACC-02", "ACC-03"}
STONE = {"STN-01", "STN-02", "STN-03"}
MASSAGE = {"MAS-01", "MAS-02", "MAS-03"}


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cache_folder(tmp_path_factory)


def make_settings(data_dir: Path, cache: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, cache_dir=cache, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def catalogue(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, shared_cache: Path
) -> Iterator[tuple[str, Settings]]:
    folder = tmp_path_factory.mktemp("search-catalogue")
    shutil.copyfile(sqlite_template, folder / "parcours.db")
    url = f"sqlite:///{folder / 'parcours.db'}"
    seed_catalogue(url)
    settings = make_settings(folder, shared_cache)
    build_index(url, settings, today=TODAY)
    yield url, settings
    get_engine(url).dispose()


@pytest.fixture(scope="module")
def search(catalogue: tuple[str, Settings]) -> CatalogueSearch:
    return CatalogueSearch.load(catalogue[1])


def ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.training_id for h in hits]


# query, how many top hits must all belong to the expected set, expected set
RELEVANCE_CASES = [
    ("accounting", 3, ACCOUNTING),
    ("bookkeeping and financial statements", 2, ACCOUNTING),
    ("general ledger and payroll", 1, {"ACC-03"}),
    ("stone cutting", 3, STONE),
    ("stone cutter", 3, STONE),
    ("stonemason", 2, STONE),
    ("hot stone massage", 2, MASSAGE),
    ("massage therapist", 3, MASSAGE),
    ("welding", 1, {"WLD-01"}),
    ("learn to build websites", 1, {"WEB-01"}),
    ("forklift", 1, {"FRK-01"}),
]


@pytest.mark.parametrize(("query", "top", "expected"), RELEVANCE_CASES)
def test_hand_written_queries_rank_relevant_trainings_first(
    search: CatalogueSearch, query: str, top: int, expected: set[str]
) -> None:
    hits = search.search(query, 10, SearchFilter(today=TODAY))
    assert set(ids(hits)[:top]) <= expected, (query, ids(hits))


@pytest.mark.parametrize("query", ["stone cutting", "stone cutter", "cutting granite blocks"])
def test_false_friends_stone_cutting_is_not_hot_stone_massage(search: CatalogueSearch, query: str) -> None:
    ranked = ids(search.search(query, 10, SearchFilter(today=TODAY)))
    assert ranked[0] in STONE
    worst_stone = max(ranked.index(t) for t in STONE if t in ranked)
    best_massage = min((ranked.index(t) for t in MASSAGE if t in ranked), default=len(ranked))
    assert worst_stone < best_massage, ranked


def test_massage_queries_still_find_massage(search: CatalogueSearch) -> None:
    """The false-friend guard must not be a blanket penalty on massage."""
    assert ids(search.search("hot stone massage", 3, SearchFilter(today=TODAY)))[0] == "MAS-01"


def test_certification_code_is_found_thanks_to_the_lexical_score(search: CatalogueSearch) -> None:
    hybrid = search.search("RNCP36234", 3, SearchFilter(today=TODAY))
    assert ids(hybrid)[0] == "STN-01"
    semantic_only = CatalogueSearch(search.index, search.encoder, lexical_weight=0.0)
    assert ids(semantic_only.search("RNCP36234", 3, SearchFilter(today=TODAY)))[0] != "STN-01"


def _allowed(f: SearchFilter, today: dt.date = TODAY) -> set[str]:
    out = set()
    for tid, _t, _d, _c, euros, _h, modality, region, level, _s, offsets in TRAININGS:
        if max(offsets) < (f.today or today).toordinal() - TODAY.toordinal():
            continue
        if f.accepts(region_code=region, modality=modality, price_cents=euros * 100, level=level):
            out.add(tid)
    return out


FILTER_CASES = [
    SearchFilter(regions=("84",)),
    SearchFilter(modalities=("remote",)),
    SearchFilter(modalities=("onsite", "hybrid"), regions=("11", "76")),
    SearchFilter(max_price_cents=300_000),
    SearchFilter(levels=(3,)),
    SearchFilter(levels=(4, 5), max_price_cents=600_000),
    SearchFilter(regions=("11",), modalities=("onsite",), max_price_cents=100_000),
    SearchFilter(regions=("99",)),
]


@pytest.mark.parametrize("search_filter", FILTER_CASES)
def test_filters_hold(search: CatalogueSearch, search_filter: SearchFilter) -> None:
    f = SearchFilter(
        regions=search_filter.regions,
        modalities=search_filter.modalities,
        max_price_cents=search_filter.max_price_cents,
        levels=search_filter.levels,
        today=TODAY,
    )
    found = ids(search.search("training", 50, f))
    assert set(found) == _allowed(f)
    assert len(found) == len(set(found))


def test_expired_trainings_are_never_returned(search: CatalogueSearch) -> None:
    # ACC-OLD only had a past session: it is not indexed at all.
    assert "ACC-OLD" not in ids(search.search("accounting fundamentals", 20, SearchFilter(today=TODAY)))
    # ENG-01's only session is 9 days after TODAY: a month later it has expired, without any rebuild.
    assert "ENG-01" in ids(search.search("business english", 3, SearchFilter(today=TODAY)))
    later = SearchFilter(today=TODAY + dt.timedelta(days=30))
    assert "ENG-01" not in ids(search.search("business english", 20, later))


def test_exclude_and_only_ids(search: CatalogueSearch) -> None:
    f = SearchFilter(exclude_ids=frozenset({"ACC-01"}), today=TODAY)
    assert "ACC-01" not in ids(search.search("accounting", 5, f))
    f = SearchFilter(only_ids=frozenset({"WLD-01", "PY-01"}), today=TODAY)
    assert set(ids(search.search("accounting", 5, f))) == {"WLD-01", "PY-01"}


def test_vector_search_api_for_other_components(search: CatalogueSearch) -> None:
    """The ranker and the profile builder search by vector and read stored vectors."""
    vector = search.index.vectors_of(["STN-01"])[0]
    found, scores = search.index.search(vector, 3, SearchFilter(today=TODAY))
    assert found[0] == "STN-01" and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)
    with pytest.raises(KeyError):
        search.index.vectors_of(["ACC-OLD"])


@pytest.mark.parametrize(
    ("codes", "wanted"),
    [
        ([0, 1, 2, 3, 1], [1]),
        ([0, 1, 2, 3, 1], [0, 3]),
        ([0, 1, 2, 3, 1], []),
        ([0, 1, 2, 3, 1], [7]),  # wanted beyond every code
        ([5, 9, 12, 0], [3, 4]),  # codes beyond every wanted value are not members
        ([], [2]),
    ],
)
def test_member_mask_is_isin(codes: list[int], wanted: list[int]) -> None:
    from recommender.index import _member_mask

    array = np.array(codes, dtype=np.int16)
    assert _member_mask(array, wanted).tolist() == np.isin(array, wanted).tolist()


def test_member_mask_agrees_with_isin_on_random_codes() -> None:
    from recommender.index import _member_mask

    rng = np.random.default_rng(3)
    for _ in range(50):
        codes = rng.integers(0, 20, size=200).astype(np.int32)
        wanted = rng.choice(25, size=int(rng.integers(0, 5)), replace=False).tolist()
        assert np.array_equal(_member_mask(codes, wanted), np.isin(codes, wanted))


def test_training_text_recipe_is_one(catalogue: tuple[str, Settings]) -> None:
    with session_scope(catalogue[0]) as session:
        frame = load_index_catalogue(session, today=TODAY)
    expected = [
        training_text(r.title, r.description, r.certification_code, list(r.skills))
        for r in frame.itertuples()
    ]
    assert training_texts(frame) == expected == frame["text"].tolist()
    assert "Skills: " in expected[0]


def test_onnx_and_torch_give_the_same_vectors(catalogue: tuple[str, Settings]) -> None:
    from features.encoder import encode

    _, settings = catalogue
    texts = ["accounting", "Stonemason: cutting and dressing stone. Learn to cut granite blocks."]
    onnx = encode(texts, settings=settings)
    torch = encode(texts, settings=settings.model_copy(update={"embedding_backend": "torch"}))
    assert onnx.shape == torch.shape == (2, 384)
    assert np.abs(onnx - torch).max() < 1e-5
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)


def test_an_export_finished_by_another_process_is_kept_not_replaced(
    tmp_path: Path, catalogue: tuple[str, Settings]
) -> None:
    """Two test workers exporting at once: the later one must not delete the folder the first one is using (CI
    once read a tokenizer.json that a second export had just removed)."""
    import threading

    from features.encoder import _export_lock, export_onnx, onnx_dir

    _, settings = catalogue
    finished = export_onnx(settings)
    private = settings.model_copy(update={"cache_dir": tmp_path})
    target = onnx_dir(private)
    result: list[Path] = []
    with _export_lock(target):  # "another process" holds the lock while it exports
        waiting = threading.Thread(target=lambda: result.append(export_onnx(private)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive(), "export_onnx must wait for the lock"
        shutil.copytree(finished, target)  # the other process's export lands
        stamp = (target.stat().st_ino, (target / "tokenizer.json").stat().st_mtime_ns)
    waiting.join(timeout=120)
    assert result == [target]
    assert (target.stat().st_ino, (target / "tokenizer.json").stat().st_mtime_ns) == stamp
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".export-")) == []


def test_parallel_encoder_gives_the_vectors_of_one_process(catalogue: tuple[str, Settings]) -> None:
    from features.encoder import ParallelEncoder, onnx_encoder

    _, settings = catalogue
    texts = [f"training {i}: " + "welding and cutting steel " * (1 + i % 7) for i in range(30)]
    reference = onnx_encoder(settings).encode(texts, batch_size=settings.embedding_batch_size)
    with ParallelEncoder(settings, workers=2, piece=4) as parallel:
        vectors = parallel.encode(texts)
        assert parallel.encode([]).shape[0] == 0
    assert vectors.shape == reference.shape == (30, 384)
    assert np.abs(vectors - reference).max() < 1e-5
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        parallel.encode(texts)


def test_big_encodings_are_spread_over_the_bulk_workers(
    tmp_path: Path, catalogue: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from features import encoder

    _, settings = catalogue
    parallel = settings.model_copy(update={"embedding_bulk_workers": 2, "embedding_parallel_above": 5})
    calls: list[int] = []
    original = encoder.ParallelEncoder.encode

    def counted(self: encoder.ParallelEncoder, texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(encoder.ParallelEncoder, "encode", counted)
    texts = [f"payroll and bookkeeping, lesson {i}" for i in range(8)]
    expected = encoder.encode(texts, settings=settings)
    assert calls == []
    assert np.abs(encoder.encode(texts, settings=parallel) - expected).max() < 1e-5
    assert encoder.encode(texts[:5], settings=parallel).shape == (5, 384) and calls == [8]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        vectors, stats = encode_cached(texts, settings=parallel, cache=cache, chunk_size=3)
    assert calls == [8, 3, 3, 2] and stats["encoded"] == 8
    assert np.abs(vectors - expected).max() < 1e-5


def test_benchmarks_can_read_training_vectors_from_the_cache_only(
    tmp_path: Path, catalogue: tuple[str, Settings]
) -> None:
    """The large-world benchmarks time training, not encoding: a text missing from the cache gets a zero vector."""
    from features.encoder import bulk_model_id
    from training import pipeline
    from training.bench.bench_train_large import cached_vectors_only

    settings = catalogue[1].model_copy(update={"cache_dir": tmp_path})
    known = np.full((1, 384), 0.05, dtype=np.float32)
    with EmbeddingCache.default(settings) as cache:
        cache.put(bulk_model_id(settings), [text_sha256("known text")], known)
    original = pipeline.encode_cached
    record: dict[str, int] = {}
    with cached_vectors_only(record):
        vectors, stats = pipeline.encode_cached(["known text", "unknown text"], settings=settings)
    assert pipeline.encode_cached is original
    assert np.array_equal(vectors[0], known[0]) and not vectors[1].any()
    assert record == {"texts": 2, "missing_vectors": 1} and stats["encoded"] == 0
    with EmbeddingCache.default(settings) as cache:
        assert cache.count() == 1  # nothing was encoded or written


def test_embedding_cache_encodes_each_text_once(tmp_path: Path, catalogue: tuple[str, Settings]) -> None:
    _, settings = catalogue
    texts = ["first text about welding", "second text about payroll", "first text about welding"]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        vectors, stats = encode_cached(texts, settings=settings, cache=cache)
        assert stats["encoded"] == 2 and cache.count() == 2
        again, stats = encode_cached(texts + ["third text"], settings=settings, cache=cache)
        assert stats["encoded"] == 1 and stats["cached"] == 3
    assert np.array_equal(vectors, again[:3]) and np.array_equal(vectors[0], vectors[2])


def test_incremental_update_encodes_only_what_changed(
    db_url: str, tmp_path: Path, shared_cache: Path
) -> None:
    seed_catalogue(db_url)
    settings = make_settings(tmp_path, shared_cache)
    first = build_index(db_url, settings, today=TODAY)
    assert first.mode == "full" and first.trainings == len(TRAININGS) - 1 and first.kind == "flat"
    with session_scope(db_url) as session:
        training = session.get(Training, "PY-01")
        assert training is not None
        training.description = "Clean, analyse and chart data with Python and pandas; an introduction to SQL."
        session.delete(session.get(Training, "FRK-01"))
        clone = session.get(Training, "WLD-01")
        assert clone is not None
        session.add(
            Training(
                training_id="WLD-02",
                title="Underwater welder",
                description="Wet welding and inspection of offshore structures for commercial divers.",
                certification_code="RS6100",
                provider_id=clone.provider_id,
                price_cents=900_000,
                hours=500,
                modality="onsite",
                region_code="76",
                level=4,
                skills=clone.skills,
                prerequisites=[],
                target_occupations=[],
                content_hash="x",
            )
        )
        session.add(TrainingSession(training_id="WLD-02", start_date=TODAY + dt.timedelta(days=50)))
        session.get(Training, "ACC-02").price_cents = 150_000  # type: ignore[union-attr]
    second = build_index(db_url, settings, today=TODAY)
    assert (second.mode, second.added, second.updated, second.removed) == ("incremental", 1, 1, 1)
    assert second.encoded + second.cached == 2
    search = CatalogueSearch.load(settings)
    found = ids(search.search("forklift truck driver", 20, SearchFilter(today=TODAY)))
    assert "FRK-01" not in found
    assert ids(search.search("underwater welding for divers", 1, SearchFilter(today=TODAY))) == ["WLD-02"]
    assert "PY-01" in ids(search.search("SQL", 3, SearchFilter(today=TODAY)))
    cheap = ids(search.search("accounting", 20, SearchFilter(max_price_cents=200_000, today=TODAY)))
    assert "ACC-02" in cheap  # a price change reaches the filters without re-encoding
    third = build_index(db_url, settings, today=TODAY)
    assert (third.mode, third.added, third.updated, third.removed, third.encoded) == (
        "incremental",
        0,
        0,
        0,
        0,
    )
    forced = build_index(db_url, settings, today=TODAY, full=True)
    assert forced.mode == "full" and forced.encoded == 0  # every vector comes from the cache


def test_mismatched_index_is_refused(catalogue: tuple[str, Settings], tmp_path: Path) -> None:
    _, settings = catalogue
    folder = tmp_path / "index"
    shutil.copytree(settings.resolved_index_dir(), folder)
    with pytest.raises(IndexMismatch, match="dimension 384 but the encoder gives 768"):
        CatalogueIndex.load(folder, model_id="all-MiniLM-L6-v2", dimension=768)
    meta = json.loads((folder / "meta.json").read_text())
    meta["model_id"] = "paraphrase-multilingual-mpnet-base-v2"
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexMismatch, match="built with model 'paraphrase-multilingual-mpnet-base-v2'"):
        CatalogueSearch.load(settings.model_copy(update={"index_dir": folder}))
    info = index_info(index_dir=folder, settings=settings)
    assert info["compatible"] is False and "rebuild" in info["problem"]


def _random_catalogue(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, 32))
    vectors = centres[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    frame = pd.DataFrame(
        {
            "training_id": [f"T{i:05d}" for i in range(n)],
            "text_sha256": [f"h{i}" for i in range(n)],
            "region_code": rng.choice(["11", "84", "76"], n),
            "modality": rng.choice(["onsite", "remote"], n),
            "price_cents": rng.integers(100, 10_000, n) * 100,
            "level": rng.choice(np.array([3, 4, 5, None], dtype=object), n),
            "last_session": [TODAY + dt.timedelta(days=int(d)) for d in rng.integers(1, 300, n)],
        }
    )
    return frame, vectors, [f"training number {i}" for i in range(n)]


def test_hnsw_index_reaches_recall_and_supports_updates(tmp_path: Path) -> None:
    frame, vectors, texts = _random_catalogue(3000)
    index = CatalogueIndex.build(
        frame, vectors, model_id="m", vectors_id="m", texts=texts, exact_below=1000, target_recall=0.99
    )
    assert index.meta.kind == "hnsw" and index.meta.params["tuned_recall_at_10"] >= 0.99
    index.save(tmp_path / "idx")
    loaded = CatalogueIndex.load(tmp_path / "idx", model_id="m", dimension=32)
    exact_scores = vectors[:200] @ vectors.T
    order = np.argsort(-exact_scores, axis=1)[:, :10]
    exact_top = np.take_along_axis(exact_scores, order, axis=1)
    found = np.array([loaded.search(v, 10, SearchFilter(today=TODAY))[1] for v in vectors[:200]])
    assert neighbour_recall_at_k(exact_top, found) >= 0.98
    # Filtered: every hit passes, and the best allowed one is found.
    f = SearchFilter(regions=("84",), max_price_cents=500_000, today=TODAY)
    hit_ids, _ = loaded.search(vectors[0], 10, f)
    allowed = frame[(frame.region_code == "84") & (frame.price_cents <= 500_000)]
    assert set(hit_ids) <= set(allowed.training_id)
    best = allowed.training_id.iloc[int(np.argmax(vectors[allowed.index] @ vectors[0]))]
    assert hit_ids[0] == best
    # Remove a third, replace one: removed ids vanish at once; compaction happens past the dead share.
    keep = frame.iloc[1000:].copy()
    keep.loc[keep.training_id == "T02000", "text_sha256"] = "changed"
    counts = loaded.update(keep, {"changed": vectors[1]}, {"changed": "new text"}, max_dead_fraction=0.2)
    assert counts["removed"] == 1000 and counts["updated"] == 1 and counts["compacted"] == 1
    assert len(loaded) == 2000 and loaded.meta.rows == 2000
    hit_ids, scores = loaded.search(vectors[1], 1, SearchFilter(today=TODAY))
    assert hit_ids == ["T02000"] and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert "T00005" not in loaded.search(vectors[5], 10, SearchFilter(today=TODAY))[0]
