"""The files of a generated world: the import files (in the world format of ``ingest.world_format``), the demo
users, the demo holders' enrolment files to replay (``demo_files.json``, ``world_demo_files``) and the truth
(``truth/``), with holders given their ids (three demo holders first)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.world_format import COLUMNS, EXPERIENCE, HOLDERS, INTERACTIONS, TRAININGS
from training.datasets.world_builder import WorldBuilder
from training.datasets.world_demo_files import write_demo_files
from training.datasets.world_reference import EMPLOYMENT_STATUSES, REGION_CODES
from training.datasets.world_time import days_to_iso, seconds_to_iso
from training.datasets.world_utility import VARIANT_TRUTH_FILES

DEMO_USERS = "demo_users.csv"  # passwords documented in data/README.md: "demo-<username>"
TRUTH = "truth"
TRUTH_FILES = {  # truth frame → file under truth/
    "preferences": "holder_preferences.csv",
    "holder_skills": "holder_skills.csv",
    "goal_skills": "holder_goal_skills.csv",
    "training_truth": "trainings.csv",
    "providers": "providers.csv",
    **VARIANT_TRUTH_FILES,  # the latent terms of a variant of the zoo, when it has them
}


@dataclass(frozen=True)
class Written:
    """What :func:`write_world` wrote, for the manifest and the summary."""

    experience_rows: int
    interactions_rows: int
    events: dict[str, int]  # interactions by event
    ledger_movements: int
    usernames: list[str]  # demo users


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def demo_order(builder: WorldBuilder, cpf: np.ndarray) -> np.ndarray:
    """Holder order with three demo holders first: employees with a declared target, a live enrolment and
    CPF rights left (falling back to fewer conditions)."""
    pop, enrolments = builder.population, builder.interactions.enrolments
    enrolled = np.zeros(pop.n_h, dtype=bool)
    live = enrolments["cancel_ts"] < 0
    enrolled[enrolments["h"][live]] = True
    preferred = enrolled & (pop.h_target >= 0) & (pop.h_status == 0)
    demo: list[int] = []
    for mask in (preferred & (cpf > 0), preferred, enrolled, np.ones(pop.n_h, dtype=bool)):
        for h in np.flatnonzero(mask):
            if len(demo) < 3 and int(h) not in demo:
                demo.append(int(h))
    rest = [h for h in range(pop.n_h) if h not in set(demo)]
    return np.array(demo + rest, dtype=np.int64)


def write_world(
    out: Path,
    builder: WorldBuilder,
    trainings: pd.DataFrame,
    frames: dict[str, pd.DataFrame],
    cpf: np.ndarray,
    cec: np.ndarray,
    ledger: pd.DataFrame,
) -> Written:
    """Write the import files, the demo users and ``truth/`` of a built world into ``out``.

    ``trainings`` and ``frames`` are what :meth:`WorldBuilder.simulate` returned, ``cpf``, ``cec`` and ``ledger``
    what :meth:`WorldBuilder.final_ledger` returned.
    """
    pop, cat, esco = builder.population, builder.catalogue, builder.esco
    en, vw = builder.interactions.enrolments, builder.interactions.views
    order = demo_order(builder, cpf)
    rank = np.empty(pop.n_h, dtype=np.int64)
    rank[order] = np.arange(pop.n_h)
    hid = np.array([f"H{i + 1:06d}" for i in range(pop.n_h)], dtype=object)[rank]  # holder position → id

    holders = pd.DataFrame(
        {
            "holder_id": hid,
            "birth_year": pop.h_birth_year,
            "region_code": np.array(REGION_CODES)[pop.h_region],
            "employment_status": np.array(EMPLOYMENT_STATUSES)[pop.h_status],
            "qualification_level": np.where(pop.h_qual > 0, pop.h_qual.astype(str), ""),
            "cpf_balance_cents": cpf,
            "cec_balance_cents": cec,
            "preferred_modality": pop.h_pref_modality.astype(str),
            "target_occupation": np.where(pop.h_target >= 0, esco.occ_uris[np.maximum(pop.h_target, 0)], ""),
        }
    ).iloc[order]
    exp = pop.exp
    experience = pd.DataFrame(
        {
            "holder_id": hid[exp["h"]],
            "kind": exp["kind"],
            "label": exp["label"],
            "esco_uri": exp["uri"],
            "start_date": days_to_iso(exp["start"]),
            "end_date": np.where(exp["end"] >= 0, days_to_iso(np.maximum(exp["end"], 0)), ""),
        }
    ).sort_values("holder_id", kind="stable")
    t_ids = np.array(cat.t_ids, dtype=object)
    parts = [
        (vw["h"], vw["t"], "view", vw["ts"], 0),
        (en["h"], en["t"], "enrol", en["ts"], 1),
        (
            en["h"][en["cancel_ts"] >= 0],
            en["t"][en["cancel_ts"] >= 0],
            "cancel",
            en["cancel_ts"][en["cancel_ts"] >= 0],
            2,
        ),
        (
            en["h"][en["complete_ts"] >= 0],
            en["t"][en["complete_ts"] >= 0],
            "complete",
            en["complete_ts"][en["complete_ts"] >= 0],
            3,
        ),
    ]
    interactions = pd.DataFrame(
        {
            "holder_id": np.concatenate([hid[p[0]] for p in parts]),
            "training_id": np.concatenate([t_ids[p[1]] for p in parts]),
            "event": np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts]),
            "ts": np.concatenate([p[3] for p in parts]).astype(np.int64),
            "rank": np.concatenate([np.full(len(p[0]), p[4]) for p in parts]),
        }
    ).sort_values(["ts", "holder_id", "training_id", "rank"], kind="stable")
    interactions["timestamp"] = seconds_to_iso(interactions["ts"].to_numpy())
    counts_by_event = interactions["event"].value_counts().to_dict()

    for name, frame in (
        (TRAININGS, trainings),
        (HOLDERS, holders),
        (EXPERIENCE, experience),
        (INTERACTIONS, interactions),
    ):
        write_csv(frame[list(COLUMNS[name])], out / name)
    usernames = _write_demo_users(out, builder, order)
    demo_holders = [f"H{i + 1:06d}" for i in range(min(3, pop.n_h))]
    write_demo_files(out, builder, cat.p_ids.index(demo_provider(builder, order)), demo_holders)
    _write_truth(out / TRUTH, builder, frames, hid, ledger)
    return Written(
        experience_rows=len(experience),
        interactions_rows=len(interactions),
        events={k: int(counts_by_event.get(k, 0)) for k in ("view", "enrol", "cancel", "complete")},
        ledger_movements=len(ledger),
        usernames=usernames,
    )


def demo_provider(builder: WorldBuilder, order: np.ndarray) -> str:
    """The demo provider: the provider of most of the first demo holder's enrolments."""
    cat, en = builder.catalogue, builder.interactions.enrolments
    first = int(order[0])
    first_enrolments = en["t"][en["h"] == first]
    if len(first_enrolments):
        providers_of_first = pd.Series([cat.p_ids[cat.t_provider[t]] for t in first_enrolments])
        counts = providers_of_first.value_counts()
        return str(sorted(counts[counts == counts.max()].index)[0])
    return str(cat.p_ids[int(pd.Series(cat.t_provider[en["t"]]).mode().min())] if len(en["t"]) else cat.p_ids[0])


