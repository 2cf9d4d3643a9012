"""How believable the completion estimates are: the completion model against what happened, out of time.

The completion model (``training.fit``: fitted on enrolments settled before the cut) is scored on the held-out
holders' enrolments after the cut whose outcome is known: from the world's truth (``truth/enrolments.csv``:
completed, or dropout / cancelled; sessions still running are left out), or, without truth, from a completion or
cancellation event in the interactions. Reported: the Brier score of the estimates and of the base rate the model
was fitted on (a constant forecast: what "no information" scores), the mean estimate against the observed rate,
and the reliability table (estimates in bins against the observed rate in each bin, Murphy & Winkler 1977,
"Reliability of subjective probability forecasts", Applied Statistics 26(1)); ``plot_reliability`` draws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.pairs import CatalogueArrays, HolderArrays, pair_features
from training.dataset import TimeSplit

BINS = 10


def held_out_outcomes(split: TimeSplit, catalogue: CatalogueArrays, holders: HolderArrays,
                      truth_dir: Path | None = None, interactions: pd.DataFrame | None = None) -> pd.DataFrame:
    """holder row, training row, completed (0/1) of the held-out holders' enrolments at or after the cut with a
    known outcome (from the truth, else from ``interactions``' completion and cancellation events)."""
    enrolments: pd.DataFrame
    if truth_dir is not None and (truth := _truth_file(truth_dir)) is not None:
        table = pd.read_csv(truth, usecols=["holder_id", "training_id", "enrolled_at", "outcome"])
        table["enrolled_at"] = pd.to_datetime(table["enrolled_at"], utc=True)
        table = table[(table["enrolled_at"] >= split.cut) & table["outcome"].isin(("completed", "dropout",
                                                                                     "cancelled"))]
        enrolments = pd.DataFrame({"holder_id": table["holder_id"].astype(str),
                                   "training_id": table["training_id"].astype(str),
                                   "completed": (table["outcome"] == "completed").astype(np.int8)})
    else:
        events = (interactions[interactions["occurred_at"] >= split.cut] if interactions is not None
                  else pd.DataFrame(columns=["holder_id", "training_id", "event"]))
        done = events[events["event"].isin(("complete", "cancel"))]
        enrolments = pd.DataFrame({"holder_id": done["holder_id"].astype(str),
                                   "training_id": done["training_id"].astype(str),
                                   "completed": (done["event"] == "complete").astype(np.int8)})
    enrolments = enrolments[enrolments["holder_id"].isin(set(split.held_out))]
    enrolments = enrolments.drop_duplicates(["holder_id", "training_id"])
    h = enrolments["holder_id"].map(holders.position)
    t = enrolments["training_id"].map(catalogue.position)
    known = h.notna() & t.notna()
    return pd.DataFrame({"holder_row": h[known].astype(np.int64).to_numpy(),
                         "training_row": t[known].astype(np.int64).to_numpy(),
                         "completed": enrolments["completed"][known].to_numpy()})


def _truth_file(truth_dir: Path) -> Path | None:
    for folder in (truth_dir, truth_dir / "truth"):
        if (folder / "enrolments.csv").exists():
            return folder / "enrolments.csv"
    return None


def brier(probability: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((np.asarray(probability, dtype=np.float64) - outcome) ** 2)) if len(outcome) else float("nan")


def reliability(probability: np.ndarray, outcome: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Per non-empty bin of the estimates ([0, 0.1), …, [0.9, 1]): count, mean estimate, observed rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        mine = which == b
        if mine.any():
            table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(mine.sum()),
                          "mean_estimate": float(probability[mine].mean()), "observed": float(outcome[mine].mean())})
    return table


