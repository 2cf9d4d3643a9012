"""Ablation of the ranker's features over the world zoo (issue 13: keep a hand-made feature only where an ablation
over several worlds shows it earns its place).

Per zoo world (``bench_zoo``'s worlds and databases under ``<work>/zoo/``, built when missing), the ranker is fitted
with every feature, then without each group of features (``training.fit.fit_bundle(without=…)``: the group's
columns are constant in the training pairs, so no tree splits on them and their served values are never read), and
each fit is evaluated as served (``evaluate_prepared``: ``LearnedRecommender.recommend``, diversified). Exposure
prices are not learnt (``exposure_cap=None``): they move NDCG@10 by less than 0.002 (docs/guidance.md) and cost a
minute per fit. Fit seed 0; one fit seed moves a world by about ±0.02, so a group is read over every world.

Environment: ``PARCOURS_BENCH_ZOO_VARIANTS`` as the zoo (default all), ``PARCOURS_BENCH_ABLATION_SEEDS``
(comma-separated, default 42). Each world's result is kept beside its database with the zoo's code fingerprint
and read back by a later run of the same code, so worlds can be measured in separate processes
(``python -m training.bench.bench_ablation VARIANT:SEED …``) and then rendered together.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from training.bench.bench_ranker import HOLDOUT_DAYS
from training.bench.bench_zoo import code_fingerprint
from training.bench.worlds import database_for, world_folder

SCALE = "small"
SEEDS = (42,)
FIT_SEED = 0
# Feature groups, by what they read (features.pairs.FEATURE_NAMES).
GROUPS: dict[str, tuple[str, ...]] = {
    "profile similarity (embedding)": ("profile_similarity",),
    "skill gap and prerequisites": ("gap_coverage", "gap_closed", "skill_novelty", "prerequisites_met"),
    "target occupation": ("target_match",),
    "cost against the balance": ("log_out_of_pocket", "price_balance_ratio"),
    "modality and region": ("modality_match", "region_match"),
    "training: hours, level, provider completion": ("log_hours", "level_gap", "provider_completion"),
    "popularity (overall, regional)": ("log_relative_popularity", "log_relative_region_popularity"),
    "audience (overall, regional)": ("log_relative_audience", "log_relative_region_audience"),
    "job seeker": ("is_job_seeker",),
    "collaborative (co-occurrence, ALS)": ("cf_affinity", "mf_score"),
}


def result_path(zoo_dir: Path, variant: str, seed: int) -> Path:
    return zoo_dir / f"ablation-{SCALE}-{variant}-{seed}.json"


def measure(zoo_dir: Path, variant: str, seed: int) -> dict[str, Any]:
    """NDCG@10 of the model with every feature and without each group, on one zoo world (read back when this code
    measured it before)."""
    path = result_path(zoo_dir, variant, seed)
    if path.exists():
        kept: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("fingerprint") == code_fingerprint() and set(kept["ndcg"]) == {"all", *GROUPS}:
            return kept
    from training.fit import fit_bundle
    from training.pipeline import evaluate_prepared, prepare

    world = world_folder(zoo_dir, seed, SCALE, variant=variant)
    url, _timings = database_for(world, zoo_dir, seed, SCALE, variant=variant)
    started = time.perf_counter()
    prepared = prepare(url, holdout_days=HOLDOUT_DAYS, show_progress=False)
    ndcg: dict[str, float] = {}
    baselines: dict[str, float] = {}
    for name, without in {"all": (), **GROUPS}.items():  # "all": every feature, not the default fit
        bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=FIT_SEED,
                            frames=prepared.frames, exposure_cap=None, without=without)
        report = evaluate_prepared(bundle, prepared, seed=FIT_SEED, truth_dir=world)
        scores = report["metrics"]["ndcg@10"]
        ndcg[name] = float(scores["model"])
        baselines = {m: float(v) for m, v in scores.items() if m not in ("model", "neutral")}
        print(f"ablation: {variant} {seed} {name}: {ndcg[name]:.4f}", flush=True)
    result = {"variant": variant, "seed": seed, "ndcg": ndcg, "baselines": baselines,
              "seconds": time.perf_counter() - started, "fingerprint": code_fingerprint()}
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def render(results: list[dict[str, Any]]) -> str:
    worlds = [f"{r['variant']} {r['seed']}" for r in results]
    lines = [
        "## Ablation of the ranker's features over the world zoo (issue 13)",
        "",
        f"`{SCALE}` zoo worlds (`bench_zoo`), fit seed {FIT_SEED}, no exposure prices. First row: model NDCG@10 with "
        "every feature; below, the change when one group is left out of the ranker's fit (negative: the group "
        "earns its place on that world). *mean*: over the worlds; *worse without*: worlds where leaving it out "
        "costs more than 0.005.",
        "",
        "| features | " + " | ".join(worlds) + " | mean | worse without |",
        "|---|" + "---:|" * len(worlds) + "---:|---:|",
        "| every feature (NDCG@10) | " + " | ".join(f"{r['ndcg']['all']:.4f}" for r in results) + " | "
        + f"{sum(r['ndcg']['all'] for r in results) / max(len(results), 1):.4f} | |",
    ]
    for group in GROUPS:
        deltas = [r["ndcg"][group] - r["ndcg"]["all"] for r in results]
        worse = sum(d < -0.005 for d in deltas)
        lines.append(f"| without {group} | " + " | ".join(f"{d:+.4f}" for d in deltas) + " | "
                     f"{sum(deltas) / max(len(deltas), 1):+.4f} | {worse} of {len(deltas)} |")
    methods = sorted({m for r in results for m in r["baselines"]})
    lines += ["", "| world | " + " | ".join(methods) + " | seconds |", "|---|" + "---:|" * (len(methods) + 1)]
    for world, r in zip(worlds, results, strict=True):
        lines.append(f"| {world} | " + " | ".join(f"{r['baselines'].get(m, float('nan')):.4f}" for m in methods)
                     + f" | {r['seconds']:.0f} |")
    lines += ["", "The baselines' NDCG@10 on the same split, for scale. Reproduce: `python -m training.bench --only "
              "ablation` (`PARCOURS_BENCH_ABLATION_SEEDS=42,2026` for both seeds; worlds shared with the zoo)."]
    return "\n".join(lines)


def worlds_from_env() -> list[tuple[str, int]]:
    from training.bench.bench_zoo import settings_from_env

    _scale, variants, _seeds = settings_from_env()
    seeds_env = os.environ.get("PARCOURS_BENCH_ABLATION_SEEDS", "").strip()
    seeds = tuple(int(s) for s in seeds_env.split(",") if s.strip()) if seeds_env else SEEDS
    return [(v, s) for v in variants for s in seeds]


def run(work_dir: Path) -> str:
    zoo_dir = Path(work_dir) / "zoo"
    zoo_dir.mkdir(parents=True, exist_ok=True)
    return render([measure(zoo_dir, variant, seed) for variant, seed in worlds_from_env()])


if __name__ == "__main__":  # measure some worlds in this process: VARIANT:SEED …  (work folder: data/bench)
    work = Path(os.environ.get("PARCOURS_BENCH_WORK_DIR", "data/bench")) / "zoo"
    work.mkdir(parents=True, exist_ok=True)
    for spec in sys.argv[1:]:
        name, seed_text = spec.split(":")
        measure(work, name, int(seed_text))
