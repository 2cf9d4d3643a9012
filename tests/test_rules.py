"""Tables of cases for every pure rule of docs/domain.md (parcours/domain/rules.py). The same rules are exercised
through the database, on SQLite and PostgreSQL, in tests/test_rights_db.py and tests/test_enrolments_db.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from parcours.domain import rules
from parcours.domain.rules import RuleError, TopUpSource

D = dt.date


@pytest.mark.parametrize(
    ("on", "status", "cofinanced", "uses_rights", "expected"),
    [
        (D(2024, 5, 1), "employee", False, True, 0),  # before the decree
        (D(2024, 5, 2), "employee", False, True, 10_000),  # first day: 100.00 €
        (D(2024, 12, 31), "self_employed", False, True, 10_000),
        (D(2025, 1, 1), "employee", False, True, 10_223),  # indexed: 102.23 €
        (D(2026, 6, 1), "employee", False, True, 10_223),  # last row stays in force
        (D(2025, 3, 3), "job_seeker", False, True, 0),  # exempt: job seekers
        (D(2025, 3, 3), "employee", True, True, 0),  # exempt: employer or OPCO co-financing
        (D(2025, 3, 3), "employee", False, False, 0),  # no CPF rights used
    ],
)
def test_flat_participation(on, status, cofinanced, uses_rights, expected):
    assert (
        rules.flat_participation_cents(
            on,
            employment_status=status,
            cofinanced_by_employer_or_opco=cofinanced,
            uses_cpf_rights=uses_rights,
        )
        == expected
    )


@pytest.mark.parametrize(
    ("table", "on", "expected"),
    [
        (rules.FLAT_PARTICIPATION_CENTS, D(2024, 5, 1), None),
        (rules.FLAT_PARTICIPATION_CENTS, D(2024, 5, 2), 10_000),
        (rules.FLAT_PARTICIPATION_CENTS, D(2025, 1, 1), 10_223),
        (rules.CEC_CEILING_CENTS, D(2018, 12, 31), None),
        (rules.CEC_CEILING_CENTS, D(2019, 1, 1), 72_000),
    ],
)
def test_dated_tables(table, on, expected):
    assert rules.value_on(table, on) == expected


@pytest.mark.parametrize(
    ("year", "status", "worked", "reference", "low_q", "disabled", "balance", "expected"),
    [
        # at least half of the legal time: the full 500 €
        (2024, "employee", 1607, None, False, False, 0, 50_000),
        (2024, "employee", 804, None, False, False, 0, 50_000),  # 2 × 804 ≥ 1607
        # less than half-time: prorated to time worked, rounded up to the cent
        (2024, "employee", 803, None, False, False, 0, 24_985),  # 50000 × 803 / 1607 = 24984.44…
        (2024, "employee", 1, None, False, False, 0, 32),  # 31.11… → 32
        (2024, "employee", 0, None, False, False, 0, 0),
        (2024, "employee", 750, 1500, False, False, 0, 50_000),  # conventional full time 1500 h
        (2024, "employee", 300, 1500, False, False, 0, 10_000),  # exact: no rounding
        # no level-3 qualification, or disability: 800 €, ceiling 8,000 €
        (2024, "employee", 1607, None, True, False, 0, 80_000),
        (2024, "employee", 400, None, True, False, 0, 19_913),  # 80000 × 400 / 1607 = 19912.88…
        (2024, "employee", 1607, None, False, True, 0, 80_000),
        # self-employed: 500 € (800 € when disabled), whatever the hours
        (2024, "self_employed", 0, None, False, False, 0, 50_000),
        (
            2024,
            "self_employed",
            0,
            None,
            True,
            False,
            0,
            50_000,
        ),  # majoration for low qualification: employees
        (2024, "self_employed", 0, None, False, True, 0, 80_000),
        # ceilings: crediting never exceeds them
        (2024, "employee", 1607, None, False, False, 480_000, 20_000),
        (2024, "employee", 1607, None, False, False, 500_000, 0),
        (
            2024,
            "employee",
            1607,
            None,
            False,
            False,
            520_000,
            0,
        ),  # above after a refund: nothing, not negative
        (2024, "employee", 1607, None, True, False, 500_000, 80_000),  # the 8,000 € ceiling
        (2024, "employee", 1607, None, True, False, 790_000, 10_000),
        (2024, "self_employed", 0, None, False, False, 499_999, 1),
    ],
)
def test_annual_credit(year, status, worked, reference, low_q, disabled, balance, expected):
    assert (
        rules.annual_credit_cents(
            year,
            status=status,
            worked_hours=worked,
            reference_hours=reference,
            low_qualification=low_q,
            disability=disabled,
            rights_balance_cents=balance,
        )
        == expected
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"year": 2018, "status": "employee", "worked_hours": 1607}, "before 2019"),
        ({"year": 2024, "status": "job_seeker", "worked_hours": 0}, "no CPF credit"),
        ({"year": 2024, "status": "employee", "worked_hours": -1}, "worked_hours"),
        ({"year": 2024, "status": "employee", "worked_hours": 10, "reference_hours": 0}, "reference_hours"),
    ],
)
def test_annual_credit_refuses(kwargs, message):
    arguments = dict(kwargs)
    year = arguments.pop("year")
    with pytest.raises(RuleError, match=message):
        rules.annual_credit_cents(year, **arguments)


@pytest.mark.parametrize(
    ("on", "staff", "expected"),
    [
        (D(2024, 6, 1), 50, 300_000),
        (D(2024, 6, 1), 5_000, 300_000),
        (D(2024, 6, 1), 49, RuleError),
        (D(2018, 12, 31), 50, RuleError),
    ],
)
def test_corrective_topup(on, staff, expected):
    if expected is RuleError:
        with pytest.raises(RuleError):
            rules.corrective_topup_cents(on, staff_count=staff)
    else:
        assert rules.corrective_topup_cents(on, staff_count=staff) == expected


@pytest.mark.parametrize(
    ("kind", "measures", "eligible"),
    [
        ("civic_service", {"months": 6}, True),
        ("civic_service", {"months": 5}, False),
        ("military_reserve", {"days": 90}, True),
        ("military_reserve", {"days": 89}, False),
        ("association_volunteer", {"hours_total": 200, "hours_in_main_organisation": 100}, True),
        ("association_volunteer", {"hours_total": 200, "hours_in_main_organisation": 99}, False),
        ("association_volunteer", {"hours_total": 199, "hours_in_main_organisation": 199}, False),
        ("volunteer_firefighter", {}, True),  # their own conditions, attested by the validation
        ("other_reserve", {}, True),
        ("apprentice_master", {}, True),
    ],
)
def test_cec_eligibility(kind, measures, eligible):
    assert rules.cec_activity_eligible(kind, 2024, **measures) is eligible


def test_cec_unknown_activity():
    with pytest.raises(RuleError):
        rules.cec_activity_eligible("knitting", 2024)


@pytest.mark.parametrize(
    ("activities", "balance", "expected"),
    [
        (1, 0, 24_000),
        (2, 0, 48_000),
        (3, 0, 72_000),
        (4, 0, 72_000),  # 240 € each, ceiling 720 €
        (1, 60_000, 12_000),
        (1, 72_000, 0),
        (0, 0, 0),
        (1, 80_000, 0),
    ],
)
def test_cec_credit(activities, balance, expected):
    assert rules.cec_credit_cents(2024, eligible_activities=activities, cec_balance_cents=balance) == expected


def test_cec_declaration_deadline():
    assert rules.cec_declaration_deadline(2024) == D(2025, 6, 30)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2025, 3, 3), True),  # Monday
        (D(2025, 3, 8), False),  # Saturday
        (D(2025, 3, 9), False),  # Sunday
        (D(2025, 4, 21), False),  # Easter Monday
        (D(2025, 5, 1), False),
        (D(2025, 5, 8), False),
        (D(2025, 5, 29), False),
        (D(2025, 7, 14), False),
        (D(2025, 11, 11), False),
        (D(2025, 12, 25), False),
        (D(2025, 12, 26), True),  # 26 Dec: Alsace-Moselle only
    ],
)
def test_working_days(day, working):
    assert rules.is_working_day(day) is working


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (D(2025, 3, 3), 11, D(2025, 3, 18)),
        (D(2025, 4, 14), 11, D(2025, 4, 30)),  # Easter Monday skipped
        (D(2025, 4, 30), 3, D(2025, 5, 6)),  # 1 May skipped
        (D(2025, 3, 7), 3, D(2025, 3, 12)),  # from a Friday
        (D(2025, 3, 8), 1, D(2025, 3, 10)),  # from a Saturday
        (D(2025, 3, 3), 0, D(2025, 3, 3)),
    ],
)
def test_add_working_days(start, count, expected):
    assert rules.add_working_days(start, count) == expected
    assert rules.working_days_between(start, expected) == count


@pytest.mark.parametrize(
    ("confirmed_on", "earliest"),
    [
        (D(2025, 3, 3), D(2025, 3, 18)),
        (D(2025, 4, 14), D(2025, 4, 30)),
        (D(2025, 12, 19), D(2026, 1, 7)),  # Christmas and New Year's Day
    ],
)
def test_confirmation_notice(confirmed_on, earliest):
    assert rules.earliest_session_start(confirmed_on) == earliest
    assert rules.working_days_between(confirmed_on, earliest) == 11


@pytest.mark.parametrize(
    ("event", "deadline"),
    [
        (D(2025, 3, 3), D(2025, 3, 6)),
        (D(2025, 5, 7), D(2025, 5, 13)),  # 8 May
        (D(2025, 12, 24), D(2025, 12, 30)),
    ],
)
def test_declaration_deadline(event, deadline):
    assert rules.declaration_deadline(event) == deadline


@pytest.mark.parametrize(
    ("rate", "points"),
    [
        (0, 0),
        (100, 10_000),
        (50, 5_000),
        (87.5, 8_750),
        ("33.33", 3_333),
        (Decimal("12.34"), 1_234),
        (-1, RuleError),
        (100.01, RuleError),
        ("33.333", RuleError),
        (True, RuleError),
        (None, RuleError),
        (float("nan"), RuleError),
        (Decimal("Infinity"), RuleError),
    ],
)
def test_completion_basis_points(rate, points):
    if points is RuleError:
        with pytest.raises(RuleError):
            rules.completion_basis_points(rate)
    else:
        assert rules.completion_basis_points(rate) == points


@pytest.mark.parametrize(
    ("price", "points", "expected"),
    [
        (150_000, 10_000, 150_000),
        (150_000, 5_000, 75_000),
        (150_000, 0, 0),
        (99_999, 3_333, 33_330),  # 33329.67 → 33330
        (1, 5_000, 1),  # half a cent rounds up
        (3, 5_000, 2),  # 1.5 → 2
        (101, 1_250, 13),  # 12.625 → 13
        (101, 1_249, 13),  # 12.6149 → 13
        (0, 10_000, 0),
    ],
)
def test_payment_amount(price, points, expected):
    assert rules.payment_amount_cents(price, points) == expected


def test_payment_amount_refuses():
    for price, points in ((-1, 100), (100, 10_001), (100, -1), (100.0, 100)):
        with pytest.raises(RuleError):
            rules.payment_amount_cents(price, points)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "reserved", "paid", "returned"),
    [
        (
            75_000,
            [("cpf", 100_000), ("cec", 20_000), ("topup:1", 30_000)],
            [("cpf", 75_000), ("cec", 0), ("topup:1", 0)],
            [("cpf", 25_000), ("cec", 20_000), ("topup:1", 30_000)],
        ),
        (
            110_000,
            [("topup:2", 40_000), ("cpf", 110_000)],
            [("topup:2", 40_000), ("cpf", 70_000)],
            [("topup:2", 0), ("cpf", 40_000)],
        ),
        (0, [("cpf", 10)], [("cpf", 0)], [("cpf", 10)]),
        (10, [("cpf", 10)], [("cpf", 10)], [("cpf", 0)]),
    ],
)
def test_split_payment(amount, reserved, paid, returned):
    assert rules.split_payment(amount, reserved) == (paid, returned)


def test_split_payment_never_pays_more_than_reserved():
    with pytest.raises(RuleError):
        rules.split_payment(11, [("cpf", 10)])


ON = D(2025, 3, 3)


@pytest.mark.parametrize(
    ("price", "topups", "balances", "status", "allocation", "participation", "remainder"),
    [
        # rights first, then the top-up the funder left for after them; OPCO co-financing exempts
        (
            150_000,
            [TopUpSource("topup:1", "opco", 40_000)],
            (100_000, 0, 20_000),
            "employee",
            (("cpf", 100_000), ("cec", 20_000), ("topup:1", 30_000)),
            0,
            0,
        ),
        # a region's top-up does not exempt
        (
            150_000,
            [TopUpSource("topup:1", "region", 40_000)],
            (100_000, 0, 20_000),
            "employee",
            (("cpf", 100_000), ("cec", 20_000), ("topup:1", 30_000)),
            10_223,
            0,
        ),
        # a top-up the funder wants spent first
        (
            150_000,
            [TopUpSource("topup:1", "opco", 40_000, True)],
            (200_000, 0, 0),
            "employee",
            (("topup:1", 40_000), ("cpf", 110_000)),
            0,
            0,
        ),
        # an employer top-up left unused does not co-finance: participation due
        (
            150_000,
            [TopUpSource("topup:1", "employer", 40_000)],
            (200_000, 0, 0),
            "employee",
            (("cpf", 150_000),),
            10_223,
            0,
        ),
        # job seeker, rights short: the holder pays the rest, no participation
        (150_000, [], (100_000, 0, 0), "job_seeker", (("cpf", 100_000), ("holder", 50_000)), 0, 50_000),
        # the holder's own top-up only: no rights used, no participation
        (
            150_000,
            [TopUpSource("topup:3", "holder", 150_000)],
            (0, 0, 0),
            "employee",
            (("topup:3", 150_000),),
            0,
            0,
        ),
        # corrective top-up after the rights, before the CEC
        (
            150_000,
            [],
            (10_000, 300_000, 5_000),
            "employee",
            (("cpf", 10_000), ("cpf_corrective", 140_000)),
            10_223,
            0,
        ),
        (0, [], (10_000, 0, 0), "employee", (), 0, 0),
    ],
)
def test_file_funding(price, topups, balances, status, allocation, participation, remainder):
    rights, corrective, cec = balances
    funding = rules.file_funding(
        price,
        topups=topups,
        cpf_rights_cents=rights,
        cpf_corrective_cents=corrective,
        cec_cents=cec,
        on=ON,
        employment_status=status,
    )
    assert funding.allocation == allocation
    assert funding.participation_cents == participation
    assert funding.remainder_cents == remainder
    assert sum(c for _k, c in funding.allocation) == price
    assert funding.out_of_pocket_cents == remainder + participation


def test_funding_plan_keeps_its_contract():
    plan = rules.funding_plan(
        150_000,
        cpf_balance_cents=100_000,
        cec_balance_cents=20_000,
        on=ON,
        employment_status="employee",
        topup_cents=10_000,
    )
    assert (plan.topups_cents, plan.cpf_cents, plan.cec_cents, plan.participation_cents) == (
        10_000,
        100_000,
        20_000,
        10_223,
    )
    assert plan.out_of_pocket_cents == 20_000 + 10_223
    with pytest.raises(ValueError):
        rules.funding_plan(-1, cpf_balance_cents=0, cec_balance_cents=0, on=ON, employment_status="employee")


# --- Using rights or paying directly ------------------------------------------------------------------------

COMPARISON_DAY = dt.date(2025, 6, 1)  # participation 102.23 €


@pytest.mark.parametrize(
    ("price", "cpf", "status", "with_rights", "cheaper", "exceeds", "rights_used", "participation"),
    [
        (29_500, 8_772, "employee", 29_500 - 8_772 + 10_223, "direct", True, 8_772, 10_223),  # 87.72 € of rights
        (29_500, 30_000, "employee", 10_223, "rights", False, 29_500, 10_223),  # rights cover it: the participation
        (29_500, 8_772, "job_seeker", 29_500 - 8_772, "rights", False, 8_772, 0),  # job seekers pay none
        (29_500, 0, "employee", 29_500, "direct", False, 0, 0),  # no rights: the same payment either way
        (10_000, 10_000, "employee", 10_223, "direct", True, 10_000, 10_223),  # 102.23 € > 100 € of rights
        # A tie with rights spent: paying directly costs as much and keeps the 102.23 € of rights.
        (20_000, 10_223, "employee", 20_000, "direct", False, 10_223, 10_223),
        (20_000, 10_224, "employee", 19_999, "rights", False, 10_224, 10_223),  # one cent less through the file
    ],
)
def test_rights_or_direct_payment(price, cpf, status, with_rights, cheaper, exceeds, rights_used, participation):
    funding = rules.file_funding(price, cpf_rights_cents=cpf, on=COMPARISON_DAY, employment_status=status)
    comparison = rules.compare_with_direct_payment(price, funding)
    assert comparison.with_rights_cents == with_rights and comparison.direct_cents == price
    assert comparison.cheaper == cheaper and comparison.participation_exceeds_rights is exceeds
    assert comparison.cheaper_cents == min(with_rights, price)
    assert comparison.rights_used_cents == rights_used
    assert comparison.participation_cents == participation
