"""Replay the demo holders' enrolment files (``demo_files.json``, written by the world generator) through the real
services, each transition on its business date, so the demo world holds files in every state with the ledger
moved exactly as the rules say (reservation at confirmation, payment and return of the rest at the batch).

Run once after ``parcours import`` and ``parcours user import`` (``parcours world demo-files``): a holder who already
has a file for the training and session is skipped, so a second run changes nothing.

The demo holders but the last also let the demo advisers see their data (``grant_demo_consents``): otherwise an
adviser signing in to the demo finds an empty page; the last holder shows what an adviser without consent gets.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parcours.errors import ValidationFailed
from parcours.store.models import User
from parcours.store.supporting_models import Enrolment
from serving.services import enrolment_files as files
from serving.services.access import find_active_consent
from serving.services.actors import Actor
from serving.services.consents import grant_consent
from serving.services.payments import run_payment_batch

DEMO_FILES = "demo_files.json"  # the generator's name for it (training.datasets.world_demo_files)
DEMO_USERS = "demo_users.csv"
# Steps of one file in the order they happen on the same day.
STEPS = ("request", "accept", "confirm", "entry", "exit", "service_done", "pay")


@dataclass(frozen=True)
class Replayed:
    business_date: dt.date
    files: dict[str, int]  # state → enrolment id
    skipped: int
    consents: list[tuple[str, str]] = field(default_factory=list)  # (holder id, adviser) granted by this run

    def summary(self) -> str:
        made = ", ".join(f"{state} #{number}" for state, number in self.files.items()) or "none"
        granted = ", ".join(f"{holder} to {adviser}" for holder, adviser in self.consents) or "none new"
        return (f"demo files: {made}; {self.skipped} already there; consents: {granted}. Serve them with "
                f"PARCOURS_BUSINESS_DATE={self.business_date.isoformat()}")


def read_plan(folder: Path) -> dict[str, object]:
    path = folder / DEMO_FILES
    if not path.is_file():
        raise ValidationFailed([{"field": "folder", "message": f"{path} not found (generate the world again)"}],
                               f"{path} not found")
    plan: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return plan


def replay_demo_files(
    factory: sessionmaker[Session], folder: Path, *, remittance_dir: Path
) -> Replayed:
    """Take each file of the plan through its transitions, in date order across files (a payment batch pays
    only the files service done before it)."""
    plan = read_plan(folder)
    rows: list[dict[str, str | int]] = list(plan["files"])  # type: ignore[call-overload]
    steps: list[tuple[dt.date, int, int]] = []  # (day, step, row)
    for number, row in enumerate(rows):
        dates = {"request": row["requested_on"], "accept": row["requested_on"], "confirm": row["confirmed_on"],
                 "entry": row.get("entry_on"), "exit": row.get("exit_on"),
                 "service_done": row.get("service_done_on"), "pay": row.get("paid_on")}
        steps += [(dt.date.fromisoformat(str(day)), STEPS.index(step), number)
                  for step, day in dates.items() if day]
    ids: dict[int, int] = {}
    skipped = set()
    with factory() as session:
        for number, row in enumerate(rows):
            found = session.scalar(select(Enrolment.enrolment_id).where(
                Enrolment.holder_id == row["holder_id"], Enrolment.training_id == row["training_id"],
                Enrolment.session_start == dt.date.fromisoformat(str(row["session_start"]))))
            if found is not None:
                skipped.add(number)
    for day, step, number in sorted(steps):
        if number in skipped:
            continue
        if STEPS[step] == "pay":
            run_payment_batch(factory, actor=Actor.system("demo"), on=day, remittance_dir=remittance_dir)
            continue
        with factory() as session, session.begin():
            ids[number] = _apply(session, STEPS[step], rows[number], ids.get(number), day).enrolment_id
    made = {str(rows[n]["state"]): ids[n] for n in sorted(ids)}
    consents = grant_demo_consents(factory, folder)
    return Replayed(dt.date.fromisoformat(str(plan["business_date"])), made, len(skipped), consents)


def grant_demo_consents(factory: sessionmaker[Session], folder: Path) -> list[tuple[str, str]]:
    """Each demo holder but the last (``demo_users.csv``, by username) consents to each demo adviser, as the holder
    would through the API (``grant_consent``, audited); a consent already active is kept. Returns those granted."""
    path = folder / DEMO_USERS
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    holders = sorted(r["username"] for r in rows if r.get("role") == "holder")[:-1]
    advisers = sorted(r["username"] for r in rows if r.get("role") == "adviser")
    granted: list[tuple[str, str]] = []
    with factory() as session, session.begin():
        users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(holders + advisers)))}
        now = dt.datetime.now(dt.UTC)
        for name in holders:
            holder = users.get(name)
            if holder is None or holder.holder_id is None:
                continue  # users not imported yet: nothing to consent for
            for adviser in advisers:
                if adviser in users and find_active_consent(session, holder.holder_id, adviser, now) is None:
                    grant_consent(session, holder, holder.holder_id, adviser)
                    granted.append((holder.holder_id, adviser))
    return granted


def _apply(session: Session, step: str, row: dict[str, str | int], file_id: int | None, day: dt.date) -> Enrolment:
    holder = Actor(f"demo:{row['holder_id']}", "holder", holder_id=str(row["holder_id"]))
    provider = Actor(f"demo:{row['provider_id']}", "provider", provider_id=str(row["provider_id"]))
    if step == "request":
        return files.create_enrolment(session, actor=holder, holder_id=str(row["holder_id"]),
                                      training_id=str(row["training_id"]),
                                      session_start=dt.date.fromisoformat(str(row["session_start"])), on=day)
    assert file_id is not None
    if step == "accept":
        return files.accept(session, file_id, actor=provider, on=day)
    if step == "confirm":
        price = session.get(Enrolment, file_id).price_cents  # type: ignore[union-attr]
        # The demo holder agrees to pay what their rights leave uncovered, so every planned file confirms.
        return files.confirm(session, file_id, actor=holder, on=day, max_out_of_pocket_cents=price)
    if step == "entry":
        return files.declare_entry(session, file_id, actor=provider, on=day)
    if step == "exit":
        return files.declare_exit(session, file_id, actor=provider, on=day,
                                  exit_date=dt.date.fromisoformat(str(row["exit_date"])))
    return files.declare_service_done(session, file_id, actor=provider, on=day,
                                      completion_rate=row["completion_rate"])
