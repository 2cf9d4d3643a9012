"""A Hypothesis state machine over the supporting services on a real (SQLite) database: random sequences of
credits, top-ups, enrolments, confirmations, cancellations, declarations, service done and payment batches.

After every step it checks that debits equal credits (globally and per transaction), that no account that may
not go negative is below zero, that no ledger entry was ever updated or deleted, that each file is paid at
most once, and that a file holds exactly its price while it is confirmed and nothing otherwise. Every refused
operation must leave the ledger exactly as it was. At least 200 sequences of at least 20 operations are run.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import sessionmaker

from parcours.errors import ParcoursError
from parcours.store.supporting_models import TopUp
from serving.services import cec, topups
from serving.services import enrolment_files as files
from serving.services.enrolment_states import TRANSITIONS
from serving.services.payments import run_payment_batch
from serving.services.rights import WorkTime, credit_annual_rights, credit_corrective_topup
from tests.ledger_world import ADMIN, add_funder, add_holder, add_training, funder, holder, provider

EXAMPLES = int(__import__("os").environ.get("SM_EXAMPLES", 200))
STEPS = 22
MIN_STEPS = 20
FIRST_START = dt.date(2025, 3, 17)
SESSIONS = tuple(FIRST_START + dt.timedelta(weeks=k) for k in range(8))
# holder, status, qualification level, opening CPF rights: some can afford several files, some none
HOLDERS = (
    ("H0", "employee", 4, 400_000),
    ("H1", "job_seeker", 4, 100_000),
    ("H2", "employee", None, 200_000),
    ("H3", "self_employed", 5, 50_000),
)
FUNDERS = (("OPCO1", "opco"), ("EMP1", "employer"), ("REG1", "region"))
HOLDING = ("confirmed", "in_training", "exited", "service_done")
ACTIVE_RANK = ("submitted", "accepted", *HOLDING)
TMP = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
STATS = {"examples": 0, "long_examples": 0, "ok": 0, "refused": 0}
OUTCOMES: Counter[str] = Counter()
OPERATIONS = {
    "create_enrolment",
    "accept",
    "refuse",
    "confirm",
    "cancel",
    "declare_entry",
    "declare_exit",
    "declare_service_done",
    "grant_topup",
    "revoke_topup",
    "credit_annual_rights",
    "credit_corrective_topup",
    "declare_activity",
    "decide_declaration",
    "credit_cec_year",
}

file_index = st.integers(0, 10_000)


@dataclass(frozen=True)
class FileRef:
    enrolment_id: int
    holder_id: str
    provider_id: str
    session_start: dt.date


def _ledger_size(session) -> tuple[int, int]:
    """Transactions and entries: as entries are never updated or deleted (an invariant checked after every
    step), an unchanged size means an unchanged ledger."""
    return tuple(
        session.connection()
        .exec_driver_sql(
            "SELECT (SELECT COUNT(*) FROM ledger_transactions), (SELECT COUNT(*) FROM ledger_entries)"
        )
        .one()
    )


def seed_world(session) -> None:
    add_training(session, "T1", provider_id="P1", price_cents=150_000, starts=SESSIONS)
    add_training(session, "T2", provider_id="P2", price_cents=99_999, starts=SESSIONS)
    for funder_id, kind in FUNDERS:
        add_funder(session, funder_id, kind)
    for holder_id, status, level, cpf in HOLDERS:
        add_holder(
            session,
            holder_id,
            cpf_cents=cpf,
            cec_cents=10_000,
            employment_status=status,
            qualification_level=level,
        )


def _engine(path: Path):
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    sa_event.listen(engine, "connect", _fast_sqlite)
    return engine


def _fast_sqlite(dbapi_connection, _record) -> None:
    """The pragmas of parcours.store.engine (foreign keys carry the balance check), without fsync: a scratch
    DB."""
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=30000", "synchronous=OFF"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


class SupportingServicesMachine(RuleBasedStateMachine):
    template: Path  # a migrated and seeded SQLite database (made once by the test), copied for each sequence

    def __init__(self) -> None:
        super().__init__()
        self.path = TMP / f"parcours-sm-{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, self.path)
        self.engine = _engine(self.path)
        self.factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.files: list[int] = []
        self.seen_entries: dict[int, tuple[int, int, int]] = {}
        self.steps = 0
        self.remittances = Path(tempfile.mkdtemp(prefix="parcours-sm-remit-", dir=TMP))

    def teardown(self) -> None:
        STATS["examples"] += 1
        # invariants run once before the first step and once after each step (the initialisation included)
        STATS["long_examples"] += (self.steps - 2) >= MIN_STEPS
        self.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(self.remittances, ignore_errors=True)

    # --- running operations ---------------------------------------------------------------------------------

    def attempt(self, operation) -> object | None:
        """Run one operation in its own transaction. A refusal (ParcoursError) must change nothing."""
        name = next(
            (n for n in operation.__code__.co_names if n in OPERATIONS), sys._getframe(1).f_code.co_name
        )
        with self.factory() as session:
            before = _ledger_size(session)
            try:
                result = operation(session)
                session.commit()
                STATS["ok"] += 1
                OUTCOMES[f"{name}: ok"] += 1
                return result
            except ParcoursError as exc:
                session.rollback()
                STATS["refused"] += 1
                OUTCOMES[f"{name}: {type(exc).__name__}"] += 1
                assert _ledger_size(session) == before
                return None

    def file(self, index: int) -> FileRef:
        with self.engine.connect() as connection:
            row = connection.exec_driver_sql(
                "SELECT enrolment_id, holder_id, provider_id, session_start FROM enrolments "
                "WHERE enrolment_id = ?",
                (self.files[index % len(self.files)],),
            ).one()
        return FileRef(row[0], row[1], row[2], dt.date.fromisoformat(str(row[3])))

    # --- operations (the world is seeded in the template) ---------------------------------------------------

    @rule(
        kind=st.sampled_from(["annual", "corrective", "cec"]),
        h=st.integers(0, 3),
        year=st.integers(2019, 2024),
        hours=st.sampled_from([0, 400, 803, 804, 1607]),
        activity=st.sampled_from(["civic_service", "volunteer_firefighter", "apprentice_master"]),
        validate=st.booleans(),
    )
    def credit(self, kind, h, year, hours, activity, validate):
        """Annual credit from declared work, corrective top-up, or a CEC activity (declared, decided,
        credited)."""
        holder_id, status, _level, _cpf = HOLDERS[h]
        if kind == "annual":
            status = "self_employed" if status == "self_employed" else "employee"
            self.attempt(
                lambda s: credit_annual_rights(
                    s, WorkTime(holder_id, year, status, hours), posted_on=dt.date(2025, 2, 1), actor="dsn"
                )
            )
        elif kind == "corrective":
            self.attempt(
                lambda s: credit_corrective_topup(
                    s,
                    actor=funder("EMP1"),
                    holder_id=holder_id,
                    staff_count=60,
                    review_due_on=dt.date(year, 6, 1),
                    on=dt.date(2025, 2, 1),
                )
            )
        else:
            declared = self.attempt(
                lambda s: cec.declare_activity(
                    s,
                    actor=holder(holder_id),
                    holder_id=holder_id,
                    activity_kind=activity,
                    activity_year=2024,
                    organisation_id="ORG",
                    on=dt.date(2025, 2, 1),
                    months=6 if activity == "civic_service" else None,
                )
            )
            if declared is not None:
                self.attempt(
                    lambda s: cec.decide_declaration(
                        s, declared.declaration_id, actor=ADMIN, on=dt.date(2025, 2, 2), validate=validate
                    )
                )
            self.attempt(
                lambda s: cec.credit_cec_year(s, activity_year=2024, on=dt.date(2025, 2, 3), actor="cec")
            )

    def open_file(self, h: int, training: str, session: int, days_before: int) -> None:
        holder_id = HOLDERS[h][0]
        start = SESSIONS[session]
        created = self.attempt(
            lambda s: files.create_enrolment(
                s,
                actor=holder(holder_id),
                holder_id=holder_id,
                training_id=training,
                session_start=start,
                on=start - dt.timedelta(days=days_before),
            )
        )
        if created is not None:
            self.files.append(created.enrolment_id)

    @rule(
        i=file_index,
        choice=st.integers(0, 9),
        offset=st.integers(-2, 40),
        h=st.integers(0, 3),
        training=st.sampled_from(["T1", "T2"]),
        session=st.integers(0, len(SESSIONS) - 1),
        rate=st.sampled_from([0, 1, "33.33", 50, "99.99", 100]),
        max_oop=st.sampled_from([0, 10_000, 200_000]),
    )
    def advance(self, i, choice, offset, h, training, session, rate, max_oop):
        """The next step of a file's life by its legitimate actor, with drawn dates (mostly within the rules):
        accept (or refuse), confirm, entry (or cancel, or no-show), exit, service done, payment; a new file
        when the chosen one is finished."""
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT enrolment_id, state FROM enrolments WHERE state IN "
                "('submitted', 'accepted', 'confirmed', 'in_training', 'exited', 'service_done') "
                "ORDER BY enrolment_id"
            ).all()
        if not rows or choice == 9:
            self.open_file(h, training, session, 1 + offset + 2 * choice)
            return
        # half the time the most advanced file, so that files live their whole life within a sequence
        active = sorted(rows, key=lambda row: -ACTIVE_RANK.index(row[1]))
        chosen = active[0][0] if choice % 2 else active[i % len(active)][0]
        f = self.file(self.files.index(chosen))
        state = self.state(f.enrolment_id)
        p, hol, start = provider(f.provider_id), holder(f.holder_id), f.session_start
        if state == "submitted":
            if choice == 0:
                self.attempt(
                    lambda s: files.refuse(s, f.enrolment_id, actor=p, on=start - dt.timedelta(days=30))
                )
            else:
                later = SESSIONS[-1] if choice == 1 else None
                self.attempt(
                    lambda s: files.accept(
                        s, f.enrolment_id, actor=p, on=start - dt.timedelta(days=30), session_start=later
                    )
                )
        elif state == "accepted":
            self.attempt(
                lambda s: files.confirm(
                    s,
                    f.enrolment_id,
                    actor=hol,
                    on=start - dt.timedelta(days=14 + offset // 2),
                    max_out_of_pocket_cents=max_oop,
                )
            )
        elif state == "confirmed":
            if choice < 2:
                actor = p if choice == 0 else hol
                self.attempt(
                    lambda s: files.cancel(
                        s, f.enrolment_id, actor=actor, on=start - dt.timedelta(days=offset // 4)
                    )
                )
            elif choice == 2:
                self.attempt(
                    lambda s: files.declare_service_done(
                        s,
                        f.enrolment_id,
                        actor=p,
                        on=start + dt.timedelta(days=offset // 8),
                        completion_rate=0,
                    )
                )
            else:
                self.attempt(
                    lambda s: files.declare_entry(
                        s, f.enrolment_id, actor=p, on=start + dt.timedelta(days=offset // 8)
                    )
                )
        elif state == "in_training":
            left = start + dt.timedelta(days=max(offset, 0))
            self.attempt(
                lambda s: files.declare_exit(
                    s, f.enrolment_id, actor=p, on=left + dt.timedelta(days=choice // 3), exit_date=left
                )
            )
        elif state == "exited":
            self.attempt(
                lambda s: files.declare_service_done(
                    s, f.enrolment_id, actor=p, on=start + dt.timedelta(days=offset + 5), completion_rate=rate
                )
            )
        elif state == "service_done":
            self.payment_batch()
        else:
            self.open_file(h, training, session, 30)

    @precondition(lambda self: self.files)
    @rule(
        i=file_index,
        action=st.sampled_from(sorted(set(TRANSITIONS) - {"pay", "close"})),
        who=st.sampled_from(["holder", "provider", "other holder", "other provider", "funder"]),
        offset=st.integers(-20, 20),
    )
    def any_action(self, i, action, who, offset):
        """Any action by anyone on any file: mostly refused (wrong actor, state or date), which must change
        nothing; sometimes legal."""
        f = self.file(i)
        actor = {
            "holder": holder(f.holder_id),
            "provider": provider(f.provider_id),
            "other holder": holder("H9"),
            "other provider": provider("P9"),
            "funder": funder("OPCO1"),
        }[who]
        on = f.session_start + dt.timedelta(days=offset)
        call = {
            "accept": lambda s: files.accept(s, f.enrolment_id, actor=actor, on=on),
            "refuse": lambda s: files.refuse(s, f.enrolment_id, actor=actor, on=on),
            "confirm": lambda s: files.confirm(s, f.enrolment_id, actor=actor, on=on),
            "cancel": lambda s: files.cancel(s, f.enrolment_id, actor=actor, on=on),
            "entry": lambda s: files.declare_entry(s, f.enrolment_id, actor=actor, on=on),
            "exit": lambda s: files.declare_exit(s, f.enrolment_id, actor=actor, on=on),
            "service_done": lambda s: files.declare_service_done(
                s, f.enrolment_id, actor=actor, on=on, completion_rate=50
            ),
        }[action]
        self.attempt(call)

    @rule(
        h=st.integers(0, 3),
        on_file=st.booleans(),
        i=file_index,
        f=st.integers(0, 3),
        amount=st.sampled_from([1, 5_000, 30_000, 100_000, 200_000]),
        first=st.booleans(),
        revoke=st.booleans(),
    )
    def topup(self, h, on_file, i, f, amount, first, revoke):
        """A top-up on a file or for a training, by a funder or the holder; or the revocation of one."""
        if revoke:
            with self.factory() as session:
                offered = session.scalars(select(TopUp).order_by(TopUp.topup_id)).all()
            if offered:
                topup = offered[i % len(offered)]
                actor = holder(topup.holder_id) if topup.funder_kind == "holder" else funder(topup.funder_id)
                self.attempt(
                    lambda s: topups.revoke_topup(
                        s, actor=actor, topup_id=topup.topup_id, on=dt.date(2025, 3, 2)
                    )
                )
            return
        actor = holder(HOLDERS[h][0]) if f == 3 else funder(FUNDERS[f][0])
        if on_file and self.files:
            target = self.file(i)
            if f == 3:
                actor = holder(target.holder_id)
            self.attempt(
                lambda s: topups.grant_topup(
                    s,
                    actor=actor,
                    amount_cents=amount,
                    on=dt.date(2025, 3, 1),
                    enrolment_id=target.enrolment_id,
                    spend_before_rights=first,
                )
            )
        else:
            self.attempt(
                lambda s: topups.grant_topup(
                    s,
                    actor=actor,
                    amount_cents=amount,
                    on=dt.date(2025, 3, 1),
                    holder_id=HOLDERS[h][0],
                    training_id="T1",
                    spend_before_rights=first,
                )
            )

    def has_files_to_pay(self) -> bool:
        with self.engine.connect() as connection:
            return bool(
                connection.exec_driver_sql(
                    "SELECT COUNT(*) FROM enrolments WHERE state = 'service_done'"
                ).scalar()
            )

    @precondition(lambda self: self.has_files_to_pay())
    @rule()
    def payment_batch(self):
        OUTCOMES["payment_batch: ok"] += 1
        run_payment_batch(self.factory, actor=ADMIN, on=dt.date(2025, 12, 1), remittance_dir=self.remittances)

    def state(self, enrolment_id: int) -> str:
        with self.engine.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT state FROM enrolments WHERE enrolment_id = ?", (enrolment_id,)
            ).scalar_one()

    # --- invariants, after every step -----------------------------------------------------------------------

    @invariant()
    def ledger_invariants(self):
        """Checked in plain SQL, independently of the code under test: debits equal credits (globally and per
        transaction, at least two legs); no account that may not go negative is below zero; entries never
        updated or deleted; each file paid at most once (paid and closed files exactly once); a file holds its
        price while confirmed and nothing otherwise."""
        self.steps += 1
        with self.engine.connect() as connection:
            sql = connection.exec_driver_sql
            assert sql("SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_entries").scalar() == 0
            assert (
                sql(
                    "SELECT COUNT(*) FROM (SELECT t.transaction_id FROM ledger_transactions t "
                    "LEFT JOIN ledger_entries e ON e.transaction_id = t.transaction_id "
                    "GROUP BY t.transaction_id "
                    "HAVING COALESCE(SUM(e.amount_cents), 0) <> 0 OR COUNT(e.entry_id) < 2)"
                ).scalar()
                == 0
            )
            assert (
                sql(
                    "SELECT COUNT(*) FROM (SELECT a.account_id FROM ledger_accounts a JOIN ledger_entries e "
                    "ON e.account_id = a.account_id WHERE NOT a.may_go_negative GROUP BY a.account_id "
                    "HAVING SUM(e.amount_cents) < 0)"
                ).scalar()
                == 0
            )
            now = {
                row[0]: tuple(row[1:])
                for row in sql(
                    "SELECT entry_id, transaction_id, account_id, amount_cents FROM ledger_entries"
                )
            }
            assert all(now.get(entry_id) == values for entry_id, values in self.seen_entries.items())
            self.seen_entries = now
            paid = dict(sql("SELECT enrolment_id, COUNT(*) FROM payment_items GROUP BY enrolment_id").all())
            payments = dict(
                sql(
                    "SELECT reference, COUNT(*) FROM ledger_transactions WHERE reference LIKE 'payment:%' "
                    "GROUP BY reference"
                ).all()
            )
            held: dict[int, int] = {}
            for code, total in sql(
                "SELECT a.code, SUM(e.amount_cents) FROM ledger_accounts a JOIN ledger_entries e "
                "ON e.account_id = a.account_id WHERE a.code LIKE 'file:%' GROUP BY a.code"
            ):
                file_id = int(code.split(":")[1])
                held[file_id] = held.get(file_id, 0) + int(total)
            for file_id, state, price in sql("SELECT enrolment_id, state, price_cents FROM enrolments"):
                assert paid.get(file_id, 0) == (1 if state in ("paid", "closed") else 0)
                assert payments.get(f"payment:{file_id}", 0) <= 1
                assert held.get(file_id, 0) == (price if state in HOLDING else 0), state


def test_supporting_services_state_machine(sqlite_template, tmp_path):
    seeded = tmp_path / "seeded.db"
    shutil.copyfile(sqlite_template, seeded)
    engine = _engine(seeded)
    with sessionmaker(bind=engine)() as session:
        seed_world(session)
        session.commit()
    engine.dispose()
    SupportingServicesMachine.template = seeded
    STATS.update(examples=0, long_examples=0, ok=0, refused=0)
    OUTCOMES.clear()
    run_state_machine_as_test(
        SupportingServicesMachine,
        # a few generated sequences end early (Hypothesis' own bookkeeping): ask for a margin above 200
        settings=settings(
            max_examples=EXAMPLES + EXAMPLES // 10,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
        _min_steps=MIN_STEPS,
    )
    print(f"state machine: {STATS}; {sorted(OUTCOMES.items())}")
    assert STATS["long_examples"] >= EXAMPLES  # at least 200 sequences of at least 20 operations
    assert STATS["ok"] > STATS["examples"] * 5  # sequences make progress, not only refusals
    for reached in (
        "confirm: ok",
        "cancel: ok",
        "declare_entry: ok",
        "declare_exit: ok",
        "declare_service_done: ok",
        "grant_topup: ok",
        "credit_annual_rights: ok",
        "credit_cec_year: ok",
    ):
        assert OUTCOMES[reached] > 0, reached


pytestmark = pytest.mark.slow  # about 25 s on an idle machine: 220 sequences of 21 operations on SQLite
