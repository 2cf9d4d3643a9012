"""Citizen engagement account (purpose 8): declarations of volunteer and civic activities, their validation by
the organisation, and the yearly credit of 240 € per eligible activity up to 720 €.

The holder declares an activity of year N; the organisation validates (or rejects) it; the yearly run for year
N, from N+1, credits each eligible activity once (``cec:<holder>:<year>:<activity>``) and marks its
declarations credited, so a re-run never credits twice and a credit capped by the ceiling is not topped up
later.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.domain import rules
from parcours.domain.ledger import (
    CEC,
    acquire_write_lock,
    balance_cents,
    holder_account,
    lock_accounts,
    locked_row,
    system_account,
    transfer,
)
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.models import Holder
from parcours.store.supporting_models import CEC_ACTIVITIES, CecDeclaration
from serving.services.actors import Actor

# Which measure each activity needs in its declaration.
MEASURE_OF_ACTIVITY = {
    "civic_service": "months",
    "military_reserve": "days",
    "association_volunteer": "hours",
}


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message}], message=f"{field}: {message}")


def declare_activity(
    session: Session,
    *,
    actor: Actor,
    holder_id: str,
    activity_kind: str,
    activity_year: int,
    organisation_id: str,
    on: dt.date,
    hours: int | None = None,
    days: int | None = None,
    months: int | None = None,
) -> CecDeclaration:
    """The holder declares an activity of a past year (association volunteering by 30 June of the next
    year)."""
    if not actor.is_holder(holder_id):
        raise Forbidden("a holder declares only their own activities")
    if activity_kind not in CEC_ACTIVITIES:
        raise _problem("activity_kind", f"must be one of {', '.join(CEC_ACTIVITIES)}")
    if type(activity_year) is not int or not 2017 <= activity_year < on.year:
        raise _problem("activity_year", f"must be a past year from 2017 (before {on.year})")
    if not organisation_id or len(organisation_id) > 64:
        raise _problem("organisation_id", "must be 1–64 characters")
    measures = {"hours": hours, "days": days, "months": months}
    for name, value in measures.items():
        if value is not None and (type(value) is not int or value < 0 or value > 10_000):
            raise _problem(name, "must be a non-negative integer")
    needed = MEASURE_OF_ACTIVITY.get(activity_kind)
    if needed and measures[needed] is None:
        raise _problem(needed, f"is required for {activity_kind}")
    if activity_kind == "association_volunteer" and on > rules.cec_declaration_deadline(activity_year):
        raise Conflict(
            f"association volunteering of {activity_year} had to be declared by "
            f"{rules.cec_declaration_deadline(activity_year)}"
        )
    acquire_write_lock(session)
    if session.get(Holder, holder_id) is None:
        raise NotFound(f"holder {holder_id} not found")
    duplicate = session.scalar(
        select(CecDeclaration.declaration_id).where(
            CecDeclaration.holder_id == holder_id,
            CecDeclaration.activity_kind == activity_kind,
            CecDeclaration.activity_year == activity_year,
            CecDeclaration.organisation_id == organisation_id,
        )
    )
    if duplicate is not None:
        raise Conflict(f"this activity was already declared (declaration {duplicate})")
    declaration = CecDeclaration(
        holder_id=holder_id,
        activity_kind=activity_kind,
        activity_year=activity_year,
        organisation_id=organisation_id,
        hours=hours,
        days=days,
        months=months,
        declared_on=on,
        declared_by=actor.username,
        state="declared",
    )
    session.add(declaration)
    session.flush()
    return declaration


def decide_declaration(
    session: Session, declaration_id: int, *, actor: Actor, on: dt.date, validate: bool
) -> CecDeclaration:
    """The organisation validates or rejects a declaration made to it.

    Organisations sign in with the role ``funder`` and their organisation id as ``funder_id`` (there is no
    separate role yet); an administrator may record a decision on their behalf.
    """
    if actor.role not in ("funder", "admin", "system"):
        raise Forbidden("a declaration is validated or rejected by its organisation (role funder) or an admin")
    declaration: CecDeclaration | None = locked_row(session, CecDeclaration, CecDeclaration.declaration_id,
                                                    declaration_id)
    if declaration is None or not (
        actor.role in ("admin", "system")
        or (actor.role == "funder" and actor.funder_id == declaration.organisation_id)
    ):
        # A declaration made to another organisation is answered exactly like a missing one, naming nobody.
        raise NotFound(f"CEC declaration {declaration_id} not found")
    if declaration.state != "declared":
        raise Conflict(f"declaration {declaration_id} was already {declaration.state}")
    declaration.state = "validated" if validate else "rejected"
    declaration.decided_on = on
    declaration.decided_by = actor.username
    session.flush()
    return declaration


def _eligible(kind: str, year: int, declarations: list[CecDeclaration]) -> bool:
    hours = [d.hours or 0 for d in declarations]
    return rules.cec_activity_eligible(
        kind,
        year,
        months=sum(d.months or 0 for d in declarations),
        days=sum(d.days or 0 for d in declarations),
        hours_total=sum(hours),
        hours_in_main_organisation=max(hours, default=0),
    )


def credit_cec_year(session: Session, *, activity_year: int, on: dt.date, actor: str) -> dict[str, int]:
    """Credit every holder's eligible, validated activities of ``activity_year`` (run from the next year).

    Returns the cents credited per holder in this run. Each activity is credited once: its declarations are
    marked ``credited_on`` even when the 720 € ceiling leaves nothing to credit.
    """
    if on.year <= activity_year:
        raise _problem(
            "activity_year", f"activities of {activity_year} are credited from {activity_year + 1}"
        )
    acquire_write_lock(session)
    pending = session.scalars(
        select(CecDeclaration)
        .where(
            CecDeclaration.activity_year == activity_year,
            CecDeclaration.state == "validated",
            CecDeclaration.credited_on.is_(None),
        )
        .order_by(CecDeclaration.holder_id, CecDeclaration.activity_kind)
        .with_for_update()
    ).all()
    groups: dict[tuple[str, str], list[CecDeclaration]] = defaultdict(list)
    for declaration in pending:
        groups[(declaration.holder_id, declaration.activity_kind)].append(declaration)
    credited: dict[str, int] = {}
    fund = system_account(session, "cec_fund")
    for (holder_id, kind), declarations in sorted(groups.items()):
        already = session.scalar(
            select(CecDeclaration.declaration_id)
            .where(
                CecDeclaration.holder_id == holder_id,
                CecDeclaration.activity_kind == kind,
                CecDeclaration.activity_year == activity_year,
                CecDeclaration.credited_on.is_not(None),
            )
            .limit(1)
        )
        if already is not None or not _eligible(kind, activity_year, declarations):
            # Not (or no longer) creditable: an activity is credited once; an ineligible one waits for more
            # validated declarations (association hours add up across associations).
            if already is not None:
                for declaration in declarations:
                    declaration.credited_on = on
            continue
        account = holder_account(session, holder_id, CEC)
        lock_accounts(session, [account])
        amount = rules.cec_credit_cents(
            activity_year, eligible_activities=1, cec_balance_cents=balance_cents(session, account)
        )
        transfer(
            session,
            kind="cec_credit",
            reference=f"cec:{holder_id}:{activity_year}:{kind}",
            actor=actor,
            moves=[(fund, account, amount)],
            effective_date=on,
        )
        for declaration in declarations:
            declaration.credited_on = on
        credited[holder_id] = credited.get(holder_id, 0) + amount
    session.flush()
    return credited


def declaration_view(declaration: CecDeclaration) -> dict[str, object]:
    return {
        "declaration_id": declaration.declaration_id,
        "holder_id": declaration.holder_id,
        "activity_kind": declaration.activity_kind,
        "activity_year": declaration.activity_year,
        "organisation_id": declaration.organisation_id,
        "hours": declaration.hours,
        "days": declaration.days,
        "months": declaration.months,
        "declared_on": declaration.declared_on.isoformat(),
        "state": declaration.state,
        "decided_on": declaration.decided_on.isoformat() if declaration.decided_on else None,
        "credited_on": declaration.credited_on.isoformat() if declaration.credited_on else None,
    }


def holder_declarations(session: Session, holder_id: str) -> list[dict[str, object]]:
    return [
        declaration_view(d)
        for d in session.scalars(
            select(CecDeclaration)
            .where(CecDeclaration.holder_id == holder_id)
            .order_by(CecDeclaration.declaration_id)
        )
    ]
