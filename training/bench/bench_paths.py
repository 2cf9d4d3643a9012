"""Career paths (issue 14): the exact planner against the greedy baseline at equal budget, and planning time.

On a world imported into SQLite with its skills profiles (``bench_ranker.world_folder`` and ``database_for``:
the same cached world and database), for the first ``HOLDERS`` holders (by id) who have a target occupation and
personalisation on: ``PathPlanner.plan`` (the exact 0-1 programme with its schedule check) and ``greedy_path``
(best coverage per euro first) on the same candidates, the same budget (CPF + CEC balances) and the same
constraints. Reported: the weighted gap coverage of the planner's most complete path against the greedy
path's (mean ratio over holders where greedy covers something, share of holders where the planner is at least
as good: it must be all), and the wall time of one ``plan`` call (every objective, schedule and funding plan;
the holder's context read from the database beforehand, as a route would; one warm-up call first; each plan
timed ``REPEATS`` times and the best kept, as the 2 cores are shared with other work).

``run(out_dir)`` is the ``small`` world of seed 42 (the demo world); ``measure`` + ``render`` on any imported
world (the tests use the tiny one).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

SCALE = "small"
SEED = 42
HOLDERS = 200
TARGET_P95_MS = 300.0
MAX_STEPS = 4
MAX_HOURS = 600.0
HORIZON_DAYS = 548
REPEATS = 3  # each plan timed this many times: the best is the figure (the machine is shared), the first kept too
TOLERANCE = 1e-5  # coverage compared within this: the programme's tie-breaks are worth at most 1e-5 of the gap


def world_as_of(world: Path) -> dt.date:
    """The as-of date a world folder was generated for (its ``manifest.json``)."""
    return dt.date.fromisoformat(json.loads((Path(world) / "manifest.json").read_text(encoding="utf-8"))["as_of"])


def load_planner(url: str, today: dt.date) -> Any:
    """A ``PathPlanner`` over the catalogue open on ``today`` (trainings with a session on or after it)."""
    import pandas as pd
    from sqlalchemy import select

    from features.catalogue import load_catalogue
    from parcours.store.engine import session_scope
    from parcours.store.models import TrainingSession
    from recommender.path_planner import PathPlanner

    with session_scope(url) as session:
        catalogue = load_catalogue(session, today=today)
        sessions = pd.DataFrame(
            session.execute(select(TrainingSession.training_id, TrainingSession.start_date)
                            .where(TrainingSession.start_date >= today)).all(),
            columns=["training_id", "start_date"])
    return PathPlanner.from_frame(catalogue, sessions)


def holder_contexts(url: str, limit: int) -> list[Any]:
    """The first ``limit`` holders (by id) with a target occupation and personalisation on, as the server sees
    them (``serving.services.holders.holder_context``: stored profile, available balances, taken trainings)."""
    from sqlalchemy import select

    from parcours.store.engine import session_scope
    from parcours.store.models import Holder
    from serving.services.holders import holder_context

    with session_scope(url) as session:
        holders = session.scalars(
            select(Holder).where(Holder.target_occupation.is_not(None), Holder.target_occupation != "",
                                 Holder.personalisation_enabled.is_(True))
            .order_by(Holder.holder_id).limit(limit)).all()
        return [holder_context(session, h) for h in holders]


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def measure(url: str, today: dt.date, *, holders: int = HOLDERS, time_limit_s: float = 1.0) -> dict[str, Any]:
    """Plan and greedy for each holder; per-holder rows and the aggregates ``render`` shows."""
    from recommender.path_planner import PathRequest, UnknownOccupation, greedy_path, path_violations

    started = time.perf_counter()
    planner = load_planner(url, today)
    contexts = holder_contexts(url, holders)
    setup_seconds = time.perf_counter() - started
    request = PathRequest(today=today, max_steps=MAX_STEPS, max_hours=MAX_HOURS, horizon_days=HORIZON_DAYS,
                          time_limit_s=time_limit_s)
    rows: list[dict[str, Any]] = []
    unknown = 0
    warmed = False
    for context in contexts:
        try:
            if not warmed:  # imports, the taxonomy's labels, HiGHS's first call
                planner.plan(context, request)
                warmed = True
            runs = []
            for _ in range(REPEATS):
                began = time.perf_counter()
                plan = planner.plan(context, request)
                runs.append(1000.0 * (time.perf_counter() - began))
            began = time.perf_counter()
            greedy = greedy_path(planner, context, request)
            greedy_ms = 1000.0 * (time.perf_counter() - began)
        except UnknownOccupation:
            unknown += 1
            continue
        complete = plan.most_complete
        checked = [*plan.paths, *([greedy] if greedy else [])]
        violations = [v for path in checked for v in path_violations(planner, context, request, path)]
        rows.append({
            "holder_id": context.holder_id,
            "budget_cents": plan.budget_cents,
            "gap_skills": len(plan.gap),
            "candidates": plan.candidates,
            "status": plan.solver_status,
            "paths": len(plan.paths),
            "milp_coverage": complete.gap_coverage if complete else 0.0,
            "greedy_coverage": greedy.gap_coverage if greedy else 0.0,
            "best_coverage": plan.best.gap_coverage if plan.best else 0.0,
            "steps": len(complete.steps) if complete else 0,
            "holder_cost_cents": complete.holder_cost_cents if complete else 0,
            "out_of_pocket_cents": complete.out_of_pocket_cents if complete else 0,
            "greedy_holder_cost_cents": greedy.holder_cost_cents if greedy else 0,
            "plan_ms": min(runs),
            "first_plan_ms": runs[0],
            "greedy_ms": greedy_ms,
            "paths_checked": len(checked),
            "violations": violations,
        })
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"holders": len(contexts), "unknown_targets": unknown, "rows": rows, "as_of": today.isoformat(),
            "trainings": len(planner.catalogue), "setup_seconds": setup_seconds, "time_limit_s": time_limit_s,
            "load_average": load}


def summary(result: dict[str, Any]) -> dict[str, float]:
    rows = result["rows"]
    milp = np.array([r["milp_coverage"] for r in rows], dtype=np.float64)
    greedy = np.array([r["greedy_coverage"] for r in rows], dtype=np.float64)
    times = [r["plan_ms"] for r in rows]
    positive = greedy > 0
    ratios = milp[positive] / greedy[positive]
    return {
        "planned": float(len(rows)),
        "with_path": float(np.sum(milp > 0)),
        "milp_mean": float(milp.mean()) if len(rows) else 0.0,
        "greedy_mean": float(greedy.mean()) if len(rows) else 0.0,
        "mean_ratio": float(ratios.mean()) if len(ratios) else float("nan"),
        "aggregate_ratio": float(milp.sum() / greedy.sum()) if greedy.sum() > 0 else float("nan"),
        "greedy_empty_milp_not": float(np.sum((greedy == 0) & (milp > 0))),
        "share_ge": float(np.mean(milp >= greedy - TOLERANCE)) if len(rows) else 1.0,
        "share_gt": float(np.mean(milp > greedy + TOLERANCE)) if len(rows) else 0.0,
        "p50_ms": _percentile(times, 50),
        "p95_ms": _percentile(times, 95),
        "max_ms": max(times) if times else 0.0,
        "first_p95_ms": _percentile([r.get("first_plan_ms", r["plan_ms"]) for r in rows], 95),
        "greedy_p50_ms": _percentile([r["greedy_ms"] for r in rows], 50),
        "mean_candidates": float(np.mean([r["candidates"] for r in rows])) if rows else 0.0,
        "mean_steps": float(np.mean([r["steps"] for r in rows if r["steps"]])) if any(r["steps"] for r in rows)
        else 0.0,
        "mean_paths": float(np.mean([r["paths"] for r in rows])) if rows else 0.0,
        "paths_checked": float(sum(r["paths_checked"] for r in rows)),
        "violations": float(sum(len(r["violations"]) for r in rows)),
        "fallbacks": float(sum(1 for r in rows if not r["status"].startswith("optimal")
                               and r["status"] not in ("no gap", "no candidate"))),
    }


def render(result: dict[str, Any], *, scale: str = SCALE, seed: int | None = SEED) -> str:
    s = summary(result)
    world = f"`{scale}` world" + (f", seed {seed}" if seed is not None else "")
    ok = "✅" if s["share_ge"] == 1.0 and s["p95_ms"] <= TARGET_P95_MS and s["violations"] == 0 else "❌"
    lines = [
        "## Career paths: exact planner against greedy (issue 14)",
        "",
        f"{world}, as of {result['as_of']} ({result['trainings']:,} open trainings); the first "
        f"{result['holders']} holders (by id) with a target occupation and personalisation on, as the server reads "
        f"them. Request: budget = CPF + CEC balances, at most {MAX_STEPS} steps and {MAX_HOURS:g} hours, sessions "
        f"ending within {HORIZON_DAYS} days, time limit {result['time_limit_s']:g} s. *MILP*: `PathPlanner.plan`'s "
        "most complete path (`scipy.optimize.milp` with the schedule check); *greedy*: `greedy_path` (most new gap "
        "weight per euro first) on the same candidates under the same constraints. Coverage: weighted share of "
        "the gap covered (0–1).",
        "",
        "| holders planned | with a path | mean coverage MILP | greedy | mean ratio MILP / greedy | "
        "MILP ≥ greedy | MILP > greedy | plan p50 | p95 | max | target |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
        f"| {s['planned']:.0f} | {s['with_path']:.0f} | {s['milp_mean']:.3f} | {s['greedy_mean']:.3f} | "
        f"{s['mean_ratio']:.3f} | {100 * s['share_ge']:.1f} % | {100 * s['share_gt']:.1f} % | "
        f"{s['p50_ms']:.1f} ms | {s['p95_ms']:.1f} ms | {s['max_ms']:.1f} ms | {ok} |",
        "",
        f"Mean ratio over the holders where greedy covers something; sum of MILP coverage / sum of greedy "
        f"{s['aggregate_ratio']:.3f}; {s['greedy_empty_milp_not']:.0f} holder(s) get a path from the MILP and "
        f"none from greedy (prerequisites greedy never buys). Target: MILP ≥ greedy for every holder and p95 ≤ "
        f"{TARGET_P95_MS:g} ms. Per plan: {s['mean_candidates']:.1f} candidates on average, "
        f"{s['mean_paths']:.2f} distinct paths (best and alternatives), {s['mean_steps']:.2f} steps in the most "
        f"complete path; {s['paths_checked']:.0f} paths (all of every plan, and greedy's) checked against the "
        f"catalogue by `path_violations` (steps, hours, budget, real sessions in date order, prerequisites, "
        f"funding adding up): {s['violations']:.0f} violation(s); {s['fallbacks']:.0f} greedy fallback(s); "
        f"greedy alone p50 {s['greedy_p50_ms']:.1f} ms (candidates included). Times: each plan run "
        f"{REPEATS} times, the best kept (the first runs' p95: {s['first_p95_ms']:.1f} ms); 2 shared CPU cores, "
        f"load average {result.get('load_average', float('nan')):.1f} at the end of the run. Planner and contexts "
        f"loaded in {result['setup_seconds']:.1f} s. {result['unknown_targets']} unknown target(s).",
        "",
        "Reproduce: `python -m training.bench --only paths` (world and database cached under the work folder, "
        "shared with the ranker benchmark).",
    ]
    return "\n".join(lines) + "\n"


def run(out_dir: Path, *, scale: str = SCALE, seed: int = SEED, holders: int = HOLDERS) -> str:
    from parcours.store.engine import migrate
    from training.bench.bench_ranker import database_for, world_folder

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = world_folder(out_dir, seed, scale)
    url, _timings = database_for(world, out_dir, seed, scale)
    migrate(url)  # a cached database from before a schema change is brought to the current head
    result = measure(url, world_as_of(world), holders=holders)
    (out_dir / f"paths-{scale}-{seed}.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return render(result, scale=scale, seed=seed)


def run_tiny(out_dir: Path, *, holders: int = 30) -> str:
    """The same on the tiny world (seed 3): seconds, for a quick look at the section."""
    return run(out_dir, scale="tiny", seed=3, holders=holders)


if __name__ == "__main__":
    import sys

    print(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/bench")))
