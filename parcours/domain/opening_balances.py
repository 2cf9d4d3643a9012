"""Opening balances for many holders at once: the bulk form of ``ledger.set_opening_balance``.

``set_opening_balance`` issues about ten statements per holder and counts earlier openings with a ``LIKE``
over every transaction: fine for one holder, far too slow for the 100,000 holders of a large world.
``set_opening_balances`` applies the same rule to a batch of holders with a few statements per thousand:
the same accounts, the same references (``opening:{holder_id}:{kind}:{n}``), the same transaction kinds
(``opening_balance`` then ``opening_adjustment``), the same effective date and the same invariants (integer
cents, balanced transactions, holder accounts never below zero). ``tests/test_opening_balances.py`` checks
that both give the same ledger.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from parcours.domain.ledger import LedgerError, holder_account_code, system_account
from parcours.store.bulk import BATCH, batched, is_in, write_rows
from parcours.store.models import LedgerAccount, LedgerEntry, LedgerTransaction

ACCOUNTS_TABLE = cast(Table, LedgerAccount.__table__)
TRANSACTIONS_TABLE = cast(Table, LedgerTransaction.__table__)
ENTRIES_TABLE = cast(Table, LedgerEntry.__table__)


@dataclass(frozen=True)
class OpeningBalance:
    """The balance (integer cents >= 0) a holder account must show after the import."""

    holder_id: str
    kind: str
    target_cents: int


def set_opening_balances(
    session: Session,
    targets: Iterable[OpeningBalance],
    *,
    as_of: dt.date,
    actor: str,
    batch_size: int = BATCH,
) -> tuple[int, int]:
    """Bring each holder account to its target by one dated opening (or adjustment) transaction.

    The target is compared with what earlier imports posted, as ``ledger.set_opening_balance`` does: a re-import
    of the same figure posts nothing and never double-credits, even after the holder spent rights.
    Accounts are created even when the target is zero, as ``set_opening_balance`` does.
    Returns (transactions posted, net cents posted).
    """
    items = list(targets)
    for item in items:
        if type(item.target_cents) is not int or item.target_cents < 0:
            raise LedgerError(
                "an opening balance is a non-negative integer number of cents "
                f"({item.holder_id}, {item.kind}: {item.target_cents!r})"
            )
    posted = net = 0
    for batch in batched(items, batch_size):
        count, total = _post_batch(session, batch, as_of=as_of, actor=actor)
        posted += count
        net += total
    return posted, net


def _post_batch(
    session: Session, batch: Sequence[OpeningBalance], *, as_of: dt.date, actor: str
) -> tuple[int, int]:
    by_code = {holder_account_code(item.holder_id, item.kind): item for item in batch}
    if len(by_code) != len(batch):
        raise LedgerError("the same holder account appears twice in one batch of opening balances")
    accounts = _account_ids(session, by_code)
    # What earlier imports posted (not today's balance: rights spent or credited since are not undone),
    # the same comparison as ``ledger.set_opening_balance``.
    balances = dict(
        session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_cents))
            .join(LedgerTransaction, LedgerTransaction.transaction_id == LedgerEntry.transaction_id)
            .where(
                is_in(session, LedgerEntry.account_id, list(accounts.values())),
                LedgerTransaction.reference.startswith("opening:"),
            )
            .group_by(LedgerEntry.account_id)
        ).all()
    )
    deltas = {
        code: item.target_cents - int(balances.get(accounts[code], 0)) for code, item in by_code.items()
    }
    changed = {code: delta for code, delta in deltas.items() if delta != 0}
    if not changed:
        return 0, 0
    # Earlier openings of each account, counted by exact reference prefix (what set_opening_balance counts).
    earlier = Counter[str]()
    changed_ids = {accounts[code]: code for code in changed}
    rows = session.execute(
        select(LedgerEntry.account_id, LedgerTransaction.reference)
        .join(LedgerTransaction, LedgerTransaction.transaction_id == LedgerEntry.transaction_id)
        .where(
            is_in(session, LedgerEntry.account_id, list(changed_ids)),
            LedgerTransaction.reference.like("opening:%"),
        )
    )
    for account_id, reference in rows:
        item = by_code[changed_ids[account_id]]
        if reference.startswith(f"opening:{item.holder_id}:{item.kind}:"):
            earlier[changed_ids[account_id]] += 1
    references = {
        code: f"opening:{by_code[code].holder_id}:{by_code[code].kind}:{earlier[code]}" for code in changed
    }
    clash = session.scalars(
        select(LedgerTransaction.reference).where(
            is_in(session, LedgerTransaction.reference, list(references.values()))
        )
    ).first()
    if clash is not None:
        raise LedgerError(f"ledger reference {clash} exists already: opening history broken")
    now = dt.datetime.now(dt.UTC)
    write_rows(
        session,
        TRANSACTIONS_TABLE,
        ("kind", "reference", "actor", "effective_date", "created_at"),
        [
            ("opening_balance" if earlier[code] == 0 else "opening_adjustment", reference, actor, as_of, now)
            for code, reference in references.items()
        ],
    )
    transaction_ids: dict[str, int] = dict(
        session.execute(
            select(LedgerTransaction.reference, LedgerTransaction.transaction_id).where(
                is_in(session, LedgerTransaction.reference, list(references.values()))
            )
        ).all()
    )
    kinds = {by_code[code].kind for code in changed}
    funds = {kind: system_account(session, f"{kind}_fund").account_id for kind in kinds}
    entries: list[tuple[int, int, int]] = []
    for code, delta in changed.items():
        transaction_id = transaction_ids[references[code]]
        entries.append((transaction_id, accounts[code], delta))
        entries.append((transaction_id, funds[by_code[code].kind], -delta))
    write_rows(session, ENTRIES_TABLE, ("transaction_id", "account_id", "amount_cents"), entries)
    return len(changed), sum(changed.values())


def _account_ids(session: Session, by_code: dict[str, OpeningBalance]) -> dict[str, int]:
    """Account id of every holder account of the batch, creating the missing ones."""

    def existing() -> dict[str, int]:
        return dict(
            session.execute(
                select(LedgerAccount.code, LedgerAccount.account_id).where(
                    is_in(session, LedgerAccount.code, list(by_code))
                )
            ).all()
        )

    accounts = existing()
    missing = [code for code in by_code if code not in accounts]
    if missing:
        now = dt.datetime.now(dt.UTC)
        write_rows(
            session,
            ACCOUNTS_TABLE,
            ("code", "kind", "holder_id", "may_go_negative", "created_at"),
            [(code, by_code[code].kind, by_code[code].holder_id, False, now) for code in missing],
        )
        accounts = existing()
    return accounts
