# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 — Evaluate the ranker and compare it with the baselines
#
# The same code path as `parcours train` / `parcours evaluate` (`training.pipeline`): read the world from the
# database, split by time (train on interactions before the cut, evaluate on the enrolments after it, over the
# trainings open at the cut), fit the ranker, and rank for the same held-out holders with the model, popularity,
# content similarity and — when the world's `truth/` is at hand — the oracle (ranking by the noise-free utility).
#
# Needs a database holding an imported world with skills profiles (`make demo` does it: `parcours import`,
# `parcours profile recompute`). Every figure is shown here and saved as PNG; the key metrics are recorded in
# `02_metrics.json` in the output folder.

# %% tags=["parameters"]
# Parameters: environment variables with defaults that work after `make demo` (paths relative to the
# repository root).
import os
from pathlib import Path

ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "pyproject.toml").is_file()), Path.cwd())
os.chdir(ROOT)

DB_URL = os.environ.get("PARCOURS_NB_DB_URL", "sqlite:///data/parcours.db")
WORLD = Path(os.environ.get("PARCOURS_NB_WORLD", "data/worlds/demo"))  # its truth/ gives the oracle
OUT = Path(os.environ.get("PARCOURS_NB_OUT", "reports/figures"))
SEED = int(os.environ.get("PARCOURS_NB_SEED", "0"))  # the fitting seed (`parcours train` uses 0)
HOLDOUT_DAYS = int(os.environ.get("PARCOURS_NB_HOLDOUT_DAYS", "120"))
MAX_HOLDERS = int(os.environ.get("PARCOURS_NB_MAX_HOLDERS", "2000"))  # held-out holders evaluated (sampled)
PERMUTATION_REPEATS = int(os.environ.get("PARCOURS_NB_PERMUTATION_REPEATS", "5"))
COMPARE_CHAMPION = os.environ.get("PARCOURS_NB_COMPARE_CHAMPION", "1") == "1"

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from IPython.display import display
from sklearn.metrics import average_precision_score, roc_auc_score

from features.pairs import pair_features
from training.fit import training_pairs
from training.pipeline import fit_and_evaluate, prepare

OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 140)


def save(figure, name: str) -> None:
    """Save the figure as ``OUT/name`` and show it inline."""
    figure.tight_layout()
    figure.savefig(OUT / name, dpi=110)
    plt.show()


# %% [markdown]
# ## Data and time split
#
# Look at: how many holders have an enrolment after the cut (the evaluation averages over them: a few dozen
# give noisy numbers) and how many trainings are open at the cut (the set every method ranks).

# %%
prepared = prepare(DB_URL, holdout_days=HOLDOUT_DAYS, show_progress=False)
TRUTH = WORLD if (WORLD / "truth").is_dir() else None
split = prepared.split
pd.Series({
    "cut date": split.cut_date.isoformat(),
    "trainings": len(prepared.catalogue.training_ids),
    "open at the cut": int(prepared.catalogue.open_mask(split.cut_date).sum()),
    "holders": len(prepared.holders.holder_ids),
    "interactions before the cut": len(split.train),
    "held-out holders": len(split.held_out),
    "held-out enrolments": sum(len(v) for v in split.held_out.values()),
    "oracle (truth) available": TRUTH is not None,
}, name="value").to_frame()

# %% [markdown]
# ## Fit and evaluate
#
# `fit_and_evaluate` fits the ranker on the pairs before the cut (enrolments against viewed-not-enrolled and
# random negatives) and evaluates every method on the same held-out holders, at k = 10.

# %%
bundle, report = fit_and_evaluate(prepared, seed=SEED, truth_dir=TRUTH, max_holders=MAX_HOLDERS)
K = report["k"]
metrics = pd.DataFrame(report["metrics"]).T
print(f"{report['holders']} held-out holders, cut {report['cut']}, "
      f"{int(bundle.stats['pairs'])} training pairs ({int(bundle.stats['positives'])} positives)")
metrics.round(4)

