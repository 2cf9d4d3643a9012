"""Enrolment files from request to payment (purposes 3 and 4): the state machine of DOMAIN.md.

    submitted ─accept─▶ accepted ─confirm─▶ confirmed ─entry─▶ in_training ─exit─▶ exited ─service-done─┐
        │                 │                   │                                                         ▼
      refuse            cancel     cancel, or service-done at 0 % (no-show) ──────────────────▶ service_done
        ▼                 ▼                   ▼                                                         │
     refused   cancelled_by_holder | cancelled_by_provider                         closed ◀─ paid ◀─batch─┘

Every transition locks the file row, checks who acts and the state it starts from, is dated (business date
``on`` and wall clock) and attributed to an actor in ``enrolment_events``. Confirmation reserves rights and
top-ups in the ledger and takes the flat participation; a cancellation before the start gives every cent back.
No request field sets a state, a balance or an amount: the price comes from the catalogue, the funding from
``rules.file_funding``, the payment from ``rules.payment_amount_cents``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.domain import rules
from parcours.domain.ledger import (
    CEC,
    CPF,
    CPF_CORRECTIVE,
    RESERVED,
    InsufficientFunds,
    acquire_write_lock,
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
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.models import (
    AuditLog,
    Holder,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Training,
    TrainingSession,
)
from parcours.store.supporting_models import (
    ACTIVE_ENROLMENT_STATES,
    Enrolment,
    EnrolmentEvent,
    EnrolmentMessage,
    PaymentItem,
    TopUp,
)
from serving.services.access import active_consent
from serving.services.actors import Actor
from serving.services.topups import (
    TOPUP_OPEN_STATES,
    UsableTopUp,
    release_waiting_topup,
    topup_account,
    usable_topups,
)

MAX_MESSAGE_LENGTH = 5_000


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


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message}], message=f"{field}: {message}")


# --- loading and authorisation ------------------------------------------------------------------------------


def lock_enrolment(session: Session, enrolment_id: int) -> Enrolment:
    """The file, locked until the transaction ends (``FOR UPDATE``; SQLite's writer lock), read afresh."""
    acquire_write_lock(session)
    enrolment = session.scalars(
        select(Enrolment)
        .where(Enrolment.enrolment_id == enrolment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if enrolment is None:
        raise NotFound(f"enrolment {enrolment_id} not found")
    return enrolment


def _is_cofunder(session: Session, actor: Actor, enrolment: Enrolment) -> bool:
    if actor.role != "funder":
        return False
    found = session.scalar(select(TopUp.topup_id).where(
        TopUp.enrolment_id == enrolment.enrolment_id, TopUp.funder_id == actor.funder_id).limit(1))
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
    """The file if ``actor`` may see it (403 otherwise, 404 if unknown); the read goes to the audit log."""
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(f"enrolment {enrolment_id} not found")
    if not can_read(session, actor, enrolment):
        raise Forbidden(f"{actor.role} {actor.username} may not see enrolment {enrolment_id}")
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


def _check(enrolment: Enrolment, action: str, actor: Actor) -> Transition:
    transition = TRANSITIONS[action]
    if actor.role not in transition.roles:
        raise Forbidden(
            f"{action.replace('_', '-')} is for the {' or '.join(transition.roles)}, not a {actor.role}"
        )
    if actor.role == "holder" and not actor.is_holder(enrolment.holder_id):
        raise Forbidden(f"enrolment {enrolment.enrolment_id} is not a file of holder {actor.holder_id}")
    if actor.role == "provider" and not actor.is_provider(enrolment.provider_id):
        raise Forbidden(
            f"enrolment {enrolment.enrolment_id} is not addressed to provider {actor.provider_id}"
        )
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
        raise _problem("session_start", f"training {training_id} has no session starting {session_start}")
    if session_start <= on:
        raise _problem("session_start", "the session has already started")
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
    enrolment = lock_enrolment(session, enrolment_id)
    _check(enrolment, "accept", actor)
    detail: dict[str, object] = {}
    if session_start is not None and session_start != enrolment.session_start:
        if session.get(TrainingSession, (enrolment.training_id, session_start)) is None:
            raise _problem(
                "session_start", f"training {enrolment.training_id} has no session on {session_start}"
            )
        if session_start <= on:
            raise _problem("session_start", "a proposed session must start in the future")
        detail = {
            "proposed_session_start": session_start.isoformat(),
            "requested_session_start": enrolment.session_start.isoformat(),
        }
        enrolment.session_start = session_start
    record_transition(session, enrolment, "accept", "accepted", actor, on, detail)
    return enrolment


def _release_waiting_topups(
    session: Session, enrolment: Enrolment, actor: Actor, on: dt.date, reason: str
) -> None:
    for topup in session.scalars(
        select(TopUp)
        .where(TopUp.enrolment_id == enrolment.enrolment_id, TopUp.released.is_(False))
        .order_by(TopUp.topup_id)
    ):
        release_waiting_topup(session, topup, actor=actor.username, on=on, reason=reason)


def refuse(session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, reason: str = "") -> Enrolment:
    enrolment = lock_enrolment(session, enrolment_id)
    _check(enrolment, "refuse", actor)
    _release_waiting_topups(session, enrolment, actor, on, "file refused")
    record_transition(session, enrolment, "refuse", "refused", actor, on, {"reason": reason[:500]})
    return enrolment


# --- confirmation: reservation of rights and top-ups --------------------------------------------------------


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


def latest_confirmation_date(session_start: dt.date) -> dt.date:
    """The last day a file for a session starting ``session_start`` can be confirmed."""
    day = session_start - dt.timedelta(days=1)
    while rules.earliest_session_start(day) > session_start:
        day -= dt.timedelta(days=1)
    return day


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
        raise _problem("max_out_of_pocket_cents", "must be a non-negative integer number of cents")
    enrolment = lock_enrolment(session, enrolment_id)
    _check(enrolment, "confirm", actor)
    earliest = rules.earliest_session_start(on)
    if enrolment.session_start < earliest:
        raise Conflict(
            f"too late to confirm: a file confirmed on {on} may start on {earliest} at the earliest "
            f"(11 working days); this session starts on {enrolment.session_start}"
        )
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


# --- cancellation -------------------------------------------------------------------------------------------


def cancel(session: Session, enrolment_id: int, *, actor: Actor, on: dt.date, reason: str = "") -> Enrolment:
    """The holder (submitted, accepted, confirmed) or the provider (accepted, confirmed) cancels before the
    start. Every reserved cent goes back where it came from, and the participation to the holder."""
    enrolment = lock_enrolment(session, enrolment_id)
    _check(enrolment, "cancel", actor)
    if on >= enrolment.session_start:
        raise Conflict(
            f"the session started on {enrolment.session_start}: a started file is not cancelled; the "
            "provider declares exit and service done (a no-show counts as service done at 0 %)"
        )
    refunded = 0
    participation = 0
    if enrolment.state == "confirmed":
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
    _release_waiting_topups(session, enrolment, actor, on, "file cancelled")
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


# --- provider declarations ----------------------------------------------------------------------------------


def declare_entry(session: Session, enrolment_id: int, *, actor: Actor, on: dt.date) -> Enrolment:
    """The provider declares the holder entered the session, within 3 working days of its start."""
    enrolment = lock_enrolment(session, enrolment_id)
    _check(enrolment, "entry", actor)
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
    enrolment = lock_enrolment(session, enrolment_id)
    _check(enrolment, "exit", actor)
    exit_date = exit_date or on
    assert enrolment.entry_date is not None
    if exit_date > on:
        raise _problem("exit_date", "an exit cannot be declared in advance")
    if exit_date < enrolment.entry_date:
        raise _problem("exit_date", f"the exit cannot precede the entry on {enrolment.entry_date}")
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
        raise _problem("completion_rate", str(exc)) from exc
    enrolment = lock_enrolment(session, enrolment_id)
    _check(enrolment, "service_done", actor)
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


# --- messages -----------------------------------------------------------------------------------------------


def post_message(session: Session, enrolment_id: int, *, actor: Actor, body: str) -> EnrolmentMessage:
    """A message from the holder to the provider of the file, or back."""
    body = (body or "").strip()
    if not body or len(body) > MAX_MESSAGE_LENGTH:
        raise _problem("body", f"must be 1–{MAX_MESSAGE_LENGTH} characters")
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(f"enrolment {enrolment_id} not found")
    if not (actor.is_holder(enrolment.holder_id) or actor.is_provider(enrolment.provider_id)):
        raise Forbidden("only the holder and the provider of a file exchange messages on it")
    message = EnrolmentMessage(
        enrolment_id=enrolment_id, author=actor.username, author_role=actor.role, body=body
    )
    session.add(message)
    session.flush()
    return message


def list_messages(session: Session, enrolment_id: int, *, actor: Actor) -> list[dict[str, object]]:
    enrolment = get_enrolment(session, enrolment_id, actor)
    if actor.role == "funder":
        raise Forbidden("funders do not see the messages of a file")
    return [
        message_view(m)
        for m in session.scalars(
            select(EnrolmentMessage)
            .where(EnrolmentMessage.enrolment_id == enrolment.enrolment_id)
            .order_by(EnrolmentMessage.message_id)
        )
    ]


def message_view(message: EnrolmentMessage) -> dict[str, object]:
    return {
        "message_id": message.message_id,
        "enrolment_id": message.enrolment_id,
        "author": message.author,
        "author_role": message.author_role,
        "body": message.body,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


# --- views --------------------------------------------------------------------------------------------------


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


def allowed_actions(enrolment: Enrolment, actor: Actor) -> list[str]:
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
        query = query.where(
            Enrolment.enrolment_id.in_(
                select(TopUp.enrolment_id).where(
                    TopUp.funder_id == actor.funder_id, TopUp.enrolment_id.is_not(None)
                )
            )
        )
    elif actor.role not in ("admin", "system"):
        raise Forbidden(f"role {actor.role} has no list of files")
    if state is not None:
        query = query.where(Enrolment.state == state)
    return list(session.scalars(query.order_by(Enrolment.enrolment_id.desc()).limit(limit).offset(offset)))


__all__ = [
    "TOPUP_OPEN_STATES",
    "TRANSITIONS",
    "accept",
    "cancel",
    "confirm",
    "create_enrolment",
    "declare_entry",
    "declare_exit",
    "declare_service_done",
    "enrolment_view",
    "estimate_funding",
    "get_enrolment",
    "list_enrolments",
    "list_messages",
    "lock_enrolment",
    "post_message",
    "refuse",
    "reservation",
]
