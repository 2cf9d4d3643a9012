"""Enrolment files from request to service done (purposes 3 and 4): the holder opens a file, the provider
answers, the holder confirms or cancels, the provider declares entry, exit and service done (the state machine
of ``enrolment_states``; payment and closing are in ``payments``).

Every transition locks the file row, checks who acts and the state it starts from, and is recorded dated and
attributed. Confirmation reserves rights and top-ups in the ledger and takes the flat participation; a
cancellation before the start gives every cent back (``enrolment_funding``). No request field sets a state, a
balance or an amount: the price comes from the catalogue, the funding from ``rules.file_funding``, the payment
from ``rules.payment_amount_cents``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.domain import rules
from parcours.domain.ledger import acquire_write_lock
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.models import Holder, Training, TrainingSession
from parcours.store.supporting_models import ACTIVE_ENROLMENT_STATES, Enrolment, EnrolmentEvent
from serving.services.actors import Actor
from serving.services.enrolment_funding import (
    refund_confirmed_file,
    release_waiting_topups,
    reserve_for_confirmation,
)
from serving.services.enrolment_states import (
    check_transition,
    field_problem,
    latest_confirmation_date,
    lock_enrolment,
    record_transition,
)
from serving.services.enrolment_views import require_visible


def _lock_visible(session: Session, enrolment_id: int, actor: Actor) -> Enrolment:
    """The file, locked, if ``actor`` may see it; otherwise 404 exactly as for a missing file, before any check
    of role or state could tell that it exists."""
    try:
        enrolment = lock_enrolment(session, enrolment_id)
    except NotFound:
        enrolment = None
    require_visible(session, actor, enrolment, enrolment_id)
    assert enrolment is not None
    return enrolment


NEXT_SESSIONS_OFFERED = 5


class ConfirmationDeadlinePassed(ValidationFailed):
    """A file asked for a session that can no longer be confirmed (11 working days before its start): 422 whose
    detail names the deadline and offers the training's next sessions that can still be confirmed."""

    def __init__(self, session_start: dt.date, confirm_by: dt.date, next_sessions: list[dt.date]) -> None:
        message = (
            f"session_start: the session starting on {session_start} had to be confirmed by {confirm_by} "
            "(11 working days before the start); choose one of next_sessions"
        )
        # One problem on session_start; the deadline and the sessions offered go to its ctx (the 422 shape).
        super().__init__([{
            "field": "session_start",
            "message": message,
            "confirm_by": confirm_by.isoformat(),
            "next_sessions": [
                {"session_start": d.isoformat(), "confirm_by": latest_confirmation_date(d).isoformat()}
                for d in next_sessions
            ],
        }], message=message)


def _confirmable_sessions(session: Session, training_id: str, on: dt.date) -> list[dt.date]:
    """The training's next sessions a file opened on ``on`` can still be confirmed for, soonest first."""
    return list(
        session.scalars(
            select(TrainingSession.start_date)
            .where(
                TrainingSession.training_id == training_id,
                TrainingSession.start_date >= rules.earliest_session_start(on),
            )
            .order_by(TrainingSession.start_date)
            .limit(NEXT_SESSIONS_OFFERED)
        )
    )


# --- the holder opens a file; the provider answers ----------------------------------------------------------


