"""SQLAlchemy 2 models of the Parcours database: the foundation tables (catalogue, holders and their declarations,
users, rights ledger, consents and audit, skills profile). The supporting services' tables are in
``supporting_models.py``; both derive from ``parcours.store.base.Base``.

Tables are created only through Alembic migrations (``parcours/store/migrations``); these classes describe them for
the ORM. Invariants that the database can hold itself are written as CHECK constraints here *and* checked in
Python by the code that writes the rows (importer, ledger), so a bug on either side is caught by the other.

Money is always integer cents (``BigInteger``), never a float.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parcours.store.base import Base, sql_in, utcnow

MODALITIES = ("onsite", "remote", "hybrid")
EMPLOYMENT_STATUSES = ("employee", "job_seeker", "self_employed")
EXPERIENCE_KINDS = ("job", "diploma", "certification", "training", "volunteering", "skill")
EXPERIENCE_SOURCES = ("import", "declared", "verified")
INTERACTION_EVENTS = ("view", "enrol", "complete", "cancel")
ROLES = ("holder", "adviser", "provider", "funder", "analyst", "admin")


class Provider(Base):
    __tablename__ = "providers"

    provider_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Training(Base):
    __tablename__ = "trainings"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("hours > 0", name="hours_positive"),
        CheckConstraint(sql_in("modality", MODALITIES), name="modality_known"),
        CheckConstraint("level IS NULL OR (level BETWEEN 3 AND 8)", name="level_range"),
        Index("ix_trainings_provider_id", "provider_id"),
        Index("ix_trainings_updated_at", "updated_at"),  # the catalogue fingerprint's latest stamp, in O(log n)
    )

    training_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    certification_code: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.provider_id"))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    hours: Mapped[int] = mapped_column(Integer)
    modality: Mapped[str] = mapped_column(String(10))
    region_code: Mapped[str] = mapped_column(String(8))
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    prerequisites: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_occupations: Mapped[list[str]] = mapped_column(JSON, default=list)
    # sha256 of the fields that feed the embedding text: lets the index re-encode only what changed.
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    sessions: Mapped[list[TrainingSession]] = relationship(
        back_populates="training", cascade="all, delete-orphan", order_by="TrainingSession.start_date"
    )


class TrainingSession(Base):
    """One dated session (start date) of a training; enrolments are made in a session that exists."""

    __tablename__ = "training_sessions"
    __table_args__ = (Index("ix_training_sessions_start_date", "start_date"),)  # fingerprint; open trainings

    training_id: Mapped[str] = mapped_column(
        ForeignKey("trainings.training_id", ondelete="CASCADE"), primary_key=True
    )
    start_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)

    training: Mapped[Training] = relationship(back_populates="sessions")


class Holder(Base):
    __tablename__ = "holders"
    __table_args__ = (
        CheckConstraint(sql_in("employment_status", EMPLOYMENT_STATUSES), name="employment_status_known"),
        CheckConstraint(
            "qualification_level IS NULL OR (qualification_level BETWEEN 3 AND 8)", name="qualification_range"
        ),
        CheckConstraint(
            "preferred_modality IS NULL OR " + sql_in("preferred_modality", MODALITIES), name="modality_known"
        ),
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year_range"),
        CheckConstraint(
            "max_out_of_pocket_cents IS NULL OR max_out_of_pocket_cents >= 0", name="out_of_pocket_not_negative"
        ),
    )

    holder_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    birth_year: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(8))
    employment_status: Mapped[str] = mapped_column(String(16))
    qualification_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    preferred_modality: Mapped[str | None] = mapped_column(String(10), nullable=True)
    target_occupation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Preferences the holder sets (issue 14, migration 0006). When the target occupation was given as free text,
    # the text and the score of the ESCO match chosen; NULL when it was given as an ESCO URI (or imported).
    target_occupation_text: Mapped[str | None] = mapped_column(String(200), nullable=True)
    target_occupation_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    preferred_region_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    max_out_of_pocket_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Purpose 7: a holder may switch personalisation off and then gets neutral suggestions.
    personalisation_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Experience(Base):
    """A declaration of the holder (purpose 9): job, diploma, certification, training, volunteering, skill."""

    __tablename__ = "experience"
    __table_args__ = (
        CheckConstraint(sql_in("kind", EXPERIENCE_KINDS), name="kind_known"),
        CheckConstraint(sql_in("source", EXPERIENCE_SOURCES), name="source_known"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        Index("ix_experience_holder_id", "holder_id"),
    )

    experience_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(500))
    esco_uri: Mapped[str | None] = mapped_column(String(200), nullable=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="declared")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint(sql_in("event", INTERACTION_EVENTS), name="event_known"),
        UniqueConstraint("holder_id", "training_id", "event", "occurred_at", name="uq_interactions_event"),
        Index("ix_interactions_holder_id", "holder_id"),
        Index("ix_interactions_training_id", "training_id"),
        Index("ix_interactions_occurred_at", "occurred_at"),
    )

    interaction_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="CASCADE"))
    training_id: Mapped[str] = mapped_column(ForeignKey("trainings.training_id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(10))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A person or system that signs in. Passwords are stored only as argon2 hashes."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(sql_in("role", ROLES), name="role_known"),
        CheckConstraint("role <> 'holder' OR holder_id IS NOT NULL", name="holder_has_holder_id"),
        CheckConstraint("role <> 'provider' OR provider_id IS NOT NULL", name="provider_has_provider_id"),
        CheckConstraint("role <> 'funder' OR funder_id IS NOT NULL", name="funder_has_funder_id"),
    )

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    funder_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # Carried by every access token and compared at each request (docs/security.md): a random start, so that a
    # user re-created under an old name (even with a reused row id) never matches older tokens, and bumped by
    # any change of password, role, status or the ids the user acts for (``_bump_token_version``). Migration 0008.
    token_version: Mapped[int] = mapped_column(Integer, default=lambda: new_token_version())


TOKEN_VERSION_MAX = 2**31 - 1
# A change to any of these ends every token issued before it.
TOKEN_FIELDS = ("password_hash", "role", "is_active", "holder_id", "provider_id", "funder_id")


def new_token_version() -> int:
    return secrets.randbelow(TOKEN_VERSION_MAX - 1) + 1


@event.listens_for(User, "before_update")
def _bump_token_version(_mapper: object, _connection: object, user: User) -> None:
    state = inspect(user)
    if any(state.attrs[name].history.has_changes() for name in TOKEN_FIELDS):
        user.token_version = user.token_version % TOKEN_VERSION_MAX + 1


# --- Rights ledger (purpose 1). Invariants: see parcours/domain/ledger.py. ---------------------------------


class LedgerAccount(Base):
    """An account of the double-entry ledger: a holder's CPF or CEC rights, a funder's pool, a reservation…"""

    __tablename__ = "ledger_accounts"
    __table_args__ = (Index("ix_ledger_accounts_holder_id", "holder_id"),)

    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    holder_id: Mapped[str | None] = mapped_column(
        ForeignKey("holders.holder_id", ondelete="RESTRICT"), nullable=True
    )
    # Holder rights accounts may never go below zero; system (funding) accounts may.
    may_go_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerTransaction(Base):
    """One balanced movement of money: its entries sum to zero."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        UniqueConstraint("reference", name="uq_ledger_transactions_reference"),
        CheckConstraint("length(reference) > 0", name="reference_not_empty"),
    )

    transaction_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    # A unique business reference makes every posting idempotent (re-import, re-run batch).
    reference: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(150))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction")


