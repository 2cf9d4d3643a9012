"""The world zoo (issue 13): the ranker and the baselines on every variant of the generator, two seeds each.

Why: our synthetic worlds are a means, not the goal; a model tuned to one generator learns the generator. The
variants (``training.datasets.world_params.VARIANTS``, data/README.md "The world zoo") differ in what drives the
choices: skill-gap closure (default, goal), closeness to the current job (continuity), out-of-pocket cost (price),
latent tastes of holder segments that the texts do not show (weak_content), regional herding (social). Features
and parameters are to be chosen on several variants and seeds, never on one world: this table is where a change
shows what it costs elsewhere.

Per variant × seed: the world is generated under ``<work>/zoo/`` (cached), imported into its own SQLite database
with its profiles recomputed (``training.bench.worlds``, as ``bench_ranker`` does), then ``prepare`` +
``fit_and_evaluate`` with the world's truth (the oracle ranks by that variant's own noise-free utility). Every
method of the report is shown (a collaborative baseline, when evaluation gains one, appears by itself).

Environment: ``PARCOURS_BENCH_ZOO_SCALE`` (``tiny`` or ``small``, default small), ``PARCOURS_BENCH_ZOO_VARIANTS``
(comma-separated names, default all), ``PARCOURS_BENCH_ZOO_SEEDS`` (comma-separated, default 42,2026),
``PARCOURS_BENCH_ZOO_REUSE=1`` (read back a world's result written by an earlier run of the same code: the result
records a hash of the modules that fit, serve and evaluate, ``code_fingerprint``, and is reused only when it
matches; worlds can then be measured in separate processes, ``python -m training.bench.bench_zoo VARIANT:SEED``;
``PARCOURS_BENCH_ZOO_REUSE=only``: nothing is measured, the worlds without such a result are listed as not run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from training.bench.bench_ranker import FIT_SEED, HOLDOUT_DAYS, model_ratio
from training.bench.worlds import AS_OF, database_for, world_folder

SCALE = "small"
SEEDS = (42, 2026)
PLOT_NAME = "zoo_methods.png"
TARGET_RATIO = 1.5  # model ÷ best baseline asked on every world (issue 13)
DOCS_IMG = Path("docs/img")
FIRST, LAST = ("model",), ("oracle",)  # column order: the model first, the oracle last, the baselines between


# What a result depends on besides the world: a result is reused only when none of these changed.
MEASURED_CODE = (
    "features/pairs.py", "features/collaborative.py", "training/fit.py", "training/evaluate.py",
    "training/pipeline.py", "training/dataset.py", "training/point_in_time.py", "recommender/served.py",
    "recommender/candidates.py", "recommender/learned.py", "recommender/ranker.py", "recommender/baselines.py",
    "recommender/neutral.py", "training/negatives.py", "training/exposure.py", "recommender/exposure.py",
    "recommender/offering.py", "recommender/bundle.py",
)


def code_fingerprint() -> str:
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for name in MEASURED_CODE:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


def result_path(zoo_dir: Path, variant: str, seed: int, scale: str) -> Path:
    return zoo_dir / f"zoo-{scale}-{variant}-{seed}.json"


def reused(zoo_dir: Path, variant: str, seed: int, scale: str) -> dict[str, Any] | None:
    """An earlier result for this world from the same code, or ``None``."""
    path = result_path(zoo_dir, variant, seed, scale)
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result if result.get("fingerprint") == code_fingerprint() else None


def settings_from_env() -> tuple[str, list[str], tuple[int, ...]]:
    """Scale, variants and seeds, from the environment (see the module docstring)."""
    from training.datasets.world_params import SCALES, VARIANTS

    scale = os.environ.get("PARCOURS_BENCH_ZOO_SCALE", SCALE).strip() or SCALE
    if scale not in SCALES or SCALES[scale].pool != "full":
        raise ValueError(f"PARCOURS_BENCH_ZOO_SCALE must be tiny or small, not {scale!r}")
    wanted = [v.strip() for v in os.environ.get("PARCOURS_BENCH_ZOO_VARIANTS", "").split(",") if v.strip()]
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        raise ValueError(f"PARCOURS_BENCH_ZOO_VARIANTS: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    seeds_env = os.environ.get("PARCOURS_BENCH_ZOO_SEEDS", "").strip()
    seeds = tuple(int(s) for s in seeds_env.split(",") if s.strip()) if seeds_env else SEEDS
    return scale, [v for v in VARIANTS if v in wanted] if wanted else list(VARIANTS), seeds


def measure(zoo_dir: Path, variant: str, seed: int, scale: str) -> dict[str, Any]:
    """Generate (or reuse), import, profile, fit and evaluate one world of the zoo; its report and timings."""
    from training.pipeline import fit_and_evaluate, prepare

    started = time.perf_counter()
    world = world_folder(zoo_dir, seed, scale, variant=variant)
    generate_seconds = time.perf_counter() - started
    url, timings = database_for(world, zoo_dir, seed, scale, variant=variant)
    started = time.perf_counter()
    prepared = prepare(url, holdout_days=HOLDOUT_DAYS, show_progress=False)
    prepare_seconds = time.perf_counter() - started
    started = time.perf_counter()
    _bundle, report = fit_and_evaluate(prepared, seed=FIT_SEED, truth_dir=world)
    result = {
        "variant": variant,
        "seed": seed,
        "scale": scale,
        "report": report,
        "generate_seconds": generate_seconds,  # ≈ 0 when the world was cached
        "prepare_seconds": prepare_seconds,
        "fit_evaluate_seconds": time.perf_counter() - started,
        "fingerprint": code_fingerprint(),
        **timings,
    }
    result_path(zoo_dir, variant, seed, scale).write_text(json.dumps(result, indent=2, default=str),
                                                          encoding="utf-8")
    return result


def methods_of(results: list[dict[str, Any]]) -> list[str]:
    """Every method of any report: the model first, the oracle last, the others in the order reports give them."""
    seen: list[str] = []
    for r in results:
        for name in r["report"]["metrics"]["ndcg@10"]:
            if name not in seen:
                seen.append(name)
    middle = [m for m in seen if m not in FIRST + LAST]
    return [m for m in FIRST if m in seen] + middle + [m for m in LAST if m in seen]


def ratios(report: dict[str, Any]) -> tuple[float, str, float]:
    """Model ÷ best baseline (and its name), model ÷ oracle (nan without an oracle), on NDCG@10."""
    metrics = report["metrics"]
    ratio, best = model_ratio(metrics)
    ndcg = metrics["ndcg@10"]
    oracle = ndcg.get("oracle", 0.0)
    return ratio, best, (ndcg["model"] / oracle if oracle > 0 else float("nan"))


def servable_ratios(report: dict[str, Any]) -> dict[str, Any] | None:
    """NDCG@10 ratios on lists as they could be served (``report["diversified"]``: every baseline and the oracle
    diversified by the model's rule), and the model's list before the rule against the raw baselines; ``None`` for
    a report made before the evaluation held them."""
    diversified = report.get("diversified", {}).get("ndcg@10")
    if not diversified:
        return None
    ndcg = report["metrics"]["ndcg@10"]
    names = [m for m in diversified if m not in ("model", "model_undiversified", "oracle", "neutral")]
    best = max(names, key=lambda m: diversified[m])
    _ratio, raw_best = model_ratio(report["metrics"])

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    return {
        "model": diversified["model"], "undiversified": diversified["model_undiversified"],
        "best": best, "best_ndcg": diversified[best], "oracle": diversified.get("oracle", float("nan")),
        "vs_best": ratio(diversified["model"], diversified[best]),
        "vs_oracle": ratio(diversified["model"], diversified.get("oracle", 0.0)),
        "undiversified_vs_raw_best": ratio(diversified["model_undiversified"], ndcg[raw_best]),
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """NDCG@10 of every method per world (grouped bars), and model ÷ best baseline per world."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    methods = methods_of(results)
    labels = [f"{r['variant']}\n{r['seed']}" for r in results]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8.0, 1.1 * len(results) + 2), 7.5),
                                      gridspec_kw={"height_ratios": [3, 2]})
    width = 0.8 / len(methods)
    x = np.arange(len(results))
    for i, method in enumerate(methods):
        values = [r["report"]["metrics"]["ndcg@10"].get(method, np.nan) for r in results]
        top.bar(x + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
    top.set_xticks(x, labels, fontsize=8)
    top.set_ylabel("NDCG@10")
    top.set_title(f"The world zoo: NDCG@10 per method ({results[0]['scale']} worlds)")
    top.legend(fontsize=8, ncol=len(methods))
    model_vs_best = [ratios(r["report"])[0] for r in results]
    colours = ["tab:green" if v >= TARGET_RATIO else "tab:orange" if v >= 1 else "tab:red" for v in model_vs_best]
    bars = bottom.bar(x, model_vs_best, 0.6, color=colours)
    bottom.bar_label(bars, fmt="%.2f", fontsize=7)
    bottom.axhline(1.0, color="black", linewidth=0.8)
    bottom.axhline(TARGET_RATIO, color="tab:green", linewidth=0.8, linestyle="--",
                   label=f"issue 13's target ({TARGET_RATIO}×)")
    bottom.legend(fontsize=8, loc="upper left")
    bottom.set_xticks(x, labels, fontsize=8)
    bottom.set_ylabel("model ÷ best baseline")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(results: list[dict[str, Any]], failures: list[str], plot_path: Path | None, scale: str) -> str:
    from training.datasets.world_params import VARIANTS

    lines = [
        "## The world zoo (issue 13)",
        "",
        f"`{scale}` worlds as of {AS_OF.isoformat()}, one per variant and seed; each imported into its own SQLite "
        "database with its profiles recomputed, then `prepare` + `fit_and_evaluate` as `bench_ranker` does (time "
        f"split {HOLDOUT_DAYS} days before the last interaction, fit seed {FIT_SEED}). *oracle* ranks by the "
        "variant's own noise-free utility. A model tuned to one generator learns the generator: choose features and "
        "parameters on several variants and seeds, never on one world (data/README.md, \"The world zoo\").",
        "",
        "| variant | what drives choices |",
        "|---|---|",
    ]
    for name in dict.fromkeys(r["variant"] for r in results):
        lines.append(f"| {name} | {VARIANTS[name].drives} |")
    if results:
        methods = methods_of(results)
        lines += [
            "",
            "| variant | seed | held-out holders | " + " | ".join(f"NDCG@10 {m}" for m in methods)
            + " | best baseline | model ÷ best baseline | model ÷ oracle |",
            "|---|---:|---:|" + "---:|" * len(methods) + "---|---:|---:|",
        ]
        for r in results:
            ndcg = r["report"]["metrics"]["ndcg@10"]
            ratio, best, of_oracle = ratios(r["report"])
            cells = " | ".join(f"{ndcg[m]:.4f}" if m in ndcg else "–" for m in methods)
            lines.append(f"| {r['variant']} | {r['seed']} | {r['report']['holders']} | {cells} | {best} | "
                         f"{ratio:.2f}× | {of_oracle:.2f} |")
        servable = [(r, servable_ratios(r["report"])) for r in results]
        if any(ratios_ is not None for _r, ratios_ in servable):
            lines += [
                "",
                "Lists as they could be served: the model's list is diversified (one training per certification code, "
                "at most two per provider), as every served list is; the table above sets it against raw baseline and "
                "oracle lists. Here the baselines and the oracle are diversified by the same rule (from their first "
                "100 items), and the model's own list before the rule is set against the raw baselines.",
                "",
                "| variant | seed | model | best baseline, diversified | oracle, diversified | model ÷ best "
                "baseline | model ÷ oracle | model before the rule | ÷ best raw baseline |",
                "|---|---:|---:|---|---:|---:|---:|---:|---:|",
            ]
            for r, x in servable:
                if x is None:
                    continue
                lines.append(f"| {r['variant']} | {r['seed']} | {x['model']:.4f} | {x['best']} {x['best_ndcg']:.4f} | "
                             f"{x['oracle']:.4f} | {x['vs_best']:.2f}× | {x['vs_oracle']:.2f} | "
                             f"{x['undiversified']:.4f} | {x['undiversified_vs_raw_best']:.2f}× |")
        lines += [
            "",
            "| variant | seed | generate | import | profiles | prepare | fit + evaluate |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            lines.append(f"| {r['variant']} | {r['seed']} | {r['generate_seconds']:.0f} s | "
                         f"{r['import_seconds']:.0f} s | {r['profile_seconds']:.0f} s | {r['prepare_seconds']:.0f} s "
                         f"| {r['fit_evaluate_seconds']:.0f} s |")
        lines += ["", "*generate*, *import* and *profiles* are ≈ 0 or read back when the world and its database were "
                  "cached; *prepare* includes encoding the training texts through the embedding cache. 2 shared "
                  "CPU cores."]
    if plot_path is not None:
        lines += ["", f"![NDCG@10 per method and model ÷ best baseline, per variant and seed]({plot_path})"]
    for failure in failures:
        lines += ["", "Failed:", "", "```", failure.strip(), "```"]
    lines += [
        "",
        "Reproduce: `PARCOURS_BENCH_ZOO_SCALE=tiny python -m training.bench --only zoo` (worlds and databases cached "
        "under the work folder's `zoo/`; `PARCOURS_BENCH_ZOO_VARIANTS=default,price` to restrict).",
    ]
    return "\n".join(lines) + "\n"


def run(out_dir: Path) -> str:
    scale, variants, seeds = settings_from_env()
    zoo_dir = Path(out_dir) / "zoo"
    zoo_dir.mkdir(parents=True, exist_ok=True)
    reuse = os.environ.get("PARCOURS_BENCH_ZOO_REUSE", "").strip()
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    not_run: list[str] = []
    for variant in variants:
        for seed in seeds:
            started = time.perf_counter()
            earlier = reused(zoo_dir, variant, seed, scale) if reuse in ("1", "only") else None
            if earlier is not None:
                results.append(earlier)
                continue
            if reuse == "only":
                not_run.append(f"{variant} (seed {seed})")
                continue
            try:
                results.append(measure(zoo_dir, variant, seed, scale))
            except Exception:  # noqa: BLE001 - one world failing must not hide the others
                failures.append(f"{variant}, seed {seed}:\n{traceback.format_exc()}")
            print(f"zoo: {variant} seed {seed} done in {time.perf_counter() - started:.0f} s", flush=True)
    plot_path: Path | None = None
    if results:
        plot_path = zoo_dir / PLOT_NAME
        plot(results, plot_path)
        if DOCS_IMG.parent.is_dir():  # run from the repository root: the figure goes next to docs/benchmarks.md
            DOCS_IMG.mkdir(exist_ok=True)
            shutil.copyfile(plot_path, DOCS_IMG / PLOT_NAME)
            plot_path = Path("img") / PLOT_NAME
    text = render(results, failures, plot_path, scale)
    if not_run:
        text += f"\nNot run in this measurement (no result of this code): {', '.join(not_run)}.\n"
    return text


if __name__ == "__main__":
    import sys

    # VARIANT:SEED ...: measure those worlds only (their results are read back by a run with REUSE=1).
    if len(sys.argv) > 1 and ":" in sys.argv[1]:
        zoo = Path("data/bench") / "zoo"
        for spec in sys.argv[1:]:
            name, seed_text = spec.split(":")
            done = measure(zoo, name, int(seed_text), settings_from_env()[0])
            print(name, seed_text, json.dumps(done["report"]["metrics"]["ndcg@10"]), flush=True)
    else:
        print(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/bench")))
