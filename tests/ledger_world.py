"""A small world for the supporting-services tests: providers, trainings with sessions, holders with opening
balances, registered funders, and the actors who act on them. Written straight to the database (the importer
is not what these tests are about).

Who may fund whom (docs/security.md) needs links in the data; this world states them: every holder added as an
``employee`` works for the employer ``EMP1`` since 2015 (hired: ``HIRED``), whose sector's OPCO is ``OPCO1`` (both
registered when missing), and every region funder registered here funds region ``11``, where holders live."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy.orm import Session

from parcours.domain.ledger import CEC, CPF, set_opening_balance
from parcours.store.models import Holder, Provider, Training, TrainingSession
from parcours.store.supporting_models import Employment, Funder
from serving.services.actors import Actor

ADMIN = Actor("admin", "admin")
SYSTEM = Actor.system("batch")
# A Monday well away from public holidays: 11 working days later is Tuesday 2025-03-18.
TODAY = dt.date(2025, 3, 3)
START = dt.date(2025, 4, 7)  # a Monday five weeks later: confirmable from TODAY
WORLD_EMPLOYER, WORLD_OPCO, WORLD_REGION = "EMP1", "OPCO1", "11"
HIRED = dt.date(2015, 1, 1)


def holder(holder_id: str) -> Actor:
    return Actor(f"user-{holder_id}", "holder", holder_id=holder_id)


def provider(provider_id: str) -> Actor:
    return Actor(f"user-{provider_id}", "provider", provider_id=provider_id)


def funder(funder_id: str) -> Actor:
    return Actor(f"user-{funder_id}", "funder", funder_id=funder_id)


def add_provider(session: Session, provider_id: str = "P1") -> None:
    session.merge(Provider(provider_id=provider_id, name=f"Provider {provider_id}"))


def add_training(
    session: Session,
    training_id: str,
    *,
    provider_id: str = "P1",
    price_cents: int = 150_000,
    starts: tuple[dt.date, ...] = (START,),
) -> None:
    if session.get(Provider, provider_id) is None:
        add_provider(session, provider_id)
        session.flush()
    session.add(
        Training(
            training_id=training_id,
            title=f"Training {training_id}",
            description="",
            certification_code="RNCP1",
            provider_id=provider_id,
            price_cents=price_cents,
            hours=35,
            modality="remote",
            region_code="11",
            level=None,
            skills=[],
            prerequisites=[],
            target_occupations=[],
            content_hash=hashlib.sha256(training_id.encode()).hexdigest(),
        )
    )
    session.flush()
    for start in starts:
        session.add(TrainingSession(training_id=training_id, start_date=start))
    session.flush()


def add_holder(
    session: Session,
    holder_id: str,
    *,
    cpf_cents: int = 0,
    cec_cents: int = 0,
    employment_status: str = "employee",
    qualification_level: int | None = 4,
    as_of: dt.date = dt.date(2025, 1, 1),
    employer: str | None = WORLD_EMPLOYER,
) -> None:
    session.add(
        Holder(
            holder_id=holder_id,
            birth_year=1985,
            region_code="11",
            employment_status=employment_status,
            qualification_level=qualification_level,
            personalisation_enabled=True,
        )
    )
    session.flush()
    if employment_status == "employee" and employer is not None:
        add_funder(session, WORLD_OPCO, "opco")
        add_funder(session, employer, "employer", opco_id=WORLD_OPCO)
        session.add(Employment(holder_id=holder_id, employer_id=employer, start_date=HIRED))
        session.flush()
    if cpf_cents:
        set_opening_balance(session, holder_id, CPF, cpf_cents, as_of=as_of, actor="import", source="test")
    if cec_cents:
        set_opening_balance(session, holder_id, CEC, cec_cents, as_of=as_of, actor="import", source="test")


def add_funder(
    session: Session, funder_id: str, kind: str, *, opco_id: str | None = None, region_code: str | None = None
) -> None:
    """Register a funder (once: a second call with the same id changes nothing). Employers ``EMP1`` belong to
    the sector of ``OPCO1``; a region funder funds ``WORLD_REGION`` unless told otherwise."""
    if session.get(Funder, funder_id) is not None:
        return
    if kind == "employer" and opco_id is None and funder_id == WORLD_EMPLOYER:
        add_funder(session, WORLD_OPCO, "opco")
        opco_id = WORLD_OPCO
    if kind == "region" and region_code is None:
        region_code = WORLD_REGION
    session.add(Funder(funder_id=funder_id, kind=kind, name=funder_id, opco_id=opco_id, region_code=region_code))
    session.flush()
