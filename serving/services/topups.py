"""Top-ups (abondements): a funder's money for one holder and one training file (purposes 1 and 2).

A top-up is granted on a file that is not yet confirmed, or for a training the holder has no file for yet; its
money moves at once from the funder's account to the ledger account ``topup:<id>`` and waits there. When the
holder confirms the file, it is reserved with the holder's rights (``serving.services.enrolment_funding``); what the
file does not need goes back to the funder. Top-ups never count towards the rights ceiling: they are not in
the holder's CPF account at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.domain.ledger import (
    TOPUP,
    acquire_write_lock,
    balances_by_code,
    funder_account,
    get_or_create_account,
    lock_accounts,
    transfer,
)
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.models import Holder, LedgerAccount, Training
from parcours.store.supporting_models import REGISTERED_FUNDER_KINDS, Enrolment, Funder, TopUp
from serving.services.actors import Actor

# A top-up may be added to a file only before the holder confirms it.
TOPUP_OPEN_STATES = ("submitted", "accepted")
MAX_TOPUP_CENTS = 100_000_000  # 1,000,000 €: anything above is a typing error, not a top-up


def topup_account_code(topup_id: int) -> str:
    return f"topup:{topup_id}"


def topup_account(session: Session, topup: TopUp) -> LedgerAccount:
    return get_or_create_account(
        session, topup_account_code(topup.topup_id), kind=TOPUP, holder_id=topup.holder_id
    )


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message}], message=f"{field}: {message}")


def register_funder(session: Session, *, funder_id: str, kind: str, name: str) -> Funder:
    """Create or rename a funder; its kind, once set, never changes (past files depend on it)."""
    if not funder_id or len(funder_id) > 64:
        raise _problem("funder_id", "must be 1–64 characters")
    if kind not in REGISTERED_FUNDER_KINDS:
        raise _problem("kind", f"must be one of {', '.join(REGISTERED_FUNDER_KINDS)}")
    funder = session.get(Funder, funder_id)
    if funder is None:
        funder = Funder(funder_id=funder_id, kind=kind, name=name or funder_id)
        session.add(funder)
    elif funder.kind != kind:
        raise Conflict(f"funder {funder_id} is registered as {funder.kind}; its kind cannot change")
    else:
        funder.name = name or funder.name
    session.flush()
    return funder


def _funder_of(
    session: Session, actor: Actor, holder_id: str, requested_funder_id: str | None
) -> tuple[str, str]:
    """``(kind, funder_id)`` of who pays, from the caller's identity: never from the request for a funder."""
    if actor.role == "holder":
        if actor.holder_id != holder_id:
            raise Forbidden("a holder may top up only their own files")
        return "holder", holder_id
    if actor.role == "funder":
        funder_id = actor.funder_id or ""
    elif actor.role in ("admin", "system"):
        if not requested_funder_id:
            raise _problem("funder_id", "is required when an operator records a top-up")
        funder_id = requested_funder_id
    else:
        raise Forbidden(f"role {actor.role} may not grant top-ups")
    funder = session.get(Funder, funder_id)
    if funder is None:
        raise NotFound(f"funder {funder_id} is not registered")
    return funder.kind, funder.funder_id


