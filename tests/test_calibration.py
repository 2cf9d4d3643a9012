"""The completion model scored out of time (training.calibration) on the tiny world: the Brier score, the
reliability table and the estimates shown in served lists are what they say."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import brier, reliability

pytestmark = pytest.mark.xdist_group("tiny_world")


def test_brier_and_reliability_by_hand() -> None:
    p = np.array([0.05, 0.15, 0.15, 0.95])
    y = np.array([0.0, 1.0, 0.0, 1.0])
    assert brier(p, y) == pytest.approx((0.05**2 + 0.85**2 + 0.15**2 + 0.05**2) / 4)
    table = reliability(p, y)
    assert [b["count"] for b in table] == [1, 2, 1]
    assert table[1]["mean_estimate"] == pytest.approx(0.15) and table[1]["observed"] == pytest.approx(0.5)
    # A constant forecast at the observed rate has Brier rate × (1 − rate).
    assert brier(np.full(4, 0.5), y) == pytest.approx(0.25)


def test_completion_calibration_on_held_out_enrolments(tiny_world) -> None:  # type: ignore[no-untyped-def]
    from training.calibration import completion_calibration, served_estimates
    from training.fit import fit_bundle
    from training.pipeline import prepare

    folder, url = tiny_world
    prepared = prepare(url, show_progress=False)
    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=0, frames=prepared.frames)
    result = completion_calibration(bundle, prepared.catalogue, prepared.holders, prepared.split, truth_dir=folder)
    if not result["available"]:
        pytest.skip("the tiny world's completion model or held-out outcomes are missing")
    assert result["enrolments"] == len(result["outcomes"]) > 0
    assert sum(b["count"] for b in result["reliability"]) == result["enrolments"]
    assert 0.0 < result["min_estimate"] <= result["max_estimate"] < 1.0  # bounded: never exactly 0 or 1
    assert result["brier"] == pytest.approx(brier(np.array(result["estimates"]), np.array(result["outcomes"])))
    served = served_estimates(bundle, prepared, max_holders=20)
    assert served["items"] > 0 and served["at_bound"] == 0.0
