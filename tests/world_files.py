"""Small, valid world folders in the import format, written row by row, for the importer tests and benchmark.

``write_world`` writes the four CSV files (and manifest.json) from plain dicts so tests can break one field of
one row and know exactly which file, row and field the importer must name. Run as a module to write a large
world for measuring the importer:
``python -m tests.world_files --out /tmp/world --trainings 200000 --holders 100000 --interactions 1000000``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from features.esco import load_taxonomy
from ingest.world_format import COLUMNS, EXPERIENCE, HOLDERS, INTERACTIONS, TRAININGS

# The importer's column lists are the one definition of the world format (ingest/world_format.py).
TRAINING_COLUMNS = list(COLUMNS[TRAININGS])
HOLDER_COLUMNS = list(COLUMNS[HOLDERS])
EXPERIENCE_COLUMNS = list(COLUMNS[EXPERIENCE])
INTERACTION_COLUMNS = list(COLUMNS[INTERACTIONS])
COLUMNS = {
    "trainings.csv": TRAINING_COLUMNS,
    "holders.csv": HOLDER_COLUMNS,
    "experience.csv": EXPERIENCE_COLUMNS,
    "interactions.csv": INTERACTION_COLUMNS,
}
AS_OF = dt.date(2025, 1, 1)


@dataclass(frozen=True)
class EscoSample:
    skills: list[str]
    occupations: list[str]
    isco_group: str


@lru_cache(maxsize=1)
def esco_sample(n: int = 200) -> EscoSample:
    """Real ESCO URIs (the first n skills and occupations in URI order) and one ISCO group URI."""
    taxonomy = load_taxonomy()
    return EscoSample(
        sorted(taxonomy.skills.index)[:n],
        sorted(taxonomy.occupations.index)[:n],
        sorted(taxonomy.isco_groups.index)[-1],
    )


def world_rows(
    trainings: int = 3, holders: int = 3, interactions_per_holder: int = 2, seed: int = 0
) -> dict[str, list[dict[str, str]]]:
    """Valid rows of each file as dicts of strings (what a CSV holds)."""
    rng = random.Random(seed)
    esco = esco_sample()
    training_rows = [
        {
            "training_id": f"T{i:06d}",
            "title": f"Training {i}",
            "description": f"Learn topic {i}, step by step.",
            "certification_code": f"RNCP{34000 + i}" if i % 2 else f"RS{5000 + i}",
            "provider_id": f"P{i % 3}",
            "provider_name": f"Provider {i % 3}",
            "price_cents": str(100_000 + 1000 * i),
            "hours": str(35 + i % 100),
            "modality": ("onsite", "remote", "hybrid")[i % 3],
            "region_code": "11",
            "skills": "|".join(rng.sample(esco.skills, 3)),
            "prerequisites": rng.choice(esco.skills),
            "target_occupations": rng.choice(esco.occupations),
            "level": str(3 + i % 6) if i % 4 else "",
            "start_dates": "2025-03-01|2025-09-01",
        }
        for i in range(trainings)
    ]
    holder_rows = [
        {
            "holder_id": f"H{j:06d}",
            "birth_year": str(1970 + j % 30),
            "region_code": "84",
            "employment_status": ("employee", "job_seeker", "self_employed")[j % 3],
            "qualification_level": str(3 + j % 6) if j % 5 else "",
            "cpf_balance_cents": str(50_000 * (1 + j % 9)),
            "cec_balance_cents": str(24_000 * (j % 3)),
            "preferred_modality": ("", "onsite", "remote")[j % 3],
            "target_occupation": rng.choice(esco.occupations) if j % 2 else "",
        }
        for j in range(holders)
    ]
    experience_rows = []
    for j in range(holders):
        experience_rows.append(
            {
                "holder_id": f"H{j:06d}",
                "kind": "job",
                "label": f"Job {j}",
                "esco_uri": rng.choice(esco.occupations),
                "start_date": "2015-01-01",
                "end_date": "2019-12-31",
            }
        )
        experience_rows.append(
            {
                "holder_id": f"H{j:06d}",
                "kind": "skill",
                "label": f"Skill {j}",
                "esco_uri": rng.choice(esco.skills),
                "start_date": "2020-01-01",
                "end_date": "",
            }
        )
    interaction_rows = [
        {
            "holder_id": f"H{j:06d}",
            "training_id": f"T{rng.randrange(trainings):06d}",
            "event": ("view", "enrol", "complete", "cancel")[k % 4],
            "timestamp": f"2024-{1 + k % 12:02d}-{1 + j % 28:02d}T10:{k % 60:02d}:00Z",
        }
        for j in range(holders)
        for k in range(interactions_per_holder)
    ]
    return {
        "trainings.csv": training_rows,
        "holders.csv": holder_rows,
        "experience.csv": experience_rows,
        "interactions.csv": interaction_rows,
    }


def write_csv(
    path: Path, columns: list[str], rows: list[dict[str, str]], *, bom: bool = False, line_end: str = "\n"
) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator=line_end)
        writer.writeheader()
        writer.writerows(rows)


def write_world(
    folder: Path, rows: dict[str, list[dict[str, str]]] | None = None, *, as_of: dt.date | None = AS_OF
) -> dict[str, list[dict[str, str]]]:
    """Write the four files (and a manifest with ``as_of``); returns the rows written."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = rows if rows is not None else world_rows()
    for name, columns in COLUMNS.items():
        write_csv(folder / name, columns, rows[name])
    if as_of is not None:
        (folder / "manifest.json").write_text(json.dumps({"as_of": as_of.isoformat()}), encoding="utf-8")
    return rows


