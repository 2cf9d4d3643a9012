"""Dated rules of the CPF scheme (docs/domain.md). Pure functions over integer cents; each has a table of cases
in ``tests/test_rules.py``. Amounts and deadlines change by decree, so each is a dated table: the value in
force on a date is the last row whose start is on or before it. To follow a new decree, append a row — never
edit one — so files and credits of the past are still computed with the rule of their day.

Money is ``int`` cents everywhere; fractions (prorating, completion rates) are exact ``Fraction`` arithmetic
rounded once, in the direction the rule says.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Generic, TypeVar

import holidays

from parcours.errors import ParcoursError

T = TypeVar("T")


class RuleError(ParcoursError, ValueError):
    """Input outside what a rule is defined for (negative cents, a rate above 100 %, an unknown kind): 400."""


@dataclass(frozen=True)
class DatedValue(Generic[T]):
    """A value in force from ``start`` (inclusive) until the next row's start."""

    start: dt.date
    value: T


def value_on(table: Sequence[DatedValue[T]], on: dt.date) -> T | None:
    """The value in force on ``on``; ``None`` before the first row."""
    starts = [row.start for row in table]
    position = bisect.bisect_right(starts, on) - 1
    return table[position].value if position >= 0 else None


def _required(table: Sequence[DatedValue[T]], on: dt.date, what: str) -> T:
    value = value_on(table, on)
    if value is None:
        raise RuleError(f"no rule for {what} in force on {on.isoformat()}")
    return value


def _cents(name: str, amount: object) -> int:
    if type(amount) is not int or amount < 0:
        raise RuleError(f"{name} must be a non-negative integer number of cents")
    return amount


# --- Flat holder participation (decree 2024-394) ------------------------------------------------------------

FLAT_PARTICIPATION_CENTS: tuple[DatedValue[int], ...] = (
    DatedValue(dt.date(2024, 5, 2), 10_000),
    DatedValue(dt.date(2025, 1, 1), 10_223),
)
# Top-ups from these funders exempt the file from the flat participation.
PARTICIPATION_EXEMPTING_FUNDERS = frozenset({"employer", "opco"})


def flat_participation_cents(
    on: dt.date, *, employment_status: str, cofinanced_by_employer_or_opco: bool, uses_cpf_rights: bool = True
) -> int:
    """The flat participation the holder pays for a file confirmed on ``on``.

    Zero before 2 May 2024, for job seekers, for files co-financed by an employer or OPCO top-up, and for
    files that use no CPF rights.
    """
    if not uses_cpf_rights or employment_status == "job_seeker" or cofinanced_by_employer_or_opco:
        return 0
    return value_on(FLAT_PARTICIPATION_CENTS, on) or 0


# --- Funding of a file --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingPlan:
    """How a training price is covered: by rights, by top-ups, and what the holder pays out of pocket."""

    price_cents: int
    topups_cents: int
    cpf_cents: int
    cec_cents: int
    participation_cents: int
    out_of_pocket_cents: int
    late_topups_cents: int = 0


def funding_plan(
    price_cents: int,
    *,
    cpf_balance_cents: int,
    cec_balance_cents: int,
    on: dt.date,
    employment_status: str,
    topup_cents: int = 0,
    cofinanced_by_employer_or_opco: bool = False,
    late_topup_cents: int = 0,
) -> FundingPlan:
    """Cover ``price_cents`` with top-ups spent first, then CPF rights, then CEC rights, then top-ups the
    funder wants spent after the holder's rights; the rest is out of pocket.

    The flat participation is added when CPF or CEC rights are used (they are spent like CPF rights).
    """
    for name, amount in (
        ("price", price_cents),
        ("cpf", cpf_balance_cents),
        ("cec", cec_balance_cents),
        ("topup", topup_cents),
        ("late topup", late_topup_cents),
    ):
        _cents(name, amount)
    allocation = dict(
        allocate_funding(
            price_cents,
            [
                ("topup", topup_cents),
                ("cpf", cpf_balance_cents),
                ("cec", cec_balance_cents),
                ("late_topup", late_topup_cents),
            ],
        )
    )
    covered = sum(allocation.values())
    participation = flat_participation_cents(
        on,
        employment_status=employment_status,
        cofinanced_by_employer_or_opco=cofinanced_by_employer_or_opco,
        uses_cpf_rights=(allocation["cpf"] + allocation["cec"]) > 0,
    )
    remaining = price_cents - covered
    return FundingPlan(
        price_cents,
        allocation["topup"],
        allocation["cpf"],
        allocation["cec"],
        participation,
        remaining + participation,
        allocation["late_topup"],
    )


