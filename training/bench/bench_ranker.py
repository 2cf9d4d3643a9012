"""The learned ranker against the baselines on two small worlds (issue 5: NDCG@10 ≥ 1.25× the best baseline).

Per seed: generate the world under the work folder (reused when its ``manifest.json`` says the same scale, seed
and as-of), import it into its own SQLite database, recompute the skills profiles (the database is reused only
when a marker file written after the profiles were committed says so, so an interrupted run redoes the step),
then ``prepare`` + ``fit_and_evaluate`` with the world's truth (adds the oracle), as ``parcours train`` does.
Every method ranks the same allowed set for the same held-out holders. Set ``PARCOURS_CACHE_DIR`` to share the
embedding cache of another checkout.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from training.bench.worlds import AS_OF, SCALE, database_for, world_folder  # bench_paths imports them from here

SEEDS = (42, 2026)  # 42: the demo world's seed; 2026: the check on another world
HOLDOUT_DAYS = 120
FIT_SEED = 0
TARGET_RATIO = 1.25
PLOT_NAME = "ranker_methods.png"
RELIABILITY_PLOT = "completion_reliability.png"
DOCS_IMG = Path("docs/img")


def measure(work_dir: Path, seed: int, scale: str = SCALE) -> dict[str, Any]:
    """Fit and evaluate on one world: the evaluation report plus the fit's stats and timings."""
    from training.pipeline import fit_and_evaluate, prepare

    world = world_folder(work_dir, seed, scale)
    url, timings = database_for(world, work_dir, seed, scale)
    started = time.perf_counter()
    prepared = prepare(url, holdout_days=HOLDOUT_DAYS)
    prepare_seconds = time.perf_counter() - started
    started = time.perf_counter()
    bundle, report = fit_and_evaluate(prepared, seed=FIT_SEED, truth_dir=world)
    total_seconds = time.perf_counter() - started
    fit_seconds = sum(bundle.stats.get(key, 0.0) for key in ("pairs_seconds", "features_seconds", "fit_seconds",
                                                             "exposure_seconds"))
    completion = completion_measurements(prepared, bundle, world)
    result = {
        "seed": seed,
        "scale": scale,
        "report": report,
        "stats": dict(bundle.stats),
        "params": {k: v for k, v in bundle.params.items() if isinstance(v, int | float | str)},
        "trainings": len(prepared.catalogue.training_ids),
        "open_at_cut": int(prepared.catalogue.open_mask(prepared.split.cut_date).sum()),
        "train_interactions": len(prepared.split.train),
        "prepare_seconds": prepare_seconds,
        "evaluate_seconds": total_seconds - fit_seconds,
        "completion": completion,
        **timings,
    }
    (Path(work_dir) / f"ranker-{scale}-{seed}.json").write_text(json.dumps(result, indent=2, default=str),
                                                               encoding="utf-8")
    return result


