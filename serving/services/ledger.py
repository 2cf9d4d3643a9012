"""The rights ledger: append-only, double-entry, integer cents.

Invariants (enforced in Python here, and in the database by CHECK constraints and a unique reference):
1. Every transaction has at least two entries and its entries sum to exactly zero.
2. No entry has a zero amount; amounts are Python ``int`` cents, never floats.
3. Entries and transactions are never updated or deleted; a correction is a new transaction.
4. A holder account (``may_go_negative`` false) never has a negative balance.
5. Each transaction carries a unique business reference: posting the same reference twice is a no-op,
   which makes re-imports and re-run batches idempotent.
Balances are always derived: the sum of an account's entries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.errors import Conflict, ParcoursError
from serving.db.models import LedgerAccount, LedgerEntry, LedgerTransaction

CPF = "cpf"
CEC = "cec"
SYSTEM = "system"


class LedgerError(ParcoursError):
    """A posting would break a ledger invariant (unbalanced, zero or non-integer amount)."""


class InsufficientFunds(Conflict):
    """A debit would take a holder account below zero."""


@dataclass(frozen=True)
class Leg:
    account_code: str
    amount_cents: int


def holder_account_code(holder_id: str, kind: str) -> str:
    return f"holder:{holder_id}:{kind}"


def get_or_create_account(
    session: Session, code: str, *, kind: str, holder_id: str | None = None, may_go_negative: bool = False
) -> LedgerAccount:
    account = session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).one_or_none()
    if account is None:
        account = LedgerAccount(code=code, kind=kind, holder_id=holder_id, may_go_negative=may_go_negative)
        session.add(account)
        session.flush()
    return account


def system_account(session: Session, name: str) -> LedgerAccount:
    return get_or_create_account(session, f"system:{name}", kind=SYSTEM, may_go_negative=True)


def holder_account(session: Session, holder_id: str, kind: str) -> LedgerAccount:
    return get_or_create_account(session, holder_account_code(holder_id, kind), kind=kind, holder_id=holder_id)


def balance_cents(session: Session, account: LedgerAccount) -> int:
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
        LedgerEntry.account_id == account.account_id))
    return int(total or 0)


def holder_balances_cents(session: Session, holder_id: str) -> dict[str, int]:
    """Balance of every ledger account of the holder, by kind (``cpf``, ``cec``, …)."""
    rows = session.execute(
        select(LedgerAccount.kind, func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id, isouter=True)
        .where(LedgerAccount.holder_id == holder_id)
        .group_by(LedgerAccount.kind)
    )
    balances = {CPF: 0, CEC: 0}
    balances.update({kind: int(total) for kind, total in rows})
    return balances


def post_transaction(
    session: Session,
    *,
    kind: str,
    reference: str,
    actor: str,
    legs: list[tuple[LedgerAccount, int]],
    effective_date: dt.date | None = None,
) -> LedgerTransaction | None:
    """Post one balanced transaction; returns ``None`` if ``reference`` was already posted (idempotent)."""
    if len(legs) < 2:
        raise LedgerError("a transaction needs at least two entries")
    for _account, amount in legs:
        if type(amount) is not int:
            raise LedgerError(f"amounts are integer cents, not {type(amount).__name__}")
        if amount == 0:
            raise LedgerError("an entry may not be zero")
    if sum(amount for _a, amount in legs) != 0:
        raise LedgerError("entries of a transaction must sum to zero")
    if session.scalar(select(LedgerTransaction.transaction_id).where(LedgerTransaction.reference == reference)):
        return None
    for account, amount in legs:
        if amount < 0 and not account.may_go_negative and balance_cents(session, account) + amount < 0:
            raise InsufficientFunds(f"account {account.code} cannot go below zero")
    transaction = LedgerTransaction(kind=kind, reference=reference, actor=actor,
                                    effective_date=effective_date or dt.date.today())
    session.add(transaction)
    session.flush()
    for account, amount in legs:
        session.add(LedgerEntry(transaction_id=transaction.transaction_id, account_id=account.account_id,
                                amount_cents=amount))
    session.flush()
    return transaction


def set_opening_balance(
    session: Session, holder_id: str, kind: str, target_cents: int, *, as_of: dt.date, actor: str, source: str
) -> int:
    """Bring a holder account to ``target_cents`` as imported, by a dated opening (or adjustment) entry.

    A re-import of the same balance posts nothing; a different balance posts only the difference, so
    re-importing never double-credits. Returns the amount posted (0 when nothing changed).
    """
    if type(target_cents) is not int or target_cents < 0:
        raise LedgerError("an opening balance is a non-negative integer number of cents")
    account = holder_account(session, holder_id, kind)
    delta = target_cents - balance_cents(session, account)
    if delta == 0:
        return 0
    count = session.scalar(select(func.count()).select_from(LedgerTransaction).where(
        LedgerTransaction.reference.like(f"opening:{holder_id}:{kind}:%")))
    post_transaction(
        session,
        kind="opening_balance" if count == 0 else "opening_adjustment",
        reference=f"opening:{holder_id}:{kind}:{count}",
        actor=actor,
        legs=[(account, delta), (system_account(session, f"{kind}_fund"), -delta)],
        effective_date=as_of,
    )
    return delta
