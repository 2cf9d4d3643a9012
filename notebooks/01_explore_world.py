# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 — Explore a synthetic world
#
# A world folder holds the import files of `CONTRACT.md` (`trainings.csv`, `holders.csv`, `experience.csv`,
# `interactions.csv`) and, apart, the generator's `truth/` (latent quality, preferences, utility), which no
# model may read. The generative model is documented in `data/README.md`.
#
# This notebook looks at the world **as a model will see it** and asks the question of `WORLDS.md`: *does this
# world teach?* A world is useful only if behaviour carries signal beyond popularity (holders enrol in what
# fits their goal, budget and constraints) and the signal is not drowned in noise.
#
# Every figure is shown here and saved as PNG into the output folder.

# %% tags=["parameters"]
# Parameters: environment variables with defaults that work after `make demo` (paths relative to the
# repository root).
import os
from pathlib import Path

ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "pyproject.toml").is_file()), Path.cwd())
os.chdir(ROOT)

WORLD = Path(os.environ.get("PARCOURS_NB_WORLD", "data/worlds/demo"))  # a world folder
OUT = Path(os.environ.get("PARCOURS_NB_OUT", "reports/figures"))  # where the PNGs go
SCALE = os.environ.get("PARCOURS_NB_SCALE", "small")  # only used to generate WORLD when it does not exist
SEED = int(os.environ.get("PARCOURS_NB_SEED", "42"))  # idem (the demo world's seed)

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 140)


def save(figure, name: str) -> None:
    """Save the figure as ``OUT/name`` and show it inline."""
    figure.tight_layout()
    figure.savefig(OUT / name, dpi=110)
    plt.show()


# %% [markdown]
# ## The world
#
# When the folder does not exist yet it is generated (`parcours world generate --scale SCALE --seed SEED`).
# The manifest says how it was drawn: scale, seed, `as_of` (the end of the 24-month window) and the utility
# weights.

# %%
if not (WORLD / "trainings.csv").is_file():
    from training.datasets.world import generate_world

    print(generate_world(WORLD, scale=SCALE, seed=SEED))

manifest = json.loads((WORLD / "manifest.json").read_text()) if (WORLD / "manifest.json").is_file() else {}
{key: manifest.get(key) for key in ("scale", "seed", "as_of", "window", "utility_weights")}

# %%
trainings = pd.read_csv(WORLD / "trainings.csv", dtype=str, keep_default_na=False)
holders = pd.read_csv(WORLD / "holders.csv", dtype=str, keep_default_na=False)
experience = pd.read_csv(WORLD / "experience.csv", dtype=str, keep_default_na=False)
interactions = pd.read_csv(WORLD / "interactions.csv", dtype=str, keep_default_na=False)

trainings["price_eur"] = trainings["price_cents"].astype(int) / 100
trainings["hours"] = trainings["hours"].astype(float)
trainings["level"] = trainings["level"].replace("", "none (RS)")
trainings["targets"] = trainings["target_occupations"].str.split("|")
holders["cpf_eur"] = holders["cpf_balance_cents"].astype(int) / 100
holders["cec_eur"] = holders["cec_balance_cents"].astype(int) / 100
interactions["timestamp"] = pd.to_datetime(interactions["timestamp"], utc=True)
interactions = interactions.sort_values("timestamp", kind="stable").reset_index(drop=True)

sizes = pd.Series({
    "trainings": len(trainings),
    "certifications": trainings["certification_code"].nunique(),
    "providers": trainings["provider_id"].nunique(),
    "holders": len(holders),
    "holders with an interaction": interactions["holder_id"].nunique(),
    "experience rows": len(experience),
    "interactions": len(interactions),
    "trainings ever viewed": interactions["training_id"].nunique(),
}, name="count")
sizes.to_frame()

# %% [markdown]
# ## Catalogue
#
# Look at: prices with a long tail (median about 1,500 €, up to 10,000 €) — affordability only matters if many
# trainings cost more than a typical balance; hours (RS certificates short, RNCP titles long); the modality mix
# and the levels (RS certifications have no level).

# %%
trainings[["price_eur", "hours"]].describe().round(1)

