"""Benchmark of ``parcours train --incremental``: updating a fitted ranker with the new interactions against a
full fit, on the same world, the same split and in the same process.

The evaluation cut is ``holdout_days`` before the last interaction, as for ``parcours train``. The parent (the
champion to update) is fitted ``window_days`` earlier, on the interactions before ``cut − window_days`` with
arrays built as of that date. Then, on the same prepared arrays at the cut, the benchmark times (a) a full fit
(``fit_bundle``) and (b) ``update_bundle(parent)`` on the pairs with an interaction in the window, interleaved,
``repeats`` times each, and keeps the best time of each (the machine is shared; the best run is the least
disturbed). Timed: the fit step only (pair sampling, features, model, calibration); reading the database, the
cached catalogue embeddings and the arrays are the same for both and reported apart. Both run with one
OpenMP/BLAS thread (``threads``): on two cores busy with other work, scikit-learn's OpenMP threads made the
same fit swing by 5× from run to run, and one thread was faster.

Quality, on the same held-out holders and allowed sets: the parent, the update, the full fit, and the full fit
without leaving the holder's own enrolments out of the popularity features (``leave_own_out=False``, the
features before this change), as NDCG@10 and recall@10.

Setup: ``PARCOURS_BENCH_INCREMENTAL_DB`` (a database with a world imported and its skills profiles built), or
else the world of ``SCALE``/``SEED`` is generated, imported and profiled under the work folder (slow: the small
world's profiles take minutes).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

SCALE = "small"
SEED = 42
AS_OF = "2026-11-01"
WINDOW_DAYS = 60
HOLDOUT_DAYS = 120
REPEATS = 5
THREADS = 1


def bench_incremental(db_url: str, *, window_days: int = WINDOW_DAYS, holdout_days: int = HOLDOUT_DAYS,
                      repeats: int = REPEATS, seed: int = 0, truth_dir: Path | None = None,
                      threads: int | None = THREADS) -> dict[str, Any]:
    """Times (best of ``repeats``) and quality of a full fit and an incremental update on ``db_url``'s world."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _bench(db_url, window_days=window_days, holdout_days=holdout_days, repeats=repeats, seed=seed,
                      truth_dir=truth_dir) | {"threads": threads}


