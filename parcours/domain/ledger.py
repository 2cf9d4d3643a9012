"""The rights ledger: append-only, double-entry, integer cents.

Invariants (enforced in Python here, and again in the database by migration 0002: CHECK constraints, triggers
and a unique reference):
1. Every transaction has at least two entries and its entries sum to exactly zero
   (database: deferred constraint trigger on PostgreSQL, deferred foreign key on SQLite — checked at COMMIT).
2. No entry has a zero amount; amounts are Python ``int`` cents, never floats (database: CHECK amount <> 0).
3. Entries and transactions are never updated or deleted; a correction is a new transaction
   (Python: a ``before_flush`` hook refuses it; database: triggers refuse UPDATE and DELETE).
4. A holder account (``may_go_negative`` false) never has a negative balance (database: a trigger after
   each entry; on PostgreSQL it locks the account row, so concurrent debits are checked one after the other).
5. Each transaction carries a unique business reference: posting the same reference twice is a no-op,
   which makes re-imports and re-run batches idempotent.
Balances are always derived: the sum of an account's entries; nothing stores a balance.

Accounts (``code`` — ``kind``):
- ``holder:<id>:cpf`` — ``cpf``: CPF rights, subject to the ceiling;
- ``holder:<id>:cpf_corrective`` — ``cpf_corrective``: corrective top-ups, spent like CPF rights, outside the
  ceiling;
- ``holder:<id>:cec`` — ``cec``: citizen engagement rights;
- ``topup:<topup_id>`` — ``topup``: a funder's top-up waiting for its file;
- ``file:<enrolment_id>:<source>`` — ``reserved``: what a confirmed file reserved from each source;
- ``provider:<id>`` — ``provider``: what was paid to a provider;
- system accounts, which may go negative because they face the outside world: ``system:cpf_fund``,
  ``system:cec_fund``, ``system:participation``, ``funder:<kind>:<id>``, ``external:holder:<id>`` (the
  holder's own money).

Concurrency: a state-changing operation first takes its locks — ``lock_accounts`` (``SELECT … FOR UPDATE`` in
account order on PostgreSQL) or, on SQLite, ``acquire_write_lock`` (the database's single writer lock, taken
before anything is read). Balances read after that cannot change until the transaction ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from parcours.errors import Conflict, ParcoursError
from parcours.store.bulk import dialect_insert
from parcours.store.models import LedgerAccount, LedgerEntry, LedgerTransaction

CPF = "cpf"
CPF_CORRECTIVE = "cpf_corrective"
CEC = "cec"
TOPUP = "topup"
RESERVED = "reserved"
PROVIDER = "provider"
SYSTEM = "system"
HOLDER_RIGHTS_KINDS = (CPF, CPF_CORRECTIVE, CEC)


class LedgerError(ParcoursError):
    """A posting would break a ledger invariant (unbalanced, zero or non-integer amount)."""


class InsufficientFunds(Conflict):
    """A debit would take a holder account below zero."""


@dataclass(frozen=True)
class Leg:
    account_code: str
    amount_cents: int


@event.listens_for(Session, "before_flush")
def _refuse_ledger_rewrites(session: Session, _context: object, _instances: object) -> None:
    """Invariant 3 on the Python side: no flush may update or delete a ledger row."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, LedgerEntry | LedgerTransaction) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise LedgerError(
                f"ledger rows are append-only: {type(obj).__name__} may not be changed or deleted"
            )


def holder_account_code(holder_id: str, kind: str) -> str:
    return f"holder:{holder_id}:{kind}"


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def acquire_write_lock(session: Session) -> None:
    """On SQLite, take the database's writer lock now, before reading what the write depends on.

    SQLite has one writer at a time; Python's sqlite3 starts a transaction only at the first write, so reads
    before it could be stale. A write that matches no row opens the transaction and takes the lock (waiting up
    to the busy timeout). On PostgreSQL this does nothing: row locks (``lock_accounts``) do the work.
    """
    if _dialect(session) == "sqlite":
        session.execute(text("UPDATE ledger_accounts SET code = code WHERE 1 = 0"))


def locked_row(session: Session, model: Any, column: Any, value: object) -> Any:
    """The row of ``model`` whose ``column`` is ``value``, locked until the transaction ends (``FOR UPDATE`` on
    PostgreSQL; on SQLite the writer lock, taken first) and read afresh; ``None`` when there is none."""
    acquire_write_lock(session)
    return session.scalars(
        select(model).where(column == value).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()


def get_or_create_account(
    session: Session, code: str, *, kind: str, holder_id: str | None = None, may_go_negative: bool = False
) -> LedgerAccount:
    """The account ``code``, created if missing. Safe under concurrency (INSERT … ON CONFLICT DO NOTHING)."""
    account = session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).one_or_none()
    if account is not None:
        return account
    values = {
        "code": code,
        "kind": kind,
        "holder_id": holder_id,
        "may_go_negative": may_go_negative,
        "created_at": dt.datetime.now(dt.UTC),
    }
    insert = dialect_insert(session)
    session.execute(insert(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["code"]))
    account = session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).one()
    if account.kind != kind or account.may_go_negative != may_go_negative:
        raise LedgerError(f"account {code} exists with kind {account.kind}")
    return account


