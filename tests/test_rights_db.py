"""Crediting rights on a real database (SQLite, and PostgreSQL with PARCOURS_TEST_PG_URL): annual credits from
declared work with prorating and ceilings, corrective top-ups, CEC declarations, validation and yearly
credits, and the CPA view. Each credit is posted once, whatever the re-runs."""

from __future__ import annotations

import datetime as dt

import pytest

from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from serving.services import cec
from serving.services.accounts import cpa_view
from serving.services.rights import (
    WorkTime,
    credit_annual_rights,
    credit_annual_rights_many,
    credit_corrective_topup,
)
from tests.ledger_world import ADMIN, add_funder, add_holder, funder, holder
from tests.test_enrolments_db import World

D = dt.date
POSTED = D(2025, 2, 15)


@pytest.fixture
def world(db_url) -> World:
    w = World(db_url)
    w.seed(
        lambda s: (
            add_funder(s, "EMP1", "employer"),
            add_funder(s, "EMP-SMALL", "employer"),
            add_funder(s, "OPCO1", "opco"),
            add_funder(s, "ASSO1", "region"),
        )
    )
    return w


# holder, qualification level (None: no level 3), opening CPF, declared work, expected credit
ANNUAL_CASES = [
    ("full", 4, 0, WorkTime("full", 2024, "employee", 1607), 50_000),
    ("half", 4, 0, WorkTime("half", 2024, "employee", 804), 50_000),
    ("part", 4, 0, WorkTime("part", 2024, "employee", 803), 24_985),
    ("conv", 4, 0, WorkTime("conv", 2024, "employee", 300, reference_hours=1500), 10_000),
    ("lowq", None, 0, WorkTime("lowq", 2024, "employee", 1607), 80_000),
    ("lowq-part", None, 0, WorkTime("lowq-part", 2024, "employee", 400), 19_913),
    ("disabled", 5, 0, WorkTime("disabled", 2024, "employee", 1607, disability=True), 80_000),
    ("self", 4, 0, WorkTime("self", 2024, "self_employed", 0), 50_000),
    ("near-cap", 4, 480_000, WorkTime("near-cap", 2024, "employee", 1607), 20_000),
    ("at-cap", 4, 500_000, WorkTime("at-cap", 2024, "employee", 1607), 0),
    ("lowq-cap", None, 790_000, WorkTime("lowq-cap", 2024, "employee", 1607), 10_000),
    ("idle", 4, 0, WorkTime("idle", 2024, "employee", 0), 0),
]


def test_annual_credits(world):
    world.seed(
        lambda s: [
            add_holder(s, h, cpf_cents=opening, qualification_level=level)
            for h, level, opening, _w, _e in ANNUAL_CASES
        ]
    )
    for holder_id, _level, opening, work, expected in ANNUAL_CASES:
        declaration = world.run(lambda s, w=work: credit_annual_rights(s, w, posted_on=POSTED, actor="dsn"))
        assert declaration.credited_cents == expected, holder_id
        assert world.balances(holder_id)["cpf_rights"] == opening + expected, holder_id
    assert world.problems() == []


def test_annual_credit_is_posted_once(world):
    world.seed(lambda s: add_holder(s, "H1"))
    work = WorkTime("H1", 2024, "employee", 1607)
    for _ in range(3):
        world.run(lambda s: credit_annual_rights(s, work, posted_on=POSTED, actor="dsn"))
    assert world.balances("H1")["cpf"] == 50_000
    world.refused(
        Conflict,
        lambda s: credit_annual_rights(
            s, WorkTime("H1", 2024, "employee", 500), posted_on=POSTED, actor="dsn"
        ),
    )
    # credits for year N are posted from N+1; unknown holders and bad figures are refused
    world.refused(
        ValidationFailed,
        lambda s: credit_annual_rights(
            s, WorkTime("H1", 2025, "employee", 1607), posted_on=POSTED, actor="dsn"
        ),
    )
    world.refused(
        NotFound,
        lambda s: credit_annual_rights(
            s, WorkTime("nobody", 2024, "employee", 1607), posted_on=POSTED, actor="dsn"
        ),
    )
    for bad in (
        WorkTime("H1", 2023, "employee", -5),
        WorkTime("H1", 2023, "job_seeker", 10),
        WorkTime("H1", 2018, "employee", 1607),
        WorkTime("H1", 2023, "employee", 10, reference_hours=0),
    ):
        world.refused(
            ValidationFailed, lambda s, b=bad: credit_annual_rights(s, b, posted_on=POSTED, actor="dsn")
        )


def test_annual_credits_are_all_or_nothing(world):
    world.seed(lambda s: (add_holder(s, "H1"), add_holder(s, "H2")))
    with pytest.raises(ValidationFailed) as caught:
        world.run(
            lambda s: credit_annual_rights_many(
                s,
                [WorkTime("H1", 2024, "employee", 1607), WorkTime("H2", 2024, "employee", -1)],
                posted_on=POSTED,
                actor="dsn",
            )
        )
    assert caught.value.problems[0]["row"] == 2
    with pytest.raises(NotFound):
        world.run(
            lambda s: credit_annual_rights_many(
                s,
                [WorkTime("H1", 2024, "employee", 1607), WorkTime("ghost", 2024, "employee", 1607)],
                posted_on=POSTED,
                actor="dsn",
            )
        )
    assert world.balances("H1")["cpf"] == 0


