"""The money of an enrolment file: how it would be funded (``estimate_funding``), the reservation of rights and
top-ups with the flat participation at confirmation, what the file still holds, the refund at cancellation and
the file's money as read from the ledger.

No request field sets an amount: the price comes from the catalogue, the funding from ``rules.file_funding``.
A reservation moves each source's cents to an account of the file (``file:<id>:<source>``); unspent reserved
money goes back where it came from (``return_account``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.domain import rules
from parcours.domain.ledger import (
    CEC,
    CPF,
    CPF_CORRECTIVE,
    RESERVED,
    InsufficientFunds,
    available_balances_cents,
    balances_by_code,
    external_holder_account,
    funder_account,
    get_or_create_account,
    holder_account,
    lock_accounts,
    system_account,
    transfer,
)
from parcours.errors import NotFound
from parcours.store.models import Holder, LedgerAccount, LedgerEntry, LedgerTransaction, Training
from parcours.store.supporting_models import Enrolment, TopUp
from serving.services.actors import Actor
from serving.services.topups import (
    UsableTopUp,
    release_waiting_topup,
    topup_account,
    usable_topups,
    usable_topups_by_training,
)

# --- accounts of a file -------------------------------------------------------------------------------------


def file_account(session: Session, enrolment: Enrolment, source: str) -> LedgerAccount:
    return get_or_create_account(
        session, f"file:{enrolment.enrolment_id}:{source}", kind=RESERVED, holder_id=enrolment.holder_id
    )


def _source_account(session: Session, enrolment: Enrolment, source: str) -> LedgerAccount:
    """Where the money of a reservation source comes from, and where it goes back to."""
    if source in (CPF, CPF_CORRECTIVE, CEC):
        return holder_account(session, enrolment.holder_id, source)
    if source == "holder":
        return external_holder_account(session, enrolment.holder_id)
    if source.startswith("topup:"):
        topup = session.get(TopUp, int(source.split(":", 1)[1]))
        if topup is None:
            raise NotFound(f"top-up {source} not found")
        return topup_account(session, topup)
    raise ValueError(f"unknown reservation source {source}")


def return_account(session: Session, enrolment: Enrolment, source: str) -> LedgerAccount:
    """Where unspent reserved money goes back: rights to the holder, top-ups to their funder, cash to the
    holder's own money."""
    if source.startswith("topup:"):
        topup = session.get(TopUp, int(source.split(":", 1)[1]))
        if topup is None:
            raise NotFound(f"top-up {source} not found")
        return funder_account(session, topup.funder_kind, topup.funder_id)
    return _source_account(session, enrolment, source)


# --- funding ------------------------------------------------------------------------------------------------


def _funding_for(
    session: Session,
    *,
    holder: Holder,
    price_cents: int,
    topups: list[UsableTopUp],
    balances: dict[str, int],
    on: dt.date,
) -> rules.FileFunding:
    return rules.file_funding(
        price_cents,
        topups=[
            rules.TopUpSource(
                f"topup:{u.topup.topup_id}",
                u.topup.funder_kind,
                u.available_cents,
                u.topup.spend_before_rights,
            )
            for u in topups
        ],
        cpf_rights_cents=balances["cpf_rights"],
        cpf_corrective_cents=balances["cpf_corrective"],
        cec_cents=balances["cec"],
        on=on,
        employment_status=holder.employment_status,
    )


def estimate_funding(
    session: Session, holder_id: str, training_id: str, on: dt.date, price_cents: int | None = None
) -> rules.FileFunding:
    """How a new file of ``holder_id`` for ``training_id`` would be funded if confirmed on ``on`` — the same
    rule and the same balances confirmation uses (for recommendations and career paths)."""
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(f"holder {holder_id} not found")
    if price_cents is None:
        training = session.get(Training, training_id)
        if training is None:
            raise NotFound(f"training {training_id} not found")
        price_cents = training.price_cents
    topups = usable_topups(session, holder_id=holder_id, training_id=training_id, enrolment_id=None)
    return _funding_for(
        session,
        holder=holder,
        price_cents=price_cents,
        topups=topups,
        balances=available_balances_cents(session, holder_id),
        on=on,
    )