def system_account(session: Session, name: str) -> LedgerAccount:
    return get_or_create_account(session, f"system:{name}", kind=SYSTEM, may_go_negative=True)


def funder_account(session: Session, funder_kind: str, funder_id: str) -> LedgerAccount:
    return get_or_create_account(
        session, f"funder:{funder_kind}:{funder_id}", kind=SYSTEM, may_go_negative=True
    )


def external_holder_account(session: Session, holder_id: str) -> LedgerAccount:
    """The holder's own money outside the scheme (card payments, refunds)."""
    return get_or_create_account(session, f"external:holder:{holder_id}", kind=SYSTEM, may_go_negative=True)


def holder_account(session: Session, holder_id: str, kind: str) -> LedgerAccount:
    return get_or_create_account(
        session, holder_account_code(holder_id, kind), kind=kind, holder_id=holder_id
    )


def provider_account(session: Session, provider_id: str) -> LedgerAccount:
    return get_or_create_account(session, f"provider:{provider_id}", kind=PROVIDER)


def lock_accounts(session: Session, accounts: Iterable[LedgerAccount]) -> None:
    """Lock accounts whose balance the caller is about to read and debit (always in ``account_id`` order, so
    two transactions never wait on each other in a cycle)."""
    ids = sorted({a.account_id for a in accounts})
    if not ids:
        return
    if _dialect(session) == "postgresql":
        session.execute(
            select(LedgerAccount.account_id)
            .where(LedgerAccount.account_id.in_(ids))
            .order_by(LedgerAccount.account_id)
            .with_for_update()
        )
    else:
        acquire_write_lock(session)


def balance_cents(session: Session, account: LedgerAccount) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.account_id == account.account_id
        )
    )
    return int(total or 0)


