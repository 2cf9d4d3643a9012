"""``parcours batch``: the skills-profile recomputation partitioned over a local Dask cluster writes exactly what
the serial recomputation writes (tiny world), partitions are disjoint and cover every holder, and bad options
are refused with a reason."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from parcours.store.engine import get_engine, session_scope
from training.batch import batch_profiles, partition

pytestmark = pytest.mark.xdist_group("tiny_world")
TODAY = dt.date(2026, 12, 1)
SKILL_COLUMNS = ("holder_id, skill_uri, weight, source, experience_id, training_id, via_uri, confidence, "
                 "low_confidence")


def _copy_without_profiles(url: str, path: Path) -> str:
    source, target = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(path)
    with target:
        source.backup(target)
    source.close()
    target.close()
    copy = f"sqlite:///{path}"
    with session_scope(copy) as session:
        session.execute(text("DELETE FROM holder_skills"))
        session.execute(text("DELETE FROM holder_profiles"))
    return copy


def _profiles(url: str) -> tuple[list[tuple], dict[str, tuple]]:  # type: ignore[type-arg]
    with session_scope(url) as session:
        skills = [tuple(r) for r in session.execute(text(
            f"SELECT {SKILL_COLUMNS} FROM holder_skills ORDER BY holder_id, skill_uri, experience_id, training_id"))]
        profiles = {r[0]: tuple(r[1:]) for r in session.execute(text(
            "SELECT holder_id, model_id, dim, n_skills, embedding FROM holder_profiles"))}
    return skills, profiles


def test_partitions_are_disjoint_contiguous_and_cover_every_id() -> None:
    ids = [f"H{i:03d}" for i in range(10)][::-1] + ["H003"]
    parts = partition(ids, 3)
    assert [len(p) for p in parts] == [3, 4, 3]
    assert sum(parts, []) == sorted(set(ids))
    assert partition(["a", "b"], 5) == [["a"], ["b"]]
    assert partition([], 4) == []
    with pytest.raises(ValueError):
        partition(ids, 0)


def test_dask_recompute_equals_the_serial_one(tiny_world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _folder, url = tiny_world
    serial_url = _copy_without_profiles(url, tmp_path / "serial.db")
    dask_url = _copy_without_profiles(url, tmp_path / "dask.db")

    serial = batch_profiles(serial_url, engine="serial", partitions=1, today=TODAY)
    # Threads in one process keep the test light; `parcours batch profiles` runs worker processes.
    spread = batch_profiles(dask_url, engine="dask", workers=2, partitions=4, today=TODAY, processes=False)

    assert serial.items == spread.items > 20 and spread.partitions == 4
    assert sum(p["holders"] for p in spread.per_partition) == spread.items
    serial_skills, serial_profiles = _profiles(serial_url)
    dask_skills, dask_profiles = _profiles(dask_url)
    assert len(serial_profiles) == serial.items and serial_skills
    assert dask_profiles.keys() == serial_profiles.keys()
    assert [r[:7] + r[8:] for r in dask_skills] == [r[:7] + r[8:] for r in serial_skills]
    assert np.allclose([r[7] for r in dask_skills], [r[7] for r in serial_skills])  # match confidences
    for holder, (model, dim, n_skills, embedding) in serial_profiles.items():
        other = dask_profiles[holder]
        assert other[:3] == (model, dim, n_skills)
        assert np.allclose(np.frombuffer(other[3], dtype=np.float32), np.frombuffer(embedding, dtype=np.float32),
                           atol=1e-6)
    for copy in (serial_url, dask_url):
        get_engine(copy).dispose()


def test_cli_refuses_an_unknown_engine_with_a_reason(tiny_world) -> None:  # type: ignore[no-untyped-def]
    from parcours.cli import app

    _folder, url = tiny_world
    result = CliRunner().invoke(app, ["batch", "profiles", "--engine", "spark", "--db", url])
    assert result.exit_code == 2 and "--engine must be one of dask, serial" in result.stderr


def test_dask_embedding_fills_the_cache_so_the_index_build_encodes_nothing(
        sqlite_template: Path, tmp_path: Path) -> None:
    import shutil

    from features.embedding_cache import EmbeddingCache, text_sha256
    from features.encoder import bulk_model_id, encode
    from parcours.settings import Settings
    from recommender.indexing import build_index, load_index_catalogue
    from tests.search_catalogue import seed_catalogue
    from training.batch import batch_embed

    shutil.copyfile(sqlite_template, tmp_path / "c.db")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    seed_catalogue(url, today=dt.date.today())
    settings = Settings(data_dir=tmp_path, db_url=url)  # an empty embedding cache of its own
    report = batch_embed(url, engine="dask", workers=2, partitions=3, settings=settings, processes=False)
    assert report.items == 16 and report.partitions == 3

    with session_scope(url) as session:
        texts = load_index_catalogue(session)["text"].tolist()
    with EmbeddingCache.default(settings) as cache:
        cached = cache.get(bulk_model_id(settings), [text_sha256(t) for t in texts])
    assert len(cached) == len(texts)
    reference = encode(texts, settings=settings)
    assert np.allclose(np.stack([cached[text_sha256(t)] for t in texts]), reference, atol=1e-5)
    assert batch_embed(url, engine="serial", settings=settings).items == 0  # nothing left to encode
    assert build_index(url, settings).encoded == 0
    get_engine(url).dispose()