def estimate_funding_many(
    session: Session, holder: Holder, prices_cents: dict[str, int], on: dt.date,
    balances: dict[str, int] | None = None,
) -> dict[str, rules.FileFunding]:
    """``estimate_funding`` for several trainings of one holder (training id -> price): the balances read once
    (or ``balances``, ``available_balances_cents`` already read in this transaction) and the top-ups in one
    query, instead of both per training."""
    if not prices_cents:
        return {}
    if balances is None:
        balances = available_balances_cents(session, holder.holder_id)
    topups = usable_topups_by_training(session, holder_id=holder.holder_id, training_ids=list(prices_cents))
    return {
        training_id: _funding_for(session, holder=holder, price_cents=price, topups=topups.get(training_id, []),
                                  balances=balances, on=on)
        for training_id, price in prices_cents.items()
    }


# --- reservation at confirmation ----------------------------------------------------------------------------


def reserve_for_confirmation(
    session: Session, enrolment: Enrolment, *, actor: Actor, on: dt.date, max_out_of_pocket_cents: int
) -> rules.FileFunding:
    """Reserve the file's rights and top-ups and take the flat participation; returns the funding.

    When rights and top-ups leave more than ``max_out_of_pocket_cents`` uncovered, nothing is reserved
    (``InsufficientFunds``, 409). Two confirmations racing on the same balance are serialised by the account
    locks: the second sees what the first reserved. Top-ups tied to the file give back what it does not need.
    """
    holder = session.get(Holder, enrolment.holder_id)
    assert holder is not None
    topups = usable_topups(
        session,
        holder_id=enrolment.holder_id,
        training_id=enrolment.training_id,
        enrolment_id=enrolment.enrolment_id,
    )
    accounts = [holder_account(session, enrolment.holder_id, kind) for kind in (CPF, CPF_CORRECTIVE, CEC)]
    accounts += [topup_account(session, u.topup) for u in topups]
    lock_accounts(session, accounts)
    # Balances after the locks: nobody else can spend them until this transaction ends.
    topups = usable_topups(
        session,
        holder_id=enrolment.holder_id,
        training_id=enrolment.training_id,
        enrolment_id=enrolment.enrolment_id,
    )
    balances = available_balances_cents(session, enrolment.holder_id)
    funding = _funding_for(
        session, holder=holder, price_cents=enrolment.price_cents, topups=topups, balances=balances, on=on
    )
    if funding.remainder_cents > max_out_of_pocket_cents:
        raise InsufficientFunds(
            f"rights and top-ups cover {enrolment.price_cents - funding.remainder_cents} of "
            f"{enrolment.price_cents} cents; the remaining {funding.remainder_cents} cents exceed "
            f"max_out_of_pocket_cents={max_out_of_pocket_cents}"
        )
    transfer(
        session,
        kind="reservation",
        reference=f"reserve:{enrolment.enrolment_id}",
        actor=actor.username,
        moves=[
            (_source_account(session, enrolment, source), file_account(session, enrolment, source), cents)
            for source, cents in funding.allocation
        ],
        effective_date=on,
    )
    transfer(
        session,
        kind="participation",
        reference=f"participation:{enrolment.enrolment_id}",
        actor=actor.username,
        moves=[
            (
                external_holder_account(session, enrolment.holder_id),
                system_account(session, "participation"),
                funding.participation_cents,
            )
        ],
        effective_date=on,
    )
    used = {key for key, _cents in funding.allocation}
    for usable in topups:
        topup = usable.topup
        if f"topup:{topup.topup_id}" in used:
            topup.enrolment_id = enrolment.enrolment_id
        if topup.enrolment_id == enrolment.enrolment_id:
            # Tied to this file: what the file does not need goes back to the funder now.
            release_waiting_topup(
                session, topup, actor=actor.username, on=on, reason="not needed by the file"
            )
    return funding


def reservation(session: Session, enrolment: Enrolment) -> list[tuple[str, int]]:
    """What the file still holds, by source, in funding order (the order of the reservation's entries)."""
    prefix = f"file:{enrolment.enrolment_id}:"
    rows = (
        session.execute(
            select(LedgerAccount.code)
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id)
            .join(LedgerTransaction, LedgerTransaction.transaction_id == LedgerEntry.transaction_id)
            .where(
                LedgerTransaction.reference == f"reserve:{enrolment.enrolment_id}",
                LedgerEntry.amount_cents > 0,
            )
            .order_by(LedgerEntry.entry_id)
        )
        .scalars()
        .all()
    )
    balances = balances_by_code(session, rows)
    return [(code.removeprefix(prefix), balances.get(code, 0)) for code in rows]