# %% [markdown]
# Reading the table:
#
# - **ndcg@10, recall@10, mrr@10**: how well the held-out enrolments are ranked. The oracle bounds what any
#   method can reach; popularity and content similarity are the floor. A model near the oracle means the world
#   is too easy (features leak the utility); a model below content similarity means the signal is drowned.
# - **coverage@10** (share of the catalogue shown to someone) and **diversity@10** (1 − mean cosine within a
#   list): popularity shows everyone the same few trainings.
# - **affordable@10**: share of recommended trainings the holder's rights fully cover.
# - **provider_gini** (concentration of impressions over providers), its **lift** over the catalogue's own
#   concentration, and **poor_provider_share** (impressions of the providers with the 20 % lowest observed
#   completion): a ranker should not push everyone to a few providers, nor to poor ones.

# %%
ACCURACY = [f"ndcg@{K}", f"recall@{K}", f"mrr@{K}"]
BEYOND = [f"coverage@{K}", f"diversity@{K}", f"affordable@{K}", "provider_gini", "poor_provider_share"]
methods = list(metrics.columns)
figure, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 5]})
for axis, names, title in ((axes[0], ACCURACY, "Ranking quality"), (axes[1], BEYOND, "Beyond accuracy")):
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        axis.bar(np.arange(len(names)) + i * width, metrics.loc[names, method], width, label=method)
    axis.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=15)
    axis.set(ylim=(0, 1), title=title)
axes[0].set_ylabel(f"mean over {report['holders']} held-out holders")
axes[1].legend(ncol=len(methods), fontsize="small")
save(figure, "02_metrics.png")

# %% [markdown]
# ## Model against the best baseline
#
# The headline figure: NDCG@10 of the model over the best baseline, whichever it is (popularity, content
# similarity, neutral, or the collaborative co-occurrence and ALS; > 1: the model adds something), and the share
# of the oracle's NDCG it reaches. On the small demo world expect about
# twice content similarity and about 60 % of the oracle (`data/README.md`, "Learnability"); on the tiny test
# world the held-out holders are too few to read much into.

# %%
ndcg = report["metrics"][f"ndcg@{K}"]
best_baseline = max((name for name in ndcg if name not in ("model", "oracle")), key=lambda name: ndcg[name])
model_over_best_baseline = ndcg["model"] / ndcg[best_baseline] if ndcg[best_baseline] > 0 else None
model_over_oracle = ndcg["model"] / ndcg["oracle"] if ndcg.get("oracle") else None
print(f"NDCG@{K}: model {ndcg['model']:.4f}, best baseline ({best_baseline}) {ndcg[best_baseline]:.4f}: ratio "
      + ("undefined (the baseline scores 0)" if model_over_best_baseline is None else f"{model_over_best_baseline:.2f}"))
if model_over_oracle is not None:
    print(f"the model reaches {model_over_oracle:.0%} of the oracle's NDCG@{K} ({ndcg['oracle']:.4f})")

# %% [markdown]
# ## Held-out pairs: what the ranker relies on, and whether its scores are probabilities
#
# Pairs after the cut, built as the training pairs are (`training.fit.training_pairs`: enrolled against viewed
# and not enrolled, plus two random trainings per positive), with features computed at the cut date (nothing
# after the cut leaks into them).
#
# **Permutation importance**: the drop of average precision on these pairs when one feature is shuffled. Look
# at: goal-related features (`gap_coverage`, `gap_closed`, `target_match`, `profile_similarity`) next to or
# above the popularity ones (`log_relative_popularity`, `log_relative_region_popularity`) — the ranker uses the signal beyond
# popularity; a feature near zero is dead weight on these pairs (few pairs on a tiny world: wide error bars).

# %%
after_cut = prepared.frames.interactions[prepared.frames.interactions["occurred_at"] >= split.cut]
pair_holders, pair_trainings, enrolled, _completed = training_pairs(
    prepared.catalogue, prepared.holders, after_cut, random_negatives=2, seed=SEED)
X_held_out = pair_features(prepared.catalogue, prepared.holders, pair_holders, pair_trainings, on=split.cut_date)
probability = bundle.ranker.predict_proba(X_held_out)[:, 1]
print(f"{len(enrolled)} held-out pairs, {int(enrolled.sum())} positives; "
      f"ROC AUC {roc_auc_score(enrolled, probability):.3f}, "
      f"average precision {average_precision_score(enrolled, probability):.3f} (base rate {enrolled.mean():.3f})")