def test_corrective_topup(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=500_000))
    review = D(2024, 9, 1)
    assert (
        world.run(
            lambda s: credit_corrective_topup(
                s, actor=funder("EMP1"), holder_id="H1", staff_count=60, review_due_on=review, on=POSTED
            )
        )
        == 300_000
    )
    # once per holder, employer and review
    assert (
        world.run(
            lambda s: credit_corrective_topup(
                s,
                actor=ADMIN,
                holder_id="H1",
                staff_count=60,
                review_due_on=review,
                on=POSTED,
                employer_id="EMP1",
            )
        )
        == 0
    )
    for error, call in [
        (
            ValidationFailed,
            lambda s: credit_corrective_topup(
                s, actor=funder("EMP-SMALL"), holder_id="H1", staff_count=49, review_due_on=review, on=POSTED
            ),
        ),
        (
            ValidationFailed,
            lambda s: credit_corrective_topup(
                s, actor=funder("OPCO1"), holder_id="H1", staff_count=60, review_due_on=review, on=POSTED
            ),
        ),
        (
            ValidationFailed,
            lambda s: credit_corrective_topup(
                s,
                actor=funder("EMP1"),
                holder_id="H1",
                staff_count=60,
                review_due_on=D(2026, 1, 1),
                on=POSTED,
            ),
        ),
        (
            Forbidden,
            lambda s: credit_corrective_topup(
                s, actor=holder("H1"), holder_id="H1", staff_count=60, review_due_on=review, on=POSTED
            ),
        ),
        (
            NotFound,
            lambda s: credit_corrective_topup(
                s,
                actor=funder("EMP1"),
                holder_id="ghost",
                staff_count=60,
                review_due_on=D(2024, 1, 1),
                on=POSTED,
            ),
        ),
    ]:
        world.refused(error, call)
    balances = world.balances("H1")
    assert (balances["cpf_rights"], balances["cpf_corrective"], balances["cpf"]) == (
        500_000,
        300_000,
        800_000,
    )
    # the corrective top-up does not count towards the ceiling: the holder at 5,000 € of rights stays there
    world.run(
        lambda s: credit_annual_rights(
            s, WorkTime("H1", 2024, "employee", 1607), posted_on=POSTED, actor="dsn"
        )
    )
    assert world.balances("H1")["cpf_rights"] == 500_000


def _declare(world, holder_id, kind, org, on=D(2025, 3, 1), year=2024, **measures):
    return world.run(
        lambda s: cec.declare_activity(
            s,
            actor=holder(holder_id),
            holder_id=holder_id,
            activity_kind=kind,
            activity_year=year,
            organisation_id=org,
            on=on,
            **measures,
        )
    ).declaration_id


def _validate(world, declaration_id, org, ok=True):
    world.run(
        lambda s: cec.decide_declaration(s, declaration_id, actor=funder(org), on=D(2025, 4, 1), validate=ok)
    )


def test_cec_declarations_validation_and_yearly_credit(world):
    world.seed(lambda s: [add_holder(s, h) for h in ("A", "B", "C", "D", "E")])
    # A: association leader 120 h + 90 h in two associations (≥ 200 h, ≥ 100 h in one) and civic service
    a1 = _declare(world, "A", "association_volunteer", "ASSO1", hours=120)
    a2 = _declare(world, "A", "association_volunteer", "ASSO2", hours=90)
    a3 = _declare(world, "A", "civic_service", "ASC", months=6)
    # B: 150 h only; C: reserve 89 days (not enough); D: four activities (capped at 720 €); E: rejected
    b1 = _declare(world, "B", "association_volunteer", "ASSO1", hours=150)
    c1 = _declare(world, "C", "military_reserve", "ARMY", days=89)
    d = [
        _declare(world, "D", kind, "ORG", **m)
        for kind, m in [
            ("civic_service", {"months": 8}),
            ("military_reserve", {"days": 90}),
            ("volunteer_firefighter", {}),
            ("apprentice_master", {}),
        ]
    ]
    e1 = _declare(world, "E", "volunteer_firefighter", "SDIS")
    for declaration_id, org in [
        (a1, "ASSO1"),
        (a2, "ASSO2"),
        (a3, "ASC"),
        (b1, "ASSO1"),
        (c1, "ARMY"),
        *[(x, "ORG") for x in d],
    ]:
        _validate(world, declaration_id, org)
    _validate(world, e1, "SDIS", ok=False)
    # only the organisation decides, once; to another organisation the declaration does not exist
    world.refused(
        NotFound,
        lambda s: cec.decide_declaration(s, a1, actor=funder("ASSO2"), on=D(2025, 4, 1), validate=True),
    )
    world.refused(
        Conflict,
        lambda s: cec.decide_declaration(s, a1, actor=funder("ASSO1"), on=D(2025, 4, 1), validate=True),
    )
    # credits come the year after the activity
    world.refused(
        ValidationFailed,
        lambda s: cec.credit_cec_year(s, activity_year=2024, on=D(2024, 12, 31), actor="cec"),
    )
    credited = world.run(lambda s: cec.credit_cec_year(s, activity_year=2024, on=D(2025, 7, 1), actor="cec"))
    assert credited == {"A": 48_000, "D": 72_000}
    assert {h: world.balances(h)["cec"] for h in "ABCDE"} == {
        "A": 48_000,
        "B": 0,
        "C": 0,
        "D": 72_000,
        "E": 0,
    }
    # a re-run credits nothing more: each activity is credited once
    assert (
        world.run(lambda s: cec.credit_cec_year(s, activity_year=2024, on=D(2025, 9, 1), actor="cec")) == {}
    )
    assert world.balances("D")["cec"] == 72_000
    # B's association hours reach 200 with a second association validated later: credited then
    b2 = _declare(world, "B", "association_volunteer", "ASSO3", hours=60)
    _validate(world, b2, "ASSO3")
    assert world.run(lambda s: cec.credit_cec_year(s, activity_year=2024, on=D(2025, 9, 1), actor="cec")) == {
        "B": 24_000
    }
    assert world.problems() == []