# %%
figure, axes = plt.subplots(2, 2, figsize=(10, 6.5))
axes[0, 0].hist(trainings["price_eur"], bins=np.geomspace(100, 10_000, 30), color="tab:blue")
axes[0, 0].set(xscale="log", xlabel="price (€, log scale)", ylabel="trainings", title="Price")
axes[0, 0].axvline(trainings["price_eur"].median(), color="black", linestyle="--", label="median")
axes[0, 0].legend()
axes[0, 1].hist(trainings["hours"], bins=np.geomspace(max(trainings["hours"].min(), 1), trainings["hours"].max(), 30),
                color="tab:orange")
axes[0, 1].set(xscale="log", xlabel="hours (log scale)", ylabel="trainings", title="Duration")
trainings["modality"].value_counts().sort_index().plot.bar(ax=axes[1, 0], color="tab:green", rot=0)
axes[1, 0].set(xlabel="", ylabel="trainings", title="Modality")
trainings["level"].value_counts().sort_index().plot.bar(ax=axes[1, 1], color="tab:purple", rot=0)
axes[1, 1].set(xlabel="level", ylabel="trainings", title="Certification level")
save(figure, "01_catalogue.png")

# %% [markdown]
# ## Interactions over time
#
# Monthly counts per event. Look at: views steady over the window; enrolments following views; completions
# starting only a session's length after the window opens (they follow enrolments made inside it). At the other
# end, enrolments of the last months have no outcome yet (sessions still running at `as_of`): that censoring is
# one reason the offline evaluation holds out by time and counts enrolments, not completions, as positives.

# %%
monthly = (interactions.assign(month=interactions["timestamp"].dt.tz_localize(None).dt.to_period("M"))
           .groupby(["month", "event"]).size().unstack("event", fill_value=0))
monthly = monthly.reindex(columns=[e for e in ("view", "enrol", "complete", "cancel") if e in monthly.columns])
figure, axis = plt.subplots(figsize=(10, 3.8))
for event in monthly.columns:
    axis.plot(monthly.index.to_timestamp(), monthly[event], marker="o", markersize=3, label=event)
axis.set(yscale="log", ylabel="interactions per month (log scale)", title="Interactions over time by event")
axis.legend()
save(figure, "01_interactions_over_time.png")

# %% [markdown]
# ## Funnel: view → enrol → complete
#
# Distinct (holder, training) pairs reaching each stage; `rate` is enrolments over views, then completions and
# cancellations over enrolments. Look at: the enrolment rate among viewed pairs (the generator keeps about 12 %
# of enrollable views above its threshold) and the completion and cancellation rates among enrolments. Few
# positives per holder is what makes ranking hard.

# %%
pairs_by_event = interactions.drop_duplicates(["holder_id", "training_id", "event"])["event"].value_counts()
funnel = pd.DataFrame({"pairs": pairs_by_event.reindex(["view", "enrol", "complete", "cancel"], fill_value=0)})
funnel["rate"] = [
    np.nan,
    funnel.loc["enrol", "pairs"] / max(funnel.loc["view", "pairs"], 1),
    funnel.loc["complete", "pairs"] / max(funnel.loc["enrol", "pairs"], 1),
    funnel.loc["cancel", "pairs"] / max(funnel.loc["enrol", "pairs"], 1),
]
views_per_holder = (interactions[interactions["event"] == "view"].groupby("holder_id").size()
                    .reindex(holders["holder_id"], fill_value=0))
enrolments_per_holder = (interactions[interactions["event"] == "enrol"].groupby("holder_id").size()
                         .reindex(holders["holder_id"], fill_value=0))
print(f"holders without any view: {(views_per_holder == 0).mean():.1%}; "
      f"median views per active holder: {views_per_holder[views_per_holder > 0].median():.0f}; "
      f"holders with an enrolment: {(enrolments_per_holder > 0).mean():.1%}")
funnel.round(3)

# %%
figure, axes = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [1.2, 1]})
axes[0].bar(funnel.index, funnel["pairs"], color=["tab:blue", "tab:orange", "tab:green", "tab:red"])
axes[0].set(yscale="log", ylabel="(holder, training) pairs (log scale)", title="Funnel")
for x, value in enumerate(funnel["pairs"]):
    axes[0].annotate(f"{value:,}", (x, value), ha="center", va="bottom")
