"""The career-path benchmark's section: its shape on the tiny world, and its verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.bench.bench_paths import TARGET_P95_MS, measure, render, summary, world_as_of

pytestmark = pytest.mark.xdist_group("tiny_world")


def _row(**overrides: Any) -> dict[str, Any]:
    row = {"holder_id": "H1", "budget_cents": 100_000, "gap_skills": 20, "candidates": 30, "status": "optimal",
           "paths": 3, "milp_coverage": 0.5, "greedy_coverage": 0.4, "best_coverage": 0.45, "steps": 3,
           "holder_cost_cents": 90_000, "out_of_pocket_cents": 20_000, "greedy_holder_cost_cents": 50_000,
           "plan_ms": 40.0, "greedy_ms": 2.0, "paths_checked": 4, "violations": []}
    return {**row, **overrides}


def _result(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"holders": len(rows), "unknown_targets": 0, "rows": rows, "as_of": "2026-11-01", "trainings": 300,
            "setup_seconds": 1.0, "time_limit_s": 1.0}


def _table(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]


def test_the_tiny_world_section(tiny_world: tuple[Path, str]) -> None:
    folder, url = tiny_world
    result = measure(url, world_as_of(folder), holders=12)
    assert 0 < len(result["rows"]) <= 12
    stats = summary(result)
    assert stats["share_ge"] == 1.0
    assert stats["violations"] == 0
    text = render(result, scale="tiny", seed=3)
    assert text.startswith("## Career paths: exact planner against greedy (issue 14)")
    header, rule, values = _table(text)
    assert len(header) == len(rule) == len(values) == 11
    assert header[5] == "MILP ≥ greedy" and values[5] == "100.0 %"
    assert values[0] == str(len(result["rows"]))
    assert values[7].endswith(" ms") and values[8].endswith(" ms")
    assert "`tiny` world, seed 3" in text and "0 violation(s)" in text


def test_render_says_whether_the_targets_are_met() -> None:
    good = render(_result([_row(), _row(holder_id="H2", milp_coverage=0.4)]))
    assert _table(good)[2][-1] == "✅"
    assert _table(good)[2][4] == "1.125"  # mean of 0.5/0.4 and 0.4/0.4
    worse = render(_result([_row(), _row(holder_id="H2", milp_coverage=0.3)]))
    assert _table(worse)[2][-1] == "❌" and _table(worse)[2][5] == "50.0 %"
    slow = render(_result([_row(plan_ms=TARGET_P95_MS + 50)]))
    assert _table(slow)[2][-1] == "❌"
    broken = render(_result([_row(violations=["step 1: prerequisites not met"])]))
    assert _table(broken)[2][-1] == "❌" and "1 violation(s)" in broken