def write_large_world(
    folder: Path, *, trainings: int, holders: int, interactions: int, seed: int = 0
) -> None:
    """A big valid world written line by line (bounded memory), to measure the importer."""
    rng = random.Random(seed)
    esco = esco_sample(2000)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "trainings.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRAINING_COLUMNS)
        for i in range(trainings):
            writer.writerow(
                [
                    f"T{i:07d}",
                    f"Training {i} in {rng.choice(esco.skills)[-8:]}",
                    f"A course of {30 + i % 300} hours, with practice.\nTaught by experts.",
                    f"RNCP{30000 + i % 9000}",
                    f"P{i % 2000:04d}",
                    f"Provider {i % 2000}",
                    50_000 + rng.randrange(500_000),
                    10 + i % 500,
                    ("onsite", "remote", "hybrid")[i % 3],
                    f"{11 + i % 80}",
                    "|".join(rng.sample(esco.skills, 5)),
                    "|".join(rng.sample(esco.skills, 2)),
                    "|".join(rng.sample(esco.occupations, 2)),
                    str(3 + i % 6) if i % 4 else "",
                    "2025-02-03|2025-06-02|2025-10-06",
                ]
            )
    with (folder / "holders.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HOLDER_COLUMNS)
        for j in range(holders):
            writer.writerow(
                [
                    f"H{j:07d}",
                    1960 + j % 45,
                    f"{11 + j % 80}",
                    ("employee", "job_seeker", "self_employed")[j % 3],
                    str(3 + j % 6) if j % 5 else "",
                    10_000 * rng.randrange(80),
                    24_000 * (j % 4 == 0),
                    ("", "onsite", "remote", "hybrid")[j % 4],
                    rng.choice(esco.occupations) if j % 2 else "",
                ]
            )
    with (folder / "experience.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EXPERIENCE_COLUMNS)
        for j in range(holders):
            writer.writerow(
                [
                    f"H{j:07d}",
                    "job",
                    f"Job of holder {j}",
                    rng.choice(esco.occupations),
                    "2012-09-01",
                    "2018-06-30",
                ]
            )
            writer.writerow([f"H{j:07d}", "skill", "A skill", rng.choice(esco.skills), "2019-01-01", ""])
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    with (folder / "interactions.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(INTERACTION_COLUMNS)
        for k in range(interactions):
            when = start + dt.timedelta(seconds=k * 31 + rng.randrange(30))
            writer.writerow(
                [
                    f"H{rng.randrange(holders):07d}",
                    f"T{rng.randrange(trainings):07d}",
                    ("view", "view", "view", "enrol", "complete", "cancel")[rng.randrange(6)],
                    when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ]
            )
    (folder / "manifest.json").write_text(json.dumps({"as_of": AS_OF.isoformat()}), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--trainings", type=int, default=200_000)
    parser.add_argument("--holders", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_large_world(
        args.out,
        trainings=args.trainings,
        holders=args.holders,
        interactions=args.interactions,
        seed=args.seed,
    )


if __name__ == "__main__":
    main()
