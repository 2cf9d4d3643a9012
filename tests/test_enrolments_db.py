"""The enrolment file on a real database (SQLite, and PostgreSQL with PARCOURS_TEST_PG_URL): state machine,
roles, deadlines in working days, reservation and participation, refunds, top-ups, payment amounts, messages.
Every refused operation leaves the ledger exactly as it was."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from parcours.domain.ledger import InsufficientFunds, available_balances_cents, ledger_problems
from parcours.errors import Conflict, Forbidden, NotFound, ParcoursError, ValidationFailed
from parcours.store.engine import session_factory
from parcours.store.models import LedgerAccount, LedgerEntry
from parcours.store.supporting_models import Enrolment, EnrolmentEvent, PaymentItem
from serving.services import enrolment_files as files
from serving.services import enrolment_messages as messages
from serving.services import enrolment_views as views
from serving.services import topups
from serving.services.actors import Actor
from serving.services.enrolment_funding import estimate_funding
from serving.services.enrolment_states import TRANSITIONS
from serving.services.payments import run_payment_batch
from serving.services.rights import credit_corrective_topup
from tests.ledger_world import (
    ADMIN,
    START,
    TODAY,
    add_funder,
    add_holder,
    add_training,
    funder,
    holder,
    provider,
)

D = dt.date
PRICE = 150_000


def ledger_snapshot(session) -> list[tuple[str, int]]:
    """Every account's balance and the number of entries: equal snapshots mean nothing was posted."""
    rows = session.execute(
        select(
            LedgerAccount.code,
            func.coalesce(func.sum(LedgerEntry.amount_cents), 0),
            func.count(LedgerEntry.entry_id),
        )
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id, isouter=True)
        .group_by(LedgerAccount.code)
        .order_by(LedgerAccount.code)
    ).all()
    return [(code, int(total), int(count)) for code, total, count in rows]