def release_waiting_topups(session: Session, enrolment: Enrolment, actor: Actor, on: dt.date, reason: str) -> None:
    """Give back to their funders the top-ups waiting for this file (it was refused or cancelled)."""
    for topup in session.scalars(
        select(TopUp)
        .where(TopUp.enrolment_id == enrolment.enrolment_id, TopUp.released.is_(False))
        .order_by(TopUp.topup_id)
    ):
        release_waiting_topup(session, topup, actor=actor.username, on=on, reason=reason)


# --- refund at cancellation ---------------------------------------------------------------------------------


def _give_back(
    session: Session,
    enrolment: Enrolment,
    amounts: list[tuple[str, int]],
    *,
    kind: str,
    reference: str,
    actor: Actor,
    on: dt.date,
) -> int:
    moves = [
        (file_account(session, enrolment, source), return_account(session, enrolment, source), cents)
        for source, cents in amounts
        if cents > 0
    ]
    lock_accounts(session, [source for source, _target, _cents in moves])
    transfer(session, kind=kind, reference=reference, actor=actor.username, moves=moves, effective_date=on)
    return sum(cents for _s, _t, cents in moves)


def refund_confirmed_file(session: Session, enrolment: Enrolment, *, actor: Actor, on: dt.date) -> tuple[int, int]:
    """A confirmed file cancelled before its start: every reserved cent goes back where it came from, and the
    participation to the holder. Returns (cents refunded, participation refunded)."""
    refunded = _give_back(
        session,
        enrolment,
        reservation(session, enrolment),
        kind="cancellation_refund",
        reference=f"cancel-refund:{enrolment.enrolment_id}",
        actor=actor,
        on=on,
    )
    participation = participation_paid_cents(session, enrolment)
    transfer(
        session,
        kind="participation_refund",
        reference=f"participation-refund:{enrolment.enrolment_id}",
        actor=actor.username,
        moves=[
            (
                system_account(session, "participation"),
                external_holder_account(session, enrolment.holder_id),
                participation,
            )
        ],
        effective_date=on,
    )
    return refunded, participation


def participation_paid_cents(session: Session, enrolment: Enrolment) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .join(LedgerTransaction, LedgerTransaction.transaction_id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.account_id == LedgerEntry.account_id)
        .where(
            LedgerAccount.code == "system:participation",
            LedgerTransaction.reference.in_(
                [f"participation:{enrolment.enrolment_id}", f"participation-refund:{enrolment.enrolment_id}"]
            ),
        )
    )
    return int(total or 0)


# --- the file's money, read from the ledger -----------------------------------------------------------------


def funding_view(session: Session, enrolment: Enrolment) -> dict[str, object]:
    """The money of a file, read from the ledger: reserved by source, participation, paid and returned."""
    file_id = enrolment.enrolment_id
    prefix = f"file:{file_id}:"
    rows = session.execute(
        select(LedgerTransaction.reference, LedgerAccount.code, LedgerEntry.amount_cents)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.transaction_id)
        .join(LedgerAccount, LedgerAccount.account_id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.reference.in_(
                [f"reserve:{file_id}", f"cancel-refund:{file_id}", f"payment:{file_id}", f"release:{file_id}"]
            ),
            LedgerAccount.code.startswith(prefix),
        )
        .order_by(LedgerEntry.entry_id)
    ).all()
    reserved: dict[str, int] = {}
    paid = returned = 0
    for reference, code, amount in rows:
        if reference.startswith("reserve:"):
            reserved[code.removeprefix(prefix)] = amount
        elif reference.startswith("payment:"):
            paid -= amount
        else:
            returned -= amount
    return {
        "reserved_cents": reserved,
        "reserved_total_cents": sum(reserved.values()),
        "participation_cents": participation_paid_cents(session, enrolment),
        "paid_cents": paid,
        "returned_cents": returned,
        "held_cents": sum(cents for _source, cents in reservation(session, enrolment)),
    }
