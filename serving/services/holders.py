"""Holder-facing reads: account view (balances and ledger history) and the context recommenders need."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from features.esco import load_taxonomy
from recommender.base import HolderContext
from serving.db.models import Experience, Holder, Interaction, LedgerAccount, LedgerEntry, LedgerTransaction
from serving.services.accounts import account_extras
from serving.services.ledger import available_balances_cents, holder_balances_cents


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
    taxonomy = load_taxonomy()
    parts: list[str] = []
    for experience in session.scalars(select(Experience).where(Experience.holder_id == holder.holder_id)):
        parts.append(experience.label)
        if experience.esco_uri:
            label = (taxonomy.occupation_label(experience.esco_uri) if taxonomy.is_occupation(experience.esco_uri)
                     else taxonomy.skill_label(experience.esco_uri))
            parts.append(label)
    if holder.target_occupation:
        parts.append(taxonomy.occupation_label(holder.target_occupation))
    return ". ".join(p for p in parts if p)


def holder_context(session: Session, holder: Holder) -> HolderContext:
    balances = available_balances_cents(session, holder.holder_id)
    taken = set(session.scalars(select(Interaction.training_id).where(
        Interaction.holder_id == holder.holder_id, Interaction.event.in_(("enrol", "complete")))))
    return HolderContext(
        holder_id=holder.holder_id,
        region_code=holder.region_code,
        employment_status=holder.employment_status,
        qualification_level=holder.qualification_level,
        preferred_modality=holder.preferred_modality,
        target_occupation=holder.target_occupation,
        cpf_balance_cents=balances.get("cpf", 0),
        cec_balance_cents=balances.get("cec", 0),
        profile_text=profile_text(session, holder),
        excluded_training_ids=frozenset(taken),
        personalised=holder.personalisation_enabled,
    )


def today() -> dt.date:
    return dt.date.today()
