"""Models of the supporting services (R6323-33 purposes 1–4, 6, 8): enrolment files and their history,
messages, top-ups, work and CEC declarations, payment batches, idempotency keys.

Shares ``parcours.store.base.Base`` (one metadata) with the foundation tables of ``models.py``; the whole schema
is gathered by ``parcours.store.schema``. Amounts of money live in the ledger (``ledger_entries``), never here:
these tables say *what* happened; the ledger says *how much*.
Tables are created by migration ``0002_supporting_services``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from parcours.store.base import Base, sql_in, utcnow

ENROLMENT_STATES = (
    "submitted",
    "accepted",
    "refused",
    "confirmed",
    "in_training",
    "exited",
    "service_done",
    "paid",
    "closed",
    "cancelled_by_holder",
    "cancelled_by_provider",
)
# States in which a holder holds a place in a session: at most one such file per holder, training and session.
ACTIVE_ENROLMENT_STATES = ("submitted", "accepted", "confirmed", "in_training", "exited", "service_done")
FUNDER_KINDS = ("employer", "opco", "france_travail", "region", "holder")
# Funders registered by operators; a holder topping up with their own money is the funder kind "holder".
REGISTERED_FUNDER_KINDS = ("employer", "opco", "france_travail", "region")
CEC_ACTIVITIES = (
    "civic_service",
    "military_reserve",
    "other_reserve",
    "volunteer_firefighter",
    "association_volunteer",
    "apprentice_master",
)
CEC_DECLARATION_STATES = ("declared", "validated", "rejected")
WORK_STATUSES = ("employee", "self_employed")
BATCH_STATES = ("running", "completed")
IDEMPOTENCY_STATES = ("running", "done")

_ACTIVE_SQL = sql_in("state", ACTIVE_ENROLMENT_STATES)


class Enrolment(Base):
    """A training file (dossier de formation) from the holder's request to the provider's payment."""

    __tablename__ = "enrolments"
    __table_args__ = (
        CheckConstraint(sql_in("state", ENROLMENT_STATES), name="state_known"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint(
            "completion_basis_points IS NULL OR completion_basis_points BETWEEN 0 AND 10000",
            name="completion_range",
        ),
        CheckConstraint(
            "state NOT IN ('service_done', 'paid', 'closed') OR completion_basis_points IS NOT NULL",
            name="completion_when_done",
        ),
        CheckConstraint(
            "exit_date IS NULL OR entry_date IS NULL OR exit_date >= entry_date", name="exit_after_entry"
        ),
        Index("ix_enrolments_holder_id", "holder_id"),
        # The statistics' follow-up of an impression: a later file of the holder for the training (0010).
        Index("ix_enrolments_holder_id_training_id_created_at", "holder_id", "training_id", "created_at"),
        Index("ix_enrolments_provider_id", "provider_id"),
        Index("ix_enrolments_state", "state"),
        Index(
            "uq_enrolments_active_place",
            "holder_id",
            "training_id",
            "session_start",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )

    enrolment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="RESTRICT"))
    training_id: Mapped[str] = mapped_column(ForeignKey("trainings.training_id", ondelete="RESTRICT"))
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.provider_id", ondelete="RESTRICT"))
    session_start: Mapped[dt.date] = mapped_column(Date)
    # The catalogue price when the file was opened: a later catalogue change does not alter a running file.
    price_cents: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(24))
    completion_basis_points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confirmed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    entry_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    exit_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class EnrolmentEvent(Base):
    """One transition of a file: dated (business date and wall clock), attributed to an actor. Append-only."""

    __tablename__ = "enrolment_events"
    __table_args__ = (
        CheckConstraint(sql_in("to_state", ENROLMENT_STATES), name="to_state_known"),
        Index("ix_enrolment_events_enrolment_id", "enrolment_id"),
    )

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.enrolment_id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_state: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(150))
    actor_role: Mapped[str] = mapped_column(String(16))
    on_date: Mapped[dt.date] = mapped_column(Date)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EnrolmentMessage(Base):
    """A message between the holder and the provider about one file (purpose 4)."""

    __tablename__ = "enrolment_messages"
    __table_args__ = (
        CheckConstraint("length(body) > 0", name="body_not_empty"),
        Index("ix_enrolment_messages_enrolment_id", "enrolment_id"),
    )

    message_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.enrolment_id", ondelete="RESTRICT"))
    author: Mapped[str] = mapped_column(String(150))
    author_role: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Funder(Base):
    """An organisation that tops up files (employer, OPCO, France Travail, region). Its kind decides, among
    other things, whether a file it co-finances is exempt from the flat participation, so it is registered by
    an operator and never taken from a request."""

    __tablename__ = "funders"
    __table_args__ = (CheckConstraint(sql_in("kind", REGISTERED_FUNDER_KINDS), name="kind_known"),)

    funder_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Who may fund what (parcours.domain.funding_rights): an employer's OPCO (the OPCO of its sector), a region
    # funder's INSEE region code. Migration 0008.
    opco_id: Mapped[str | None] = mapped_column(ForeignKey("funders.funder_id", ondelete="RESTRICT"), nullable=True)
    region_code: Mapped[str | None] = mapped_column(String(8), nullable=True)


class Employment(Base):
    """A holder's employment at an employer (a funder of kind ``employer``): the link that lets the employer, and
    the OPCO of its sector, top up the holder's files and owe corrective top-ups (docs/security.md). Migration
    0008."""

    __tablename__ = "employments"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        Index("ix_employments_holder_id", "holder_id"),
        Index("ix_employments_employer_id", "employer_id"),
    )

    employment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="CASCADE"))
    employer_id: Mapped[str] = mapped_column(ForeignKey("funders.funder_id", ondelete="RESTRICT"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TopUp(Base):
    """A funder's top-up (abondement) for one holder and one training file.

    Granted either on an existing file (``enrolment_id``) or for a training (``training_id`` only), in which
    case it is tied to the holder's file for that training when the holder confirms it. Its money sits in the
    ledger account ``topup:<id>`` until it is reserved by the file or released back to the funder.
    """

    __tablename__ = "topups"
    __table_args__ = (
        CheckConstraint(sql_in("funder_kind", FUNDER_KINDS), name="funder_kind_known"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_topups_holder_id", "holder_id"),
        Index("ix_topups_enrolment_id", "enrolment_id"),
    )

    topup_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="RESTRICT"))
    training_id: Mapped[str] = mapped_column(ForeignKey("trainings.training_id", ondelete="RESTRICT"))
    enrolment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrolments.enrolment_id", ondelete="RESTRICT"), nullable=True
    )
    funder_kind: Mapped[str] = mapped_column(String(16))
    funder_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # The funder says whether its money is spent before the holder's rights (DOMAIN.md).
    spend_before_rights: Mapped[bool] = mapped_column(Boolean, default=False)
    granted_on: Mapped[dt.date] = mapped_column(Date)
    granted_by: Mapped[str] = mapped_column(String(150))
    released: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkDeclaration(Base):
    """The work time declared for a holder and a year (employer declarations, DSN) that feeds the annual
    credit."""

    __tablename__ = "work_declarations"
    __table_args__ = (
        CheckConstraint(sql_in("status", WORK_STATUSES), name="status_known"),
        CheckConstraint("worked_hours >= 0", name="hours_not_negative"),
        CheckConstraint("reference_hours > 0", name="reference_positive"),
        CheckConstraint("credited_cents >= 0", name="credit_not_negative"),
        UniqueConstraint("holder_id", "year", name="uq_work_declarations_holder_year"),
    )

    declaration_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    worked_hours: Mapped[int] = mapped_column(Integer)
    reference_hours: Mapped[int] = mapped_column(Integer)
    disability: Mapped[bool] = mapped_column(Boolean, default=False)
    low_qualification: Mapped[bool] = mapped_column(Boolean, default=False)
    credited_cents: Mapped[int] = mapped_column(BigInteger)
    posted_on: Mapped[dt.date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CecDeclaration(Base):
    """A volunteer or civic activity declared for the citizen engagement account (purpose 8)."""

    __tablename__ = "cec_declarations"
    __table_args__ = (
        CheckConstraint(sql_in("activity_kind", CEC_ACTIVITIES), name="activity_known"),
        CheckConstraint(sql_in("state", CEC_DECLARATION_STATES), name="state_known"),
        CheckConstraint("hours IS NULL OR hours >= 0", name="hours_not_negative"),
        CheckConstraint("days IS NULL OR days >= 0", name="days_not_negative"),
        CheckConstraint("months IS NULL OR months >= 0", name="months_not_negative"),
        UniqueConstraint(
            "holder_id",
            "activity_kind",
            "activity_year",
            "organisation_id",
            name="uq_cec_declarations_activity",
        ),
        Index("ix_cec_declarations_holder_id", "holder_id"),
    )

    declaration_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="RESTRICT"))
    activity_kind: Mapped[str] = mapped_column(String(32))
    activity_year: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[str] = mapped_column(String(64))
    hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    declared_on: Mapped[dt.date] = mapped_column(Date)
    declared_by: Mapped[str] = mapped_column(String(150))
    state: Mapped[str] = mapped_column(String(16), default="declared")
    decided_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(150), nullable=True)
    # Set when the yearly CEC run has credited (or capped to nothing) this declaration's activity.
    credited_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentBatch(Base):
    """One run of the payment of providers. A crashed run stays ``running`` and is resumed by the next run."""

    __tablename__ = "payment_batches"
    __table_args__ = (CheckConstraint(sql_in("state", BATCH_STATES), name="state_known"),)

    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_on: Mapped[dt.date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(150))
    state: Mapped[str] = mapped_column(String(16), default="running")
    remittance_dir: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PaymentItem(Base):
    """The payment of one file. ``enrolment_id`` is unique: the database itself refuses a second payment."""

    __tablename__ = "payment_items"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("returned_cents >= 0", name="returned_not_negative"),
        UniqueConstraint("enrolment_id", name="uq_payment_items_enrolment_id"),
        Index("ix_payment_items_batch_id", "batch_id"),
    )

    item_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payment_batches.batch_id", ondelete="RESTRICT"))
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.enrolment_id", ondelete="RESTRICT"))
    provider_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    returned_cents: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdempotencyKey(Base):
    """The first answer to a state-changing request, kept at least 24 h per caller and key (Stripe
    semantics)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint(sql_in("state", IDEMPOTENCY_STATES), name="state_known"),
        UniqueConstraint("caller", "idempotency_key", name="uq_idempotency_keys_caller_key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    record_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    caller: Mapped[str] = mapped_column(String(150))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    # Who holds a running claim: a crashed request's claim can be taken over once its lease has run out.
    owner_token: Mapped[str] = mapped_column(String(64))
    locked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Impression(Base):
    """One training shown to a holder in a recommendations answer (purpose 5: the recommender's own use).

    Written once per answer, one row per item (``serving.services.statistics.log_impressions``); read only as
    aggregates (``serving.services.statistics``): shown, followed by a view or an enrolment, enrolled."""

    __tablename__ = "impressions"
    __table_args__ = (
        CheckConstraint("rank >= 1", name="rank_positive"),
        # covering: an impression's follow-up compares shown_at with later events without a table read
        Index("ix_impressions_holder_id_training_id_shown_at", "holder_id", "training_id", "shown_at"),
        Index("ix_impressions_shown_at", "shown_at"),
    )

    impression_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="CASCADE"))
    training_id: Mapped[str] = mapped_column(ForeignKey("trainings.training_id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(200))
    shown_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
