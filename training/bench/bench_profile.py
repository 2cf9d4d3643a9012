"""Skills profile vs the world's true skills: precision@20 and recall@20, against "occupation skills only".

The world generator knows each holder's latent skills (``truth/holder_skills.csv``: holder_id, skill_uri,
proficiency); the profile only sees what the holder declared (``experience.csv``) and the trainings completed
in our files (``interactions.csv`` events ``complete``, skills from ``trainings.csv``). The baseline ranks the
skills of the holder's declared jobs' occupations by link weight (the job's ESCO URI when given, else the
index's best match), ignoring durations, recency and every other declaration.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from training.metrics import precision_at_k, recall_at_k

K = 20
SCALE = "small"
SEEDS = (1, 2)
MAX_HOLDERS = 300


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def world_as_of(world: Path) -> dt.date:
    manifest = world / "manifest.json"
    if manifest.exists():
        as_of = json.loads(manifest.read_text(encoding="utf-8")).get("as_of")
        if as_of:
            return dt.date.fromisoformat(as_of)
    return dt.date.today()


def profiles_for_world(
    world: Path, holder_ids: Sequence[str], today: dt.date
) -> tuple[dict[str, dict[str, list[str]]], float]:
    """Ranked skill URIs per method ("profile"; "declared": without completed trainings; "baseline") and
    holder, and the seconds per profile."""
    from features.profile.aggregate import profile_from_declarations
    from features.profile.evidence import occupation_skill_map
    from features.profile.matching import Matcher
    from features.profile.model import Declaration

    experience = _read(world / "experience.csv")
    experience = experience[experience["holder_id"].isin(set(holder_ids))]
    interactions = _read(world / "interactions.csv")
    completed = interactions[
        (interactions["event"] == "complete") & interactions["holder_id"].isin(set(holder_ids))
    ]
    trainings = _read(world / "trainings.csv")
    skills_of = {
        t: [s for s in sk.split("|") if s]
        for t, sk in zip(trainings["training_id"], trainings["skills"], strict=True)
    }
    by_holder = {h: g for h, g in experience.groupby("holder_id", sort=False)}
    done_by_holder = {h: g for h, g in completed.groupby("holder_id", sort=False)}
    matcher = Matcher()
    links = occupation_skill_map()
    profile_rank: dict[str, list[str]] = {}
    declared_rank: dict[str, list[str]] = {}
    baseline_rank: dict[str, list[str]] = {}
    started = time.perf_counter()
    all_declarations = {
        h: [
            Declaration(
                i, r.kind, r.label, r.esco_uri or None, _date(r.start_date) or today, _date(r.end_date)
            )
            for i, r in enumerate(rows.itertuples(index=False))
        ]
        for h, rows in by_holder.items()
    }
    matcher.prefetch(d for ds in all_declarations.values() for d in ds)
    for holder_id in tqdm(holder_ids, desc="profiles", unit="holder"):
        declarations = all_declarations.get(holder_id, [])
        done = done_by_holder.get(holder_id)
        completions = (
            []
            if done is None
            else [
                (t, skills_of.get(t, []), _date(ts) or today)
                for t, ts in zip(done["training_id"], done["timestamp"], strict=True)
            ]
        )
        profile = profile_from_declarations(
            holder_id, declarations, today, completed=completions, matcher=matcher
        )
        profile_rank[holder_id] = [s.skill_uri for s in profile.skills]
        declared_only = profile_from_declarations(holder_id, declarations, today, matcher=matcher)
        declared_rank[holder_id] = [s.skill_uri for s in declared_only.skills]
        best: dict[str, float] = {}
        for d in declarations:
            if d.kind != "job":
                continue
            occupation = d.esco_uri
            if not occupation:
                found = matcher.best(d.label, "occupation")
                occupation = found.uri if found is not None else None
            for skill, weight in links.get(occupation or "", []):
                best[skill] = max(best.get(skill, 0.0), weight)
        baseline_rank[holder_id] = sorted(best, key=lambda s: (-best[s], s))
    per_profile = (time.perf_counter() - started) / max(1, len(holder_ids))
    return {"profile": profile_rank, "declared": declared_rank, "baseline": baseline_rank}, per_profile


def evaluate_world(world: Path, max_holders: int = MAX_HOLDERS, seed: int = 0) -> dict[str, float]:
    truth = _read(world / "truth" / "holder_skills.csv")
    truth_sets = {h: set(g["skill_uri"]) for h, g in truth.groupby("holder_id", sort=False)}
    holders = sorted(truth_sets)
    if len(holders) > max_holders:
        holders = sorted(
            np.random.default_rng(seed).choice(holders, size=max_holders, replace=False).tolist()
        )
    ranks_by_method, per_profile = profiles_for_world(world, holders, world_as_of(world))
    out: dict[str, float] = {
        "holders": len(holders),
        "seconds_per_profile": per_profile,
        "mean_true_skills": float(np.mean([len(truth_sets[h]) for h in holders])),
    }
    for name, ranks in ranks_by_method.items():
        distinct = {h: list(dict.fromkeys(ranks[h])) for h in holders}  # a skill named twice counts once
        out[f"{name}_precision"] = float(np.mean([precision_at_k(distinct[h], truth_sets[h], K) for h in holders]))
        out[f"{name}_recall"] = float(np.mean([recall_at_k(distinct[h], truth_sets[h], K) for h in holders]))
        out[f"{name}_empty"] = float(np.mean([not ranks[h] for h in holders]))
    return out


def run(out_dir: Path) -> str:
    try:
        from training.datasets.world import generate_world
    except ImportError:
        return (
            "## Skills profile\n\nNot run: the world generator (`training.datasets.world`) is not in this "
            "tree yet.\n"
        )
    rows = []
    for seed in SEEDS:
        world = Path(out_dir) / f"world-{SCALE}-{seed}"
        if not (world / "truth" / "holder_skills.csv").exists():
            generate_world(world, scale=SCALE, seed=seed)
        rows.append((seed, evaluate_world(world, seed=seed)))
    lines = [
        "## Skills profile (purpose 9)",
        "",
        f"Profiles of the `{SCALE}` world's holders (up to {MAX_HOLDERS} per seed) against their true skills "
        "(`truth/holder_skills.csv`). *profile*: declared experience + trainings completed in our files; "
        "*declared only*: without those trainings; *baseline*: the declared jobs' occupations' skills only, "
        "by link weight. The world's truth holds the skills held before the simulated window, so skills of "
        "trainings completed inside the window count as wrong here although the holder learnt them.",
        "",
        f"| seed | holders | true skills / holder | profile P@{K} | R@{K} | declared only P@{K} | R@{K} "
        f"| baseline P@{K} | R@{K} | s / profile |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seed, m in rows:
        lines.append(
            f"| {seed} | {m['holders']:.0f} | {m['mean_true_skills']:.1f} | {m['profile_precision']:.3f} | "
            f"{m['profile_recall']:.3f} | {m['declared_precision']:.3f} | {m['declared_recall']:.3f} | "
            f"{m['baseline_precision']:.3f} | {m['baseline_recall']:.3f} | {m['seconds_per_profile']:.3f} |"
        )
    lines += ["", f"Reproduce: `python -m training.bench --only profile` (worlds cached under `{out_dir}`)."]
    return "\n".join(lines) + "\n"