def completion_calibration(bundle, catalogue: CatalogueArrays, holders: HolderArrays,  # type: ignore[no-untyped-def]
                           split: TimeSplit, *, truth_dir: Path | None = None,
                           interactions: pd.DataFrame | None = None,
                           fitted_base_rate: float | None = None) -> dict[str, Any]:
    """The completion model's estimates for the held-out enrolments with a known outcome, scored (module doc).
    ``fitted_base_rate``: the constant forecast to compare with (default: the catalogue's completion rate before
    the cut, ``CatalogueArrays.completion_overall``)."""
    outcomes = held_out_outcomes(split, catalogue, holders, truth_dir, interactions)
    if bundle.completion is None or outcomes.empty:
        return {"enrolments": len(outcomes), "available": False}
    h, t = outcomes["holder_row"].to_numpy(), outcomes["training_row"].to_numpy()
    y = outcomes["completed"].to_numpy().astype(np.float64)
    X = pair_features(catalogue, holders, h, t, on=split.cut_date)  # noqa: N806
    p = bundle.completion.probability_and_margin(X)[0]
    base = catalogue.completion_overall if fitted_base_rate is None else fitted_base_rate
    model_brier, base_brier = brier(p, y), brier(np.full(len(y), base), y)
    return {
        "available": True,
        "enrolments": len(y),
        "observed_rate": float(y.mean()),
        "mean_estimate": float(p.mean()),
        "min_estimate": float(p.min()),
        "max_estimate": float(p.max()),
        "base_rate": float(base),
        "brier": model_brier,
        "brier_base_rate": base_brier,
        "brier_skill": 1.0 - model_brier / base_brier if base_brier > 0 else float("nan"),
        "reliability": reliability(p, y),
        "estimates": p.tolist(),
        "outcomes": y.astype(int).tolist(),
    }


def plot_reliability(curves: dict[str, dict[str, Any]], path: Path) -> None:
    """Reliability diagram: per curve (label → ``completion_calibration`` result), observed rate against the mean
    estimate per bin (marker size ∝ count), the diagonal, and each curve's observed base rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--", label="perfectly reliable")
    for (label, result), colour in zip(curves.items(), ("tab:blue", "tab:orange", "tab:green", "tab:red"),
                                       strict=False):
        if not result.get("available"):
            continue
        table = result["reliability"]
        x = [b["mean_estimate"] for b in table]
        y = [b["observed"] for b in table]
        sizes = [12 + 200 * b["count"] / result["enrolments"] for b in table]
        ax.plot(x, y, color=colour, linewidth=1)
        ax.scatter(x, y, s=sizes, color=colour,
                   label=f"{label} (Brier {result['brier']:.3f}, mean {result['mean_estimate']:.2f})")
        ax.axhline(result["observed_rate"], color=colour, linewidth=0.6, linestyle=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("estimated completion probability (bin mean)")
    ax.set_ylabel("observed completion rate")
    ax.set_title("Completion model: reliability on held-out enrolments")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def served_estimates(bundle, prepared, *, k: int = 10, max_holders: int = 300,  # type: ignore[no-untyped-def]
                     seed: int = 0) -> dict[str, float]:
    """The completion estimates the served recommender shows: over the top-``k`` lists it gives a seeded sample of
    the held-out holders as of the cut (``training.evaluate``'s recommender and contexts), their mean, the
    share exactly at a bound (0 or 1 before the estimates were bounded) and the share flagged as a risk."""
    from threadpoolctl import threadpool_limits

    from training.evaluate import contexts_as_of, evaluation_recommenders

    split = prepared.split
    holders = sorted(h for h in split.held_out if h in prepared.holders.position)
    if len(holders) > max_holders:
        holders = sorted(np.random.default_rng(seed).choice(holders, max_holders, replace=False).tolist())
    with threadpool_limits(limits=1, user_api="openmp"):
        model = evaluation_recommenders(bundle, prepared.catalogue, split.cut_date)["model"]
        items = [item for context in contexts_as_of(prepared.frames, split, holders)
                 for item in model.recommend(context, k)]
    estimates = np.array([i.completion_probability for i in items if i.completion_probability is not None])
    if len(estimates) == 0:
        return {"items": 0.0}
    return {"items": float(len(estimates)), "mean": float(estimates.mean()),
            "at_bound": float(np.mean((estimates <= 0.0) | (estimates >= 1.0))),
            "risk_share": float(np.mean([i.risk is not None for i in items]))}