def grant_topup(
    session: Session,
    *,
    actor: Actor,
    amount_cents: int,
    on: dt.date,
    enrolment_id: int | None = None,
    holder_id: str | None = None,
    training_id: str | None = None,
    spend_before_rights: bool = False,
    funder_id: str | None = None,
) -> TopUp:
    """Grant a top-up on a file (``enrolment_id``) or for a training (``holder_id`` + ``training_id``)."""
    if type(amount_cents) is not int or not 0 < amount_cents <= MAX_TOPUP_CENTS:
        raise _problem("amount_cents", f"must be a positive integer number of cents up to {MAX_TOPUP_CENTS}")
    acquire_write_lock(session)
    if enrolment_id is not None:
        enrolment = session.scalars(
            select(Enrolment)
            .where(Enrolment.enrolment_id == enrolment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if enrolment is None:
            raise NotFound(f"enrolment {enrolment_id} not found")
        if holder_id not in (None, enrolment.holder_id) or training_id not in (None, enrolment.training_id):
            raise _problem("enrolment_id", "holder_id and training_id must match the file")
        if enrolment.state not in TOPUP_OPEN_STATES:
            raise Conflict(f"a top-up can be added only before confirmation; the file is {enrolment.state}")
        holder_id, training_id = enrolment.holder_id, enrolment.training_id
    else:
        if not holder_id or not training_id:
            raise _problem("enrolment_id", "give a file, or a holder_id and a training_id")
        if session.get(Holder, holder_id) is None:
            raise NotFound(f"holder {holder_id} not found")
        if session.get(Training, training_id) is None:
            raise NotFound(f"training {training_id} not found")
    assert holder_id is not None and training_id is not None
    kind, payer = _funder_of(session, actor, holder_id, funder_id)
    topup = TopUp(
        holder_id=holder_id,
        training_id=training_id,
        enrolment_id=enrolment_id,
        funder_kind=kind,
        funder_id=payer,
        amount_cents=amount_cents,
        spend_before_rights=spend_before_rights,
        granted_on=on,
        granted_by=actor.username,
        released=False,
    )
    session.add(topup)
    session.flush()
    transfer(
        session,
        kind="topup_grant",
        reference=f"topup-grant:{topup.topup_id}",
        actor=actor.username,
        moves=[(funder_account(session, kind, payer), topup_account(session, topup), amount_cents)],
        effective_date=on,
    )
    return topup


def release_waiting_topup(session: Session, topup: TopUp, *, actor: str, on: dt.date, reason: str) -> int:
    """Give back to the funder what still waits in the top-up's account; returns the cents given back."""
    account = topup_account(session, topup)
    lock_accounts(session, [account])
    waiting = balances_by_code(session, [account.code]).get(account.code, 0)
    transfer(
        session,
        kind="topup_release",
        reference=f"topup-release:{topup.topup_id}",
        actor=actor,
        moves=[(account, funder_account(session, topup.funder_kind, topup.funder_id), waiting)],
        effective_date=on,
    )
    topup.released = True
    session.flush()
    return waiting


def revoke_topup(session: Session, *, actor: Actor, topup_id: int, on: dt.date) -> TopUp:
    """The funder (or an operator) withdraws a top-up no confirmed file has reserved yet."""
    acquire_write_lock(session)
    topup = session.scalars(
        select(TopUp)
        .where(TopUp.topup_id == topup_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if topup is None:
        raise NotFound(f"top-up {topup_id} not found")
    allowed = (
        actor.role in ("admin", "system")
        or (actor.role == "funder" and actor.funder_id == topup.funder_id)
        or (topup.funder_kind == "holder" and actor.is_holder(topup.holder_id))
    )
    if not allowed:
        raise Forbidden("only the funder who granted a top-up may revoke it")
    if topup.released:
        raise Conflict(f"top-up {topup_id} was already released")
    if topup.enrolment_id is not None:
        enrolment = session.get(Enrolment, topup.enrolment_id)
        if enrolment is not None and enrolment.state not in TOPUP_OPEN_STATES:
            raise Conflict(f"top-up {topup_id} is tied to a {enrolment.state} file and cannot be revoked")
    release_waiting_topup(session, topup, actor=actor.username, on=on, reason="revoked")
    return topup


@dataclass(frozen=True)
class UsableTopUp:
    topup: TopUp
    available_cents: int


def usable_topups(
    session: Session, *, holder_id: str, training_id: str, enrolment_id: int | None
) -> list[UsableTopUp]:
    """Top-ups a file of ``holder_id`` for ``training_id`` can use: those granted on that file and those
    granted for the training without a file, with money still waiting, oldest first."""
    query = select(TopUp).where(
        TopUp.holder_id == holder_id, TopUp.training_id == training_id, TopUp.released.is_(False)
    )
    if enrolment_id is None:
        query = query.where(TopUp.enrolment_id.is_(None))
    else:
        query = query.where((TopUp.enrolment_id.is_(None)) | (TopUp.enrolment_id == enrolment_id))
    topups = list(session.scalars(query.order_by(TopUp.topup_id)))
    balances = balances_by_code(session, [topup_account_code(t.topup_id) for t in topups])
    return [
        UsableTopUp(t, balances.get(topup_account_code(t.topup_id), 0))
        for t in topups
        if balances.get(topup_account_code(t.topup_id), 0) > 0
    ]


def eligible_topups_cents(session: Session, holder_id: str, training_id: str) -> int:
    """The top-up money a new file of ``holder_id`` for ``training_id`` could use (for recommendations)."""
    return sum(
        u.available_cents
        for u in usable_topups(session, holder_id=holder_id, training_id=training_id, enrolment_id=None)
    )


def holder_topups(session: Session, holder_id: str) -> list[dict[str, object]]:
    """Every top-up of the holder with what waits, what its file reserved, and its state (account view)."""
    topups = list(session.scalars(select(TopUp).where(TopUp.holder_id == holder_id).order_by(TopUp.topup_id)))
    codes = [topup_account_code(t.topup_id) for t in topups]
    codes += [f"file:{t.enrolment_id}:topup:{t.topup_id}" for t in topups if t.enrolment_id is not None]
    balances = balances_by_code(session, codes)
    rows: list[dict[str, object]] = []
    for t in topups:
        waiting = balances.get(topup_account_code(t.topup_id), 0)
        reserved = balances.get(f"file:{t.enrolment_id}:topup:{t.topup_id}", 0)
        rows.append(
            {
                "topup_id": t.topup_id,
                "enrolment_id": t.enrolment_id,
                "training_id": t.training_id,
                "funder_kind": t.funder_kind,
                "funder_id": t.funder_id,
                "amount_cents": t.amount_cents,
                "spend_before_rights": t.spend_before_rights,
                "granted_on": t.granted_on.isoformat(),
                "available_cents": waiting,
                "reserved_cents": reserved,
                "released": t.released,
            }
        )
    return rows


def topup_view(topup: TopUp) -> dict[str, object]:
    return {
        "topup_id": topup.topup_id,
        "holder_id": topup.holder_id,
        "training_id": topup.training_id,
        "enrolment_id": topup.enrolment_id,
        "funder_kind": topup.funder_kind,
        "funder_id": topup.funder_id,
        "amount_cents": topup.amount_cents,
        "spend_before_rights": topup.spend_before_rights,
        "granted_on": topup.granted_on.isoformat(),
        "released": topup.released,
    }