def create_enrolment(
    session: Session, *, actor: Actor, holder_id: str, training_id: str, session_start: dt.date, on: dt.date
) -> Enrolment:
    """The holder asks for a place in a session of a training (state ``submitted``)."""
    if not actor.is_holder(holder_id):
        raise Forbidden("a file is opened by the holder themself")
    acquire_write_lock(session)
    if session.get(Holder, holder_id) is None:
        raise NotFound(f"holder {holder_id} not found")
    training = session.get(Training, training_id)
    if training is None:
        raise NotFound(f"training {training_id} not found")
    if session.get(TrainingSession, (training_id, session_start)) is None:
        raise field_problem("session_start", f"training {training_id} has no session starting {session_start}")
    if session_start <= on:
        raise field_problem("session_start", "the session has already started")
    confirm_by = latest_confirmation_date(session_start)
    if on > confirm_by:
        raise ConfirmationDeadlinePassed(session_start, confirm_by, _confirmable_sessions(session, training_id, on))
    duplicate = session.scalar(
        select(Enrolment.enrolment_id).where(
            Enrolment.holder_id == holder_id,
            Enrolment.training_id == training_id,
            Enrolment.session_start == session_start,
            Enrolment.state.in_(ACTIVE_ENROLMENT_STATES),
        )
    )
    if duplicate is not None:
        raise Conflict(f"holder {holder_id} already has file {duplicate} for this session")
    enrolment = Enrolment(
        holder_id=holder_id,
        training_id=training_id,
        provider_id=training.provider_id,
        session_start=session_start,
        price_cents=training.price_cents,
        state="submitted",
    )
    session.add(enrolment)
    session.flush()
    session.add(
        EnrolmentEvent(
            enrolment_id=enrolment.enrolment_id,
            action="create",
            from_state=None,
            to_state="submitted",
            actor=actor.username,
            actor_role=actor.role,
            on_date=on,
            detail={"price_cents": enrolment.price_cents},
        )
    )
    session.flush()
    return enrolment


def accept(
    session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, session_start: dt.date | None = None
) -> Enrolment:
    """The provider accepts, possibly proposing another session of the same training."""
    enrolment = _lock_visible(session, enrolment_id, actor)
    check_transition(enrolment, "accept", actor)
    detail: dict[str, object] = {}
    if session_start is not None and session_start != enrolment.session_start:
        if session.get(TrainingSession, (enrolment.training_id, session_start)) is None:
            raise field_problem(
                "session_start", f"training {enrolment.training_id} has no session on {session_start}"
            )
        if session_start <= on:
            raise field_problem("session_start", "a proposed session must start in the future")
        detail = {
            "proposed_session_start": session_start.isoformat(),
            "requested_session_start": enrolment.session_start.isoformat(),
        }
        enrolment.session_start = session_start
    record_transition(session, enrolment, "accept", "accepted", actor, on, detail)
    return enrolment


def refuse(session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, reason: str = "") -> Enrolment:
    enrolment = _lock_visible(session, enrolment_id, actor)
    check_transition(enrolment, "refuse", actor)
    release_waiting_topups(session, enrolment, actor, on, "file refused")
    record_transition(session, enrolment, "refuse", "refused", actor, on, {"reason": reason[:500]})
    return enrolment


# --- the holder confirms or cancels -------------------------------------------------------------------------


def confirm(
    session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, max_out_of_pocket_cents: int = 0
) -> Enrolment:
    """The holder confirms an accepted file: rights and top-ups are reserved, the participation is paid.

    ``max_out_of_pocket_cents`` is the most the holder agrees to pay towards the price from their own money
    (beyond the flat participation); when rights and top-ups leave more than that uncovered, nothing is
    reserved and the answer is 409. Two confirmations racing on the same balance are serialised by the account
    locks: the second sees what the first reserved.
    """
    if type(max_out_of_pocket_cents) is not int or max_out_of_pocket_cents < 0:
        raise field_problem("max_out_of_pocket_cents", "must be a non-negative integer number of cents")
    enrolment = _lock_visible(session, enrolment_id, actor)
    check_transition(enrolment, "confirm", actor)
    earliest = rules.earliest_session_start(on)
    if enrolment.session_start < earliest:
        raise Conflict(
            f"too late to confirm: a file confirmed on {on} may start on {earliest} at the earliest "
            f"(11 working days); this session starts on {enrolment.session_start}"
        )
    funding = reserve_for_confirmation(
        session, enrolment, actor=actor, on=on, max_out_of_pocket_cents=max_out_of_pocket_cents
    )
    enrolment.confirmed_on = on
    record_transition(
        session,
        enrolment,
        "confirm",
        "confirmed",
        actor,
        on,
        {"funding": dict(funding.allocation), "participation_cents": funding.participation_cents},
    )
    return enrolment