importance = permutation_importance(bundle.ranker, X_held_out, enrolled, scoring="average_precision",
                                    n_repeats=PERMUTATION_REPEATS, random_state=SEED)
importances = pd.DataFrame({"mean": importance.importances_mean, "std": importance.importances_std},
                           index=list(bundle.feature_names)).sort_values("mean")
figure, axis = plt.subplots(figsize=(8, 5))
axis.barh(importances.index, importances["mean"], xerr=importances["std"], color="tab:blue")
axis.axvline(0, color="black", linewidth=0.8)
axis.set(xlabel="drop of average precision when shuffled", title="Permutation importance (held-out pairs)")
save(figure, "02_permutation_importance.png")
importances.sort_values("mean", ascending=False).round(4)

# %% [markdown]
# **Calibration.** The ranker's scores are calibrated (isotonic, on a slice of the training pairs) so that a
# score reads as a probability of enrolment. On held-out pairs, look at the points near the diagonal; a curve
# below it means the model is over-confident after the cut. Ten equal-width bins (empty ones are dropped);
# isotonic calibration gives many tied scores, so quantile bins would merge. The histogram says how many pairs
# each region holds.

# %%
observed, predicted = calibration_curve(enrolled, probability, n_bins=10, strategy="uniform")
figure, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
axes[0].plot(predicted, observed, marker="o", label="ranker")
axes[0].set(xlabel="mean predicted probability", ylabel="observed share enrolled", title="Calibration (held-out)")
axes[0].legend()
axes[1].hist(probability, bins=np.linspace(0, 1, 21), color="tab:blue")
axes[1].set(yscale="log", xlabel="predicted probability", ylabel="pairs (log scale)", title="Scores")
save(figure, "02_calibration.png")

# %% [markdown]
# ## Optional: compare with the MLflow champion
#
# When a model is registered under the `champion` alias (`parcours train` promotes one), evaluate it on the same
# split and holders. Skipped, without error, when there is no MLflow store or no champion (or with
# `PARCOURS_NB_COMPARE_CHAMPION=0`). Opening the store never creates one.

# %%
champion_ndcg = None
if COMPARE_CHAMPION:
    from parcours.settings import get_settings
    from training.pipeline import evaluate_prepared

    from recommender.bundle import load_champion

    settings = get_settings()
    champion = None
    try:
        champion = load_champion(settings)  # None when there is no store or no champion
    except Exception as exc:  # an optional comparison: an unreadable store must not stop the notebook
        print(f"could not load the champion: {exc}")
    if champion is None:
        print(f"no champion registered in {settings.resolved_mlflow_uri()}: nothing to compare")
    else:
        champion_report = evaluate_prepared(champion, prepared, truth_dir=TRUTH, max_holders=MAX_HOLDERS, seed=SEED)
        champion_ndcg = champion_report["metrics"][f"ndcg@{K}"]["model"]
        comparison = pd.DataFrame({
            f"this run ({bundle.trained_until})": {m: report["metrics"][m]["model"] for m in ACCURACY + BEYOND},
            f"champion {champion.model_version} ({champion.trained_until})":
                {m: champion_report["metrics"][m]["model"] for m in ACCURACY + BEYOND},
        })
        display(comparison.round(4))

# %% [markdown]
# ## Record the key metrics
#
# The report in the shape of `parcours evaluate --json`, with the seed and the headline ratios, written to
# `OUT/02_metrics.json` (the tests run this notebook on a tiny world and check these values).

# %%
record = {
    "k": K, "holders": report["holders"], "cut": report["cut"], "seed": SEED,
    "metrics": report["metrics"],
    "model_over_best_baseline": {f"ndcg@{K}": None if model_over_best_baseline is None
                                 else round(model_over_best_baseline, 6), "baseline": best_baseline},
    "model_over_oracle": {f"ndcg@{K}": None if model_over_oracle is None else round(model_over_oracle, 6)},
    "champion": {f"ndcg@{K}": champion_ndcg},
}
(OUT / "02_metrics.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
print(f"wrote {OUT / '02_metrics.json'}")
{metric: report["metrics"][metric] for metric in ACCURACY}
