"""Crediting of CPF rights (purpose 1): annual credits from declared work time, corrective top-ups, opening
balances from imported world files. Amounts come from ``parcours.domain.rules``; money moves only through the
ledger, each posting under a business reference that makes it happen at most once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.domain import funding_rights, rules
from parcours.domain.ledger import (
    CEC,
    CPF,
    CPF_CORRECTIVE,
    balance_cents,
    funder_account,
    holder_account,
    lock_accounts,
    set_opening_balance,
    system_account,
    transfer,
)
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.models import Holder
from parcours.store.supporting_models import WORK_STATUSES, Funder, WorkDeclaration
from serving.services.actors import Actor
from serving.services.topups import holder_facts

MAX_WORKED_HOURS = 8_784  # hours in a leap year


def _problem(field: str, message: str, row: int | None = None) -> dict[str, object]:
    return {"row": row, "field": field, "message": message}


@dataclass(frozen=True)
class WorkTime:
    """One holder's declared work for one year (the sum over employers, as DSN declarations give it)."""

    holder_id: str
    year: int
    status: str
    worked_hours: int
    reference_hours: int | None = None
    disability: bool = False

    def problems(self, row: int | None = None) -> list[dict[str, object]]:
        found = []
        if self.status not in WORK_STATUSES:
            found.append(_problem("status", f"must be one of {', '.join(WORK_STATUSES)}", row))
        if type(self.year) is not int or not 2019 <= self.year <= 2100:
            found.append(_problem("year", "must be a year from 2019 (rights were in hours before)", row))
        if type(self.worked_hours) is not int or not 0 <= self.worked_hours <= MAX_WORKED_HOURS:
            found.append(_problem("worked_hours", f"must be an integer from 0 to {MAX_WORKED_HOURS}", row))
        if self.reference_hours is not None and (
            type(self.reference_hours) is not int or not 0 < self.reference_hours <= MAX_WORKED_HOURS
        ):
            found.append(_problem("reference_hours", "must be a positive integer number of hours", row))
        return found


def credit_annual_rights(
    session: Session, work: WorkTime, *, posted_on: dt.date, actor: str
) -> WorkDeclaration:
    """Post the CPF credit for ``work`` (once per holder and year) and record the declaration.

    Credits for year N are posted from year N+1. Re-sending the same declaration is a no-op that returns the
    first one; a different declaration for a year already credited is refused (a correction is a new
    operation).
    """
    problems = work.problems()
    if not problems and posted_on.year <= work.year:
        problems.append(_problem("year", f"credits for {work.year} are posted from {work.year + 1}"))
    if problems:
        raise ValidationFailed(problems)
    holder = session.get(Holder, work.holder_id)
    if holder is None:
        raise NotFound(f"holder {work.holder_id} not found")
    account = holder_account(session, holder.holder_id, CPF)
    fund = system_account(session, "cpf_fund")
    lock_accounts(session, [account])
    existing = session.scalars(
        select(WorkDeclaration).where(
            WorkDeclaration.holder_id == work.holder_id, WorkDeclaration.year == work.year
        )
    ).one_or_none()
    if existing is not None:
        same = (existing.status, existing.worked_hours, existing.reference_hours, existing.disability) == (
            work.status,
            work.worked_hours,
            work.reference_hours or existing.reference_hours,
            work.disability,
        )
        if same:
            return existing
        raise Conflict(f"the {work.year} work of holder {work.holder_id} was already declared and credited")
    low_qualification = holder.qualification_level is None
    reference = (
        work.reference_hours or rules.value_on(rules.LEGAL_ANNUAL_HOURS, dt.date(work.year, 1, 1)) or 1607
    )
    credit = rules.annual_credit_cents(
        work.year,
        status=work.status,
        worked_hours=work.worked_hours,
        reference_hours=reference,
        low_qualification=low_qualification,
        disability=work.disability,
        rights_balance_cents=balance_cents(session, account),
    )
    declaration = WorkDeclaration(
        holder_id=work.holder_id,
        year=work.year,
        status=work.status,
        worked_hours=work.worked_hours,
        reference_hours=reference,
        disability=work.disability,
        low_qualification=low_qualification,
        credited_cents=credit,
        posted_on=posted_on,
        actor=actor,
    )
    session.add(declaration)
    session.flush()
    transfer(
        session,
        kind="annual_credit",
        reference=f"annual:{work.holder_id}:{work.year}",
        actor=actor,
        moves=[(fund, account, credit)],
        effective_date=posted_on,
    )
    return declaration


