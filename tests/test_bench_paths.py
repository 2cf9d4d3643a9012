"""The career-path benchmark's section: its shape on the tiny world, and its verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.bench.bench_paths import SENSITIVITY, TARGET_P95_MS, TOLERANCE, measure, render, summary, world_as_of

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
    # The ceilings are ordered for every holder: greedy ≤ plan ≤ exact over every training ≤ bound ≤ bound
    # without prerequisites (each when proven).
    for row in result["rows"]:
        chain = [row["greedy_coverage"], row["milp_coverage"], row["every_coverage"], row["bound_coverage"],
                 row["bound_no_prerequisites"]]
        known = [c for c in chain if c is not None]
        assert len(known) >= 4, row
        assert all(a <= b + TOLERANCE for a, b in zip(known, known[1:], strict=False)), row
    # Budget and steps varied for both methods alike: the exact programme never falls below greedy.
    assert [v["label"] for v in result["sensitivity"]] == [label for label, _factor, _steps in SENSITIVITY]
    assert all(v["min_ratio"] >= 1.0 - 1e-4 for v in result["sensitivity"] if v["holders"])
    text = render(result, scale="tiny", seed=3)
    assert "| budget × 2 |" in text
    assert text.startswith("## Career paths: exact planner against greedy (issue 14)")
    tables = _table(text)
    header, rule, values = tables[:3]
    assert len(header) == len(rule) == len(values) == 12
    assert header[5] == "min ratio" and float(values[5]) >= 1.0
    assert header[6] == "MILP ≥ greedy" and values[6] == "100.0 %"
    assert values[0] == str(len(result["rows"]))
    assert values[8].endswith(" ms") and values[9].endswith(" ms")
    ceiling = {r[0]: r for r in tables[5:]}
    bound = next(r for name, r in ceiling.items() if name.startswith("upper bound: prerequisites"))
    assert float(bound[2]) >= float(values[4]) - 1e-3  # the bound's mean ratio ≥ the planner's
    assert "`tiny` world, seed 3" in text and "0 violation(s)" in text


def test_render_says_whether_the_targets_are_met() -> None:
    good = render(_result([_row(), _row(holder_id="H2", milp_coverage=0.46)]))
    assert _table(good)[2][-1] == "✅"
    assert _table(good)[2][4] == "1.200"  # mean of 0.5/0.4 and 0.46/0.4
    assert _table(good)[2][5] == "1.150"  # the worst holder
    short = render(_result([_row(), _row(holder_id="H2", milp_coverage=0.4)]))
    assert _table(short)[2][4] == "1.125" and _table(short)[2][-1] == "❌"  # below the 1.15 mean ratio wanted
    worse = render(_result([_row(), _row(holder_id="H2", milp_coverage=0.3)]))
    assert _table(worse)[2][-1] == "❌" and _table(worse)[2][6] == "50.0 %"
    slow = render(_result([_row(plan_ms=TARGET_P95_MS + 50)]))
    assert _table(slow)[2][-1] == "❌"
    broken = render(_result([_row(violations=["step 1: prerequisites not met"])]))
    assert _table(broken)[2][-1] == "❌" and "1 violation(s)" in broken


def test_the_ceiling_says_whether_the_target_ratio_is_reachable() -> None:
    ceilings = {"greedy_step_coverage": 0.38, "every_coverage": 0.5, "bound_coverage": 0.44,
                "bound_no_prerequisites": 0.6, "every_candidates": 80.0}
    low = render(_result([_row(milp_coverage=0.42, **ceilings)]))
    assert "is out of reach of any valid path at this budget" in low
    row = next(r for r in _table(low) if r[0].startswith("upper bound: prerequisites"))
    assert row[1:] == ["0.440", "1.100", "1.100"]
    high = render(_result([_row(**{**ceilings, "bound_coverage": 0.5})]))
    assert "is not excluded by the bound" in high
    unproven = render(_result([_row(milp_coverage=0.42, **{**ceilings, "bound_coverage": None}),
                               _row(holder_id="H2", milp_coverage=0.42, **ceilings)]))
    assert "(1 left out: a solve not proven)" in unproven and "no strict conclusion" in unproven