def _write_demo_users(out: Path, builder: WorldBuilder, order: np.ndarray) -> list[str]:
    """One user per role; the provider user is the provider of the first demo holder's enrolments."""
    provider_id = demo_provider(builder, order)
    users = [
        ("admin", "admin", "", "", ""),
        ("adviser", "adviser", "", "", ""),
        ("analyst", "analyst", "", "", ""),
        ("provider", "provider", "", provider_id, ""),
        ("funder", "funder", "", "", "CDC"),
    ]
    users += [(f"holder{i + 1}", "holder", f"H{i + 1:06d}", "", "") for i in range(min(3, builder.population.n_h))]
    write_csv(
        pd.DataFrame(
            [(u, f"demo-{u}", r, h, p, f) for u, r, h, p, f in users],
            columns=["username", "password", "role", "holder_id", "provider_id", "funder_id"],
        ),
        out / DEMO_USERS,
    )
    return [u[0] for u in users]


def _write_truth(
    truth_dir: Path, builder: WorldBuilder, frames: dict[str, pd.DataFrame], hid: np.ndarray, ledger: pd.DataFrame
) -> None:
    pop, cat, esco = builder.population, builder.catalogue, builder.esco
    en, vw = builder.interactions.enrolments, builder.interactions.views
    t_ids = np.array(cat.t_ids, dtype=object)
    for name, frame in frames.items():
        if name in ("holders",):
            continue
        frame = frame.copy()
        if "holder_id" in frame:
            frame["holder_id"] = hid[frame["holder_id"].to_numpy(dtype=np.int64)]
            frame = frame.sort_values(["holder_id"], kind="stable")
        write_csv(frame, truth_dir / TRUTH_FILES[name])
    jobs = pop.jobs
    write_csv(
        pd.DataFrame(
            {
                "holder_id": hid[jobs["h"]],
                "occupation_uri": esco.occ_uris[builder.occupations.pool[jobs["occ"]]],
                "start_date": days_to_iso(jobs["start"]),
                "end_date": days_to_iso(jobs["end"]),
                "time_fraction": jobs["frac"],
                "self_employed": jobs["self"],
            }
        ).sort_values("holder_id", kind="stable"),
        truth_dir / "jobs.csv",
    )
    act = builder.activity
    write_csv(
        pd.DataFrame(
            {
                "holder_id": hid[act["h"]] if len(act["h"]) else [],
                "year": act["year"],
                "time_fraction": act["fraction"],
                "worked_hours": act["hours"],
                "status": act["status"],
                "without_level3": pop.h_qual[act["h"]] == 0 if len(act["h"]) else [],
                "disability": pop.h_disability[act["h"]] if len(act["h"]) else [],
                "credit_cents": act["credit"],
                "ceiling_cents": act["ceiling"],
                "posted_date": days_to_iso(act["day"]) if len(act["h"]) else [],
            }
        ).sort_values(["holder_id", "year"], kind="stable"),
        truth_dir / "activity_years.csv",
    )
    ledger = ledger.copy()
    ledger.insert(0, "holder_id", hid[ledger["h"].to_numpy(dtype=np.int64)])
    ledger.insert(1, "date", days_to_iso(ledger["day"].to_numpy()))
    write_csv(
        ledger.drop(columns=["h", "day"]).sort_values("holder_id", kind="stable"), truth_dir / "ledger.csv"
    )
    outcome = np.where(
        en["cancel_ts"] >= 0,
        "cancelled",
        np.where(
            en["complete_ts"] >= 0, "completed", np.where(en["dropout_day"] >= 0, "dropout", "in_progress")
        ),
    )
    write_csv(
        pd.DataFrame(
            {
                "holder_id": hid[en["h"]],
                "training_id": t_ids[en["t"]],
                "session_start": en["session"],
                "enrolled_at": seconds_to_iso(en["ts"]),
                "outcome": outcome,
                "completion_pct": en["completion_pct"],
            }
        ).sort_values(["holder_id", "training_id"], kind="stable"),
        truth_dir / "enrolments.csv",
    )
    write_csv(
        pd.DataFrame(
            {"holder_id": hid[vw["h"]], "training_id": t_ids[vw["t"]], "utility": vw["u"]}
        ).sort_values(["holder_id", "training_id"], kind="stable"),
        truth_dir / "viewed_utility.csv",
    )
