"""Concurrent confirmations against holders who can afford only some of their files: no balance goes below
zero, no file is confirmed twice, every refusal is a clean 409, and the ledger reconciles to the cent.

On PostgreSQL: 20 holders with 10 accepted files each for sessions of the same training; rights and a shared
training-level top-up cover 0 to 4 of them. All 200 confirmations (plus 40 concurrent replays of some of them
under the same Idempotency-Key) are fired at once from 40 threads. Row locks (``SELECT … FOR UPDATE`` in
account order) serialise the spending of one balance; the database trigger is the second line. On SQLite
(documented behaviour: one writer at a time, taken before any read) a smaller race gives the same
guarantees."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from parcours.domain.ledger import InsufficientFunds, available_balances_cents, ledger_problems
from parcours.store.models import LedgerAccount, LedgerEntry, LedgerTransaction, TrainingSession
from parcours.store.supporting_models import Enrolment, TopUp
from serving.services import enrolment_files as files
from serving.services import topups
from serving.services.enrolment_views import enrolment_view
from serving.services.idempotency import IdempotencyKeyInUse, execute_idempotent
from tests.ledger_world import START, TODAY, add_funder, add_holder, add_training, funder, holder, provider
from tests.test_enrolments_db import World

PRICE = 150_000


@pytest.mark.postgres
def test_200_concurrent_confirmations_on_postgresql(pg_url):
    outcomes = race(World(pg_url), holders=20, files_per_holder=10, replays=40, threads=40)
    assert len(outcomes) == 240


def test_concurrent_confirmations_on_sqlite(sqlite_url):
    outcomes = race(World(sqlite_url), holders=6, files_per_holder=5, replays=10, threads=8)
    assert len(outcomes) == 40


def race(
    world: World, *, holders: int, files_per_holder: int, replays: int, threads: int
) -> list[tuple[int, str]]:
    sessions = tuple(START + dt.timedelta(weeks=k) for k in range(files_per_holder))
    # holder i: 0–4 files' worth of rights (and some cents), half of them with a 50,000-cent OPCO top-up offer
    opening = {f"H{i}": (i % 5) * PRICE + 12_345 * (i % 3) for i in range(holders)}
    offers = {f"H{i}": 50_000 for i in range(holders) if i % 2 == 0}

    def seed(session):
        add_training(session, "T1", provider_id="P1", price_cents=PRICE, starts=sessions)
        add_funder(session, "OPCO1", "opco")
        for holder_id, cents in opening.items():
            add_holder(session, holder_id, cpf_cents=cents)

    world.seed(seed)
    for holder_id, cents in offers.items():
        world.run(
            lambda s, h=holder_id, c=cents: topups.grant_topup(
                s, actor=funder("OPCO1"), amount_cents=c, on=TODAY, holder_id=h, training_id="T1"
            )
        )
    file_ids = []
    for holder_id in opening:
        for start in sessions:
            file_id = world.create(holder_id, start=start)
            world.run(lambda s, f=file_id: files.accept(s, f, actor=provider("P1"), on=TODAY))
            file_ids.append(file_id)
    with world.factory() as session:
        assert session.scalar(select(func.count()).select_from(TrainingSession)) == files_per_holder
        owner = dict(session.execute(select(Enrolment.enrolment_id, Enrolment.holder_id)).all())

    requests = [(file_id, str(uuid.uuid4())) for file_id in file_ids]
    random.Random(6).shuffle(requests)
    requests += random.Random(7).sample(requests, replays)  # concurrent replays of the same requests
    barrier = threading.Barrier(threads)
    outcomes: list[tuple[int, str]] = []

    def confirm(request: tuple[int, str]) -> None:
        file_id, key = request
        actor = holder(owner[file_id])
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1)
        try:
            result = execute_idempotent(
                world.factory,
                caller=actor.username,
                key=key,
                method="POST",
                path=f"/v1/enrolments/{file_id}/confirm",
                body={},
                operation=lambda s: (
                    200,
                    enrolment_view(s, files.confirm(s, file_id, actor=actor, on=TODAY), actor),
                ),
            )
            outcomes.append((file_id, "replayed" if result.replayed else "confirmed"))
        except InsufficientFunds:
            outcomes.append((file_id, "insufficient"))
        except IdempotencyKeyInUse:
            outcomes.append((file_id, "in_use"))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(confirm, requests))  # any other exception (deadlock, 500) fails the test here

    assert len(outcomes) == len(requests)
    confirmed_files = [f for f, outcome in outcomes if outcome == "confirmed"]
    assert len(confirmed_files) == len(set(confirmed_files))  # never confirmed twice
    with world.factory() as session:
        assert (
            ledger_problems(session) == []
        )  # no account below zero; every transaction and the whole sum to 0
        states = Counter(session.scalars(select(Enrolment.state)))
        assert states["confirmed"] == len(confirmed_files) and states["accepted"] == len(file_ids) - len(
            confirmed_files
        )
        per_holder = Counter(owner[f] for f in confirmed_files)
        for holder_id, cents in opening.items():
            available = available_balances_cents(session, holder_id)["cpf"]
            offer_left = topups.eligible_topups_cents(session, holder_id, "T1")
            held = session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
                .join(LedgerAccount)
                .where(LedgerAccount.code.like("file:%"), LedgerAccount.holder_id == holder_id)
            )
            # a top-up partly used by a file gives the rest back to its funder at confirmation
            released = session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
                .join(LedgerAccount)
                .join(LedgerTransaction, LedgerTransaction.transaction_id == LedgerEntry.transaction_id)
                .where(
                    LedgerAccount.code == "funder:opco:OPCO1",
                    LedgerTransaction.kind == "topup_release",
                    LedgerTransaction.reference.in_(
                        [
                            f"topup-release:{t.topup_id}"
                            for t in session.scalars(select(TopUp).where(TopUp.holder_id == holder_id))
                        ]
                    ),
                )
            )
            # conservation to the cent: what came in is what is left plus what the files hold
            assert cents + offers.get(holder_id, 0) == available + offer_left + held + released, holder_id
            assert held == per_holder[holder_id] * PRICE, holder_id
            # as many files as the money allows, and not one more
            assert per_holder[holder_id] == (cents + offers.get(holder_id, 0)) // PRICE, holder_id
            assert available + offer_left < PRICE, holder_id
        total = session.scalar(select(func.sum(LedgerEntry.amount_cents)))
        assert total == 0
    assert 0 < len(confirmed_files) < len(file_ids)
    return outcomes
