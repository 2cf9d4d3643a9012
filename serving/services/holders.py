"""Holder-facing reads: account view (balances and ledger history) and the context recommenders need."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from features.esco import load_taxonomy
from features.profile.store import stored_embedding
from features.profile.weights import noisy_or_by_name
from parcours.domain.calendar import business_today
from parcours.domain.ledger import available_balances_cents, holder_balances_cents
from parcours.store.models import (
    Experience,
    Holder,
    HolderSkill,
    Interaction,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from recommender.base import HolderContext
from recommender.context import HOLDER_COLUMNS, context_from_rows, personalisation
from serving.services.accounts import account_extras


def account_view(session: Session, holder: Holder) -> dict[str, object]:
    """Balances available after reservations, top-ups and reservations by file, balances by account kind and
    the ledger history of the holder, newest first."""
    balances = holder_balances_cents(session, holder.holder_id)
    history = session.execute(
        select(LedgerTransaction.effective_date, LedgerTransaction.kind, LedgerTransaction.reference,
               LedgerAccount.kind, LedgerEntry.amount_cents)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.transaction_id)
        .join(LedgerAccount, LedgerAccount.account_id == LedgerEntry.account_id)
        .where(LedgerAccount.holder_id == holder.holder_id)
        .order_by(LedgerTransaction.effective_date.desc(), LedgerTransaction.transaction_id.desc())
    ).all()
    return {
        "holder_id": holder.holder_id,
        **account_extras(session, holder.holder_id),
        "balances_cents": balances,
        "history": [
            {"date": d.isoformat(), "kind": kind, "reference": ref, "account": account, "amount_cents": amount}
            for d, kind, ref, account, amount in history
        ],
    }


def profile_text(session: Session, holder: Holder) -> str:
    """A plain-text profile: declared experience labels and the target occupation's label."""
    return _profile_text_of(holder, session.scalars(
        select(Experience).where(Experience.holder_id == holder.holder_id)).all())


def _profile_text_of(holder: Holder, experiences: Sequence[_ExperienceLike]) -> str:
    occupations, skills = _esco_labels()
    parts: list[str] = []
    for experience in experiences:
        parts.append(experience.label)
        if experience.esco_uri:
            uri = experience.esco_uri
            parts.append(occupations[uri] if uri in occupations else skills.get(uri, uri))
    if holder.target_occupation:
        parts.append(occupations.get(holder.target_occupation, holder.target_occupation))
    return ". ".join(p for p in parts if p)


@lru_cache(maxsize=1)
def _esco_labels() -> tuple[dict[str, str], dict[str, str]]:
    """ESCO labels by URI (occupations, skills) as ``Taxonomy.occupation_label`` and ``skill_label`` give them,
    in dictionaries (a frame lookup per experience was a large share of building a recommendation's context)."""
    taxonomy = load_taxonomy()
    return ({uri: str(label) for uri, label in zip(taxonomy.occupations.index, taxonomy.occupations["label"],
                                                     strict=True)},
            {uri: str(label) for uri, label in zip(taxonomy.skills.index, taxonomy.skills["label"], strict=True)})


class _ExperienceLike(Protocol):
    """What the profile text and the current occupation read of an experience: an ORM row or a plain row."""

    @property
    def experience_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def esco_uri(self) -> str | None: ...
    @property
    def start_date(self) -> dt.date: ...


# The reads of a holder's context, built once (a statement built per call cost about as much as running it); the
# experiences as plain rows of the columns read (no ORM object per experience).
_EXPERIENCES = select(Experience.experience_id, Experience.kind, Experience.label, Experience.esco_uri,
                      Experience.start_date).where(Experience.holder_id == bindparam("holder_id"))
_EVENTS = select(Interaction.training_id, Interaction.event).where(Interaction.holder_id == bindparam("holder_id"))
_SKILL_ROWS = select(HolderSkill.skill_uri, HolderSkill.weight).where(HolderSkill.holder_id == bindparam("holder_id"))


def stored_skill_weights(session: Session, holder_id: str) -> dict[str, float]:
    """The stored profile's weight per skill: the noisy-or of its evidence rows (``noisy_or_by_name``, the one
    the profile and the training datasets use)."""
    rows = session.execute(_SKILL_ROWS, {"holder_id": holder_id}).all()
    return noisy_or_by_name([uri for uri, _ in rows], [float(weight) for _, weight in rows])


def current_occupation(session: Session, holder_id: str) -> str | None:
    """The ESCO occupation of the latest declared job (by start date), if any."""
    return session.scalars(
        select(Experience.esco_uri)
        .where(Experience.holder_id == holder_id, Experience.kind == "job", Experience.esco_uri.is_not(None))
        .order_by(Experience.start_date.desc(), Experience.experience_id.desc()).limit(1)
    ).first()


def _latest_job_occupation(experiences: Sequence[_ExperienceLike]) -> str | None:
    """``current_occupation`` over experiences already read (start dates are never null)."""
    jobs = [e for e in experiences if e.kind == "job" and e.esco_uri is not None]
    return max(jobs, key=lambda e: (e.start_date, e.experience_id)).esco_uri if jobs else None


def holder_context(session: Session, holder: Holder, *, personalised: bool | None = None,
                   balances: dict[str, int] | None = None) -> HolderContext:
    """What a recommender may know of ``holder`` now. ``personalised`` overrides the holder's stored choice
    only towards neutral: a request can ask for neutral suggestions, never personalise a holder who opted out.
    ``balances``: ``available_balances_cents`` if the caller already read it in this transaction."""
    if balances is None:
        balances = available_balances_cents(session, holder.holder_id)
    events = session.execute(_EVENTS, {"holder_id": holder.holder_id}).all()
    # The profile is read only when it may be used (``context_from_rows`` withholds it otherwise).
    personalise = personalisation(holder.personalisation_enabled, personalised)
    embedding, embedding_model = stored_embedding(session, holder.holder_id) if personalise else (None, None)
    # One read of the experiences for the profile text and the current occupation (two queries before).
    experiences = session.execute(_EXPERIENCES, {"holder_id": holder.holder_id}).all()
    return context_from_rows(
        {column: getattr(holder, column) for column in HOLDER_COLUMNS},
        cpf_balance_cents=balances.get("cpf", 0),
        cec_balance_cents=balances.get("cec", 0),
        events=[(training_id, event) for training_id, event in events],
        profile_text=_profile_text_of(holder, experiences),
        skill_weights=stored_skill_weights(session, holder.holder_id) if personalise else {},
        embedding=embedding,
        embedding_model=embedding_model,
        current_occupation=_latest_job_occupation(experiences) if personalise else None,
        personalised=personalised,
    )


def today() -> dt.date:
    """The business date (``PARCOURS_BUSINESS_DATE`` in demos and tests, else the calendar's)."""
    return business_today()