def balances_by_code(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Balance of each existing account among ``codes`` (missing accounts are absent)."""
    codes = list(codes)
    if not codes:
        return {}
    rows = session.execute(
        select(LedgerAccount.code, func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id, isouter=True)
        .where(LedgerAccount.code.in_(codes))
        .group_by(LedgerAccount.code)
    )
    return {code: int(total) for code, total in rows}


def holder_balances_cents(session: Session, holder_id: str) -> dict[str, int]:
    """Balance of every ledger account of the holder, by kind (``cpf``, ``cec``, ``reserved``, ``topup``…)."""
    rows = session.execute(
        select(LedgerAccount.kind, func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id, isouter=True)
        .where(LedgerAccount.holder_id == holder_id)
        .group_by(LedgerAccount.kind)
    )
    balances = {CPF: 0, CEC: 0}
    balances.update({kind: int(total) for kind, total in rows})
    return balances


def available_balances_cents(session: Session, holder_id: str) -> dict[str, int]:
    """What the holder can spend now, after reservations by confirmed files.

    ``cpf`` is what can be spent on a CPF file (rights plus corrective top-ups); ``cpf_rights`` and
    ``cpf_corrective`` split it; ``cec`` is the citizen engagement account (spent like CPF rights).
    Top-ups tied to one training are not here: see ``serving.services.topups.eligible_topups_cents``.
    """
    balances = holder_balances_cents(session, holder_id)
    rights, corrective = balances.get(CPF, 0), balances.get(CPF_CORRECTIVE, 0)
    return {
        "cpf": rights + corrective,
        "cpf_rights": rights,
        "cpf_corrective": corrective,
        "cec": balances.get(CEC, 0),
    }


def post_transaction(
    session: Session,
    *,
    kind: str,
    reference: str,
    actor: str,
    legs: list[tuple[LedgerAccount, int]],
    effective_date: dt.date | None = None,
) -> LedgerTransaction | None:
    """Post one balanced transaction; returns ``None`` if ``reference`` was already posted (idempotent).

    The caller must hold the locks of the accounts it debits (``lock_accounts``) so the balance checked here
    cannot change before COMMIT; the database checks again.
    """
    if not reference or len(reference) > 200:
        raise LedgerError("a transaction needs a reference of 1–200 characters")
    if len(legs) < 2:
        raise LedgerError("a transaction needs at least two entries")
    for _account, amount in legs:
        if type(amount) is not int:
            raise LedgerError(f"amounts are integer cents, not {type(amount).__name__}")
        if amount == 0:
            raise LedgerError("an entry may not be zero")
    if sum(amount for _a, amount in legs) != 0:
        raise LedgerError("entries of a transaction must sum to zero")
    if session.scalar(
        select(LedgerTransaction.transaction_id).where(LedgerTransaction.reference == reference)
    ):
        return None
    debits: dict[int, int] = {}
    for account, amount in legs:
        debits[account.account_id] = debits.get(account.account_id, 0) + amount
    for account, _amount in legs:
        change = debits.pop(account.account_id, 0)
        if change < 0 and not account.may_go_negative and balance_cents(session, account) + change < 0:
            raise InsufficientFunds(f"account {account.code} cannot go below zero")
    transaction = LedgerTransaction(
        kind=kind, reference=reference, actor=actor, effective_date=effective_date or dt.date.today()
    )
    session.add(transaction)
    session.flush()
    # Credits first, so a leg order can never make an account dip below zero inside the transaction.
    for account, amount in sorted(legs, key=lambda leg: leg[1] < 0):
        session.add(
            LedgerEntry(
                transaction_id=transaction.transaction_id, account_id=account.account_id, amount_cents=amount
            )
        )
    session.flush()
    return transaction


def transfer(
    session: Session,
    *,
    kind: str,
    reference: str,
    actor: str,
    moves: list[tuple[LedgerAccount, LedgerAccount, int]],
    effective_date: dt.date | None = None,
) -> LedgerTransaction | None:
    """Post ``(from, to, cents)`` moves as one transaction (zero moves are skipped; nothing posted if all
    are)."""
    legs: list[tuple[LedgerAccount, int]] = []
    for source, target, amount in moves:
        if type(amount) is not int or amount < 0:
            raise LedgerError("a transfer moves a non-negative integer number of cents")
        if amount:
            legs += [(source, -amount), (target, amount)]
    if not legs:
        return None
    return post_transaction(
        session, kind=kind, reference=reference, actor=actor, legs=legs, effective_date=effective_date
    )


def set_opening_balance(
    session: Session, holder_id: str, kind: str, target_cents: int, *, as_of: dt.date, actor: str, source: str
) -> int:
    """Bring a holder's imported (opening) balance to ``target_cents`` by a dated opening or adjustment entry.

    The comparison is with what earlier imports posted, not with today's balance: rights spent or credited
    since are not undone, and re-importing the same file posts nothing, so re-imports never double-credit.
    A lower figure posts a negative adjustment (refused if the rights were spent meanwhile).
    Returns the amount posted (0 when nothing changed).
    """
    if type(target_cents) is not int or target_cents < 0:
        raise LedgerError("an opening balance is a non-negative integer number of cents")
    account = holder_account(session, holder_id, kind)
    fund = system_account(session, f"{kind}_fund")
    lock_accounts(session, [account])
    prefix = f"opening:{holder_id}:{kind}:"
    imported = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .join(LedgerTransaction, LedgerTransaction.transaction_id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account.account_id, LedgerTransaction.reference.startswith(prefix))
    )
    delta = target_cents - int(imported or 0)
    if delta == 0:
        return 0
    count = session.scalar(
        select(func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.reference.startswith(prefix))
    )
    post_transaction(
        session,
        kind="opening_balance" if count == 0 else "opening_adjustment",
        reference=f"{prefix}{count}",
        actor=actor or source,
        legs=[(account, delta), (fund, -delta)],
        effective_date=as_of,
    )
    return delta


def ledger_problems(session: Session) -> list[str]:
    """Every broken invariant in the whole ledger (empty when sound): global and per-transaction sums, legs,
    zero amounts, accounts below zero. Used by tests and by operators after an incident."""
    problems: list[str] = []
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)))
    if total:
        problems.append(f"debits and credits differ by {total} cents")
    unbalanced = session.execute(
        select(
            LedgerTransaction.reference,
            func.coalesce(func.sum(LedgerEntry.amount_cents), 0),
            func.count(LedgerEntry.entry_id),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.transaction_id, isouter=True)
        .group_by(LedgerTransaction.transaction_id, LedgerTransaction.reference)
        .having(
            (func.coalesce(func.sum(LedgerEntry.amount_cents), 0) != 0)
            | (func.count(LedgerEntry.entry_id) < 2)
        )
    ).all()
    problems += [f"transaction {ref} has {n} entries summing to {s}" for ref, s, n in unbalanced]
    zero = session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.amount_cents == 0))
    if zero:
        problems.append(f"{zero} zero entries")
    negative = session.execute(
        select(LedgerAccount.code, func.sum(LedgerEntry.amount_cents))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id)
        .where(LedgerAccount.may_go_negative.is_(False))
        .group_by(LedgerAccount.account_id, LedgerAccount.code)
        .having(func.sum(LedgerEntry.amount_cents) < 0)
    ).all()
    problems += [f"account {code} is below zero: {amount}" for code, amount in negative]
    return problems