def _bench(db_url: str, *, window_days: int, holdout_days: int, repeats: int, seed: int,
           truth_dir: Path | None) -> dict[str, Any]:
    from training.dataset import time_split
    from training.evaluate import evaluate
    from training.fit import build_arrays, fit_bundle, update_bundle
    from training.pipeline import prepare

    began = time.perf_counter()
    prepared = prepare(db_url, holdout_days=holdout_days, show_progress=False)
    prepare_seconds = time.perf_counter() - began
    catalogue, holders, split = prepared.catalogue, prepared.holders, prepared.split
    old_split = time_split(prepared.frames.interactions, holdout_days=holdout_days + window_days)
    began = time.perf_counter()
    old_catalogue, old_holders = build_arrays(prepared.frames, old_split.cut_date, old_split.train, prepared.vectors)
    arrays_seconds = time.perf_counter() - began
    parent = fit_bundle(old_catalogue, old_holders, old_split, seed=seed, exposure_cap=None)
    parent.model_version = "bench/parent"

    runs: dict[str, list[float]] = {"full": [], "incremental": []}
    stats: dict[str, list[dict[str, float]]] = {"full": [], "incremental": []}
    full = incremental = None
    for _ in range(repeats):
        began = time.perf_counter()
        # The fit step only, without exposure prices (``training.exposure``: every holder's served list is built to
        # learn them): an update keeps its parent's prices, so both are compared unpriced (the parent too).
        full = fit_bundle(catalogue, holders, split, seed=seed, exposure_cap=None)
        runs["full"].append(time.perf_counter() - began)
        stats["full"].append(full.stats)
        began = time.perf_counter()
        incremental = update_bundle(parent, catalogue, holders, split, seed=seed)
        runs["incremental"].append(time.perf_counter() - began)
        stats["incremental"].append(incremental.stats)
    assert full is not None and incremental is not None
    leaky = fit_bundle(catalogue, holders, split, seed=seed, leave_own_out=False)

    quality: dict[str, dict[str, float]] = {}
    exposure: dict[str, Any] = {}
    evaluate_seconds: list[float] = []
    holders_evaluated = 0
    for name, bundle in (("parent", parent), ("incremental", incremental), ("full", full),
                         ("full, own enrolments in popularity", leaky)):
        began = time.perf_counter()
        report = evaluate(bundle, catalogue, holders, split, seed=seed, truth_dir=truth_dir, max_holders=2000)
        evaluate_seconds.append(time.perf_counter() - began)
        quality[name] = {m: report["metrics"][m]["model"] for m in ("ndcg@10", "recall@10", "coverage@10")}
        if name == "full":
            quality["best baseline"] = {
                m: max(v for method, v in report["metrics"][m].items() if method not in ("model", "oracle"))
                for m in ("ndcg@10", "recall@10", "coverage@10")
            }
            if "oracle" in report["metrics"]["ndcg@10"]:  # with the world's truth (PARCOURS_BENCH_INCREMENTAL_TRUTH)
                quality["oracle"] = {m: report["metrics"][m]["oracle"] for m in ("ndcg@10", "recall@10", "coverage@10")}
            exposure = report["exposure"]
            holders_evaluated = report["holders"]
    train = split.train
    window = train[train["occurred_at"] >= old_split.cut]
    best = {name: min(values) for name, values in runs.items()}
    best_stats = {name: min(stats[name], key=lambda s: s["features_seconds"] + s["fit_seconds"])
                  for name in stats}
    return {
        "cut": split.cut_date.isoformat(), "parent_cut": old_split.cut_date.isoformat(),
        "window_days": window_days, "holdout_days": holdout_days, "repeats": repeats,
        "interactions_before_cut": len(train), "interactions_in_window": len(window),
        "pairs": {"full": full.stats["pairs"], "incremental": incremental.stats["pairs"]},
        "seconds": best, "all_seconds": runs, "stats": best_stats,
        "speedup": best["full"] / best["incremental"],
        "features_speedup": best_stats["full"]["features_seconds"] / best_stats["incremental"]["features_seconds"],
        "correction_iterations": incremental.stats["correction_iterations"],
        "completion_updated": bool(incremental.stats["completion_updated"]),
        "prepare_seconds": prepare_seconds, "old_arrays_seconds": arrays_seconds,
        "evaluate_seconds": statistics.median(evaluate_seconds), "holders": holders_evaluated,
        "quality": quality, "exposure": exposure,
    }


