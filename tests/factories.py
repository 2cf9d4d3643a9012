"""Small hand-made rows for tests that need a few holders and trainings in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from features.catalogue import content_hash
from parcours.domain.ledger import set_opening_balance
from parcours.store.models import Experience, Holder, Provider, Training, TrainingSession

ACCOUNTING_SKILL = "http://data.europa.eu/esco/skill/00735ea6-e9c3-4e8c-9b5b-f7d5b5e9c6a2"


def add_provider(session: Session, provider_id: str = "P1", name: str = "Provider One") -> Provider:
    provider = Provider(provider_id=provider_id, name=name)
    session.add(provider)
    session.flush()
    return provider


def add_training(
    session: Session,
    training_id: str,
    title: str,
    *,
    provider_id: str = "P1",
    price_cents: int = 150_000,
    description: str = "",
    skills: list[str] | None = None,
    sessions: list[dt.date] | None = None,
    modality: str = "remote",
    region_code: str = "11",
) -> Training:
    skills = skills or []
    training = Training(
        training_id=training_id, title=title, description=description, certification_code="RNCP12345",
        provider_id=provider_id, price_cents=price_cents, hours=35, modality=modality, region_code=region_code,
        level=5, skills=skills, prerequisites=[], target_occupations=[],
        content_hash=content_hash(title, description, "RNCP12345", skills),
    )
    session.add(training)
    for start in sessions if sessions is not None else [dt.date.today() + dt.timedelta(days=60)]:
        session.add(TrainingSession(training_id=training_id, start_date=start))
    session.flush()
    return training


def add_holder(
    session: Session,
    holder_id: str,
    *,
    cpf_balance_cents: int = 0,
    cec_balance_cents: int = 0,
    employment_status: str = "employee",
    jobs: list[str] | None = None,
) -> Holder:
    holder = Holder(holder_id=holder_id, birth_year=1985, region_code="11", employment_status=employment_status,
                    qualification_level=5)
    session.add(holder)
    session.flush()
    for label in jobs or []:
        session.add(Experience(holder_id=holder_id, kind="job", label=label, start_date=dt.date(2015, 1, 1),
                               source="import"))
    for kind, amount in (("cpf", cpf_balance_cents), ("cec", cec_balance_cents)):
        set_opening_balance(session, holder_id, kind, amount, as_of=dt.date(2026, 1, 1), actor="test", source="test")
    session.flush()
    return holder
