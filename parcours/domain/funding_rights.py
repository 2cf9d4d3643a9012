"""Who may fund what (docs/domain.md "Who may top up a file", docs/security.md): pure rules over plain facts.

A top-up (abondement) is money a funder ties to one holder's file. Only these may give it:

| funder kind | tops up the files of | the link in the data |
| --- | --- | --- |
| ``employer`` | its employees | an employment of the holder at that employer, current on the day |
| ``opco`` | the employees of its sector's employers | such an employment at an employer whose ``opco_id`` is it |
| ``region`` | its residents | the holder's ``region_code`` equals the region funder's ``region_code`` |
| ``france_travail`` | job seekers | the holder's ``employment_status`` is ``job_seeker`` |
| ``holder`` (own money) | their own files | the signed-in holder is the file's holder |

A corrective top-up (the 3,000 € an employer of 50+ staff owes for a missed six-year review) is credited once
per employer, holder and review period, only for an employee of that employer on the review's date; the review
period is the n-th six-year anniversary (n ≥ 1) of the hiring date, so two due dates inside one period are one
period.

No function here names another party in what it returns: callers answer a refusal exactly like a missing object.
Each rule has its table of cases in ``tests/test_funding_rights.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

REVIEW_PERIOD_YEARS = 6  # the six-year review (état des lieux récapitulatif, Code du travail L6315-1)


@dataclass(frozen=True)
class Employment:
    """A holder's employment at an employer (a registered funder of kind ``employer``), from ``start`` to ``end``
    (inclusive; ``None`` while it lasts). ``opco_id`` is the OPCO of the employer's sector, if known."""

    employer_id: str
    start: dt.date
    end: dt.date | None = None
    opco_id: str | None = None

    def current_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class HolderFacts:
    """What the funding rules need to know about a holder."""

    holder_id: str
    employment_status: str
    region_code: str
    employments: tuple[Employment, ...] = ()


@dataclass(frozen=True)
class FunderFacts:
    """Who would pay: a registered funder (``kind`` employer, opco, region, france_travail) or a holder paying
    with their own money (``kind`` holder, ``funder_id`` = the holder's id)."""

    funder_id: str
    kind: str
    region_code: str | None = None


def may_top_up(funder: FunderFacts, holder: HolderFacts, on: dt.date) -> bool:
    """True when ``funder`` may top up a file of ``holder`` on day ``on`` (the table of the module docstring)."""
    current = [e for e in holder.employments if e.current_on(on)]
    if funder.kind == "holder":
        return funder.funder_id == holder.holder_id
    if funder.kind == "employer":
        return any(e.employer_id == funder.funder_id for e in current)
    if funder.kind == "opco":
        return any(e.opco_id is not None and e.opco_id == funder.funder_id for e in current)
    if funder.kind == "region":
        return funder.region_code is not None and funder.region_code == holder.region_code
    if funder.kind == "france_travail":
        return holder.employment_status == "job_seeker"
    return False


def _add_years(day: dt.date, years: int) -> dt.date:
    """``day`` plus whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def review_date(hired_on: dt.date, due_on: dt.date) -> dt.date | None:
    """The six-year review of the period ``due_on`` falls in: ``hired_on`` + 6n years with n ≥ 1 the largest such
    date on or before ``due_on``; ``None`` when no review was due yet (less than six years after hiring)."""
    if due_on < _add_years(hired_on, REVIEW_PERIOD_YEARS):
        return None
    n = (due_on.year - hired_on.year) // REVIEW_PERIOD_YEARS
    while _add_years(hired_on, REVIEW_PERIOD_YEARS * n) > due_on:
        n -= 1
    return _add_years(hired_on, REVIEW_PERIOD_YEARS * n)


def corrective_review(employer_id: str, employments: Iterable[Employment], due_on: dt.date) -> dt.date | None:
    """The review date a corrective top-up of ``employer_id`` for a review due ``due_on`` counts against (one
    credit per employer, holder and review date), or ``None`` when the holder was not an employee of that
    employer on that review's date — then no corrective top-up is owed."""
    for employment in sorted(employments, key=lambda e: e.start, reverse=True):
        if employment.employer_id != employer_id:
            continue
        review = review_date(employment.start, due_on)
        if review is not None and employment.current_on(review):
            return review
    return None
