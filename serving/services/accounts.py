"""What a holder has (purposes 2 and 6): balances available after reservations, top-ups by file, rights held
by files in progress, and the personal activity account (CPA) view of every account of the holder."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.domain import rules
from parcours.domain.ledger import available_balances_cents
from parcours.store.supporting_models import Enrolment, WorkDeclaration
from serving.services.cec import holder_declarations
from serving.services.enrolment_funding import reservation
from serving.services.rights import declaration_view
from serving.services.topups import holder_topups

HOLDING_STATES = ("confirmed", "in_training", "exited", "service_done")


def reservations_by_file(session: Session, holder_id: str) -> list[dict[str, object]]:
    """Money held by the holder's files in progress (confirmed, not yet paid or cancelled), by source."""
    rows = []
    for enrolment in session.scalars(
        select(Enrolment)
        .where(Enrolment.holder_id == holder_id, Enrolment.state.in_(HOLDING_STATES))
        .order_by(Enrolment.enrolment_id)
    ):
        held = {source: cents for source, cents in reservation(session, enrolment) if cents}
        rows.append(
            {
                "enrolment_id": enrolment.enrolment_id,
                "training_id": enrolment.training_id,
                "state": enrolment.state,
                "held_cents": held,
                "held_total_cents": sum(held.values()),
            }
        )
    return rows


def account_extras(session: Session, holder_id: str) -> dict[str, object]:
    """The parts of ``GET /v1/holders/{id}/account`` that come from the supporting services."""
    available = available_balances_cents(session, holder_id)
    return {
        "cpf_balance_cents": available["cpf"],
        "cec_balance_cents": available["cec"],
        "available_cents": available,
        "topups": holder_topups(session, holder_id),
        "reservations": reservations_by_file(session, holder_id),
    }


def cpa_view(session: Session, holder_id: str, *, on: dt.date | None = None) -> dict[str, object]:
    """One view of every account of the holder: CPF (rights and corrective top-ups, with the ceiling that
    applies to new credits), CEC (with its ceiling), top-ups, files holding money, CEC and work
    declarations."""
    on = on or dt.date.today()
    available = available_balances_cents(session, holder_id)
    work = session.scalars(
        select(WorkDeclaration).where(WorkDeclaration.holder_id == holder_id).order_by(WorkDeclaration.year)
    ).all()
    ceiling_year = on.year - 1 if on.year > 2019 else 2019
    return {
        "holder_id": holder_id,
        "cpf": {
            "available_cents": available["cpf"],
            "rights_cents": available["cpf_rights"],
            "corrective_topups_cents": available["cpf_corrective"],
        },
        "cec": {
            "available_cents": available["cec"],
            "ceiling_cents": rules.value_on(rules.CEC_CEILING_CENTS, dt.date(ceiling_year, 1, 1)),
            "declarations": holder_declarations(session, holder_id),
        },
        "topups": holder_topups(session, holder_id),
        "reservations": reservations_by_file(session, holder_id),
        "work_declarations": [declaration_view(w) for w in work],
    }