axes[1].hist(views_per_holder, bins=range(0, int(views_per_holder.max()) + 2), color="tab:blue")
axes[1].set(xlabel="views per holder", ylabel="holders", title="Activity")
save(figure, "01_funnel.png")

# %% [markdown]
# ## Providers: observed completion rate
#
# Completions over enrolments per provider (providers with at least 3 enrolments). The ranker's
# `provider_completion` feature is this rate computed before its cut date (smoothed to the mean). Look at: a
# real spread between providers; when the world's truth is at hand, the observed rate should follow the latent
# provider quality — if it does not, the feature cannot help. Both are noisy: few enrolments per provider on a
# small world, and enrolments still running at `as_of` (no outcome yet) count as not completed.

# %%
enrolled = interactions[interactions["event"].isin(["enrol", "complete", "cancel"])].merge(
    trainings[["training_id", "provider_id"]], on="training_id")
providers = enrolled.pivot_table(index="provider_id", columns="event", values="holder_id", aggfunc="count",
                                 fill_value=0).reindex(columns=["enrol", "complete", "cancel"], fill_value=0)
providers = providers[providers["enrol"] >= 3].copy()
providers["completion_rate"] = providers["complete"] / providers["enrol"]
providers["cancellation_rate"] = providers["cancel"] / providers["enrol"]
truth_providers = WORLD / "truth" / "providers.csv"
if truth_providers.is_file():
    quality = pd.read_csv(truth_providers, dtype={"provider_id": str}).set_index("provider_id")["quality"]
    providers["latent_quality"] = quality.reindex(providers.index)
providers.describe().round(3)

# %%
figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
axes[0].hist(providers["completion_rate"], bins=np.linspace(0, 1, 21), color="tab:green")
axes[0].set(xlabel="completions / enrolments", ylabel="providers", title="Observed completion rate")
if "latent_quality" in providers:
    correlation = providers[["completion_rate", "latent_quality"]].corr().iloc[0, 1]
    axes[1].scatter(providers["latent_quality"], providers["completion_rate"],
                    s=10 + 3 * np.sqrt(providers["enrol"]), alpha=0.6)
    axes[1].set(xlabel="latent quality (truth)", ylabel="observed completion rate",
                title=f"Observed vs latent (Pearson r = {correlation:.2f})")
else:
    axes[1].scatter(providers["enrol"], providers["completion_rate"], s=12, alpha=0.6)
    axes[1].set(xscale="log", xlabel="enrolments", ylabel="observed completion rate",
                title="Completion rate vs volume (no truth here)")
save(figure, "01_provider_completion.png")

# %% [markdown]
# ## Holders' balances
#
# CPF and CEC balances at `as_of`, in euros, and the share of the catalogue each holder could pay entirely from
# their rights. Look at: whether balances and prices overlap — if everyone can afford everything, the
# out-of-pocket term of the utility cannot shape behaviour; if nobody can, neither.

# %%
prices = np.sort(trainings["price_eur"].to_numpy())
holders["rights_eur"] = holders["cpf_eur"] + holders["cec_eur"]
holders["catalogue_covered"] = np.searchsorted(prices, holders["rights_eur"].to_numpy(), side="right") / len(prices)
holders.groupby("employment_status")[["cpf_eur", "cec_eur", "catalogue_covered"]].median().round(2)

# %%
figure, axes = plt.subplots(1, 3, figsize=(12, 3.5))
axes[0].hist(holders["cpf_eur"], bins=30, color="tab:blue")
axes[0].axvline(np.median(prices), color="black", linestyle="--", label="median price")
axes[0].set(xlabel="CPF balance (€)", ylabel="holders", title="CPF")
axes[0].legend()
axes[1].hist(holders["cec_eur"], bins=np.linspace(0, 720, 13), color="tab:orange")
axes[1].set(yscale="log", xlabel="CEC balance (€)", ylabel="holders (log scale)", title="CEC (ceiling 720 €)")
axes[2].hist(holders["catalogue_covered"], bins=np.linspace(0, 1, 21), color="tab:green")
axes[2].set(xlabel="share of the catalogue fully covered", ylabel="holders", title="Affordability")
save(figure, "01_balances.png")

