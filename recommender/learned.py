"""Ranking candidates with the learned model, and the business rules that stay outside the model.

Rules: a training the holder cannot enrol in (no session ahead, already taken) is never a candidate; the top of
the list is diversified (one item per certification, at most two per provider) so ten sessions of the same
certification never fill it; every item carries its out-of-pocket cost and reasons a person understands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from features.pairs import FEATURE_NAMES, CatalogueArrays, HolderArrays, pair_features

MAX_PER_PROVIDER = 2
RISKY_COMPLETION = 0.5


@dataclass(frozen=True)
class RankedItem:
    row: int
    score: float
    completion_probability: float | None
    features: dict[str, float]


def score_candidates(bundle, catalogue: CatalogueArrays, holders: HolderArrays, holder_row: int,  # type: ignore[no-untyped-def]
                     candidates: np.ndarray, *, on: dt.date | None = None) -> list[RankedItem]:
    """Candidates ordered by the calibrated enrolment probability (ties broken by the raw margin, then id)."""
    if len(candidates) == 0:
        return []
    X = pair_features(catalogue, holders, np.full(len(candidates), holder_row), candidates, on=on)  # noqa: N806
    probability = bundle.ranker.predict_proba(X)[:, 1]
    margin = bundle.ranker.decision_function(X)
    completion = bundle.completion.predict_proba(X)[:, 1] if bundle.completion is not None else None
    order = np.lexsort((catalogue.training_ids[candidates], -margin, -probability))
    return [
        RankedItem(int(candidates[i]), float(probability[i]),
                   None if completion is None else float(completion[i]),
                   dict(zip(FEATURE_NAMES, X[i].tolist(), strict=True)))
        for i in order
    ]


def diversify(rows: list[int], catalogue: CatalogueArrays, k: int) -> list[int]:
    """The first ``k`` rows keeping one per certification code and at most ``MAX_PER_PROVIDER`` per provider;
    if that leaves fewer than ``k``, the skipped rows fill the end in their order."""
    picked: list[int] = []
    skipped: list[int] = []
    certifications: set[str] = set()
    providers: dict[str, int] = {}
    for row in rows:
        code, provider = catalogue.certification_code[row], catalogue.provider_id[row]
        if code in certifications or providers.get(provider, 0) >= MAX_PER_PROVIDER:
            skipped.append(row)
            continue
        picked.append(row)
        certifications.add(code)
        providers[provider] = providers.get(provider, 0) + 1
        if len(picked) == k:
            return picked
    return (picked + skipped)[:k]


def reasons(item: RankedItem, skill_labels: list[str], out_of_pocket_cents: int) -> list[str]:
    """Plain-language reasons: skills it closes, what it costs, why it fits, and the completion risk."""
    f = item.features
    said: list[str] = []
    if skill_labels:
        said.append("closes skills of your goal: " + ", ".join(skill_labels[:3]))
    elif f["profile_similarity"] > 0.5:
        said.append("close to what you already do")
    if out_of_pocket_cents == 0:
        said.append("fully covered by your rights")
    else:
        said.append(f"costs you {out_of_pocket_cents / 100:.2f} € after your rights")
    if f["target_match"] > 0:
        said.append("prepares for your target occupation")
    if f["modality_match"] == 1.0:
        said.append("in your preferred modality")
    if f["region_match"] == 1.0:
        said.append("available in your region or remote")
    if item.completion_probability is not None:
        said.append(f"predicted completion {round(100 * item.completion_probability)} %")
        if item.completion_probability < RISKY_COMPLETION or f["prerequisites_met"] < 1.0:
            why = "prerequisites you may not have" if f["prerequisites_met"] < 1.0 else "its length and format"
            said.append(f"risk of abandonment: {why}")
    elif f["prerequisites_met"] < 1.0:
        said.append("warning: prerequisites you may not have")
    return said
