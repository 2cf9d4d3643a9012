"""``recommender.context.context_from_rows``: the one way stored rows become what a recommender may know, for the
server and the offline evaluation alike; the holder's preferences reach it, and nothing personal reaches the
neutral list."""

from __future__ import annotations

import math

import pytest

from recommender.context import context_from_rows

ROW = {"holder_id": "H1", "region_code": "11", "employment_status": "employee", "qualification_level": 4,
       "preferred_modality": "remote", "target_occupation": None, "personalisation_enabled": True}


@pytest.mark.parametrize(("preferences", "personalised", "region", "training_region", "ceiling"), [
    ({}, None, None, "11", None),  # a world frame without the columns: no preference
    ({"preferred_region_code": math.nan, "max_out_of_pocket_cents": math.nan}, None, None, "11", None),
    ({"preferred_region_code": "", "max_out_of_pocket_cents": None}, None, None, "11", None),
    ({"preferred_region_code": "84", "max_out_of_pocket_cents": 50_000}, None, "84", "84", 50_000),
    ({"preferred_region_code": "84", "max_out_of_pocket_cents": 0}, True, "84", "84", 0),
    ({"preferred_region_code": "84", "max_out_of_pocket_cents": 50_000}, False, None, "11", None),  # asked neutral
    ({"preferred_region_code": "84", "max_out_of_pocket_cents": 50_000, "personalisation_enabled": False}, True,
     None, "11", None),  # opted out: the request cannot personalise
])
def test_preferences_reach_the_context_only_when_personalised(
    preferences: dict[str, object], personalised: bool | None, region: str | None, training_region: str,
    ceiling: int | None,
) -> None:
    context = context_from_rows(ROW | preferences, cpf_balance_cents=100, cec_balance_cents=0, events=[],
                                personalised=personalised)
    assert context.region_code == "11"  # where the holder lives: funding follows it
    assert context.preferred_region_code == region
    assert context.training_region_code == training_region
    assert context.max_out_of_pocket_cents == ceiling
