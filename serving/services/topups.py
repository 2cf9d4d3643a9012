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

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from parcours.domain.funding_rights import Employment as FundedEmployment
from parcours.domain.funding_rights import FunderFacts, HolderFacts, may_top_up
from parcours.domain.ledger import (
    TOPUP,
    acquire_write_lock,
    balances_by_code,
    funder_account,
    get_or_create_account,
    lock_accounts,
    locked_row,
    transfer,
)
from parcours.errors import Conflict, Forbidden, NotFound, ParcoursError, ValidationFailed
from parcours.store.models import Holder, LedgerAccount, Training
from parcours.store.supporting_models import REGISTERED_FUNDER_KINDS, Employment, Enrolment, Funder, TopUp
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


def register_funder(
    session: Session,
    *,
    funder_id: str,
    kind: str,
    name: str,
    opco_id: str | None = None,
    region_code: str | None = None,
) -> Funder:
    """Create or rename a funder; its kind, once set, never changes (past files depend on it). An employer may
    name the OPCO of its sector (``opco_id``), a region funder its INSEE region (``region_code``): the links of
    who may fund what (docs/security.md)."""
    if not funder_id or len(funder_id) > 64:
        raise _problem("funder_id", "must be 1–64 characters")
    if kind not in REGISTERED_FUNDER_KINDS:
        raise _problem("kind", f"must be one of {', '.join(REGISTERED_FUNDER_KINDS)}")
    if opco_id is not None:
        opco = session.get(Funder, opco_id)
        if kind != "employer":
            raise _problem("opco_id", "only an employer belongs to the sector of an OPCO")
        if opco is None or opco.kind != "opco":
            raise _problem("opco_id", f"{opco_id} is not a registered OPCO")
    if region_code is not None and kind != "region":
        raise _problem("region_code", "only a region funder has a region")
    funder = session.get(Funder, funder_id)
    if funder is None:
        funder = Funder(funder_id=funder_id, kind=kind, name=name or funder_id)
        session.add(funder)
    elif funder.kind != kind:
        raise Conflict(f"funder {funder_id} is registered as {funder.kind}; its kind cannot change")
    else:
        funder.name = name or funder.name
    if opco_id is not None:
        funder.opco_id = opco_id
    if region_code is not None:
        funder.region_code = region_code
    session.flush()
    return funder


def funder_view(funder: Funder) -> dict[str, object]:
    return {"funder_id": funder.funder_id, "kind": funder.kind, "name": funder.name, "opco_id": funder.opco_id,
            "region_code": funder.region_code}


def record_employment(
    session: Session, *, holder_id: str, employer_id: str, start_date: dt.date, end_date: dt.date | None
) -> Employment:
    """Record (an operator) that ``holder_id`` works for the employer ``employer_id`` from ``start_date`` to
    ``end_date`` (inclusive; empty while it lasts): the link an employer's and its OPCO's top-ups need."""
    if session.get(Holder, holder_id) is None:
        raise NotFound(f"holder {holder_id} not found")
    employer = session.get(Funder, employer_id)
    if employer is None or employer.kind != "employer":
        raise _problem("employer_id", f"{employer_id} is not a registered employer")
    if end_date is not None and end_date < start_date:
        raise _problem("end_date", "must not be before start_date")
    employment = Employment(holder_id=holder_id, employer_id=employer_id, start_date=start_date, end_date=end_date)
    session.add(employment)
    session.flush()
    return employment


def employment_view(employment: Employment) -> dict[str, object]:
    return {
        "employment_id": employment.employment_id,
        "holder_id": employment.holder_id,
        "employer_id": employment.employer_id,
        "start_date": employment.start_date.isoformat(),
        "end_date": employment.end_date.isoformat() if employment.end_date else None,
    }


def holder_employments(session: Session, holder_id: str) -> list[dict[str, object]]:
    return [
        employment_view(e)
        for e in session.scalars(
            select(Employment).where(Employment.holder_id == holder_id).order_by(Employment.start_date)
        )
    ]


def _payer(session: Session, actor: Actor, requested_funder_id: str | None) -> FunderFacts:
    """Who pays, from the caller's identity (never from the request for a funder). Roles that never grant
    top-ups get 403 before any object is looked at, so the answer says nothing about the object."""
    if actor.role == "holder":
        return FunderFacts(actor.holder_id or "", "holder")
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
    return FunderFacts(funder.funder_id, funder.kind, funder.region_code)


def holder_facts(session: Session, holder: Holder) -> HolderFacts:
    """The facts the funding rules need about ``holder``: status, region, employments with their employer's
    OPCO (``parcours.domain.funding_rights``)."""
    rows = session.execute(
        select(Employment, Funder.opco_id)
        .join(Funder, Funder.funder_id == Employment.employer_id)
        .where(Employment.holder_id == holder.holder_id)
        .order_by(Employment.start_date)
    ).all()
    employments = tuple(
        FundedEmployment(e.employer_id, e.start_date, e.end_date, opco_id) for e, opco_id in rows
    )
    return HolderFacts(holder.holder_id, holder.employment_status, holder.region_code, employments)


