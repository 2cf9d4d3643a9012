"""Reading enrolment files: who may see a file, the file as its reader may see it (state, deadlines, money,
payment, allowed actions, history), and the list of files a reader may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, cast, literal, or_, select
from sqlalchemy.orm import Session

from parcours.domain import rules
from parcours.errors import Forbidden, NotFound
from parcours.store.models import AuditLog, LedgerAccount
from parcours.store.supporting_models import Enrolment, EnrolmentEvent, PaymentItem, TopUp
from serving.services.access import active_consent
from serving.services.actors import Actor
from serving.services.enrolment_funding import funding_view
from serving.services.enrolment_states import allowed_actions, latest_confirmation_date


def cofunded_files(funder_id: str | None) -> Select[Any]:
    """Ids of the files ``funder_id`` co-finances: a top-up of its own on the file whose money still waits for
    it or went into it. A top-up revoked (or given back when the file was refused or cancelled) before any of
    it was reserved co-finances nothing, so it opens nothing."""
    reserved = (
        select(LedgerAccount.account_id)
        .where(
            LedgerAccount.code
            == literal("file:") + cast(TopUp.enrolment_id, String) + literal(":topup:") + cast(TopUp.topup_id, String)
        )
        .exists()
    )
    return select(TopUp.enrolment_id).where(
        TopUp.funder_id == funder_id,
        TopUp.funder_kind != "holder",
        TopUp.enrolment_id.is_not(None),
        or_(TopUp.released.is_(False), reserved),
    )


def _is_cofunder(session: Session, actor: Actor, enrolment: Enrolment) -> bool:
    if actor.role != "funder":
        return False
    found = session.scalar(
        cofunded_files(actor.funder_id).where(TopUp.enrolment_id == enrolment.enrolment_id).limit(1)
    )
    return found is not None


def can_read(session: Session, actor: Actor, enrolment: Enrolment) -> bool:
    """Holder: own files. Provider: files addressed to it. Funder: files it co-finances. Adviser: with the
    holder's active consent. Admin and system jobs: all."""
    return (
        actor.role in ("admin", "system")
        or actor.is_holder(enrolment.holder_id)
        or actor.is_provider(enrolment.provider_id)
        or _is_cofunder(session, actor, enrolment)
        or (actor.role == "adviser" and active_consent(session, enrolment.holder_id, actor.username))
    )


def get_enrolment(session: Session, enrolment_id: int, actor: Actor) -> Enrolment:
    """The file if ``actor`` may see it; the read goes to the audit log. A file the actor may not see is
    answered exactly like a missing one (404, same body): its existence is not disclosed."""
    enrolment = session.get(Enrolment, enrolment_id)
    require_visible(session, actor, enrolment, enrolment_id)
    assert enrolment is not None
    session.add(
        AuditLog(
            actor=actor.username,
            role=actor.role,
            action="read",
            holder_id=None if actor.role == "funder" else enrolment.holder_id,
            resource=f"/enrolments/{enrolment_id}",
        )
    )
    return enrolment


def require_visible(session: Session, actor: Actor, enrolment: Enrolment | None, enrolment_id: int) -> None:
    """404 ``enrolment N not found`` when the file is missing or ``actor`` may not see it (the same answer)."""
    if enrolment is None or not can_read(session, actor, enrolment):
        raise NotFound(f"enrolment {enrolment_id} not found")


def enrolment_view(session: Session, enrolment: Enrolment, actor: Actor) -> dict[str, object]:
    """The file as its reader may see it (funders get no holder identifier: they receive pseudonymised
    data)."""
    events = session.scalars(
        select(EnrolmentEvent)
        .where(EnrolmentEvent.enrolment_id == enrolment.enrolment_id)
        .order_by(EnrolmentEvent.event_id)
    ).all()
    payment = session.scalars(
        select(PaymentItem).where(PaymentItem.enrolment_id == enrolment.enrolment_id)
    ).first()
    view: dict[str, object] = {
        "enrolment_id": enrolment.enrolment_id,
        "state": enrolment.state,
        "holder_id": enrolment.holder_id,
        "training_id": enrolment.training_id,
        "provider_id": enrolment.provider_id,
        "session_start": enrolment.session_start.isoformat(),
        "price_cents": enrolment.price_cents,
        "completion_rate": None
        if enrolment.completion_basis_points is None
        else enrolment.completion_basis_points / 100,
        "confirmed_on": enrolment.confirmed_on.isoformat() if enrolment.confirmed_on else None,
        "entry_date": enrolment.entry_date.isoformat() if enrolment.entry_date else None,
        "exit_date": enrolment.exit_date.isoformat() if enrolment.exit_date else None,
        "deadlines": {
            "confirm_by": latest_confirmation_date(enrolment.session_start).isoformat(),
            "declare_entry_by": rules.declaration_deadline(enrolment.session_start).isoformat(),
            "declare_exit_by": rules.declaration_deadline(enrolment.exit_date).isoformat()
            if enrolment.exit_date
            else None,
        },
        "funding": funding_view(session, enrolment),
        "payment": None
        if payment is None
        else {
            "batch_id": payment.batch_id,
            "amount_cents": payment.amount_cents,
            "returned_cents": payment.returned_cents,
        },
        "allowed_actions": allowed_actions(enrolment, actor),
        "events": [
            {
                "action": e.action,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "on": e.on_date.isoformat(),
                "actor": e.actor if actor.role != "funder" else e.actor_role,
                "actor_role": e.actor_role,
                "at": e.occurred_at.isoformat() if e.occurred_at else None,
                "detail": e.detail,
            }
            for e in events
        ],
    }
    if actor.role == "funder":
        view.pop("holder_id")
    return view


def list_enrolments(
    session: Session, actor: Actor, *, state: str | None = None, limit: int = 100, offset: int = 0
) -> list[Enrolment]:
    """The files ``actor`` may see, newest first."""
    query = select(Enrolment)
    if actor.role == "holder":
        query = query.where(Enrolment.holder_id == actor.holder_id)
    elif actor.role == "provider":
        query = query.where(Enrolment.provider_id == actor.provider_id)
    elif actor.role == "funder":
        query = query.where(Enrolment.enrolment_id.in_(cofunded_files(actor.funder_id)))
    elif actor.role not in ("admin", "system"):
        raise Forbidden(f"role {actor.role} has no list of files")
    if state is not None:
        query = query.where(Enrolment.state == state)
    return list(session.scalars(query.order_by(Enrolment.enrolment_id.desc()).limit(limit).offset(offset)))
