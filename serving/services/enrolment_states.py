"""The state machine of an enrolment file (purposes 3 and 4, docs/domain.md): which action goes from which state
to which, for whom; the lock on a file, the check of an action and its dated, attributed record.

    submitted ─accept─▶ accepted ─confirm─▶ confirmed ─entry─▶ in_training ─exit─▶ exited ─service-done─┐
        │                 │                   │                                                         ▼
      refuse            cancel     cancel, or service-done at 0 % (no-show) ──────────────────▶ service_done
        ▼                 ▼                   ▼                                                         │
     refused   cancelled_by_holder | cancelled_by_provider                         closed ◀─ paid ◀─batch─┘

Every transition locks the file row, checks who acts and the state it starts from, is dated (business date
``on`` and wall clock) and attributed to an actor in ``enrolment_events``. The transitions themselves are in
``enrolment_files`` (request to service done) and ``payments`` (paid, closed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from parcours.domain import rules
from parcours.domain.ledger import locked_row
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.supporting_models import Enrolment, EnrolmentEvent
from serving.services.actors import Actor


@dataclass(frozen=True)
class Transition:
    action: str
    from_states: tuple[str, ...]
    to_state: str | None  # None: depends on who acts (cancellation)
    roles: tuple[str, ...]


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("accept", ("submitted",), "accepted", ("provider",)),
        Transition("refuse", ("submitted",), "refused", ("provider",)),
        Transition("confirm", ("accepted",), "confirmed", ("holder",)),
        Transition("cancel", ("submitted", "accepted", "confirmed"), None, ("holder", "provider")),
        Transition("entry", ("confirmed",), "in_training", ("provider",)),
        Transition("exit", ("in_training",), "exited", ("provider",)),
        Transition("service_done", ("exited", "confirmed"), "service_done", ("provider",)),
        Transition("pay", ("service_done",), "paid", ("system", "admin")),
        Transition("close", ("paid",), "closed", ("system", "admin")),
    )
}
# A provider cancels an accepted or confirmed file; a submitted one it refuses.
PROVIDER_CANCEL_STATES = ("accepted", "confirmed")


def field_problem(field: str, message: str) -> ValidationFailed:
    """A 422 about one request field."""
    return ValidationFailed([{"field": field, "message": message}], message=f"{field}: {message}")


def lock_enrolment(session: Session, enrolment_id: int) -> Enrolment:
    """The file, locked until the transaction ends (``FOR UPDATE``; SQLite's writer lock), read afresh."""
    enrolment: Enrolment | None = locked_row(session, Enrolment, Enrolment.enrolment_id, enrolment_id)
    if enrolment is None:
        raise NotFound(f"enrolment {enrolment_id} not found")
    return enrolment


def check_transition(enrolment: Enrolment, action: str, actor: Actor) -> Transition:
    """The transition ``action`` if ``actor`` may take it on this file in its state (403 / 409 otherwise)."""
    transition = TRANSITIONS[action]
    if actor.role not in transition.roles:
        raise Forbidden(
            f"{action.replace('_', '-')} is for the {' or '.join(transition.roles)}, not a {actor.role}"
        )
    if (actor.role == "holder" and not actor.is_holder(enrolment.holder_id)) or (
        actor.role == "provider" and not actor.is_provider(enrolment.provider_id)
    ):
        # Someone else's file is answered like a missing one, naming nobody (callers check visibility first).
        raise NotFound(f"enrolment {enrolment.enrolment_id} not found")
    allowed = (
        PROVIDER_CANCEL_STATES
        if (action == "cancel" and actor.role == "provider")
        else transition.from_states
    )
    if enrolment.state not in allowed:
        raise Conflict(
            f"cannot {action.replace('_', '-')} enrolment {enrolment.enrolment_id} in state "
            f"{enrolment.state} (allowed from: {', '.join(allowed)})"
        )
    return transition


def record_transition(
    session: Session,
    enrolment: Enrolment,
    action: str,
    to_state: str,
    actor: Actor,
    on: dt.date,
    detail: dict[str, object] | None = None,
) -> None:
    session.add(
        EnrolmentEvent(
            enrolment_id=enrolment.enrolment_id,
            action=action,
            from_state=enrolment.state,
            to_state=to_state,
            actor=actor.username,
            actor_role=actor.role,
            on_date=on,
            detail=detail or {},
        )
    )
    enrolment.state = to_state
    session.flush()


def allowed_actions(enrolment: Enrolment, actor: Actor) -> list[str]:
    """The actions ``actor`` may take on this file now (as the API names them), payment jobs' aside."""
    actions = []
    for action, transition in TRANSITIONS.items():
        if actor.role not in transition.roles or action in ("pay", "close"):
            continue
        if actor.role == "holder" and not actor.is_holder(enrolment.holder_id):
            continue
        if actor.role == "provider" and not actor.is_provider(enrolment.provider_id):
            continue
        states = (
            PROVIDER_CANCEL_STATES
            if (action == "cancel" and actor.role == "provider")
            else transition.from_states
        )
        if enrolment.state in states:
            actions.append(action.replace("_", "-"))
    return actions


def latest_confirmation_date(session_start: dt.date) -> dt.date:
    """The last day a file for a session starting ``session_start`` can be confirmed."""
    day = session_start - dt.timedelta(days=1)
    while rules.earliest_session_start(day) > session_start:
        day -= dt.timedelta(days=1)
    return day