def credit_annual_rights_many(
    session: Session, works: list[WorkTime], *, posted_on: dt.date, actor: str
) -> list[WorkDeclaration]:
    """All-or-nothing crediting of many declarations (the caller's transaction rolls back on any problem)."""
    problems = [p for row, work in enumerate(works, start=1) for p in work.problems(row)]
    if problems:
        raise ValidationFailed(problems)
    return [credit_annual_rights(session, work, posted_on=posted_on, actor=actor) for work in works]


def credit_corrective_topup(
    session: Session,
    *,
    actor: Actor,
    holder_id: str,
    staff_count: int,
    review_due_on: dt.date,
    on: dt.date,
    employer_id: str | None = None,
) -> int:
    """Post the corrective top-up an employer of 50+ staff owes for a missed six-year review.

    It goes to the holder's ``cpf_corrective`` account: spendable like CPF rights, outside the ceiling. Only for
    an employee of that employer on the review's date, and once per employer, holder and review period
    (``funding_rights.corrective_review``: another due date in the same six-year period is the same review).
    Returns the cents credited (0 if this review was already credited). To an employer, a holder who is not its
    employee does not exist (404, as for a missing holder); an operator is told why (422).
    """
    if actor.role == "funder":
        employer_id = actor.funder_id
    elif actor.role not in ("admin", "system"):
        raise Forbidden("only the employer or an operator records a corrective top-up")
    if not employer_id:
        raise ValidationFailed([_problem("employer_id", "is required")])
    employer = session.get(Funder, employer_id)
    if employer is None:
        raise NotFound(f"funder {employer_id} is not registered")
    if employer.kind != "employer":
        raise ValidationFailed(
            [_problem("employer_id", f"{employer_id} is a {employer.kind}, not an employer")]
        )
    if review_due_on > on:
        raise ValidationFailed([_problem("review_due_on", "the review is not due yet")])
    try:
        amount = rules.corrective_topup_cents(on, staff_count=staff_count)
    except rules.RuleError as exc:
        raise ValidationFailed([_problem("staff_count", str(exc))]) from exc
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(f"holder {holder_id} not found")
    review = funding_rights.corrective_review(
        employer_id, holder_facts(session, holder).employments, review_due_on
    )
    if review is None:
        if actor.role == "funder":
            raise NotFound(f"holder {holder_id} not found")
        raise ValidationFailed([_problem(
            "holder_id", f"holder {holder_id} was not an employee of {employer_id} on a six-year review date "
            f"by {review_due_on.isoformat()}")])
    account = holder_account(session, holder_id, CPF_CORRECTIVE)
    lock_accounts(session, [account])
    posted = transfer(
        session,
        kind="corrective_topup",
        reference=f"corrective:{holder_id}:{employer_id}:{review.isoformat()}",
        actor=actor.username,
        moves=[(funder_account(session, "employer", employer_id), account, amount)],
        effective_date=on,
    )
    return amount if posted is not None else 0


def import_opening_balances(
    session: Session, holder_id: str, *, cpf_cents: int, cec_cents: int, as_of: dt.date, source: str
) -> dict[str, int]:
    """Record the balances of an imported holder as dated opening entries (for the world importer).

    A re-import of the same figures posts nothing; changed figures post only the difference, so re-importing
    never double-credits and never undoes rights spent since."""
    return {
        CPF: set_opening_balance(
            session, holder_id, CPF, cpf_cents, as_of=as_of, actor=source, source=source
        ),
        CEC: set_opening_balance(
            session, holder_id, CEC, cec_cents, as_of=as_of, actor=source, source=source
        ),
    }


def declaration_view(declaration: WorkDeclaration) -> dict[str, object]:
    return {
        "holder_id": declaration.holder_id,
        "year": declaration.year,
        "status": declaration.status,
        "worked_hours": declaration.worked_hours,
        "reference_hours": declaration.reference_hours,
        "disability": declaration.disability,
        "low_qualification": declaration.low_qualification,
        "credited_cents": declaration.credited_cents,
        "posted_on": declaration.posted_on.isoformat(),
    }
