"""Dated rules of the CPF scheme (DOMAIN.md). Pure functions over integer cents; each has a table of cases
in ``tests/test_rules.py``. Amounts change by decree, so each is a dated table: the value in force on a date is
the last row whose start is on or before it.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class DatedValue:
    """A value in force from ``start`` (inclusive) until the next row's start."""

    start: dt.date
    value: int


def value_on(table: tuple[DatedValue, ...], on: dt.date) -> int | None:
    """The value in force on ``on``; ``None`` before the first row."""
    starts = [row.start for row in table]
    position = bisect.bisect_right(starts, on) - 1
    return table[position].value if position >= 0 else None


# Flat holder participation per training file paid with CPF rights (decree 2024-394).
FLAT_PARTICIPATION_CENTS: tuple[DatedValue, ...] = (
    DatedValue(dt.date(2024, 5, 2), 10_000),
    DatedValue(dt.date(2025, 1, 1), 10_223),
)


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


@dataclass(frozen=True)
class FundingPlan:
    """How a training price is covered: by rights, by top-ups, and what the holder pays out of pocket."""

    price_cents: int
    topups_cents: int
    cpf_cents: int
    cec_cents: int
    participation_cents: int
    out_of_pocket_cents: int


def funding_plan(
    price_cents: int,
    *,
    cpf_balance_cents: int,
    cec_balance_cents: int,
    on: dt.date,
    employment_status: str,
    topup_cents: int = 0,
    cofinanced_by_employer_or_opco: bool = False,
) -> FundingPlan:
    """Cover ``price_cents`` with top-ups first, then CPF rights, then CEC rights; the rest is out of pocket.

    The flat participation is added when CPF or CEC rights are used (they are spent like CPF rights).
    """
    for name, amount in (("price", price_cents), ("cpf", cpf_balance_cents), ("cec", cec_balance_cents),
                         ("topup", topup_cents)):
        if type(amount) is not int or amount < 0:
            raise ValueError(f"{name} must be a non-negative integer number of cents")
    remaining = price_cents
    topups = min(topup_cents, remaining)
    remaining -= topups
    cpf = min(cpf_balance_cents, remaining)
    remaining -= cpf
    cec = min(cec_balance_cents, remaining)
    remaining -= cec
    participation = flat_participation_cents(
        on, employment_status=employment_status, cofinanced_by_employer_or_opco=cofinanced_by_employer_or_opco,
        uses_cpf_rights=(cpf + cec) > 0,
    )
    return FundingPlan(price_cents, topups, cpf, cec, participation, remaining + participation)
