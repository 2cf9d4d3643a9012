"""Ranking candidates with the learned model, and the business rules that stay outside the model.

Rules: a training the holder cannot enrol in (no session ahead, already taken) is never a candidate; the top of
the list is diversified (one item per certification, at most two per provider) so ten sessions of the same
certification never fill it; every item carries its out-of-pocket cost and reasons a person understands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Ranking:
    """Candidates in ranked order with their features; items (completion model, feature names) are built only
    for the rows asked for, as a request shows ten of a few hundred candidates."""

    bundle: Any
    rows: np.ndarray  # catalogue rows, best first
    probability: np.ndarray  # calibrated enrolment probability, in ``rows`` order
    features: np.ndarray  # one row of FEATURE_NAMES per candidate, in ``rows`` order

    def items(self, rows: Sequence[int]) -> list[RankedItem]:
        """``RankedItem``s of ``rows`` (catalogue rows among the candidates), in the order given."""
        where = {int(r): i for i, r in enumerate(self.rows.tolist())}
        at = np.array([where[int(r)] for r in rows], dtype=np.int64)
        X = self.features[at]  # noqa: N806
        completion = (
            self.bundle.completion.probability_and_margin(X)[0]
            if self.bundle.completion is not None and len(at)
            else None
        )
        return [
            RankedItem(
                int(self.rows[i]),
                float(self.probability[i]),
                None if completion is None else float(completion[j]),
                dict(zip(FEATURE_NAMES, X[j].tolist(), strict=True)),
            )
            for j, i in enumerate(at.tolist())
        ]


def rank_candidates(bundle, catalogue: CatalogueArrays, holders: HolderArrays, holder_row: int,  # type: ignore[no-untyped-def]
                    candidates: np.ndarray, *, on: dt.date | None = None) -> Ranking:
    """Candidates ordered by the calibrated enrolment probability (ties broken by the raw margin, then id)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        return Ranking(bundle, candidates, np.zeros(0), np.zeros((0, len(FEATURE_NAMES))))
    X = pair_features(catalogue, holders, np.full(len(candidates), holder_row), candidates, on=on)  # noqa: N806
    probability, margin = bundle.ranker.probability_and_margin(X)
    order = np.lexsort((catalogue.training_ids[candidates], -margin, -probability))
    return Ranking(bundle, candidates[order], probability[order], X[order])


def score_candidates(bundle, catalogue: CatalogueArrays, holders: HolderArrays, holder_row: int,  # type: ignore[no-untyped-def]
                     candidates: np.ndarray, *, on: dt.date | None = None) -> list[RankedItem]:
    """Every candidate as a ``RankedItem``, best first (``rank_candidates`` then its items)."""
    ranking = rank_candidates(bundle, catalogue, holders, holder_row, candidates, on=on)
    return ranking.items(ranking.rows.tolist())


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


def fit_reasons(item: RankedItem) -> list[str]:
    """Why it fits, in plain words (the skills it closes and the cost are said apart, see ``compose_reasons``)."""
    f = item.features
    said: list[str] = []
    if f["profile_similarity"] > 0.5:
        said.append("close to what you already do")
    if f["target_match"] > 0:
        said.append("prepares for your target occupation")
    if f["modality_match"] == 1.0:
        said.append("in your preferred modality")
    if f["region_match"] == 1.0:
        said.append("available in your region or remote")
    return said


def risk_of(item: RankedItem) -> str | None:
    """Why abandonment is likely (unmet prerequisites, or a low predicted completion), or ``None``."""
    if item.features["prerequisites_met"] < 1.0:
        return "prerequisites you may not have"
    if item.completion_probability is not None and item.completion_probability < RISKY_COMPLETION:
        return "its length and format"
    return None


def cost_reason(out_of_pocket_cents: int) -> str:
    if out_of_pocket_cents == 0:
        return "fully covered by your rights"
    return f"costs you {out_of_pocket_cents / 100:.2f} € after your rights"


def compose_reasons(skills_closed: Sequence[str], out_of_pocket_cents: int, fit: Sequence[str],
                    completion_probability: float | None, risk: str | None) -> list[str]:
    """The reasons shown with an item: skills it closes, what it costs, why it fits, and the completion risk."""
    said: list[str] = []
    if skills_closed:
        said.append("closes skills of your goal: " + ", ".join(skills_closed[:3]))
    said.append(cost_reason(out_of_pocket_cents))
    said.extend(fit)
    if completion_probability is not None:
        said.append(f"predicted completion {round(100 * completion_probability)} %")
    if risk is not None:
        said.append(f"risk of abandonment: {risk}" if completion_probability is not None else f"warning: {risk}")
    return said


def reasons(item: RankedItem, skill_labels: list[str], out_of_pocket_cents: int) -> list[str]:
    """Plain-language reasons: skills it closes, what it costs, why it fits, and the completion risk."""
    return compose_reasons(skill_labels, out_of_pocket_cents, fit_reasons(item), item.completion_probability,
                           risk_of(item))
