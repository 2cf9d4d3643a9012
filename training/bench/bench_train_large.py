"""Ranker training on the large world (issue 5): 1,000,000 interactions in at most 5 minutes, features included.

Steps (the first two take long and are reused when done):

1. import the large world (``ingest.world_import.import_folder``) into a SQLite database under the work folder;
2. skills profiles of every holder by the bulk path (``features.profile.recompute.recompute_profiles``, one commit per
   chunk; an interrupted run resumes with the holders that have no stored profile yet);
3. measured in a child process, so its peak resident memory is its own (``os.wait4``): ``training.pipeline
   .prepare`` (load, training-text vectors from the embedding cache, time split, arrays) then ``fit_bundle``
   (pairs, features, ranker and completion model), then, on the same pair matrix, the bare
   ``HistGradientBoostingClassifier`` fit with the ranker's parameters: the floor the total is compared with.

The world is ``PARCOURS_BENCH_LARGE_WORLD`` (default ``<data_dir>/worlds/large``). The training-text vectors
come from the embedding cache (``PARCOURS_CACHE_DIR``, filled by ``bench_index``): encoding 200,000 texts takes
an hour or more and is not what this measures, so the measurement does not run while the cache lacks half the
texts, and texts still missing get zero vectors (``cached_vectors_only``, said in the report).
``PARCOURS_BENCH_LARGE_PROFILES=stored`` skips step 2 and uses the profiles already stored (a proxy run when
some holders have none, said in the report; all 100,000 profiles took 19 minutes on 2 shared cores, mostly
matching free texts to ESCO).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

BUDGET_SECONDS = 300.0
PROFILE_BLOCK_HOLDERS = 10_000  # holders between two progress notes of the profile step


def world_folder() -> Path:
    from parcours.settings import get_settings

    given = os.environ.get("PARCOURS_BENCH_LARGE_WORLD")
    return Path(given) if given else get_settings().data_dir / "worlds" / "large"


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(data, indent=2), encoding="utf-8")
    partial.replace(path)


def ensure_imported(world: Path, folder: Path) -> tuple[str, dict[str, Any]]:
    """The database URL of the imported world, importing it first unless this world's import is recorded."""
    from ingest.world_import import import_folder

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "large.db"
    url = f"sqlite:///{database}"
    manifest = hashlib.sha256((world / "manifest.json").read_bytes()).hexdigest()
    stamp_path = folder / "import.json"
    stamp = _read_json(stamp_path)
    if stamp.get("manifest_sha256") == manifest and database.exists():
        return url, stamp
    database.unlink(missing_ok=True)
    for path in (folder / "profiles.json",):
        path.unlink(missing_ok=True)
    started = time.perf_counter()
    summary = import_folder(world, url, progress=True)
    stamp = {
        "world": str(world),
        "manifest_sha256": manifest,
        "seconds": time.perf_counter() - started,
        "summary": summary,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _write_json(stamp_path, stamp)
    return url, stamp


def ensure_profiles(url: str, folder: Path) -> dict[str, Any]:
    """Stored profiles for every holder (bulk path), resuming where an interrupted run stopped."""
    from sqlalchemy import select

    from features.profile.matching import Matcher
    from features.profile.recompute import recompute_profiles
    from parcours.store.engine import session_scope
    from parcours.store.models import Holder, HolderProfile

    stamp_path = folder / "profiles.json"
    stamp = _read_json(stamp_path) or {"seconds": 0.0, "timings": {}, "holders": 0, "runs": 0}
    with session_scope(url) as session:
        done = set(session.scalars(select(HolderProfile.holder_id)))
        todo = [h for h in session.scalars(select(Holder.holder_id).order_by(Holder.holder_id)) if h not in done]
    if not todo:
        return stamp
    stamp["runs"] += 1
    matcher = Matcher()
    for start in range(0, len(todo), PROFILE_BLOCK_HOLDERS):
        block = todo[start : start + PROFILE_BLOCK_HOLDERS]
        timings: dict[str, float] = {}
        began = time.perf_counter()
        with session_scope(url) as session:
            recompute_profiles(session, block, commit_chunks=True, timings=timings, matcher=matcher)
        stamp["seconds"] += time.perf_counter() - began
        stamp["holders"] += len(block)
        for key, value in timings.items():
            stamp["timings"][key] = stamp["timings"].get(key, 0.0) + value
        _write_json(stamp_path, stamp)
    return stamp


def cache_coverage(url: str) -> tuple[int, int]:
    """(training texts, texts whose vectors are in the embedding cache)."""
    from features.catalogue import load_catalogue, training_texts
    from features.embedding_cache import EmbeddingCache, text_sha256
    from features.encoder import bulk_model_id
    from parcours.store.engine import session_scope

    with session_scope(url) as session:
        texts = training_texts(load_catalogue(session, only_open=False))
    hashes = [text_sha256(t) for t in texts]
    with EmbeddingCache.default() as cache:
        found = cache.get(bulk_model_id(), hashes)
    return len(texts), sum(1 for h in hashes if h in found)


@contextlib.contextmanager
def cached_vectors_only(record: dict[str, Any]) -> Iterator[None]:
    """Within the block, ``training.pipeline.prepare`` reads training-text vectors from the embedding cache only:
    a text missing from it gets a zero vector (profile similarity 0) instead of being encoded, and
    ``record["missing_vectors"]`` / ``record["texts"]`` say how many. Benchmarks only: the encoding of a few
    thousand texts would otherwise land inside the timing of what is measured, which is not encoding."""
    from features import embedding_cache
    from training import pipeline

    def from_cache(texts, *, settings=None, show_progress=False, **_ignored):  # type: ignore[no-untyped-def]
        from features.encoder import bulk_model_id

        hashes = [embedding_cache.text_sha256(t) for t in texts]
        with embedding_cache.EmbeddingCache.default(settings) as cache:
            found = cache.get(bulk_model_id(settings), hashes)
        dimension = next(iter(found.values())).shape[0]
        out = np.zeros((len(texts), dimension), dtype=np.float32)
        for i, key in enumerate(hashes):
            if key in found:
                out[i] = found[key]
        record["texts"] = len(texts)
        record["missing_vectors"] = sum(1 for key in hashes if key not in found)
        return out, {"texts": float(len(texts)), "cached": float(len(texts) - record["missing_vectors"]),
                     "encoded": 0.0, "encode_seconds": 0.0}

    original = pipeline.encode_cached
    pipeline.encode_cached = from_cache  # type: ignore[assignment]
    try:
        yield
    finally:
        pipeline.encode_cached = original


# --- The measured part (child process) ---------------------------------------------------------------------


def measure(url: str) -> dict[str, Any]:
    """prepare + fit_bundle phase by phase, then the bare boosting fit on the same pairs (the floor)."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from features.pairs import pair_features
    from recommender.ranker import TrainingRanker
    from training.fit import fit_bundle, training_pairs
    from training.pipeline import prepare

    timings: dict[str, float] = {}
    vectors: dict[str, Any] = {}
    started = time.perf_counter()
    with cached_vectors_only(vectors):
        prepared = prepare(url, show_progress=False, timings=timings)
    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=0)
    total = time.perf_counter() - started
    h, t, enrolled, _completed = training_pairs(prepared.catalogue, prepared.holders, prepared.split.train, seed=0)
    X = pair_features(prepared.catalogue, prepared.holders, h, t, on=prepared.split.cut_date)  # noqa: N806
    params = TrainingRanker().get_params()
    floor_model = HistGradientBoostingClassifier(
        max_iter=params["max_iter"], learning_rate=params["learning_rate"],
        max_leaf_nodes=params["max_leaf_nodes"], l2_regularization=params["l2_regularization"],
        early_stopping=False, random_state=0,
    )
    began = time.perf_counter()
    floor_model.fit(X, enrolled)
    floor = time.perf_counter() - began
    return {
        "total_seconds": total,
        "prepare": timings,
        "fit": bundle.stats,
        "floor_seconds": floor,
        "interactions": len(prepared.frames.interactions),
        "train_interactions": len(prepared.split.train),
        "holders": len(prepared.holders.holder_ids),
        "trainings": len(prepared.catalogue.training_ids),
        "pairs": len(h),
        "positives": int(np.sum(enrolled)),
        "completion_model": bundle.completion is not None,
        "cut_date": prepared.split.cut_date.isoformat(),
        "missing_vectors": vectors["missing_vectors"],
        "profiles": stored_profiles(url),
        "profile_embeddings": int(np.count_nonzero(np.linalg.norm(prepared.holders.embeddings, axis=1) > 0)),
    }


def stored_profiles(url: str) -> int:
    """Holders with a stored profile (a holder without any skill has one, with no embedding)."""
    from sqlalchemy import func, select

    from parcours.store.engine import session_scope
    from parcours.store.models import HolderProfile

    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(HolderProfile)) or 0)


def measure_in_child(url: str, out: Path) -> tuple[dict[str, Any], float, float]:
    """Run ``measure`` in a child process; returns its result, wall seconds and peak resident MiB."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "training.bench.bench_train_large", "measure", url, str(out)]
    started = time.perf_counter()
    pid = subprocess.Popen(command, env=env).pid
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the measured training failed: {' '.join(command)}")
    return _read_json(out), wall, usage.ru_maxrss / 1024


# --- Report ------------------------------------------------------------------------------------------------


def _profile_line(stamp: dict[str, Any]) -> str:
    if not stamp.get("holders"):
        return "Profiles: none computed by this benchmark (found stored)."
    seconds = float(stamp["seconds"])
    parts = ", ".join(f"{k} {v:,.0f} s" for k, v in sorted(stamp["timings"].items(), key=lambda kv: -kv[1]))
    return (
        f"Skills profiles (bulk path, `recompute_profiles`): {stamp['holders']:,} holders in {seconds:,.0f} s "
        f"({stamp['holders'] / seconds:.1f} holders/s; {parts}), in {stamp['runs']} run(s)."
    )


def run(work_dir: Path) -> str:
    world = world_folder()
    title = "## Ranker training on the large world (issue 5)"
    if not (world / "manifest.json").exists():
        return f"{title}\n\nNot run: no large world at `{world}` (set PARCOURS_BENCH_LARGE_WORLD).\n"
    folder = Path(work_dir) / "train_large"
    url, imported = ensure_imported(world, folder)
    only_stored = os.environ.get("PARCOURS_BENCH_LARGE_PROFILES", "all") == "stored"
    profiles = _read_json(folder / "profiles.json") if only_stored else ensure_profiles(url, folder)
    lines = [
        title,
        "",
        f"World `{world}`; imported in {imported['seconds']:,.0f} s (`import_folder`). {_profile_line(profiles)}",
        "",
    ]
    texts, cached = cache_coverage(url)
    if cached < texts // 2:
        lines.append(
            f"Training not measured: the embedding cache holds {cached:,} of the {texts:,} training texts "
            "(encoding the rest takes hours and is not what this measures; fill the cache first)."
        )
        return "\n".join(lines) + "\n"
    result, wall, peak_mib = measure_in_child(url, folder / "measure.json")
    if result["missing_vectors"] or result["profiles"] < result["holders"]:
        lines += [
            f"**Proxy run.** {result['profiles']:,} of the {result['holders']:,} holders have a stored profile "
            f"(`PARCOURS_BENCH_LARGE_PROFILES=stored`: the bulk profile step was not run to the end), "
            f"and {result['missing_vectors']:,} of the {texts:,} training texts have no vector in the embedding "
            "cache (trainings closed before the index's date) and get zero vectors. Every pair's features are "
            "still computed; only their values differ from a complete world.",
            "",
        ]
    prep, fit = result["prepare"], result["fit"]
    phases = [
        ("load (world frames from the database)", prep["load"]),
        ("training-text vectors (embedding cache lookup)", prep["encode"]),
        ("time split, profiles as they stood before the cut", prep["split"]),
        ("arrays (catalogue, holders)", prep["arrays"]),
        ("training pairs", fit["pairs_seconds"]),
        ("pair features", fit["features_seconds"] - fit.get("collaborative_seconds", 0.0)),
        ("out-of-fold collaborative features (ALS refitted per holder fold, scored per pair)",
         fit.get("collaborative_seconds", 0.0)),
        ("fit (ranker + calibration + completion model)", fit["fit_seconds"]),
        ("exposure prices (served lists of the training holders, re-ranked under trial prices)",
         fit.get("exposure_seconds", 0.0)),
    ]
    total = float(result["total_seconds"])
    phases.append(("other (between the phases above)", max(total - sum(seconds for _, seconds in phases), 0.0)))
    floor = float(result["floor_seconds"])
    lines += [
        f"`training.pipeline.prepare` + `fit_bundle` in a child process ({os.cpu_count()} CPUs visible, shared "
        f"with other jobs): {result['interactions']:,} interactions ({result['train_interactions']:,} before the "
        f"cut {result['cut_date']}), {result['holders']:,} holders ({result.get('profile_embeddings', 0):,} with a "
        f"profile embedding, the others have no skill), {result['trainings']:,} trainings → "
        f"{result['pairs']:,} training pairs ({result['positives']:,} positive).",
        "",
        "| phase | seconds | share |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {seconds:.1f} | {seconds / total:.0%} |" for name, seconds in phases]
    verdict = "within" if total <= BUDGET_SECONDS else "over"
    lines += [
        f"| **total** | **{total:.1f}** | 100% |",
        "",
        f"Total {total:.0f} s: {verdict} the {BUDGET_SECONDS:.0f} s budget; **{total / floor:.1f}×** the floor, the "
        f"bare `HistGradientBoostingClassifier` fit ({TRAINING_RANKER_PARAMS}) on the same "
        f"{result['pairs']:,} × 16 pair matrix measured in the same run ({floor:.1f} s). Peak resident memory of "
        f"the child: {peak_mib:,.0f} MiB (child wall time {wall:.0f} s, floor fit included).",
    ]
    return "\n".join(lines) + "\n"


TRAINING_RANKER_PARAMS = "the ranker's parameters, no early stopping"


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "measure":
        _write_json(Path(argv[2]), measure(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "prepare-database":  # steps 1 and 2 alone (they take long)
        folder = Path(argv[1]) / "train_large"
        url, _ = ensure_imported(world_folder(), folder)
        print(json.dumps(ensure_profiles(url, folder), indent=2))
        return 0
    print("usage: python -m training.bench.bench_train_large measure DB_URL OUT.json | prepare-database WORK_DIR")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
