"""Enrolment files of the demo holders (``demo_files.json``): one in each state of the file's life after the
world's ``as_of``, so the demo can show entry, exit, service done and payment, not only requests.

The import format has no enrolment files: a file only exists through its transitions, which post to the ledger
(reservation at confirmation, payment and return of the rest at the batch). So this module only *dates* the
transitions, on sessions of the catalogue, and ``serving.services.demo_files`` replays them through the real
services after the import, each on its business date: funds move exactly as the rules say.

Every transition happens on or after ``as_of`` (the opening balances' date): files are requested and confirmed
on ``as_of`` for sessions starting at least the confirmation notice later, entries are declared on the first
day, exits on the session's last day. ``business_date`` is the first working day after the last of those
declarations: on it one file is paid, one service done, one exited, one in training and one confirmed (its
session starts after it). Trainings of the demo provider are preferred, so the ``provider`` demo user can act
on the files; the rest of the world is untouched.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from features.catalogue import WEEKLY_HOURS
from parcours.domain import rules
from training.datasets.world_builder import WorldBuilder
from training.datasets.world_reference import MODALITIES
from training.datasets.world_time import EPOCH, to_days

DEMO_FILES = "demo_files.json"
# The state each demo file is left in, in the order they are drawn; holders take them in turn.
DEMO_STATES = ("paid", "service_done", "exited", "in_training", "confirmed")
HORIZON_DAYS = 366  # sessions looked at after as_of


def _day(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(days))


def _working_day(day: dt.date) -> dt.date:
    """``day`` or, on a week-end or holiday, the next working day."""
    return rules.add_working_days(day - dt.timedelta(days=1), 1)


def _sessions(builder: WorldBuilder, provider: int) -> dict[str, np.ndarray]:
    """Every session starting between the confirmation notice after as_of and the horizon: training, start,
    last day, price, and whether the demo provider gives it."""
    cat = builder.catalogue
    first = to_days(rules.earliest_session_start(builder.as_of))
    counts = np.diff(cat.sess_ptr)
    training = np.repeat(np.arange(cat.n_t, dtype=np.int64), counts)
    start = cat.sess_days
    keep = (start >= first) & (start <= builder.as_of_day + HORIZON_DAYS)
    training, start = training[keep], start[keep]
    weekly = np.array([WEEKLY_HOURS[m] for m in MODALITIES], dtype=np.float64)[cat.t_modality[training]]
    # The path planner's pace: a session ends ceil(7 × hours / weekly hours) days after it starts.
    length = np.ceil(7.0 * cat.t_hours[training] / weekly).astype(np.int64)
    return {
        "training": training,
        "start": start,
        "last": start + np.maximum(length - 1, 0),
        "price": cat.t_price[training].astype(np.int64),
        "ours": cat.t_provider[training] == provider,
    }


def _pick(sessions: dict[str, np.ndarray], allowed: np.ndarray, key: np.ndarray, used: set[int]) -> int | None:
    """The session with the smallest ``key`` (then price) among ``allowed`` ones of trainings not used yet,
    the demo provider's first; None if there is none."""
    free = allowed & ~np.isin(sessions["training"], np.fromiter(used, dtype=np.int64, count=len(used)))
    for mask in (free & sessions["ours"], free):
        found = np.flatnonzero(mask)
        if len(found):
            order = np.lexsort((sessions["price"][found], key[found]))
            return int(found[order[0]])
    return None


def demo_file_plan(builder: WorldBuilder, provider: int, holder_ids: list[str]) -> dict[str, object]:
    """The dated transitions of the demo holders' files and the business date they are shown on."""
    cat = builder.catalogue
    sessions = _sessions(builder, provider)
    used: set[int] = set()
    everything = np.ones(len(sessions["start"]), dtype=bool)
    chosen: dict[str, int] = {}
    for state in ("paid", "service_done", "exited"):  # the three that finish first
        found = _pick(sessions, everything, sessions["last"], used)
        if found is None:
            break
        chosen[state] = found
        used.add(int(sessions["training"][found]))
    if len(chosen) < 3 or not holder_ids:
        return {"business_date": builder.as_of.isoformat(), "files": []}
    last = {state: _day(sessions["last"][i]) for state, i in chosen.items()}
    declared = {state: _working_day(day) for state, day in last.items()}  # exits declared on a working day
    paid_on = declared["paid"]
    # After the batch that pays the first file, so that batch leaves this one service done.
    service_done_on = max(declared["service_done"], rules.add_working_days(paid_on, 1))
    business = rules.add_working_days(max(declared["exited"], service_done_on), 1)
    business_day = to_days(business)
    running = (sessions["start"] <= business_day) & (sessions["last"] > business_day)
    found = _pick(sessions, running, -sessions["start"], used)
    if found is not None:
        chosen["in_training"] = found
        used.add(int(sessions["training"][found]))
    found = _pick(sessions, sessions["start"] > business_day, sessions["start"], used)
    if found is not None:
        chosen["confirmed"] = found
    files = []
    for number, state in enumerate(s for s in DEMO_STATES if s in chosen):
        i = chosen[state]
        start = _day(sessions["start"][i])
        row: dict[str, object] = {
            "holder_id": holder_ids[number % len(holder_ids)],
            "training_id": cat.t_ids[int(sessions["training"][i])],
            "provider_id": cat.p_ids[int(cat.t_provider[sessions["training"][i]])],
            "session_start": start.isoformat(),
            "state": state,
            "requested_on": builder.as_of.isoformat(),
            "confirmed_on": builder.as_of.isoformat(),
        }
        if state != "confirmed":
            row["entry_on"] = start.isoformat()
        if state in ("paid", "service_done", "exited"):
            row |= {"exit_date": last[state].isoformat(), "exit_on": declared[state].isoformat()}
        if state == "paid":
            row |= {"service_done_on": paid_on.isoformat(), "completion_rate": 100, "paid_on": paid_on.isoformat()}
        if state == "service_done":
            row |= {"service_done_on": service_done_on.isoformat(), "completion_rate": 100}
        files.append(row)
    return {"business_date": business.isoformat(), "as_of": builder.as_of.isoformat(), "files": files}


def write_demo_files(out: Path, builder: WorldBuilder, provider: int, holder_ids: list[str]) -> dict[str, object]:
    plan = demo_file_plan(builder, provider, holder_ids)
    (out / DEMO_FILES).write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    return plan