# %% [markdown]
# ## Is there signal beyond popularity?
#
# Two checks a data scientist should make before fitting anything:
#
# - **Concentration.** The Lorenz curve of enrolments over trainings: if a handful of bestsellers take most
#   enrolments, popularity is a strong baseline and personalisation has little room.
# - **Goal fit.** For holders who declared a target occupation: the share of their enrolments in trainings that
#   prepare for that target, against the same share among their views, among the 10 most popular trainings,
#   and in the whole catalogue (what chance would give). Enrolments far above the catalogue and the popular
#   trainings mean behaviour follows each holder's goal: a personalised model has something to learn.

# %%
enrol_counts = (interactions[interactions["event"] == "enrol"].groupby("training_id").size()
                .reindex(trainings["training_id"], fill_value=0).sort_values())
lorenz = np.concatenate([[0.0], enrol_counts.cumsum().to_numpy() / max(enrol_counts.sum(), 1)])
top_decile_share = enrol_counts.iloc[-max(len(enrol_counts) // 10, 1):].sum() / max(enrol_counts.sum(), 1)

targets = holders.loc[holders["target_occupation"] != "", ["holder_id", "target_occupation"]]
training_targets = trainings.set_index("training_id")["targets"]


def prepares_for_target(frame: pd.DataFrame) -> pd.Series:
    """For each (holder_id, training_id) row of holders with a target: does the training prepare for it?"""
    rows = frame.merge(targets, on="holder_id")
    return pd.Series([target in training_targets[training] for training, target
                      in zip(rows["training_id"], rows["target_occupation"], strict=True)], dtype=bool)


def pairs_of(event: str) -> pd.DataFrame:
    return interactions.loc[interactions["event"] == event, ["holder_id", "training_id"]].drop_duplicates()


def share_preparing(training_ids: pd.Index) -> float:
    """Mean over holders with a target of the share of ``training_ids`` that prepare for their target."""
    per_target = training_targets[training_ids].explode().value_counts()
    return float(targets["target_occupation"].map(per_target).fillna(0).mean() / len(training_ids))


goal_fit = pd.Series({
    "catalogue (chance)": share_preparing(pd.Index(trainings["training_id"])),
    "10 most popular": share_preparing(enrol_counts.index[-10:]),
    "viewed": prepares_for_target(pairs_of("view")).mean(),
    "enrolled": prepares_for_target(pairs_of("enrol")).mean(),
}, name="share preparing for the declared target")
print(f"top 10 % of trainings take {top_decile_share:.1%} of enrolments; "
      f"goal-fit lift of enrolments over chance: {goal_fit['enrolled'] / max(goal_fit['catalogue (chance)'], 1e-9):.1f}×")
goal_fit.round(3).to_frame()

# %%
figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].plot(np.linspace(0, 1, len(lorenz)), lorenz, label="enrolments")
axes[0].plot([0, 1], [0, 1], color="grey", linestyle="--", label="equal")
axes[0].set(xlabel="share of trainings (least to most enrolled)", ylabel="share of enrolments",
            title=f"Concentration (top 10 % take {top_decile_share:.0%})")
axes[0].legend()
goal_fit.plot.barh(ax=axes[1], color=["grey", "tab:orange", "tab:blue", "tab:green"])
axes[1].set(xlabel="share preparing for the holder's declared target", title="Goal fit")
save(figure, "01_signal.png")

# %% [markdown]
# ## What to take away
#
# - Sizes and window match the manifest; interactions cover the whole window, with censored outcomes at the end.
# - Prices, hours, modality and levels vary enough for price, modality and level fit to matter.
# - Providers differ in completion, and (with truth) the observed rate tracks the latent quality.
# - Enrolments are concentrated but follow holders' goals well above chance and above the bestsellers: the
#   world teaches something beyond popularity. Whether a model learns it is the subject of
#   `02_evaluate_and_compare`.

# %%
sorted(path.name for path in OUT.glob("01_*.png"))
