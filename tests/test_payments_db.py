"""Payment batches on a real database: each service-done file paid exactly once, unspent rights returned, one
remittance file per provider — including after the batch process is killed (SIGKILL) mid-run and run again.
Runs on SQLite (a file database) and, with PARCOURS_TEST_PG_URL, on PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from parcours.domain import rules
from parcours.errors import Forbidden
from parcours.store.models import LedgerAccount, LedgerEntry, LedgerTransaction
from parcours.store.supporting_models import Enrolment, PaymentBatch, PaymentItem
from serving.services.payments import run_payment_batch
from tests.ledger_world import ADMIN, START, add_holder, add_training, holder
from tests.test_enrolments_db import World

REPO = Path(__file__).resolve().parent.parent
PAY_DAY = START + dt.timedelta(days=10)
RATES = [100, 50, "33.33", 0, 87.5, 12, 100, 66.67, 1, 99]


def _seed_files(world: World, count: int) -> dict[int, int]:
    """``count`` service-done files over two providers; returns the expected payment of each file."""
    prices = {"T1": 150_000, "T2": 99_999}
    world.seed(
        lambda s: (
            add_training(s, "T1", provider_id="P1", price_cents=prices["T1"]),
            add_training(s, "T2", provider_id="P2", price_cents=prices["T2"]),
            [add_holder(s, f"H{i}", cpf_cents=120_000, cec_cents=10_000) for i in range(count)],
        )
    )
    expected = {}
    for i in range(count):
        training = "T1" if i % 2 else "T2"
        rate = RATES[i % len(RATES)]
        file_id = world.to_state(
            f"H{i}",
            "service_done",
            training_id=training,
            provider_id="P1" if i % 2 else "P2",
            rate=rate,
            max_out_of_pocket_cents=100_000,
        )
        expected[file_id] = rules.payment_amount_cents(prices[training], rules.completion_basis_points(rate))
    return expected


def _check_paid_once(world: World, expected: dict[int, int], remittance_dir: Path) -> None:
    with world.factory() as session:
        items = session.scalars(select(PaymentItem)).all()
        assert sorted(i.enrolment_id for i in items) == sorted(expected)  # each file paid, once
        assert {i.enrolment_id: i.amount_cents for i in items} == expected
        payments = session.execute(
            select(LedgerTransaction.reference, func.count())
            .where(LedgerTransaction.reference.startswith("payment:"))
            .group_by(LedgerTransaction.reference)
        ).all()
        assert all(n == 1 for _ref, n in payments)
        providers = dict(
            session.execute(
                select(LedgerAccount.code, func.sum(LedgerEntry.amount_cents))
                .join(LedgerEntry)
                .where(LedgerAccount.code.startswith("provider:"))
                .group_by(LedgerAccount.code)
            ).all()
        )
        by_provider = {}
        for item in items:
            by_provider[item.provider_id] = by_provider.get(item.provider_id, 0) + item.amount_cents
        assert {code.removeprefix("provider:"): int(v) for code, v in providers.items()} == by_provider
        assert set(session.scalars(select(Enrolment.state))) == {"closed"}
        held = session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
            .join(LedgerAccount)
            .where(LedgerAccount.code.startswith("file:"))
        )
        assert held == 0  # nothing left reserved
        assert (
            session.scalar(
                select(func.count()).select_from(PaymentBatch).where(PaymentBatch.state == "running")
            )
            == 0
        )
    assert world.problems() == []
    remitted: dict[int, int] = {}
    for path in remittance_dir.glob("remittance-*.csv"):
        for row in csv.DictReader(io.StringIO(path.read_text())):
            assert int(row["enrolment_id"]) not in remitted
            remitted[int(row["enrolment_id"])] = int(row["amount_cents"])
    assert remitted == expected


def test_batch_pays_each_file_once_and_writes_remittances(db_url, tmp_path):
    world = World(db_url)
    expected = _seed_files(world, 6)
    first = run_payment_batch(world.factory, actor=ADMIN, on=PAY_DAY, remittance_dir=tmp_path)
    assert first["paid_in_this_run"] == 6 and not first["resumed"]
    assert first["total_cents"] == sum(expected.values())
    assert {r["provider_id"] for r in first["remittances"]} == {"P1", "P2"}
    assert all(Path(r["path"]).read_text() == r["csv"] for r in first["remittances"])
    _check_paid_once(world, expected, tmp_path)
    # a second run finds nothing to pay and changes nothing
    with world.factory() as session:
        entries = session.scalar(select(func.count()).select_from(LedgerEntry))
    second = run_payment_batch(world.factory, actor=ADMIN, on=PAY_DAY, remittance_dir=tmp_path)
    assert second["paid_in_this_run"] == 0 and second["files_paid"] == []
    with world.factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == entries
    _check_paid_once(world, expected, tmp_path)
    with pytest.raises(Forbidden):
        run_payment_batch(world.factory, actor=holder("H0"), on=PAY_DAY, remittance_dir=tmp_path)


def test_database_refuses_a_second_payment_item(db_url, tmp_path):
    world = World(db_url)
    _seed_files(world, 1)
    run_payment_batch(world.factory, actor=ADMIN, on=PAY_DAY, remittance_dir=tmp_path)
    with world.factory() as session, pytest.raises(DBAPIError):
        session.execute(
            text(
                "INSERT INTO payment_items (batch_id, enrolment_id, provider_id, amount_cents, "
                "returned_cents, paid_at) SELECT batch_id, enrolment_id, provider_id, amount_cents, "
                "returned_cents, paid_at FROM payment_items"
            )
        )
        session.commit()


BATCH_SCRIPT = textwrap.dedent("""
    import datetime as dt, os, signal, sys, time
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    from parcours.store.engine import session_factory
    from serving.services.actors import Actor
    from serving.services.payments import run_payment_batch

    url, mode, remittance_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    hook = None
    if mode.startswith("after:"):
        # die right after the n-th file's transaction has committed
        kill_after = int(mode.split(":")[1])
        def hook(n):
            if n >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "slow":
        # hold every transaction open a little before COMMIT, so an outside SIGKILL lands inside one
        @event.listens_for(Session, "before_commit")
        def slow(_session):
            time.sleep(0.1)
    run_payment_batch(session_factory(url), actor=Actor("admin", "admin"), on=dt.date(2025, 4, 17),
                      remittance_dir=remittance_dir, on_file_paid=hook)
