"""The ledger invariants, enforced twice: by the Python code that posts, and by the database itself (raw SQL
that bypasses Python is refused too). Runs on SQLite and, with PARCOURS_TEST_PG_URL, on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from parcours.domain.ledger import (
    CPF,
    InsufficientFunds,
    LedgerError,
    balance_cents,
    holder_account,
    ledger_problems,
    post_transaction,
    set_opening_balance,
    system_account,
)
from parcours.store.engine import session_factory
from parcours.store.models import LedgerEntry, LedgerTransaction
from tests.ledger_world import add_holder

NOW = dt.datetime(2025, 3, 3, 12, tzinfo=dt.UTC)


def _counts(session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(LedgerTransaction)),
        session.scalar(select(func.count()).select_from(LedgerEntry)),
    )


@pytest.fixture
def ledger(db_url):
    factory = session_factory(db_url)
    with factory() as session:
        add_holder(session, "H1", cpf_cents=10_000)
        session.commit()
        yield factory, session


@pytest.mark.parametrize(
    ("legs", "error"),
    [
        ([("h", -5_000), ("fund", 4_000)], LedgerError),  # unbalanced
        ([("h", 0), ("fund", 0)], LedgerError),  # zero entries
        ([("h", 10.0), ("fund", -10.0)], LedgerError),  # floats are not cents
        ([("h", 5)], LedgerError),  # one leg
        ([("h", -10_001), ("fund", 10_001)], InsufficientFunds),  # below zero
        ([("h", -6_000), ("h", -6_000), ("fund", 12_000)], InsufficientFunds),  # below zero in two legs
    ],
)
def test_python_refuses_broken_postings(ledger, legs, error):
    _factory, session = ledger
    accounts = {"h": holder_account(session, "H1", CPF), "fund": system_account(session, "cpf_fund")}
    before = _counts(session)
    with pytest.raises(error):
        post_transaction(
            session,
            kind="test",
            reference="broken",
            actor="t",
            legs=[(accounts[name], amount) for name, amount in legs],
        )
    session.rollback()
    assert _counts(session) == before
    assert balance_cents(session, accounts["h"]) == 10_000


def _raw_transaction(connection, reference: str, amounts: list[tuple[int, int]]) -> None:
    tx = connection.execute(
        text(
            "INSERT INTO ledger_transactions (kind, reference, actor, effective_date, created_at) "
            "VALUES ('raw', :ref, 'sql', :day, :now) RETURNING transaction_id"
        ),
        {"ref": reference, "day": NOW.date(), "now": NOW},
    ).scalar_one()
    for account_id, amount in amounts:
        connection.execute(
            text(
                "INSERT INTO ledger_entries (transaction_id, account_id, amount_cents) "
                "VALUES (:tx, :account, :amount)"
            ),
            {"tx": tx, "account": account_id, "amount": amount},
        )


@pytest.mark.parametrize("amounts", [[5, -4], [5], [], [5, -5, 3]])
def test_database_refuses_unbalanced_transactions(ledger, db_url, amounts):
    """Raw SQL that bypasses Python: the entries of a transaction must sum to zero, checked at COMMIT."""
    factory, session = ledger
    fund = system_account(session, "cpf_fund").account_id
    other = system_account(session, "other").account_id
    session.commit()
    before = _counts(session)
    with factory() as raw, pytest.raises(DBAPIError):
        connection = raw.connection()
        _raw_transaction(
            connection, "raw-unbalanced", [(fund if i % 2 else other, a) for i, a in enumerate(amounts)]
        )
        raw.commit()
    session.expire_all()
    assert _counts(session) == before


def test_database_accepts_balanced_raw_transaction(ledger):
    """The control of the previous test: the same raw SQL, balanced, is accepted (so the refusals above are
    the balance check at work, not a malformed statement)."""
    factory, session = ledger
    fund = system_account(session, "cpf_fund").account_id
    other = system_account(session, "other").account_id
    session.commit()
    with factory() as raw:
        _raw_transaction(raw.connection(), "raw-balanced", [(fund, 5), (other, -2), (other, -3)])
        raw.commit()
    assert ledger_problems(session) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount_cents = amount_cents * 2",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET reference = 'rewritten'",
        "DELETE FROM ledger_transactions",
        "UPDATE ledger_accounts SET may_go_negative = true",
    ],
)
def test_database_refuses_rewrites(ledger, statement):
    factory, session = ledger
    before = _counts(session)
    balance = balance_cents(session, holder_account(session, "H1", CPF))
    session.commit()
    with factory() as raw, pytest.raises(DBAPIError):
        raw.execute(text(statement))
        raw.commit()
    session.expire_all()
    assert _counts(session) == before
    assert balance_cents(session, holder_account(session, "H1", CPF)) == balance


def test_database_refuses_overdraft(ledger):
    """A balanced raw transaction that takes a holder account below zero is refused by the database."""
    factory, session = ledger
    account = holder_account(session, "H1", CPF).account_id
    fund = system_account(session, "cpf_fund").account_id
    session.commit()
    with factory() as raw, pytest.raises(DBAPIError):
        _raw_transaction(raw.connection(), "raw-overdraft", [(fund, 10_001), (account, -10_001)])
        raw.commit()
    assert balance_cents(session, holder_account(session, "H1", CPF)) == 10_000


def test_orm_refuses_rewrites(ledger):
    _factory, session = ledger
    entry = session.scalars(select(LedgerEntry)).first()
    entry.amount_cents += 1
    with pytest.raises(LedgerError):
        session.flush()
    session.rollback()
    entry = session.scalars(select(LedgerEntry)).first()
    session.delete(entry)
    with pytest.raises(LedgerError):
        session.flush()
    session.rollback()
    assert ledger_problems(session) == []


@pytest.mark.parametrize(
    ("imports", "spent", "expected_posted", "expected_balance"),
    [
        ([10_000, 10_000], 0, [10_000, 0], 10_000),  # same file twice: no double credit
        ([10_000, 10_000], 4_000, [10_000, 0], 6_000),  # re-import after spending: spending not undone
        ([10_000, 12_500], 0, [10_000, 2_500], 12_500),  # corrected figure: only the difference
        ([10_000, 8_000], 0, [10_000, -2_000], 8_000),  # lower figure: a negative adjustment
        ([0, 0], 0, [0, 0], 0),
    ],
)
def test_opening_balances_on_reimport(db_url, imports, spent, expected_posted, expected_balance):
    factory = session_factory(db_url)
    with factory() as session:
        add_holder(session, "H2")
        posted = [
            set_opening_balance(
                session,
                "H2",
                CPF,
                imports[0],
                as_of=dt.date(2025, 1, 1),
                actor="import",
                source="holders.csv",
            )
        ]
        if spent:
            post_transaction(
                session,
                kind="spend",
                reference="spend",
                actor="t",
                legs=[
                    (holder_account(session, "H2", CPF), -spent),
                    (system_account(session, "spent"), spent),
                ],
            )
        session.commit()
        posted.append(
            set_opening_balance(
                session,
                "H2",
                CPF,
                imports[1],
                as_of=dt.date(2025, 2, 1),
                actor="import",
                source="holders.csv",
            )
        )
        session.commit()
        assert posted == expected_posted
        assert balance_cents(session, holder_account(session, "H2", CPF)) == expected_balance
        assert ledger_problems(session) == []


def test_opening_adjustment_cannot_take_spent_rights_back(db_url):
    factory = session_factory(db_url)
    with factory() as session:
        add_holder(session, "H3", cpf_cents=10_000)
        post_transaction(
            session,
            kind="spend",
            reference="spend",
            actor="t",
            legs=[(holder_account(session, "H3", CPF), -9_000), (system_account(session, "spent"), 9_000)],
        )
        session.commit()
        with pytest.raises(InsufficientFunds):
            set_opening_balance(
                session, "H3", CPF, 5_000, as_of=dt.date(2025, 2, 1), actor="import", source="x"
            )
        session.rollback()
        assert balance_cents(session, holder_account(session, "H3", CPF)) == 1_000