def allocate_funding(price_cents: int, sources: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Take ``price_cents`` from ``sources`` in order, each up to what it has; returns ``(key, taken)`` for
    every source (``taken`` may be 0). The sum taken is ``min(price, total available)``."""
    remaining = _cents("price", price_cents)
    taken: list[tuple[str, int]] = []
    for key, available in sources:
        amount = min(_cents(f"source {key}", available), remaining)
        taken.append((key, amount))
        remaining -= amount
    return taken


@dataclass(frozen=True)
class TopUpSource:
    """A top-up a file can use: its ledger key, its funder's kind, what it still holds, and when it is
    spent."""

    key: str
    funder_kind: str
    available_cents: int
    spend_before_rights: bool = False


@dataclass(frozen=True)
class FileFunding:
    """Where each cent of a file's price comes from, in funding order, and what the holder pays."""

    allocation: tuple[tuple[str, int], ...]
    participation_cents: int
    remainder_cents: int

    @property
    def out_of_pocket_cents(self) -> int:
        return self.remainder_cents + self.participation_cents

    @property
    def rights_cents(self) -> int:
        return sum(cents for key, cents in self.allocation if key in ("cpf", "cpf_corrective", "cec"))

    @property
    def topups_cents(self) -> int:
        return sum(cents for key, cents in self.allocation if key.startswith("topup:"))


def file_funding(
    price_cents: int,
    *,
    topups: Sequence[TopUpSource] = (),
    cpf_rights_cents: int,
    cpf_corrective_cents: int = 0,
    cec_cents: int = 0,
    on: dt.date,
    employment_status: str,
) -> FileFunding:
    """The funding of a file confirmed on ``on`` — the one rule used both to reserve money at confirmation and
    to quote out-of-pocket costs in recommendations.

    Order: top-ups whose funder says they go first; CPF rights; corrective top-ups; CEC rights; the other
    top-ups; the rest is paid by the holder (``remainder_cents``, allocated to the source ``holder``).
    The flat participation is due when rights are used, unless the holder is a job seeker or an employer or
    OPCO top-up actually co-finances the file.
    """
    first = [(t.key, t.available_cents) for t in topups if t.spend_before_rights]
    late = [(t.key, t.available_cents) for t in topups if not t.spend_before_rights]
    taken = allocate_funding(
        price_cents,
        [
            *first,
            ("cpf", cpf_rights_cents),
            ("cpf_corrective", cpf_corrective_cents),
            ("cec", cec_cents),
            *late,
        ],
    )
    remainder = price_cents - sum(cents for _key, cents in taken)
    allocation = tuple((key, cents) for key, cents in taken if cents > 0)
    if remainder:
        allocation += (("holder", remainder),)
    kinds = {t.key: t.funder_kind for t in topups}
    cofinanced = any(kinds.get(key) in PARTICIPATION_EXEMPTING_FUNDERS for key, _cents in allocation)
    uses_rights = any(key in ("cpf", "cpf_corrective", "cec") for key, _cents in allocation)
    participation = flat_participation_cents(
        on,
        employment_status=employment_status,
        cofinanced_by_employer_or_opco=cofinanced,
        uses_cpf_rights=uses_rights,
    )
    return FileFunding(allocation, participation, remainder)


@dataclass(frozen=True)
class CostComparison:
    """What a training costs the holder through a CPF file (rights and top-ups, plus the flat participation)
    against paying the provider directly, and which is cheaper. ``participation_exceeds_rights``: the flat
    participation is more than the rights the file would use, so spending rights costs the holder money."""

    with_rights_cents: int
    direct_cents: int
    participation_exceeds_rights: bool
    rights_used_cents: int = 0  # CPF and CEC rights the file would spend
    participation_cents: int = 0  # the flat participation the file would carry (0: exempt)

    @property
    def cheaper(self) -> str:
        """``direct`` unless the file costs the holder strictly less: on a tie, paying directly costs as much and
        spends no rights (with none to spend, the two are the same payment)."""
        return "rights" if self.with_rights_cents < self.direct_cents else "direct"

    @property
    def cheaper_cents(self) -> int:
        return min(self.direct_cents, self.with_rights_cents)


def compare_with_direct_payment(price_cents: int, funding: FileFunding) -> CostComparison:
    """Using rights (``funding``, from ``file_funding``) against paying the whole price directly, without a
    file: no rights spent, no participation, and no top-up (top-ups are tied to a CPF file)."""
    _cents("price", price_cents)
    rights = funding.rights_cents
    return CostComparison(
        with_rights_cents=funding.out_of_pocket_cents,
        direct_cents=price_cents,
        participation_exceeds_rights=rights > 0 and funding.participation_cents > rights,
        rights_used_cents=rights,
        participation_cents=funding.participation_cents,
    )


# --- Annual crediting of CPF rights (L6323-11, L6323-11-1, L6323-27; R6323-1 and following) -----------------


@dataclass(frozen=True)
class CreditRate:
    annual_cents: int
    ceiling_cents: int


# Keyed by the year of work (the credit for year N is posted early in N+1). Euros since work year 2019.
STANDARD_CREDIT: tuple[DatedValue[CreditRate], ...] = (
    DatedValue(dt.date(2019, 1, 1), CreditRate(50_000, 500_000)),
)
# Holders without a level-3 qualification (CAP/BEP) and workers with a recognised disability.
MAJORATED_CREDIT: tuple[DatedValue[CreditRate], ...] = (
    DatedValue(dt.date(2019, 1, 1), CreditRate(80_000, 800_000)),
)
SELF_EMPLOYED_CREDIT: tuple[DatedValue[CreditRate], ...] = (
    DatedValue(dt.date(2019, 1, 1), CreditRate(50_000, 500_000)),
)
# Legal annual working time in hours (a conventional duration may replace it in a declaration).
LEGAL_ANNUAL_HOURS: tuple[DatedValue[int], ...] = (DatedValue(dt.date(2005, 1, 1), 1607),)


def credit_rate(year: int, *, status: str, low_qualification: bool, disability: bool) -> CreditRate:
    """The annual amount and ceiling for work done in ``year``.

    Employees without a level-3 qualification and disabled workers (employees or self-employed) get the
    majorated rate; other employees and the self-employed the standard one.
    """
    on = dt.date(year, 1, 1)
    if status == "employee":
        table = MAJORATED_CREDIT if (low_qualification or disability) else STANDARD_CREDIT
    elif status == "self_employed":
        table = MAJORATED_CREDIT if disability else SELF_EMPLOYED_CREDIT
    else:
        raise RuleError(f"no CPF credit for status {status!r} (employee or self_employed)")
    return _required(table, on, f"the CPF credit of work year {year} (rights were in hours before 2019)")


def prorated_credit_cents(annual_cents: int, *, worked_hours: int, reference_hours: int) -> int:
    """The credit for ``worked_hours`` out of a full-time ``reference_hours``.

    At least half the reference time earns the full amount; less is prorated to the time worked
    (``annual × worked / reference``), rounded up to the cent.
    """
    _cents("annual", annual_cents)
    if type(worked_hours) is not int or worked_hours < 0:
        raise RuleError("worked_hours must be a non-negative integer")
    if type(reference_hours) is not int or reference_hours <= 0:
        raise RuleError("reference_hours must be a positive integer")
    if 2 * worked_hours >= reference_hours:
        return annual_cents
    return math.ceil(Fraction(annual_cents * worked_hours, reference_hours))


def cap_to_ceiling(credit_cents: int, *, balance_cents: int, ceiling_cents: int) -> int:
    """What can be credited without the balance exceeding the ceiling (never negative)."""
    _cents("credit", credit_cents)
    if type(balance_cents) is not int:
        raise RuleError("balance must be integer cents")
    return max(0, min(credit_cents, ceiling_cents - balance_cents))


def annual_credit_cents(
    year: int,
    *,
    status: str,
    worked_hours: int,
    reference_hours: int | None = None,
    low_qualification: bool = False,
    disability: bool = False,
    rights_balance_cents: int = 0,
) -> int:
    """The CPF credit for work done in ``year``: rate by status and qualification, prorated for less than
    half-time (employees), capped so the rights balance never exceeds the ceiling."""
    rate = credit_rate(year, status=status, low_qualification=low_qualification, disability=disability)
    if status == "self_employed":
        amount = rate.annual_cents
    else:
        reference = (
            reference_hours
            if reference_hours is not None
            else _required(LEGAL_ANNUAL_HOURS, dt.date(year, 1, 1), "the legal working time")
        )
        amount = prorated_credit_cents(
            rate.annual_cents, worked_hours=worked_hours, reference_hours=reference
        )
    return cap_to_ceiling(amount, balance_cents=rights_balance_cents, ceiling_cents=rate.ceiling_cents)


# --- Corrective top-up (L6323-13) ---------------------------------------------------------------------------

CORRECTIVE_TOPUP_CENTS: tuple[DatedValue[int], ...] = (DatedValue(dt.date(2019, 1, 1), 300_000),)
CORRECTIVE_MIN_STAFF: tuple[DatedValue[int], ...] = (DatedValue(dt.date(2019, 1, 1), 50),)


def corrective_topup_cents(on: dt.date, *, staff_count: int) -> int:
    """The corrective top-up an employer owes for a missed six-year review (employers of 50+ staff only)."""
    minimum = _required(CORRECTIVE_MIN_STAFF, on, "the corrective top-up")
    if type(staff_count) is not int or staff_count < minimum:
        raise RuleError(f"the corrective top-up applies to employers of at least {minimum} staff")
    return _required(CORRECTIVE_TOPUP_CENTS, on, "the corrective top-up")


# --- Citizen engagement account (L5151-7 and following) -----------------------------------------------------

CEC_CREDIT_PER_ACTIVITY_CENTS: tuple[DatedValue[int], ...] = (DatedValue(dt.date(2019, 1, 1), 24_000),)
CEC_CEILING_CENTS: tuple[DatedValue[int], ...] = (DatedValue(dt.date(2019, 1, 1), 72_000),)


@dataclass(frozen=True)
class CecThresholds:
    civic_service_months: int = 6
    military_reserve_days: int = 90
    association_hours: int = 200
    association_hours_in_one: int = 100


CEC_THRESHOLDS: tuple[DatedValue[CecThresholds], ...] = (DatedValue(dt.date(2017, 1, 1), CecThresholds()),)
# Association volunteering is declared by the holder by this (month, day) of the year after the activity.
CEC_DECLARATION_DEADLINE: tuple[DatedValue[tuple[int, int]], ...] = (
    DatedValue(dt.date(2017, 1, 1), (6, 30)),
)
# Activities whose conditions are their own organisation's: eligible once the organisation validates them.
CEC_ATTESTED_ACTIVITIES = frozenset({"other_reserve", "volunteer_firefighter", "apprentice_master"})


def cec_activity_eligible(
    kind: str,
    activity_year: int,
    *,
    months: int | None = None,
    days: int | None = None,
    hours_total: int | None = None,
    hours_in_main_organisation: int | None = None,
) -> bool:
    """Whether a validated activity of ``activity_year`` earns CEC rights.

    Civic service of at least 6 months; operational military reserve of at least 90 days in the year;
    association leaders and volunteer supervisors with at least 200 hours in the year of which at least 100 in
    one association; other reserves, volunteer firefighters and apprentice masters under their own conditions,
    attested by the organisation's validation.
    """
    limits = _required(CEC_THRESHOLDS, dt.date(activity_year, 1, 1), "the CEC")
    if kind == "civic_service":
        return (months or 0) >= limits.civic_service_months
    if kind == "military_reserve":
        return (days or 0) >= limits.military_reserve_days
    if kind == "association_volunteer":
        return (hours_total or 0) >= limits.association_hours and (
            hours_in_main_organisation or 0
        ) >= limits.association_hours_in_one
    if kind in CEC_ATTESTED_ACTIVITIES:
        return True
    raise RuleError(f"unknown CEC activity {kind!r}")


def cec_declaration_deadline(activity_year: int) -> dt.date:
    """The last day to declare association volunteering of ``activity_year`` (30 June of the next year)."""
    month, day = _required(CEC_DECLARATION_DEADLINE, dt.date(activity_year, 1, 1), "CEC declarations")
    return dt.date(activity_year + 1, month, day)


def cec_credit_cents(activity_year: int, *, eligible_activities: int, cec_balance_cents: int) -> int:
    """240 € per eligible activity of the year, capped so the CEC never exceeds 720 €."""
    if type(eligible_activities) is not int or eligible_activities < 0:
        raise RuleError("eligible_activities must be a non-negative integer")
    on = dt.date(activity_year, 1, 1)
    per_activity = _required(CEC_CREDIT_PER_ACTIVITY_CENTS, on, "the CEC credit")
    ceiling = _required(CEC_CEILING_CENTS, on, "the CEC ceiling")
    return cap_to_ceiling(
        per_activity * eligible_activities, balance_cents=cec_balance_cents, ceiling_cents=ceiling
    )


# --- Working days and deadlines of the enrolment file -------------------------------------------------------

# At least this many working days between the holder's confirmation and the start of the session.
CONFIRMATION_NOTICE_WORKING_DAYS: tuple[DatedValue[int], ...] = (DatedValue(dt.date(2019, 1, 1), 11),)
# The provider declares entry and exit within this many working days of the event.
DECLARATION_WORKING_DAYS: tuple[DatedValue[int], ...] = (DatedValue(dt.date(2019, 1, 1), 3),)


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("FR", years=year).keys())


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday, except French national public holidays (jours ouvrés)."""
    return day.weekday() < 5 and day not in _french_holidays(day.year)


def add_working_days(day: dt.date, count: int) -> dt.date:
    """The date ``count`` working days after ``day`` (``day`` itself not counted)."""
    if count < 0:
        raise RuleError("count must be non-negative")
    current = day
    while count:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            count -= 1
    return current


def working_days_between(start: dt.date, end: dt.date) -> int:
    """How many working days fall in ``(start, end]`` (0 when ``end <= start``)."""
    count, current = 0, start
    while current < end:
        current += dt.timedelta(days=1)
        count += is_working_day(current)
    return count


def earliest_session_start(confirmed_on: dt.date) -> dt.date:
    """The first start date a file confirmed on ``confirmed_on`` may have (11 working days later)."""
    notice = _required(CONFIRMATION_NOTICE_WORKING_DAYS, confirmed_on, "the confirmation notice")
    return add_working_days(confirmed_on, notice)


def declaration_deadline(event_date: dt.date) -> dt.date:
    """The last day the provider may declare an entry or exit that happened on ``event_date``."""
    days = _required(DECLARATION_WORKING_DAYS, event_date, "provider declarations")
    return add_working_days(event_date, days)


# --- Payment of the provider --------------------------------------------------------------------------------

BASIS_POINTS = 10_000


def completion_basis_points(rate: object) -> int:
    """A completion rate in percent (0–100, at most two decimals) as basis points (0–10000)."""
    if isinstance(rate, bool) or not isinstance(rate, int | float | str | Fraction | Decimal):
        raise RuleError("completion_rate must be a number between 0 and 100")
    try:
        exact = Fraction(str(rate)) if isinstance(rate, float | str) else Fraction(rate)
    except (ValueError, ZeroDivisionError, ArithmeticError) as exc:
        raise RuleError("completion_rate must be a number between 0 and 100") from exc
    points = exact * 100
    if points.denominator != 1 or not 0 <= points <= BASIS_POINTS:
        raise RuleError("completion_rate must be between 0 and 100 with at most two decimals")
    return int(points)


def payment_amount_cents(price_cents: int, completion_points: int) -> int:
    """Price × completion rate, in cents, rounded half up."""
    _cents("price", price_cents)
    if type(completion_points) is not int or not 0 <= completion_points <= BASIS_POINTS:
        raise RuleError("completion must be 0–10000 basis points")
    return (price_cents * completion_points * 2 + BASIS_POINTS) // (2 * BASIS_POINTS)


def split_payment(
    amount_cents: int, reserved: Sequence[tuple[str, int]]
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Draw ``amount_cents`` from the reserved sources in their funding order; the rest of each goes back.

    Returns ``(paid, returned)``, one pair per source, so that ``paid + returned`` equals each reservation.
    """
    total = sum(_cents(f"reserved {key}", value) for key, value in reserved)
    if _cents("payment", amount_cents) > total:
        raise RuleError(f"a payment of {amount_cents} cents exceeds the {total} cents reserved")
    paid = allocate_funding(amount_cents, reserved)
    returned = [(key, value - taken) for (key, value), (_k, taken) in zip(reserved, paid, strict=True)]
    return paid, returned