def cancel(session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, reason: str = "") -> Enrolment:
    """The holder (submitted, accepted, confirmed) or the provider (accepted, confirmed) cancels before the
    start. Every reserved cent goes back where it came from, and the participation to the holder."""
    enrolment = _lock_visible(session, enrolment_id, actor)
    check_transition(enrolment, "cancel", actor)
    if on >= enrolment.session_start:
        raise Conflict(
            f"the session started on {enrolment.session_start}: a started file is not cancelled; the "
            "provider declares exit and service done (a no-show counts as service done at 0 %)"
        )
    refunded = 0
    participation = 0
    if enrolment.state == "confirmed":
        refunded, participation = refund_confirmed_file(session, enrolment, actor=actor, on=on)
    release_waiting_topups(session, enrolment, actor, on, "file cancelled")
    to_state = "cancelled_by_holder" if actor.role == "holder" else "cancelled_by_provider"
    record_transition(
        session,
        enrolment,
        "cancel",
        to_state,
        actor,
        on,
        {"reason": reason[:500], "refunded_cents": refunded, "participation_refunded_cents": participation},
    )
    return enrolment


# --- provider declarations ----------------------------------------------------------------------------------


def declare_entry(session: Session, enrolment_id: int, *, actor: Actor, on: dt.date) -> Enrolment:
    """The provider declares the holder entered the session, within 3 working days of its start."""
    enrolment = _lock_visible(session, enrolment_id, actor)
    check_transition(enrolment, "entry", actor)
    if on < enrolment.session_start:
        raise Conflict(f"entry cannot be declared before the session starts on {enrolment.session_start}")
    deadline = rules.declaration_deadline(enrolment.session_start)
    if on > deadline:
        raise Conflict(f"entry had to be declared by {deadline} (3 working days after the start)")
    enrolment.entry_date = enrolment.session_start
    record_transition(
        session,
        enrolment,
        "entry",
        "in_training",
        actor,
        on,
        {"entry_date": enrolment.entry_date.isoformat()},
    )
    return enrolment


def declare_exit(
    session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, exit_date: dt.date | None = None
) -> Enrolment:
    """The provider declares the holder left the training on ``exit_date`` (default: today), within 3 working
    days of it."""
    enrolment = _lock_visible(session, enrolment_id, actor)
    check_transition(enrolment, "exit", actor)
    exit_date = exit_date or on
    assert enrolment.entry_date is not None
    if exit_date > on:
        raise field_problem("exit_date", "an exit cannot be declared in advance")
    if exit_date < enrolment.entry_date:
        raise field_problem("exit_date", f"the exit cannot precede the entry on {enrolment.entry_date}")
    deadline = rules.declaration_deadline(exit_date)
    if on > deadline:
        raise Conflict(f"an exit on {exit_date} had to be declared by {deadline} (3 working days)")
    enrolment.exit_date = exit_date
    record_transition(session, enrolment, "exit", "exited", actor, on, {"exit_date": exit_date.isoformat()})
    return enrolment


def declare_service_done(
    session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, completion_rate: object
) -> Enrolment:
    """The provider declares the service done with a completion rate (0–100 %). From ``confirmed`` this is a
    no-show, which counts as service done at 0 %."""
    try:
        points = rules.completion_basis_points(completion_rate)
    except rules.RuleError as exc:
        raise field_problem("completion_rate", str(exc)) from exc
    enrolment = _lock_visible(session, enrolment_id, actor)
    check_transition(enrolment, "service_done", actor)
    detail: dict[str, object] = {"completion_rate": points / 100}
    if enrolment.state == "confirmed":
        if points != 0:
            raise Conflict(
                "without an entry, only a no-show (completion_rate 0) can be declared; declare the "
                "entry and the exit first"
            )
        if on < enrolment.session_start:
            raise Conflict(
                f"a no-show can be declared from the start of the session on {enrolment.session_start}"
            )
        detail["no_show"] = True
    enrolment.completion_basis_points = points
    record_transition(session, enrolment, "service_done", "service_done", actor, on, detail)
    return enrolment