""")


def _batch_process(db_url: str, mode: str, remittance_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", BATCH_SCRIPT, db_url, mode, str(remittance_dir)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _paid_count(world: World) -> int:
    with world.factory() as session:
        return session.scalar(select(func.count()).select_from(PaymentItem))


@pytest.mark.parametrize("mode", ["after:7", "outside"])
def test_batch_killed_mid_run_then_rerun_pays_each_file_once(db_url, tmp_path, mode):
    world = World(db_url)
    expected = _seed_files(world, 20)
    if mode == "outside":
        process = _batch_process(db_url, "slow", tmp_path)
        deadline = time.monotonic() + 60
        while _paid_count(world) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    else:
        process = _batch_process(db_url, mode, tmp_path)
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode() if process.stderr else ""
    paid_before_rerun = _paid_count(world)
    assert 0 < paid_before_rerun < len(expected)
    if mode == "after:7":
        assert paid_before_rerun == 7
    with world.factory() as session:
        assert session.scalar(select(PaymentBatch.state)) == "running"  # the crashed batch, unfinished
        assert world.problems() == []  # ... and a sound ledger
    rerun = _batch_process(db_url, "after:1000", tmp_path)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read().decode() if rerun.stderr else ""
    with world.factory() as session:
        assert session.scalar(select(func.count()).select_from(PaymentBatch)) == 1  # resumed, not a new one
    _check_paid_once(world, expected, tmp_path)