class LedgerEntry(Base):
    """One leg of a transaction: a signed amount in cents on one account (credit > 0, debit < 0)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account_id", "account_id"),
        Index("ix_ledger_entries_transaction_id", "transaction_id"),
    )

    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.transaction_id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.account_id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")


class ImportRun(Base):
    """One `parcours import` of one file: what was loaded, when, and its content hash."""

    __tablename__ = "import_runs"

    import_run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    detail: Mapped[str] = mapped_column(Text, default="")


class Consent(Base):
    """A holder's consent that one adviser may see their data, from ``granted_at`` until revoked or expired."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint("expires_at IS NULL OR expires_at > granted_at", name="expiry_after_grant"),
        Index("ix_consents_holder_adviser", "holder_id", "adviser_username"),
    )

    consent_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="CASCADE"))
    adviser_username: Mapped[str] = mapped_column(String(150))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditLog(Base):
    """Every read of personal data: who read what, when (append-only)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_holder_id", "holder_id"),)

    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(150))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(60))
    holder_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resource: Mapped[str] = mapped_column(String(300))


# --- Skills profile (purpose 9): derived from the experience rows by features/profile.py. -------------------

SKILL_SOURCES = ("verified", "declared")


class HolderSkill(Base):
    """One piece of evidence that a holder has a skill: which declaration gave it, with what weight.

    A skill of the profile is the set of its rows; the holder and the adviser see every row (provenance).
    Rows are rewritten whole when the profile is recomputed (``features.profile.recompute_profile``).
    """

    __tablename__ = "holder_skills"
    __table_args__ = (
        CheckConstraint(sql_in("source", SKILL_SOURCES), name="source_known"),
        CheckConstraint("weight > 0 AND weight <= 1", name="weight_range"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        Index("ix_holder_skills_holder_id", "holder_id"),
        Index("ix_holder_skills_experience_id", "experience_id"),
    )

    holder_skill_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="CASCADE"))
    skill_uri: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    # Provenance: a declaration (experience row) or a completed training of our own files, never both.
    experience_id: Mapped[int | None] = mapped_column(
        ForeignKey("experience.experience_id", ondelete="CASCADE"), nullable=True
    )
    training_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The ESCO concept the declaration was mapped to (an occupation brings its skills), and how sure that was.
    via_uri: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    low_confidence: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HolderSkillExclusion(Base):
    """A declared skill the holder (or a consented adviser) removed; later recomputes keep it out."""

    __tablename__ = "holder_skill_exclusions"
    __table_args__ = (UniqueConstraint("holder_id", "skill_uri", name="uq_holder_skill_exclusions_skill"),)

    exclusion_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("holders.holder_id", ondelete="CASCADE"))
    skill_uri: Mapped[str] = mapped_column(String(200))
    excluded_by: Mapped[str] = mapped_column(String(150))
    excluded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HolderProfile(Base):
    """The stored skills profile of a holder: its embedding (for candidate generation) and its version."""

    __tablename__ = "holder_profiles"

    holder_id: Mapped[str] = mapped_column(
        ForeignKey("holders.holder_id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(String(300))
    dim: Mapped[int] = mapped_column(Integer)
    # float32 little-endian bytes of the L2-normalised embedding (empty for an empty profile).
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    n_skills: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)



# --- Which database this is (issue 17): the index and the registered model record it and are refused elsewhere. --


class DatabaseIdentity(Base):
    """The identity of this database: one row, a UUID written by migration 0009 (or at first start if missing).

    A copy made from this database (dump and restore, ``CREATE DATABASE … TEMPLATE``) keeps it: it holds the same
    catalogue, so the index and model built on one serve the other.
    """

    __tablename__ = "database_identity"
    __table_args__ = (CheckConstraint("singleton = 1", name="one_row"),)

    singleton: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    database_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