def entitled(session: Session, payer: FunderFacts, holder_id: str, on: dt.date) -> bool:
    """True when ``payer`` may top up files of ``holder_id`` on ``on`` (False for an unknown holder)."""
    holder = session.get(Holder, holder_id)
    return holder is not None and may_top_up(payer, holder_facts(session, holder), on)


def _not_entitled(actor: Actor, payer: FunderFacts, missing: NotFound) -> ParcoursError:
    """A funder or holder not entitled to a holder's files is answered exactly as for a missing object; an
    operator, who sees everything, is told why."""
    if actor.role in ("admin", "system"):
        return _problem("funder_id", f"funder {payer.funder_id} may not top up this holder's files "
                                     "(docs/security.md, who may fund what)")
    return missing


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
    """Grant a top-up on a file (``enrolment_id``) or for a training (``holder_id`` + ``training_id``).

    Only a funder entitled to the holder's files may (``funding_rights.may_top_up``); to anyone else a file or
    holder it may not fund does not exist (404, the same answer as for a missing one)."""
    if type(amount_cents) is not int or not 0 < amount_cents <= MAX_TOPUP_CENTS:
        raise _problem("amount_cents", f"must be a positive integer number of cents up to {MAX_TOPUP_CENTS}")
    payer = _payer(session, actor, funder_id)
    acquire_write_lock(session)
    if enrolment_id is not None:
        missing = NotFound(f"enrolment {enrolment_id} not found")
        enrolment = locked_row(session, Enrolment, Enrolment.enrolment_id, enrolment_id)
        if enrolment is None:
            raise missing
        if not entitled(session, payer, enrolment.holder_id, on):
            raise _not_entitled(actor, payer, missing)
        if holder_id not in (None, enrolment.holder_id) or training_id not in (None, enrolment.training_id):
            raise _problem("enrolment_id", "holder_id and training_id must match the file")
        if enrolment.state not in TOPUP_OPEN_STATES:
            raise Conflict(f"a top-up can be added only before confirmation; the file is {enrolment.state}")
        holder_id, training_id = enrolment.holder_id, enrolment.training_id
    else:
        if not holder_id or not training_id:
            raise _problem("enrolment_id", "give a file, or a holder_id and a training_id")
        missing = NotFound(f"holder {holder_id} not found")
        if session.get(Holder, holder_id) is None:
            raise missing
        if not entitled(session, payer, holder_id, on):
            raise _not_entitled(actor, payer, missing)
        if session.get(Training, training_id) is None:
            raise NotFound(f"training {training_id} not found")
    assert holder_id is not None and training_id is not None
    kind, payer_id = payer.kind, payer.funder_id
    topup = TopUp(
        holder_id=holder_id,
        training_id=training_id,
        enrolment_id=enrolment_id,
        funder_kind=kind,
        funder_id=payer_id,
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
        moves=[(funder_account(session, kind, payer_id), topup_account(session, topup), amount_cents)],
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
    if actor.role not in ("holder", "funder", "admin", "system"):
        raise Forbidden(f"role {actor.role} has no top-ups to revoke")
    topup: TopUp | None = locked_row(session, TopUp, TopUp.topup_id, topup_id)
    allowed = topup is not None and (
        actor.role in ("admin", "system")
        or (actor.role == "funder" and topup.funder_kind != "holder" and actor.funder_id == topup.funder_id)
        or (topup.funder_kind == "holder" and actor.is_holder(topup.holder_id))
    )
    if topup is None or not allowed:
        # Another funder's top-up is answered exactly like a missing one: its existence is not disclosed.
        raise NotFound(f"top-up {topup_id} not found")
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
    return _with_money(session, list(session.scalars(query.order_by(TopUp.topup_id))))


# Built once: a statement built per call (its ``IN`` expression included) cost about as much as running it.
_USABLE_BY_TRAINING = select(TopUp).where(
    TopUp.holder_id == bindparam("holder_id"), TopUp.training_id.in_(bindparam("training_ids", expanding=True)),
    TopUp.released.is_(False), TopUp.enrolment_id.is_(None),
).order_by(TopUp.topup_id)


def usable_topups_by_training(
    session: Session, *, holder_id: str, training_ids: list[str]
) -> dict[str, list[UsableTopUp]]:
    """``usable_topups(..., enrolment_id=None)`` for several trainings in one query (what a new file for each
    could use): the recommendations price ten trainings per request."""
    if not training_ids:
        return {}
    found = session.scalars(_USABLE_BY_TRAINING, {"holder_id": holder_id, "training_ids": list(training_ids)})
    by_training: dict[str, list[UsableTopUp]] = {}
    for usable in _with_money(session, list(found)):
        by_training.setdefault(usable.topup.training_id, []).append(usable)
    return by_training


def _with_money(session: Session, topups: list[TopUp]) -> list[UsableTopUp]:
    """The top-ups with money still waiting, in the given order."""
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
