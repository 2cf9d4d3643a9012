"""``set_opening_balances`` (bulk, for the importer) must leave the same ledger as ``set_opening_balance``."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from parcours.domain.ledger import LedgerError, holder_balances_cents, set_opening_balance
from parcours.domain.opening_balances import OpeningBalance, set_opening_balances
from parcours.store.engine import session_scope
from parcours.store.models import Holder

# Successive imports of the same five holders: first balances (zeros included), changes up and down, the
# same again (nothing to post), then back to an earlier value.
ROUNDS = [
    {"h1": (50_000, 0), "h2": (0, 24_000), "h3": (0, 0), "h4": (123_456, 72_000), "h5": (1, 1)},
    {"h1": (70_000, 0), "h2": (0, 0), "h3": (500, 0), "h4": (123_456, 72_000), "h5": (0, 2)},
    {"h1": (70_000, 0), "h2": (0, 0), "h3": (500, 0), "h4": (123_456, 72_000), "h5": (0, 2)},
    {"h1": (50_000, 0), "h2": (0, 24_000), "h3": (500, 0), "h4": (0, 0), "h5": (0, 2)},
]
AS_OF = [dt.date(2025, 1, 1), dt.date(2025, 6, 1), dt.date(2025, 7, 1), dt.date(2026, 1, 1)]


def add_holders(session: Session, ids: list[str]) -> None:
    for holder_id in ids:
        session.add(
            Holder(holder_id=holder_id, birth_year=1980, region_code="11", employment_status="employee")
        )
    session.flush()


def holder_ledger(session: Session, prefix: str) -> list[tuple[str, ...]]:
    """Every entry on the accounts of holders whose id starts with ``prefix``, with its transaction, the
    prefix removed so that two sets of holders can be compared."""
    rows = session.execute(
        text(
            "SELECT t.kind, t.reference, t.actor, t.effective_date, a.code, a.kind, e.amount_cents "
            "FROM ledger_entries e JOIN ledger_transactions t ON t.transaction_id = e.transaction_id "
            "JOIN ledger_accounts a ON a.account_id = e.account_id WHERE a.holder_id LIKE :prefix"
        ),
        {"prefix": f"{prefix}%"},
    ).all()
    accounts = session.execute(
        text("SELECT code, kind FROM ledger_accounts WHERE holder_id LIKE :prefix"), {"prefix": f"{prefix}%"}
    ).all()
    return sorted(tuple(str(v).replace(f":{prefix}", ":") for v in row) for row in [*rows, *accounts])


def test_bulk_and_one_by_one_give_the_same_ledger(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_holders(session, [f"one{h}" for h in ROUNDS[0]] + [f"bulk{h}" for h in ROUNDS[0]])
    posted_one, posted_bulk = [], []
    for targets, as_of in zip(ROUNDS, AS_OF, strict=True):
        with session_scope(db_url) as session:
            count = 0
            for holder, (cpf, cec) in targets.items():
                for kind, cents in (("cpf", cpf), ("cec", cec)):
                    count += bool(
                        set_opening_balance(
                            session, f"one{holder}", kind, cents, as_of=as_of, actor="t", source="x"
                        )
                    )
            posted_one.append(count)
        with session_scope(db_url) as session:
            bulk = [
                OpeningBalance(f"bulk{holder}", kind, cents)
                for holder, (cpf, cec) in targets.items()
                for kind, cents in (("cpf", cpf), ("cec", cec))
            ]
            posted_bulk.append(set_opening_balances(session, bulk, as_of=as_of, actor="t", batch_size=3)[0])

    assert posted_bulk == posted_one == [6, 5, 0, 4]
    with session_scope(db_url) as session:
        assert holder_ledger(session, "bulk") == holder_ledger(session, "one")
        for holder, (cpf, cec) in ROUNDS[-1].items():
            assert holder_balances_cents(session, f"bulk{holder}") == {"cpf": cpf, "cec": cec}
        # Every transaction balances: the system fund takes the other side.
        assert session.scalar(text("SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries")) == 0
        kinds = session.scalars(
            text(
                "SELECT kind FROM ledger_transactions "
                "WHERE reference LIKE 'opening:bulkh1:cpf:%' ORDER BY reference"
            )
        ).all()
        assert kinds == ["opening_balance", "opening_adjustment", "opening_adjustment"]


@pytest.mark.parametrize("cents", [-1, 12.5, "100"])
def test_bulk_refuses_what_is_not_non_negative_integer_cents(db_url: str, cents: object) -> None:
    with session_scope(db_url) as session:
        add_holders(session, ["h1"])
        with pytest.raises(LedgerError):
            set_opening_balances(session, [OpeningBalance("h1", "cpf", cents)], as_of=AS_OF[0], actor="t")  # type: ignore[arg-type]
        assert session.scalars(select(Holder.holder_id)).all() == ["h1"]
        assert session.scalar(text("SELECT count(*) FROM ledger_transactions")) == 0


def test_reimport_after_spending_posts_nothing_in_both(db_url: str) -> None:
    """Rights spent since the first import are not re-credited by a re-import of the same figure."""
    from parcours.domain.ledger import holder_account, post_transaction, system_account

    with session_scope(db_url) as session:
        add_holders(session, ["oneh", "bulkh"])
        set_opening_balance(session, "oneh", "cpf", 50_000, as_of=AS_OF[0], actor="t", source="x")
        set_opening_balances(session, [OpeningBalance("bulkh", "cpf", 50_000)], as_of=AS_OF[0], actor="t")
    with session_scope(db_url) as session:
        for holder_id in ("oneh", "bulkh"):
            post_transaction(session, kind="spend", reference=f"spend:{holder_id}", actor="t",
                             legs=[(holder_account(session, holder_id, "cpf"), -20_000),
                                   (system_account(session, "cpf_spent"), 20_000)])
    with session_scope(db_url) as session:
        assert set_opening_balance(session, "oneh", "cpf", 50_000, as_of=AS_OF[1], actor="t", source="x") == 0
        assert set_opening_balances(session, [OpeningBalance("bulkh", "cpf", 50_000)], as_of=AS_OF[1],
                                    actor="t") == (0, 0)
    with session_scope(db_url) as session:
        assert holder_balances_cents(session, "oneh")["cpf"] == holder_balances_cents(session, "bulkh")["cpf"] == 30_000