def markdown(result: dict[str, Any], world: str) -> str:
    seconds, stats, quality = result["seconds"], result["stats"], result["quality"]
    exposure = result["exposure"]
    lines = [
        "## Incremental update (`parcours train --incremental`) against a full fit",
        "",
        f"{world}; evaluation cut {result['cut']} ({result['holdout_days']} days before the last interaction), "
        f"parent fitted at {result['parent_cut']} ({result['window_days']} days earlier): "
        f"{result['interactions_in_window']:,} of the {result['interactions_before_cut']:,} interactions before "
        f"the cut are new. Fit step only (pairs, features, model, calibration), same process, interleaved, best "
        f"of {result['repeats']}, {result['threads'] or 'all'} OpenMP thread(s); 2 cores shared with other work.",
        "",
        "| | pairs | features | model | fit step | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        f"| full fit | {result['pairs']['full']:,.0f} | {stats['full']['features_seconds']:.2f} s | "
        f"{stats['full']['fit_seconds']:.1f} s | {seconds['full']:.1f} s | 1 |",
        f"| incremental update | {result['pairs']['incremental']:,.0f} | "
        f"{stats['incremental']['features_seconds']:.2f} s | {stats['incremental']['fit_seconds']:.1f} s | "
        f"{seconds['incremental']:.1f} s | {result['speedup']:.1f}× faster |",
        "",
        f"The update added {result['correction_iterations']:.0f} boosting iterations (early-stopped, at most 100) "
        f"and {'continued' if result['completion_updated'] else 'kept'} the completion model. Shared by both and "
        f"not timed above: reading the database and the cached embeddings, building the arrays "
        f"({result['prepare_seconds']:.0f} s), and the evaluation `parcours train` runs after the fit "
        f"({result['evaluate_seconds']:.0f} s per model, {result['holders']} held-out holders), so end to end "
        "the command gains less than the ratio above. All runs (s): "
        + "; ".join(f"{name} " + ", ".join(f"{v:.1f}" for v in values)
                    for name, values in result["all_seconds"].items()) + ".",
        "",
        "| model (same held-out holders) | NDCG@10 | recall@10 | coverage@10 |",
        "|---|---:|---:|---:|",
    ]
    for name, values in quality.items():
        lines.append(f"| {name} | {values['ndcg@10']:.4f} | {values['recall@10']:.4f} | "
                     f"{values['coverage@10']:.4f} |")
    lines += [
        "",
        f"Provider exposure of the full fit's lists (`report[\"exposure\"]`), catalogue Gini "
        f"{exposure['catalogue_gini']:.3f}:",
        "",
        "| lists | provider Gini | lift over the catalogue | share of slots to poor-record providers |",
        "|---|---:|---:|---:|",
    ]
    for label in ("personalised", "neutral"):
        values = exposure[label]
        lines.append(f"| {label} ({values['method']}) | {values['provider_gini']:.3f} | "
                     f"{values['provider_gini_lift']:.2f} | {values['poor_provider_share']:.3f} |")
    lines += ["", "Reproduce: `python -m training.bench --only incremental` (`PARCOURS_BENCH_INCREMENTAL_DB` to reuse "
              "a database with a world and its profiles, `PARCOURS_BENCH_INCREMENTAL_TRUTH` its world folder for the "
              "oracle)."]
    return "\n".join(lines) + "\n"


def _world_database(work_dir: Path) -> tuple[str, Path | None]:
    """``PARCOURS_BENCH_INCREMENTAL_DB``, or the SCALE/SEED world generated, imported and profiled once."""
    import datetime as dt

    db = os.environ.get("PARCOURS_BENCH_INCREMENTAL_DB")
    truth = os.environ.get("PARCOURS_BENCH_INCREMENTAL_TRUTH")
    if db:
        return db, Path(truth) if truth else None
    from features.profile.recompute import recompute_profiles
    from ingest.world_import import import_folder
    from parcours.store.engine import session_scope
    from parcours.store.models import Holder
    from training.datasets.world import generate_world

    folder = work_dir / f"world-{SCALE}-{SEED}-{AS_OF}"
    path = work_dir / f"incremental-{SCALE}-{SEED}-{AS_OF}.db"
    ready = path.with_suffix(".ready.json")
    url = f"sqlite:///{path}"
    if not ready.exists():
        if not (folder / "manifest.json").exists():
            generate_world(folder, scale=SCALE, seed=SEED, as_of=dt.date.fromisoformat(AS_OF))
        import_folder(folder, url)
        with session_scope(url) as session:
            ids = list(session.scalars(Holder.__table__.select().with_only_columns(Holder.holder_id)))
            recompute_profiles(session, ids)
        ready.write_text(json.dumps({"world": str(folder)}), encoding="utf-8")
    return url, folder


def run(work_dir: Path) -> str:
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    db_url, truth = _world_database(work_dir)
    result = bench_incremental(db_url, truth_dir=truth)
    (work_dir / "incremental.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    world = os.environ.get("PARCOURS_BENCH_INCREMENTAL_WORLD", f"{SCALE} world, seed {SEED}, as of {AS_OF}")
    return markdown(result, world)