def test_cec_ceiling_across_years(world):
    world.seed(lambda s: add_holder(s, "H1", cec_cents=60_000))
    declaration = _declare(world, "H1", "civic_service", "ASC", months=12)
    _validate(world, declaration, "ASC")
    assert world.run(lambda s: cec.credit_cec_year(s, activity_year=2024, on=D(2025, 7, 1), actor="cec")) == {
        "H1": 12_000
    }
    assert world.balances("H1")["cec"] == 72_000


def test_cec_declaration_rules(world):
    world.seed(lambda s: (add_holder(s, "H1"), add_holder(s, "H2")))
    h = holder("H1")
    cases = [
        (ValidationFailed, dict(activity_kind="knitting", activity_year=2024, organisation_id="X")),
        (
            ValidationFailed,
            dict(activity_kind="civic_service", activity_year=2025, organisation_id="X", months=6),
        ),
        (
            ValidationFailed,
            dict(activity_kind="civic_service", activity_year=2024, organisation_id="X"),
        ),  # months
        (
            ValidationFailed,
            dict(activity_kind="military_reserve", activity_year=2024, organisation_id="X", days=-3),
        ),
        (
            ValidationFailed,
            dict(activity_kind="association_volunteer", activity_year=2024, organisation_id=""),
        ),
    ]
    for error, fields in cases:
        world.refused(
            error,
            lambda s, f=fields: cec.declare_activity(
                s, actor=h, holder_id="H1", on=D(2025, 3, 1), hours=10 if "hours" not in f else None, **f
            ),
        )
    # association volunteering of 2024 is declared by 30 June 2025
    world.refused(
        Conflict,
        lambda s: cec.declare_activity(
            s,
            actor=h,
            holder_id="H1",
            on=D(2025, 7, 1),
            activity_kind="association_volunteer",
            activity_year=2024,
            organisation_id="ASSO1",
            hours=250,
        ),
    )
    _declare(world, "H1", "association_volunteer", "ASSO1", on=D(2025, 6, 30), hours=250)
    world.refused(
        Conflict,
        lambda s: cec.declare_activity(
            s,
            actor=h,
            holder_id="H1",
            on=D(2025, 6, 30),
            activity_kind="association_volunteer",
            activity_year=2024,
            organisation_id="ASSO1",
            hours=250,
        ),
    )
    world.refused(
        Forbidden,
        lambda s: cec.declare_activity(
            s,
            actor=holder("H2"),
            holder_id="H1",
            on=D(2025, 3, 1),
            activity_kind="apprentice_master",
            activity_year=2024,
            organisation_id="CFA",
        ),
    )
    world.refused(
        NotFound, lambda s: cec.decide_declaration(s, 999, actor=ADMIN, on=D(2025, 3, 1), validate=True)
    )


def test_cpa_view_shows_every_account(world):
    world.seed(lambda s: add_holder(s, "H1", cpf_cents=120_000, cec_cents=24_000))
    world.run(
        lambda s: credit_corrective_topup(
            s, actor=funder("EMP1"), holder_id="H1", staff_count=60, review_due_on=D(2024, 9, 1), on=POSTED
        )
    )
    world.run(
        lambda s: credit_annual_rights(
            s, WorkTime("H1", 2024, "employee", 1607), posted_on=POSTED, actor="dsn"
        )
    )
    _declare(world, "H1", "apprentice_master", "CFA")
    with world.factory() as session:
        view = cpa_view(session, "H1", on=POSTED)
    assert view["cpf"] == {
        "available_cents": 470_000,
        "rights_cents": 170_000,
        "corrective_topups_cents": 300_000,
    }
    assert view["cec"]["available_cents"] == 24_000 and view["cec"]["ceiling_cents"] == 72_000
    assert [d["state"] for d in view["cec"]["declarations"]] == ["declared"]
    assert [(w["year"], w["credited_cents"]) for w in view["work_declarations"]] == [(2024, 50_000)]
