"""The ranker benchmark's verdict: which methods count as baselines, the ratio, the ✅/❌ and the plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from training.bench.bench_ranker import TARGET_RATIO, baselines, model_ratio, plot, render


def _result(seed: int, ndcg: dict[str, float]) -> dict[str, Any]:
    metrics = {
        metric: dict(ndcg) for metric in (
            "ndcg@10", "recall@10", "mrr@10", "coverage@10", "diversity@10", "affordable@10", "provider_gini",
            "provider_gini_lift", "poor_provider_share",
        )
    }
    return {
        "seed": seed, "scale": "small",
        "report": {"holders": 100, "cut": "2026-07-03T00:00:00+00:00", "metrics": metrics},
        "stats": {"pairs": 1000.0, "positives": 50.0, "pairs_seconds": 0.1, "features_seconds": 0.2,
                  "fit_seconds": 1.0},
        "params": {"random_negatives": 2, "seed": 0},
        "trainings": 300, "open_at_cut": 250, "train_interactions": 2000, "prepare_seconds": 1.0,
        "evaluate_seconds": 2.0, "import_seconds": 1.0, "profile_seconds": 3.0,
    }


def test_baselines_are_every_method_but_the_model_and_the_oracle() -> None:
    metrics = {"ndcg@10": {"model": 0.2, "popularity": 0.1, "content": 0.05, "neutral": 0.12, "oracle": 0.9}}
    assert baselines(metrics) == ["popularity", "content", "neutral"]
    ratio, best = model_ratio(metrics)
    assert best == "neutral"
    assert ratio == pytest.approx(0.2 / 0.12)


def test_ratio_is_infinite_when_every_baseline_scores_zero() -> None:
    ratio, _best = model_ratio({"ndcg@10": {"model": 0.1, "popularity": 0.0, "content": 0.0}})
    assert math.isinf(ratio)


def test_render_marks_each_seed_against_the_target(tmp_path: Path) -> None:
    passing = _result(42, {"model": 0.3, "popularity": 0.1, "content": 0.2, "oracle": 0.8})  # 1.5×
    failing = _result(2026, {"model": 0.22, "popularity": 0.1, "content": 0.2, "oracle": 0.8})  # 1.1×
    assert 0.3 / 0.2 >= TARGET_RATIO > 0.22 / 0.2
    text = render([passing, failing], tmp_path / "plot.png")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if "×" in line and "|" in line}
    assert "1.50×" in rows["42"] and "✅" in rows["42"] and "(content)" in rows["42"]
    assert "1.10×" in rows["2026"] and "❌" in rows["2026"]
    assert "model (42)" in text and "oracle (2026)" in text
    assert "random_negatives=2, seed=0" in text


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "methods.png"
    plot([_result(42, {"model": 0.3, "popularity": 0.1, "content": 0.2}),
          _result(2026, {"model": 0.25, "popularity": 0.1, "content": 0.15})], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_reports_the_concentration_of_every_methods_lists(tmp_path: Path) -> None:
    result = _result(42, {"model": 0.3, "popularity": 0.1, "oracle": 0.8})
    metrics = result["report"]["metrics"]
    metrics["top_item_share"] = {"model": 0.3, "popularity": 1.0, "oracle": 0.2}
    metrics["training_gini"] = {"model": 0.85, "popularity": 0.99, "oracle": 0.8}
    metrics["coverage@10"] = {"model": 0.5, "popularity": 0.01, "oracle": 0.4}
    text = render([result], tmp_path / "plot.png")
    rows = {line.split("|")[2].strip(): line for line in text.splitlines() if line.startswith("| 42 | ")}
    assert "30.0%" in rows["model"] and "150" in rows["model"] and "❌" in rows["model"]  # 0.5 × 300 trainings
    assert "100.0%" in rows["popularity"] and "✅" not in rows["popularity"] + rows["oracle"]
    metrics["top_item_share"]["model"] = 0.25
    assert "✅" in [line for line in render([result], tmp_path / "p.png").splitlines()
                   if line.startswith("| 42 | model |")][0]
