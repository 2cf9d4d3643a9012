"""Who may fund what (parcours.domain.funding_rights): the table of cases of each rule."""

from __future__ import annotations

import datetime as dt

import pytest

from parcours.domain.funding_rights import (
    Employment,
    FunderFacts,
    HolderFacts,
    corrective_review,
    may_top_up,
    review_date,
)

D = dt.date
ON = D(2025, 3, 3)
AT_EMP1 = Employment("EMP1", D(2018, 1, 1), None, opco_id="OPCO1")
LEFT_EMP1 = Employment("EMP1", D(2018, 1, 1), D(2024, 12, 31), opco_id="OPCO1")
FUTURE_EMP1 = Employment("EMP1", D(2025, 6, 1), None, opco_id="OPCO1")
AT_EMP2_NO_OPCO = Employment("EMP2", D(2020, 1, 1), None)


def holder(status: str = "employee", region: str = "11", *employments: Employment) -> HolderFacts:
    return HolderFacts("H1", status, region, tuple(employments))


@pytest.mark.parametrize(
    ("funder", "facts", "allowed"),
    [
        # employer: its current employees only
        (FunderFacts("EMP1", "employer"), holder("employee", "11", AT_EMP1), True),
        (FunderFacts("EMP2", "employer"), holder("employee", "11", AT_EMP1), False),
        (FunderFacts("EMP1", "employer"), holder("employee", "11", LEFT_EMP1), False),  # left before ON
        (FunderFacts("EMP1", "employer"), holder("employee", "11", FUTURE_EMP1), False),  # not hired yet
        (FunderFacts("EMP1", "employer"), holder("employee", "11"), False),  # no employment in the data
        # OPCO: the current employees of the employers of its sector
        (FunderFacts("OPCO1", "opco"), holder("employee", "11", AT_EMP1), True),
        (FunderFacts("OPCO2", "opco"), holder("employee", "11", AT_EMP1), False),
        (FunderFacts("OPCO1", "opco"), holder("employee", "11", LEFT_EMP1), False),
        (FunderFacts("OPCO1", "opco"), holder("employee", "11", AT_EMP2_NO_OPCO), False),
        (FunderFacts("OPCO1", "opco"), holder("employee", "11", AT_EMP2_NO_OPCO, AT_EMP1), True),
        # region: its residents
        (FunderFacts("REG11", "region", region_code="11"), holder("employee", "11"), True),
        (FunderFacts("REG84", "region", region_code="84"), holder("employee", "11"), False),
        (FunderFacts("REG?", "region", region_code=None), holder("employee", "11"), False),
        # France Travail: job seekers
        (FunderFacts("FT", "france_travail"), holder("job_seeker", "11"), True),
        (FunderFacts("FT", "france_travail"), holder("employee", "11", AT_EMP1), False),
        (FunderFacts("FT", "france_travail"), holder("self_employed", "11"), False),
        # the holder's own money: their own files
        (FunderFacts("H1", "holder"), holder("employee", "11"), True),
        (FunderFacts("H2", "holder"), holder("employee", "11"), False),
        # an unknown kind funds nothing
        (FunderFacts("X", "charity"), holder("job_seeker", "11", AT_EMP1), False),
    ],
)
def test_may_top_up(funder: FunderFacts, facts: HolderFacts, allowed: bool) -> None:
    assert may_top_up(funder, facts, ON) is allowed


@pytest.mark.parametrize(
    ("hired", "due", "review"),
    [
        (D(2018, 1, 1), D(2023, 12, 31), None),  # less than six years: no review due yet
        (D(2018, 1, 1), D(2024, 1, 1), D(2024, 1, 1)),
        (D(2018, 1, 1), D(2024, 9, 1), D(2024, 1, 1)),  # another date in the same period: the same review
        (D(2018, 1, 1), D(2029, 12, 31), D(2024, 1, 1)),
        (D(2018, 1, 1), D(2030, 1, 1), D(2030, 1, 1)),  # the next period
        (D(2016, 2, 29), D(2022, 2, 28), D(2022, 2, 28)),  # a leap-day hiring
        (D(2016, 2, 29), D(2022, 2, 27), None),
    ],
)
def test_review_date(hired: dt.date, due: dt.date, review: dt.date | None) -> None:
    assert review_date(hired, due) == review


@pytest.mark.parametrize(
    ("employer", "employments", "due", "review"),
    [
        ("EMP1", [AT_EMP1], D(2024, 9, 1), D(2024, 1, 1)),
        ("EMP1", [AT_EMP1], D(2024, 3, 1), D(2024, 1, 1)),  # same period, same review: credited once
        ("EMP2", [AT_EMP1], D(2024, 9, 1), None),  # not an employee of that employer
        ("EMP1", [], D(2024, 9, 1), None),  # no employment at all
        ("EMP1", [Employment("EMP1", D(2018, 1, 1), D(2023, 6, 30))], D(2024, 9, 1), None),  # left before
        ("EMP1", [Employment("EMP1", D(2021, 1, 1))], D(2024, 9, 1), None),  # hired less than six years ago
        # re-hired: the review counts from the latest hiring that has one
        ("EMP1", [Employment("EMP1", D(2010, 1, 1), D(2012, 1, 1)), AT_EMP1], D(2024, 9, 1), D(2024, 1, 1)),
    ],
)
def test_corrective_review(
    employer: str, employments: list[Employment], due: dt.date, review: dt.date | None
) -> None:
    assert corrective_review(employer, employments, due) == review
