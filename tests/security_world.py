"""The world of the access-control tests (tests/test_access_matrix.py, tests/test_security_*.py).

Two holders, each with a file at their own provider, co-financed by their own employer; advisers with an active,
a revoked, an expired and no consent of holder H1; two providers, two funders (employers), an analyst, an admin.
Every object a write route could change is in a state where the action allowed to its owner is refused by the
rules (409) or changes nothing the other cases read, so one world serves every case of the matrix:

- files E1 (H1 at P1's T1) and E2 (H2 at P2's T2), both ``accepted``, the business date one day after their
  session started (confirm, cancel, entry, exit… answer 409);
- EMP1 co-finances E1 (an active top-up) and EMP2 E2; the top-ups the revoke route is walked with are already
  revoked (409 for their funder);
- CEC declarations D1 (H1 to organisation EMP1) and D2 (H2 to EMP2), both already validated;
- experience X1 (H1) and X2 (H2), both ``verified`` (edit and delete answer 409);
- consents of H1 to ``adviser`` (active), ``adviser_revoked`` (revoked), ``adviser_expired`` (expired); a revoked
  one of H2; a completed payment batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select

from parcours.store.models import Consent, Experience, User
from parcours.store.supporting_models import CecDeclaration, PaymentBatch
from serving.services import cec, topups
from serving.services import enrolment_files as files
from tests.ledger_world import START, TODAY, add_funder, add_holder, add_training, funder, holder, provider
from tests.test_enrolments_db import World

# The business date of the app: the day after the files' sessions started.
APP_TODAY = START + dt.timedelta(days=1)
MISSING_ID = 999_999
MISSING_HOLDER = "NOPE"

# username, role, holder_id, provider_id, funder_id
USERS = [
    ("h1", "holder", "H1", None, None),
    ("h2", "holder", "H2", None, None),
    ("adviser", "adviser", None, None, None),
    ("adviser_none", "adviser", None, None, None),
    ("adviser_revoked", "adviser", None, None, None),
    ("adviser_expired", "adviser", None, None, None),
    ("p1", "provider", None, "P1", None),
    ("p2", "provider", None, "P2", None),
    ("f1", "funder", None, None, "EMP1"),
    ("f2", "funder", None, None, "EMP2"),
    ("analyst", "analyst", None, None, None),
    ("admin", "admin", None, None, None),
]
# The roles the matrix walks, each as one user (the second holder, provider and funder are the other parties).
ROLES = {
    "holder": "h1",
    "adviser": "adviser",
    "adviser_no_consent": "adviser_none",
    "adviser_revoked": "adviser_revoked",
    "adviser_expired": "adviser_expired",
    "provider": "p1",
    "funder": "f1",
    "analyst": "analyst",
    "admin": "admin",
    "anonymous": None,
}


@dataclass
class Objects:
    """The ids of the world's objects, by name."""

    ids: dict[str, int | str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int | str:
        return self.ids[name]


def build(world: World) -> Objects:
    """Seed the world through the services (the ledger is the real one); returns the objects' ids."""
    objects = Objects()

    def seed(session):
        add_training(session, "T1", provider_id="P1", price_cents=150_000)
        add_training(session, "T2", provider_id="P2", price_cents=80_000)
        add_funder(session, "EMP2", "employer")
        add_holder(session, "H1")  # an employee of EMP1 (tests/ledger_world.py)
        add_holder(session, "H2", employer="EMP2")
        for username, role, holder_id, provider_id, funder_id in USERS:
            session.add(User(username=username, password_hash="x", role=role, holder_id=holder_id,
                             provider_id=provider_id, funder_id=funder_id))
        now = dt.datetime.now(dt.UTC)
        day = dt.timedelta(days=1)
        session.add_all([
            Consent(holder_id="H1", adviser_username="adviser", granted_at=now - day),
            Consent(holder_id="H1", adviser_username="adviser_revoked", granted_at=now - 2 * day, revoked_at=now - day),
            Consent(holder_id="H1", adviser_username="adviser_expired", granted_at=now - 2 * day, expires_at=now - day),
            Consent(holder_id="H2", adviser_username="adviser_revoked", granted_at=now - 2 * day, revoked_at=now - day),
        ])
        for holder_id in ("H1", "H2"):
            session.add(Experience(holder_id=holder_id, kind="job", label="accountant", start_date=dt.date(2015, 1, 1),
                                   source="verified"))
        session.add(PaymentBatch(run_on=TODAY, actor="admin", state="completed", remittance_dir="/nonexistent"))

    world.seed(seed)
    for name, holder_id, training_id, provider_id in (("E1", "H1", "T1", "P1"), ("E2", "H2", "T2", "P2")):
        file_id = world.run(lambda s, h=holder_id, t=training_id: files.create_enrolment(
            s, actor=holder(h), holder_id=h, training_id=t, session_start=START, on=TODAY)).enrolment_id
        world.run(lambda s, f=file_id, p=provider_id: files.accept(s, f, actor=provider(p), on=TODAY))
        objects.ids[name] = file_id
    for suffix, holder_id, employer in (("1", "H1", "EMP1"), ("2", "H2", "EMP2")):
        file_id = objects[f"E{suffix}"]
        for name, actor in ((f"TPF{suffix}", funder(employer)), (f"TPH{suffix}", holder(holder_id))):
            topup = world.run(lambda s, a=actor, f=file_id: topups.grant_topup(
                s, actor=a, amount_cents=1_000, on=TODAY, enrolment_id=f))
            world.run(lambda s, t=topup.topup_id, a=actor: topups.revoke_topup(s, actor=a, topup_id=t, on=TODAY))
            objects.ids[name] = topup.topup_id
        active = world.run(lambda s, e=employer, f=file_id: topups.grant_topup(
            s, actor=funder(e), amount_cents=1_000, on=TODAY, enrolment_id=f))
        objects.ids[f"TPA{suffix}"] = active.topup_id
        declaration = world.run(lambda s, h=holder_id, e=employer: cec.declare_activity(
            s, actor=holder(h), holder_id=h, activity_kind="civic_service", activity_year=2024, organisation_id=e,
            on=TODAY, months=7))
        world.run(lambda s, d=declaration.declaration_id, e=employer: cec.decide_declaration(
            s, d, actor=funder(e), on=TODAY, validate=True))
        objects.ids[f"D{suffix}"] = declaration.declaration_id
    with world.factory() as session:
        experiences = dict(session.execute(select(Experience.holder_id, Experience.experience_id)).all())
        objects.ids["X1"], objects.ids["X2"] = experiences["H1"], experiences["H2"]
        consents = {(c.holder_id, c.adviser_username): c.consent_id for c in session.scalars(select(Consent))}
        objects.ids["C1_revoked"] = consents[("H1", "adviser_revoked")]
        objects.ids["C2_revoked"] = consents[("H2", "adviser_revoked")]
        objects.ids["B1"] = session.scalars(select(PaymentBatch.batch_id)).one()
        assert session.scalars(select(CecDeclaration.state)).all() == ["validated", "validated"]
    return objects