def completion_measurements(prepared, bundle, world: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The completion model scored out of time (``training.calibration``), as fitted (on enrolments settled
    before the cut) and as it was fitted before (every enrolment before the cut, unsettled ones counted as not
    completed), with the estimates each shows in served lists."""
    from training.calibration import completion_calibration, served_estimates
    from training.fit import fit_bundle

    unsettled = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=FIT_SEED,
                           completion_horizon_days=0, frames=prepared.frames, exposure_cap=None)
    out: dict[str, Any] = {}
    for label, fitted in (("settled", bundle), ("every enrolment", unsettled)):
        result = completion_calibration(fitted, prepared.catalogue, prepared.holders, prepared.split,
                                        truth_dir=world)
        result["served"] = served_estimates(fitted, prepared)
        out[label] = result
    return out


def baselines(metrics: dict[str, dict[str, float]]) -> list[str]:
    """The methods the model must beat: every method of the report except the model and the oracle."""
    return [name for name in next(iter(metrics.values())) if name not in ("model", "oracle")]


def model_ratio(metrics: dict[str, dict[str, float]], metric: str = "ndcg@10") -> tuple[float, str]:
    """Model / best baseline on ``metric`` (inf when every baseline scores 0) and the best baseline's name."""
    values = metrics[metric]
    best = max(baselines(metrics), key=lambda name: values[name])
    return (values["model"] / values[best] if values[best] > 0 else float("inf")), best


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Grouped bars: NDCG@10 and recall@10 of every method, one group per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    methods = list(results[0]["report"]["metrics"]["ndcg@10"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(methods)
    x = np.arange(len(results))
    for ax, metric in zip(axes, ("ndcg@10", "recall@10"), strict=True):
        for i, method in enumerate(methods):
            values = [r["report"]["metrics"][metric][method] for r in results]
            bars = ax.bar(x + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
            ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_xticks(x, [f"seed {r['seed']}" for r in results])
        ax.set_title(f"{metric}, {results[0]['scale']} world")
        ax.set_ylim(0, 1.08)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _row(label: str, metric: str, results: list[dict[str, Any]], methods: list[str]) -> str:
    cells = [f"{r['report']['metrics'][metric][m]:.4f}" for r in results for m in methods]
    return f"| {label} | " + " | ".join(cells) + " |"


def render(results: list[dict[str, Any]], plot_path: Path) -> str:
    methods = list(results[0]["report"]["metrics"]["ndcg@10"])
    seeds = ", ".join(str(r["seed"]) for r in results)
    lines = [
        "## Ranker against the baselines (issue 5)",
        "",
        f"`{results[0]['scale']}` worlds, seeds {seeds} (42 is the demo world's), as of {AS_OF.isoformat()}; "
        "each imported into its own SQLite database, profiles recomputed as of that date, then `prepare` + "
        "`fit_and_evaluate` as "
        f"`parcours train --truth` does: time split {HOLDOUT_DAYS} days before the last interaction, fit seed "
        f"{FIT_SEED}, profiles as they stood before the cut (`profiles_before`: without what trainings completed "
        "after it taught; each training pair reads the profile as it stood on the pair's day, "
        "`training.point_in_time`), the same held-out holders and the same allowed set (open at the cut, not taken "
        "before) for every method; the model's list diversified as served; *oracle* ranks by the world's noise-free "
        "utility. Before December 2026 the profiles held those later completions: a leak worth 0.04–0.08 NDCG@10 "
        "to the model (docs/esco.md).",
        "",
        "| seed | held-out holders | cut | NDCG@10 model | best baseline | ratio | ≥ "
        f"{TARGET_RATIO}× |",
        "|---:|---:|---|---:|---:|---:|:---:|",
    ]
    for r in results:
        metrics = r["report"]["metrics"]
        ratio, best = model_ratio(metrics)
        lines.append(
            f"| {r['seed']} | {r['report']['holders']} | {r['report']['cut'][:10]} | "
            f"{metrics['ndcg@10']['model']:.4f} | {metrics['ndcg@10'][best]:.4f} ({best}) | {ratio:.2f}× | "
            f"{'✅' if ratio >= TARGET_RATIO else '❌'} |"
        )
    params = ", ".join(f"{key}={value}" for key, value in sorted(results[0].get("params", {}).items()))
    if params:
        lines += ["", f"Fit parameters (`bundle.params`): {params}."]
    header = "| metric | " + " | ".join(f"{m} ({r['seed']})" for r in results for m in methods) + " |"
    lines += ["", header, "|---|" + "---:|" * (len(methods) * len(results))]
    for label, metric in (("NDCG@10", "ndcg@10"), ("recall@10", "recall@10"), ("MRR@10", "mrr@10"),
                          ("catalogue coverage@10", "coverage@10"), ("intra-list diversity@10", "diversity@10"),
                          ("affordable share@10", "affordable@10"), ("provider exposure Gini", "provider_gini"),
                          ("Gini lift over catalogue", "provider_gini_lift"),
                          ("poor-provider share", "poor_provider_share")):
        lines.append(_row(label, metric, results, methods))
    lines += [
        "",
        "| seed | trainings (open at cut) | train interactions | pairs | positives | features | fit | prepare "
        "| evaluate | import | profiles |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["stats"]
        features = s.get("pairs_seconds", 0.0) + s["features_seconds"]
        lines.append(
            f"| {r['seed']} | {r['trainings']:,} ({r['open_at_cut']:,}) | {r['train_interactions']:,} | "
            f"{s['pairs']:,.0f} | {s['positives']:,.0f} | {features:.1f} s | {s['fit_seconds']:.1f} s "
            f"| {r['prepare_seconds']:.1f} s | {r['evaluate_seconds']:.1f} s | {r['import_seconds']:.0f} s | "
            f"{r['profile_seconds']:.0f} s |"
        )
    lines += concentration_lines(results)
    lines += completion_lines(results)
    lines += [
        "",
        "*features*: drawing the training pairs and their feature matrix; *fit*: ranker + completion model; "
        "*prepare*: reading the database, catalogue vectors (embedding cache) and feature arrays; *import* and "
        "*profiles* were measured "
        "when the database was built (reused on later runs). 2 shared CPU cores.",
        "",
        f"![NDCG@10 and recall@10 per method and seed]({plot_path})",
        "",
        "Reproduce: `python -m training.bench --only ranker` (worlds and databases cached under the work folder).",
    ]
    return "\n".join(lines) + "\n"


CONCENTRATION_TARGET = 0.25


def concentration_lines(results: list[dict[str, Any]]) -> list[str]:
    """How concentrated each method's top-10 lists are, the model's as served (issue 13: ≤ 25 % of lists)."""
    lines = [
        "",
        "### Concentration of the lists (issue 13, popularity bias)",
        "",
        "Each method's top-10 lists for the held-out holders above, built as the server builds them (the model is "
        "`LearnedRecommender.recommend`, diversified, on each holder's `HolderContext` as of the cut, made by the "
        "`context_from_rows` the server's `holder_context` calls). *top share*: share of the holders whose list "
        "holds the training shown most often (target ≤ 25 % for the model, near the oracle's); *distinct*: "
        "trainings shown at least once; *Gini*: of top-10 impressions over the trainings open at the cut.",
        "",
        "| seed | method | top share | distinct trainings | exposure Gini | ≤ 25 % |",
        "|---:|---|---:|---:|---:|:---:|",
    ]
    for r in results:
        metrics = r["report"]["metrics"]
        trainings = r["trainings"]
        for method in metrics["ndcg@10"]:
            share = metrics.get("top_item_share", {}).get(method)
            if share is None:
                continue
            distinct = round(metrics["coverage@10"][method] * trainings)
            mark = ("✅" if share <= CONCENTRATION_TARGET else "❌") if method == "model" else ""
            lines.append(f"| {r['seed']} | {method} | {share:.1%} | {distinct:,} | "
                         f"{metrics['training_gini'][method]:.3f} | {mark} |")
    priced = [r for r in results if "exposure_lists" in r["stats"]]
    if priced:
        lines += ["", "Exposure prices (`training.exposure`), learnt at fit time on the lists served as of the cut to "
                  "every holder of the training data: " + "; ".join(
                      f"seed {r['seed']}: {r['stats']['exposure_priced']:.0f} trainings priced, most shown training in "
                      f"{r['stats']['exposure_top_share_before']:.1%} → {r['stats']['exposure_top_share_after']:.1%} "
                      f"of {r['stats']['exposure_lists']:,.0f} lists (cap {r['params'].get('exposure_cap', 0):.0%}), "
                      f"{r['stats']['exposure_seconds']:.0f} s" for r in priced) + "."]
    return lines


def completion_lines(results: list[dict[str, Any]]) -> list[str]:
    """The honest-probabilities table: Brier score against the base rate, mean estimates against the rate."""
    lines = [
        "",
        "### Completion estimates (issue 13, honest probabilities)",
        "",
        "The completion model scored out of time: the held-out holders' enrolments after the cut whose outcome the "
        "world's truth knows (completed, or dropout / cancelled; sessions still running left out), features as of "
        "the cut (`training.calibration`). *base rate*: the constant forecast of the catalogue's completion rate "
        "before the cut; Brier skill = 1 − Brier ÷ Brier of that constant. *served*: the estimates shown in the "
        "model's top-10 lists of 300 held-out holders. *settled*: fitted on enrolments at least "
        "`COMPLETION_HORIZON_DAYS` before the cut (now); *every enrolment*: fitted on every enrolment before the "
        "cut, those not yet finished counted as not completed (before).",
        "",
        "| seed | completion model | enrolments | observed rate | mean estimate | Brier | Brier of base rate "
        "(rate) | Brier skill | served mean | served at 0 or 1 | served flagged |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for label, c in r.get("completion", {}).items():
            if not c.get("available"):
                lines.append(f"| {r['seed']} | {label} | {c.get('enrolments', 0)} | – | – | – | – | – | – | – | – |")
                continue
            served = c.get("served", {})
            lines.append(
                f"| {r['seed']} | {label} | {c['enrolments']} | {c['observed_rate']:.3f} | {c['mean_estimate']:.3f} "
                f"| {c['brier']:.4f} | {c['brier_base_rate']:.4f} ({c['base_rate']:.3f}) | {c['brier_skill']:+.3f} "
                f"| {served.get('mean', float('nan')):.3f} | {served.get('at_bound', float('nan')):.1%} "
                f"| {served.get('risk_share', float('nan')):.1%} |")
    lines += ["", f"![Reliability of the completion estimates]({'img/' + RELIABILITY_PLOT})"]
    return lines


def run(work_dir: Path, *, scale: str = SCALE, seeds: tuple[int, ...] = SEEDS) -> str:
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    results = [measure(work_dir, seed, scale) for seed in seeds]
    plot_path = work_dir / PLOT_NAME
    plot(results, plot_path)
    from training.calibration import plot_reliability

    reliability_path = work_dir / RELIABILITY_PLOT
    plot_reliability({f"{label}, seed {r['seed']}": c for r in results
                      for label, c in r.get("completion", {}).items()}, reliability_path)
    if DOCS_IMG.parent.is_dir():
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copyfile(reliability_path, DOCS_IMG / RELIABILITY_PLOT)
    if DOCS_IMG.parent.is_dir():  # run from the repository root: the figure goes next to docs/benchmarks.md
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copyfile(plot_path, DOCS_IMG / PLOT_NAME)
        return render(results, Path("img") / PLOT_NAME)
    return render(results, plot_path)


if __name__ == "__main__":
    import sys

    print(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/bench")))