class World:
    """A factory of sessions plus helpers that run one operation per transaction, as the API does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.factory = session_factory(url)

    def run(self, operation: Callable, *args, **kwargs):
        with self.factory() as session:
            try:
                result = operation(session, *args, **kwargs)
                session.commit()
                return result
            except BaseException:
                session.rollback()
                raise

    def refused(self, error: type[Exception], operation: Callable, *args, **kwargs) -> str:
        """Run an operation that must be refused, and check it changed nothing (ledger and file states)."""
        with self.factory() as session:
            before = (ledger_snapshot(session), self.states(session))
        with pytest.raises(error) as caught:
            self.run(operation, *args, **kwargs)
        with self.factory() as session:
            assert (ledger_snapshot(session), self.states(session)) == before
        return str(caught.value)

    @staticmethod
    def states(session) -> list[tuple[int, str]]:
        return list(
            session.execute(select(Enrolment.enrolment_id, Enrolment.state).order_by(Enrolment.enrolment_id))
        )

    def seed(self, seeder: Callable) -> None:
        self.run(seeder)

    def balances(self, holder_id: str) -> dict[str, int]:
        with self.factory() as session:
            return available_balances_cents(session, holder_id)

    def view(self, enrolment_id: int, actor: Actor = ADMIN) -> dict:
        with self.factory() as session:
            return views.enrolment_view(session, views.get_enrolment(session, enrolment_id, actor), actor)

    def problems(self) -> list[str]:
        with self.factory() as session:
            return ledger_problems(session)

    # the steps of a file
    def create(
        self, holder_id: str, training_id: str = "T1", start: dt.date = START, on: dt.date = TODAY
    ) -> int:
        return self.run(
            lambda s: files.create_enrolment(
                s,
                actor=holder(holder_id),
                holder_id=holder_id,
                training_id=training_id,
                session_start=start,
                on=on,
            )
        ).enrolment_id

    def to_state(
        self,
        holder_id: str,
        state: str,
        *,
        training_id: str = "T1",
        provider_id: str = "P1",
        rate: object = 100,
        max_out_of_pocket_cents: int = 0,
    ) -> int:
        """A new file of ``holder_id`` taken to ``state`` by the legitimate actors."""
        file_id = self.create(holder_id, training_id)
        p, h = provider(provider_id), holder(holder_id)
        steps: dict[str, list[Callable]] = {
            "submitted": [],
            "accepted": [lambda s: files.accept(s, file_id, actor=p, on=TODAY)],
            "refused": [lambda s: files.refuse(s, file_id, actor=p, on=TODAY)],
            "cancelled_by_holder": [lambda s: files.cancel(s, file_id, actor=h, on=TODAY)],
        }
        confirmed = [
            *steps["accepted"],
            lambda s: files.confirm(
                s, file_id, actor=h, on=TODAY, max_out_of_pocket_cents=max_out_of_pocket_cents
            ),
        ]
        steps["confirmed"] = confirmed
        steps["in_training"] = [*confirmed, lambda s: files.declare_entry(s, file_id, actor=p, on=START)]
        steps["exited"] = [
            *steps["in_training"],
            lambda s: files.declare_exit(s, file_id, actor=p, on=START + dt.timedelta(days=4)),
        ]
        steps["service_done"] = [
            *steps["exited"],
            lambda s: files.declare_service_done(
                s, file_id, actor=p, on=START + dt.timedelta(days=4), completion_rate=rate
            ),
        ]
        for step in steps[state]:
            self.run(step)
        return file_id

    def pay(self, on: dt.date = START + dt.timedelta(days=10), remittance_dir=None) -> dict:
        remittance_dir = remittance_dir or tempfile.mkdtemp(prefix="parcours-remittances-")
        return run_payment_batch(self.factory, actor=ADMIN, on=on, remittance_dir=remittance_dir)


@pytest.fixture
def world(db_url, tmp_path) -> World:
    w = World(db_url)

    def seed(session):
        add_training(
            session, "T1", provider_id="P1", price_cents=PRICE, starts=(START, D(2025, 4, 29), D(2025, 4, 30))
        )
        add_training(session, "T2", provider_id="P2", price_cents=80_000)
        add_funder(session, "OPCO1", "opco")
        add_funder(session, "EMP1", "employer")
        add_funder(session, "REG1", "region")

    w.seed(seed)
    return w


def test_full_path_is_dated_attributed_and_balanced(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=200_000))
    file_id = world.to_state("H1", "service_done", rate=100)
    assert world.balances("H1")["cpf"] == 200_000 - PRICE
    batch = world.pay()
    assert batch["files_paid"] == [
        {"enrolment_id": file_id, "provider_id": "P1", "amount_cents": PRICE, "returned_cents": 0}
    ]
    view = world.view(file_id)
    assert view["state"] == "closed"
    assert [(e["action"], e["to_state"], e["actor"]) for e in view["events"]] == [
        ("create", "submitted", "user-H1"),
        ("accept", "accepted", "user-P1"),
        ("confirm", "confirmed", "user-H1"),
        ("entry", "in_training", "user-P1"),
        ("exit", "exited", "user-P1"),
        ("service_done", "service_done", "user-P1"),
        ("pay", "paid", "admin"),
        ("close", "closed", "admin"),
    ]
    assert all(e["on"] for e in view["events"])
    assert view["funding"]["participation_cents"] == 10_223
    assert view["funding"]["paid_cents"] == PRICE
    assert world.problems() == []


# Which action each state allows (docs/domain.md); every other pair must be refused with 409.
ALLOWED = {
    "submitted": {"accept", "refuse", "cancel"},
    "accepted": {"confirm", "cancel"},
    "refused": set(),
    "confirmed": {"cancel", "entry", "service_done"},
    "in_training": {"exit"},
    "exited": {"service_done"},
    "service_done": set(),
    "cancelled_by_holder": set(),
}


def _action(name: str, file_id: int) -> Callable:
    p, h = provider("P1"), holder  # holder() needs the id; bound below
    later = START + dt.timedelta(days=1)
    return {
        "accept": lambda s: files.accept(s, file_id, actor=p, on=TODAY),
        "refuse": lambda s: files.refuse(s, file_id, actor=p, on=TODAY),
        "confirm": lambda s: files.confirm(
            s, file_id, actor=h(s.get(Enrolment, file_id).holder_id), on=TODAY
        ),
        "cancel": lambda s: files.cancel(s, file_id, actor=h(s.get(Enrolment, file_id).holder_id), on=TODAY),
        "entry": lambda s: files.declare_entry(s, file_id, actor=p, on=later),
        "exit": lambda s: files.declare_exit(s, file_id, actor=p, on=later),
        "service_done": lambda s: files.declare_service_done(
            s, file_id, actor=p, on=later, completion_rate=0
        ),
    }[name]


def test_illegal_transitions_are_refused_and_change_nothing(world):
    world.seed(lambda s: [add_holder(s, f"H-{state}", cpf_cents=200_000) for state in ALLOWED])
    file_of = {state: world.to_state(f"H-{state}", state) for state in ALLOWED}
    checked = 0
    for state, allowed in ALLOWED.items():
        for action in set(TRANSITIONS) - {"pay", "close"} - allowed:
            message = world.refused(Conflict, _action(action, file_of[state]))
            assert f"state {state}" in message
            checked += 1
    assert checked == 7 * 8 - sum(len(a) for a in ALLOWED.values())
    assert world.problems() == []


@pytest.mark.parametrize(
    ("actor", "action", "error"),
    [
        (holder("H1"), "accept", Forbidden),  # the provider accepts
        (provider("P2"), "accept", NotFound),  # another provider: the file is not theirs to see
        (holder("H2"), "confirm", NotFound),  # another holder
        (provider("P1"), "confirm", Forbidden),  # the holder confirms
        (funder("OPCO1"), "confirm", NotFound),  # a funder that co-finances nothing here
        (ADMIN, "confirm", Forbidden),
        (holder("H1"), "entry", Forbidden),
        (provider("P2"), "cancel", NotFound),
        (Actor("adv", "adviser"), "cancel", NotFound),  # no consent
    ],
)
def test_only_the_right_actor_acts(world, actor, action, error):
    world.seed(lambda s: (add_holder(s, "H1", cpf_cents=200_000), add_holder(s, "H2", cpf_cents=200_000)))
    file_id = world.to_state(
        "H1",
        "accepted" if action in ("confirm", "cancel") else "confirmed" if action == "entry" else "submitted",
    )
    calls = {
        "accept": lambda s: files.accept(s, file_id, actor=actor, on=TODAY),
        "confirm": lambda s: files.confirm(s, file_id, actor=actor, on=TODAY),
        "entry": lambda s: files.declare_entry(s, file_id, actor=actor, on=START),
        "cancel": lambda s: files.cancel(s, file_id, actor=actor, on=TODAY),
    }
    world.refused(error, calls[action])


def test_opening_a_file(world):
    world.seed(lambda s: add_holder(s, "H1"))
    h = holder("H1")
    cases = [
        (NotFound, dict(training_id="NOPE", session_start=START)),
        (ValidationFailed, dict(training_id="T1", session_start=D(2025, 4, 8))),  # no such session
        (ValidationFailed, dict(training_id="T1", session_start=TODAY)),  # not in the future
    ]
    for error, fields in cases:
        world.refused(
            error, lambda s, f=fields: files.create_enrolment(s, actor=h, holder_id="H1", on=TODAY, **f)
        )
    world.refused(
        Forbidden,
        lambda s: files.create_enrolment(
            s, actor=holder("H2"), holder_id="H1", training_id="T1", session_start=START, on=TODAY
        ),
    )
    first = world.create("H1")
    world.refused(
        Conflict,
        lambda s: files.create_enrolment(
            s, actor=h, holder_id="H1", training_id="T1", session_start=START, on=TODAY
        ),
    )
    world.run(lambda s: files.cancel(s, first, actor=h, on=TODAY))
    assert world.create("H1") != first  # a cancelled file frees the place
    world.refused(NotFound, lambda s: files.accept(s, 999_999, actor=provider("P1"), on=TODAY))


@pytest.mark.parametrize(
    ("confirmed_on", "start", "allowed"),
    [
        (D(2025, 3, 3), START, True),
        (D(2025, 4, 14), D(2025, 4, 30), True),  # exactly 11 working days (Easter Monday does not count)
        (D(2025, 4, 14), D(2025, 4, 29), False),  # 10 working days
        (D(2025, 4, 15), D(2025, 4, 30), False),
    ],
)
def test_eleven_working_days_before_the_start(world, confirmed_on, start, allowed):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=200_000))
    file_id = world.create("H1", start=start, on=D(2025, 3, 1))
    world.run(lambda s: files.accept(s, file_id, actor=provider("P1"), on=D(2025, 3, 1)))
    confirm = lambda s: files.confirm(s, file_id, actor=holder("H1"), on=confirmed_on)  # noqa: E731
    if allowed:
        world.run(confirm)
        assert world.view(file_id)["state"] == "confirmed"
    else:
        assert "11 working days" in world.refused(Conflict, confirm)
    # the last day to confirm may be a Sunday: holders confirm online; only the days in between must be worked
    assert world.view(file_id)["deadlines"]["confirm_by"] == (
        "2025-04-14" if start == D(2025, 4, 30) else "2025-04-13" if start == D(2025, 4, 29) else "2025-03-23"
    )


def test_entry_and_exit_declared_within_three_working_days(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=200_000))
    p = provider("P1")
    file_id = world.to_state("H1", "confirmed")  # START is Monday 2025-04-07: deadline Thursday 04-10
    world.refused(
        Conflict, lambda s: files.declare_entry(s, file_id, actor=p, on=START - dt.timedelta(days=1))
    )
    world.refused(Conflict, lambda s: files.declare_entry(s, file_id, actor=p, on=D(2025, 4, 11)))
    world.run(lambda s: files.declare_entry(s, file_id, actor=p, on=D(2025, 4, 10)))
    world.refused(
        ValidationFailed,
        lambda s: files.declare_exit(s, file_id, actor=p, on=D(2025, 4, 14), exit_date=D(2025, 4, 15)),
    )  # in the future
    world.refused(
        ValidationFailed,
        lambda s: files.declare_exit(s, file_id, actor=p, on=D(2025, 4, 14), exit_date=D(2025, 4, 6)),
    )  # before the entry
    # exit on Friday 2025-04-18: deadline Thursday 04-24 (Easter Monday 04-21 does not count)
    world.refused(
        Conflict,
        lambda s: files.declare_exit(s, file_id, actor=p, on=D(2025, 4, 25), exit_date=D(2025, 4, 18)),
    )
    world.run(lambda s: files.declare_exit(s, file_id, actor=p, on=D(2025, 4, 24), exit_date=D(2025, 4, 18)))
    view = world.view(file_id)
    assert (view["entry_date"], view["exit_date"]) == ("2025-04-07", "2025-04-18")
    assert view["deadlines"]["declare_exit_by"] == "2025-04-24"


def _participation_case(
    world, holder_id, *, status, topup=None, cpf=200_000, on=TODAY, start=START, training="T1"
):
    world.seed(
        lambda s: add_holder(s, holder_id, cpf_cents=cpf, employment_status=status, as_of=D(2024, 1, 1))
    )
    file_id = world.run(
        lambda s: files.create_enrolment(
            s, actor=holder(holder_id), holder_id=holder_id, training_id=training, session_start=start, on=on
        )
    ).enrolment_id
    if topup:
        funder_id, amount = topup
        world.run(
            lambda s: topups.grant_topup(
                s, actor=funder(funder_id), amount_cents=amount, on=on, enrolment_id=file_id
            )
        )
    world.run(lambda s: files.accept(s, file_id, actor=provider("P1"), on=on))
    world.run(lambda s: files.confirm(s, file_id, actor=holder(holder_id), on=on))
    return world.view(file_id)["funding"]


def test_flat_participation_and_its_exemptions(world):
    def seed(session):
        add_training(session, "T-2024", price_cents=PRICE, starts=(D(2024, 6, 24), D(2024, 5, 27)))

    world.seed(seed)
    cases = [
        # holder, status, top-up (funder, cents), cpf, confirmed on, start, expected participation
        ("A", "employee", None, 200_000, TODAY, START, 10_223),
        ("B", "job_seeker", None, 200_000, TODAY, START, 0),
        ("C", "employee", ("OPCO1", 20_000), 140_000, TODAY, START, 0),  # OPCO co-finances
        ("D", "employee", ("EMP1", 20_000), 140_000, TODAY, START, 0),  # employer co-finances
        ("E", "employee", ("EMP1", 20_000), 200_000, TODAY, START, 10_223),  # employer top-up unused
        ("F", "employee", ("REG1", 20_000), 140_000, TODAY, START, 10_223),  # a region does not exempt
        ("G", "self_employed", None, 200_000, D(2024, 6, 3), D(2024, 6, 24), 10_000),
        ("H", "employee", None, 200_000, D(2024, 5, 2), D(2024, 5, 27), 10_000),  # first day of the decree
    ]
    for holder_id, status, topup, cpf, on, start, expected in cases:
        funding = _participation_case(
            world,
            holder_id,
            status=status,
            topup=topup,
            cpf=cpf,
            on=on,
            start=start,
            training="T1" if start == START else "T-2024",
        )
        assert funding["participation_cents"] == expected, holder_id
        assert funding["reserved_total_cents"] == PRICE, holder_id
    with world.factory() as session:
        collected = session.scalar(
            select(func.sum(LedgerEntry.amount_cents))
            .join(LedgerAccount)
            .where(LedgerAccount.code == "system:participation")
        )
    assert collected == sum(case[-1] for case in cases)
    assert world.problems() == []


def test_participation_before_the_decree(world):
    world.seed(lambda s: add_training(s, "T-old", price_cents=PRICE, starts=(D(2024, 5, 21),)))
    funding = _participation_case(
        world, "Z", status="employee", on=D(2024, 4, 30), start=D(2024, 5, 21), training="T-old"
    )
    assert funding["participation_cents"] == 0


def test_funding_order_and_top_ups_tied_to_one_file(world):
    def seed(session):
        add_holder(session, "H1", cpf_cents=100_000, cec_cents=30_000)
        credit_corrective_topup(
            session,
            actor=ADMIN,
            holder_id="H1",
            staff_count=80,
            review_due_on=D(2025, 1, 1),
            on=D(2025, 2, 1),
            employer_id="EMP1",
        )

    world.seed(seed)
    # a training-level top-up (no file yet) that the funder wants spent first, and one for after the rights
    world.run(
        lambda s: topups.grant_topup(
            s,
            actor=funder("OPCO1"),
            amount_cents=20_000,
            on=TODAY,
            holder_id="H1",
            training_id="T1",
            spend_before_rights=True,
        )
    )
    world.run(
        lambda s: topups.grant_topup(
            s, actor=funder("REG1"), amount_cents=50_000, on=TODAY, holder_id="H1", training_id="T1"
        )
    )
    with world.factory() as session:
        assert topups.eligible_topups_cents(session, "H1", "T1") == 70_000
        assert topups.eligible_topups_cents(session, "H1", "T2") == 0
        quote = estimate_funding(session, "H1", "T1", TODAY)
    file_id = world.to_state("H1", "confirmed")
    funding = world.view(file_id)["funding"]
    assert funding["reserved_cents"] == {"topup:1": 20_000, "cpf": 100_000, "cpf_corrective": 30_000}
    assert dict(quote.allocation) == funding["reserved_cents"]  # the recommender's quote is the same rule
    assert funding["participation_cents"] == 0  # co-financed by the OPCO
    assert world.balances("H1") == {"cpf": 270_000, "cpf_rights": 0, "cpf_corrective": 270_000, "cec": 30_000}
    with world.factory() as session:
        rows = {r["topup_id"]: r for r in topups.holder_topups(session, "H1")}
        assert topups.eligible_topups_cents(session, "H1", "T1") == 50_000  # the region's is still offered
    assert rows[1]["enrolment_id"] == file_id and rows[1]["reserved_cents"] == 20_000
    assert rows[2]["enrolment_id"] is None and rows[2]["available_cents"] == 50_000
    assert world.problems() == []


def test_cancellation_before_the_start_restores_every_cent(world):
    world.seed(
        lambda s: (
            add_holder(s, "H1", cpf_cents=60_000, cec_cents=20_000),
            add_holder(s, "H2", cpf_cents=200_000),
        )
    )
    world.run(
        lambda s: topups.grant_topup(
            s, actor=funder("REG1"), amount_cents=30_000, on=TODAY, holder_id="H1", training_id="T1"
        )
    )
    with world.factory() as session:
        before = ledger_snapshot(session)
        balances = {code: total for code, total, _n in before}
    h1 = world.to_state("H1", "confirmed", max_out_of_pocket_cents=40_000)
    funding = world.view(h1)["funding"]
    assert funding["reserved_cents"] == {"cpf": 60_000, "cec": 20_000, "topup:1": 30_000, "holder": 40_000}
    assert funding["participation_cents"] == 10_223
    world.run(lambda s: files.cancel(s, h1, actor=holder("H1"), on=START - dt.timedelta(days=1)))
    with world.factory() as session:
        after = {code: total for code, total, _n in ledger_snapshot(session)}
    assert world.balances("H1") == {"cpf": 60_000, "cpf_rights": 60_000, "cpf_corrective": 0, "cec": 20_000}
    assert after["external:holder:H1"] == 0  # the card payment and the participation paid back
    assert balances["funder:region:REG1"] == -30_000
    assert after["funder:region:REG1"] == 0  # the top-up, tied to the cancelled file, back to its funder
    assert all(total == 0 for code, total in after.items() if code.startswith(f"file:{h1}:"))
    view = world.view(h1)
    assert view["state"] == "cancelled_by_holder"
    assert view["funding"]["held_cents"] == 0 and view["funding"]["returned_cents"] == 150_000
    # the provider cancels a confirmed file: same refunds, another final state
    h2 = world.to_state("H2", "confirmed")
    world.run(lambda s: files.cancel(s, h2, actor=provider("P1"), on=TODAY))
    assert world.view(h2)["state"] == "cancelled_by_provider"
    assert world.balances("H2")["cpf"] == 200_000
    assert world.problems() == []


def test_no_cancellation_once_started(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=200_000))
    file_id = world.to_state("H1", "confirmed")
    message = world.refused(Conflict, lambda s: files.cancel(s, file_id, actor=holder("H1"), on=START))
    assert "no-show" in message


def test_unaffordable_confirmation_reserves_nothing(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=100_000))
    file_id = world.to_state("H1", "accepted")
    message = world.refused(
        InsufficientFunds, lambda s: files.confirm(s, file_id, actor=holder("H1"), on=TODAY)
    )
    assert "50000 cents" in message
    world.refused(
        ValidationFailed,
        lambda s: files.confirm(s, file_id, actor=holder("H1"), on=TODAY, max_out_of_pocket_cents=-5),
    )
    world.run(
        lambda s: files.confirm(s, file_id, actor=holder("H1"), on=TODAY, max_out_of_pocket_cents=50_000)
    )
    assert world.balances("H1")["cpf"] == 0


@pytest.mark.parametrize(
    ("price", "rate", "paid"),
    [
        (150_000, 100, 150_000),
        (150_000, 50, 75_000),
        (99_999, "33.33", 33_330),
        (101, 12.5, 13),
        (150_000, 0, 0),
    ],
)
def test_payment_is_price_times_completion_rate(db_url, price, rate, paid):
    world = World(db_url)
    world.seed(lambda s: (add_training(s, "T1", price_cents=price), add_holder(s, "H1", cpf_cents=price)))
    file_id = world.to_state("H1", "service_done", rate=rate)
    batch = world.pay()
    assert batch["amounts_by_provider_cents"] == {"P1": paid}
    with world.factory() as session:
        item = session.scalars(select(PaymentItem)).one()
        provider_total = session.scalar(
            select(func.sum(LedgerEntry.amount_cents))
            .join(LedgerAccount)
            .where(LedgerAccount.code == "provider:P1")
        )
    assert (item.amount_cents, item.returned_cents) == (paid, price - paid)
    assert (provider_total or 0) == paid
    assert world.balances("H1")["cpf"] == price - paid  # the unspent reserved rights are back
    assert world.view(file_id)["state"] == "closed"
    assert world.problems() == []


def test_no_show_is_service_done_at_zero(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=200_000))
    file_id = world.to_state("H1", "confirmed")
    p = provider("P1")
    world.refused(
        Conflict, lambda s: files.declare_service_done(s, file_id, actor=p, on=TODAY, completion_rate=0)
    )
    world.refused(
        Conflict, lambda s: files.declare_service_done(s, file_id, actor=p, on=START, completion_rate=10)
    )
    world.refused(
        ValidationFailed,
        lambda s: files.declare_service_done(s, file_id, actor=p, on=START, completion_rate=101),
    )
    world.run(lambda s: files.declare_service_done(s, file_id, actor=p, on=START, completion_rate=0))
    batch = world.pay()
    assert batch["files_paid"][0]["amount_cents"] == 0
    assert world.balances("H1")["cpf"] == 200_000
    assert (
        world.view(file_id)["funding"]["participation_cents"] == 10_223
    )  # a no-show keeps its participation


def test_top_up_rules(world):
    world.seed(lambda s: (add_holder(s, "H1", cpf_cents=200_000), add_holder(s, "H2")))
    submitted = world.create("H1")
    for error, call in [
        (
            NotFound,
            lambda s: topups.grant_topup(
                s, actor=funder("UNKNOWN"), amount_cents=10, on=TODAY, enrolment_id=submitted
            ),
        ),
        (
            ValidationFailed,
            lambda s: topups.grant_topup(
                s, actor=funder("OPCO1"), amount_cents=-10, on=TODAY, enrolment_id=submitted
            ),
        ),
        (
            ValidationFailed,
            lambda s: topups.grant_topup(
                s, actor=funder("OPCO1"), amount_cents=0, on=TODAY, enrolment_id=submitted
            ),
        ),
        (
            NotFound,
            lambda s: topups.grant_topup(
                s, actor=funder("OPCO1"), amount_cents=10, on=TODAY, enrolment_id=424242
            ),
        ),
        (
            NotFound,  # another holder's file: as if missing
            lambda s: topups.grant_topup(
                s, actor=holder("H2"), amount_cents=10, on=TODAY, enrolment_id=submitted
            ),
        ),
        (
            Forbidden,
            lambda s: topups.grant_topup(
                s, actor=provider("P1"), amount_cents=10, on=TODAY, enrolment_id=submitted
            ),
        ),
    ]:
        world.refused(error, call)
    own = world.run(
        lambda s: topups.grant_topup(
            s, actor=holder("H1"), amount_cents=5_000, on=TODAY, enrolment_id=submitted
        )
    )
    assert (own.funder_kind, own.funder_id) == ("holder", "H1")
    world.run(lambda s: files.accept(s, submitted, actor=provider("P1"), on=TODAY))
    world.run(lambda s: files.confirm(s, submitted, actor=holder("H1"), on=TODAY))
    world.refused(
        Conflict,
        lambda s: topups.grant_topup(
            s, actor=funder("OPCO1"), amount_cents=10, on=TODAY, enrolment_id=submitted
        ),
    )
    # rights covered everything: the holder's own top-up, tied to the file, went back at confirmation
    with world.factory() as session:
        assert {
            r["topup_id"]: (r["available_cents"], r["released"]) for r in topups.holder_topups(session, "H1")
        } == {own.topup_id: (0, True)}
    offer = world.run(
        lambda s: topups.grant_topup(
            s, actor=funder("OPCO1"), amount_cents=7_000, on=TODAY, holder_id="H2", training_id="T2"
        )
    )
    world.refused(  # another funder's top-up: as if missing
        NotFound, lambda s: topups.revoke_topup(s, actor=funder("REG1"), topup_id=offer.topup_id, on=TODAY)
    )
    world.run(lambda s: topups.revoke_topup(s, actor=funder("OPCO1"), topup_id=offer.topup_id, on=TODAY))
    world.refused(
        Conflict, lambda s: topups.revoke_topup(s, actor=funder("OPCO1"), topup_id=offer.topup_id, on=TODAY)
    )
    with world.factory() as session:
        assert topups.eligible_topups_cents(session, "H2", "T2") == 0
    assert world.problems() == []


def test_who_sees_a_file(world):
    world.seed(lambda s: (add_holder(s, "H1", cpf_cents=100_000), add_holder(s, "H2")))
    file_id = world.create("H1")
    world.run(
        lambda s: topups.grant_topup(
            s, actor=funder("OPCO1"), amount_cents=50_000, on=TODAY, enrolment_id=file_id
        )
    )
    for actor, sees in [
        (holder("H1"), True),
        (holder("H2"), False),
        (provider("P1"), True),
        (provider("P2"), False),
        (funder("OPCO1"), True),
        (funder("REG1"), False),
        (Actor("adv", "adviser"), False),
        (ADMIN, True),
    ]:
        with world.factory() as session:
            if sees:
                view = views.enrolment_view(session, views.get_enrolment(session, file_id, actor), actor)
                assert ("holder_id" in view) is (actor.role != "funder")
            else:
                with pytest.raises(NotFound, match=f"^enrolment {file_id} not found$"):  # as if missing
                    views.get_enrolment(session, file_id, actor)
            listed = (
                [e.enrolment_id for e in views.list_enrolments(session, actor)]
                if actor.role != "adviser"
                else []
            )
            assert (file_id in listed) is (sees and actor.role != "adviser")


def test_messages_between_holder_and_provider(world):
    world.seed(lambda s: (add_holder(s, "H1"), add_holder(s, "H2")))
    file_id = world.create("H1")
    world.run(lambda s: messages.post_message(s, file_id, actor=holder("H1"), body="Is the session remote?"))
    world.run(lambda s: messages.post_message(s, file_id, actor=provider("P1"), body="Yes, fully remote."))
    for actor, error in [
        (holder("H2"), NotFound),  # someone else's file: as if missing
        (provider("P2"), NotFound),
        (holder("H1"), ValidationFailed),
    ]:
        with pytest.raises(error), world.factory() as session:
            messages.post_message(
                session, file_id, actor=actor, body="   " if error is ValidationFailed else "hi"
            )
    with world.factory() as session:
        thread = messages.list_messages(session, file_id, actor=provider("P1"))
        assert [(m["author_role"], m["body"]) for m in thread] == [
            ("holder", "Is the session remote?"),
            ("provider", "Yes, fully remote."),
        ]
        with pytest.raises(NotFound):
            messages.list_messages(session, file_id, actor=holder("H2"))


def test_provider_may_propose_another_session(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=200_000))
    file_id = world.create("H1")
    world.refused(
        ValidationFailed,
        lambda s: files.accept(s, file_id, actor=provider("P1"), on=TODAY, session_start=D(2025, 5, 5)),
    )
    world.run(
        lambda s: files.accept(s, file_id, actor=provider("P1"), on=TODAY, session_start=D(2025, 4, 30))
    )
    view = world.view(file_id)
    assert view["session_start"] == "2025-04-30"
    assert view["events"][-1]["detail"]["requested_session_start"] == START.isoformat()


def test_events_are_recorded_for_every_transition(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=200_000))
    world.to_state("H1", "exited")
    with world.factory() as session:
        events = session.scalars(select(EnrolmentEvent).order_by(EnrolmentEvent.event_id)).all()
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, "submitted"),
        ("submitted", "accepted"),
        ("accepted", "confirmed"),
        ("confirmed", "in_training"),
        ("in_training", "exited"),
    ]
    assert all(e.actor and e.actor_role and e.on_date and e.occurred_at for e in events)


def test_parcours_errors_carry_a_reason(world):
    world.seed(lambda s: add_holder(s, "H1"))
    with pytest.raises(ParcoursError) as caught:
        world.run(lambda s: files.confirm(s, 31337, actor=holder("H1"), on=TODAY))
    assert "31337" in str(caught.value)
