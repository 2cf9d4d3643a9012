"""The evidence rows one declaration, or one training completed in our files, gives: which skills and what
each weighs (the rules of ``weights``), with the provenance stored beside them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

from features.esco import SKILL_PREFIX, load_occupation_skills
from features.profile.matching import Matcher, resolve
from features.profile.model import Declaration, Evidence, Mapping
from features.profile.weights import (
    DECLARED_FACTOR,
    KIND_FACTOR,
    LOW_CONFIDENCE_FACTOR,
    MIN_WEIGHT,
    duration_factor,
    recency_factor,
)


@lru_cache(maxsize=1)
def occupation_skill_map() -> dict[str, list[tuple[str, float]]]:
    """occupation URI → [(skill URI, link weight)] from the derived table, best first."""
    table = load_occupation_skills().sort_values(["occupation_uri", "rank"])
    grouped: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for occupation, skill, weight in zip(
        table["occupation_uri"], table["skill_uri"], table["weight"], strict=True
    ):
        grouped[str(occupation)].append((str(skill), float(weight)))
    return dict(grouped)


def evidence_for(
    declaration: Declaration, today: dt.date, matcher: Matcher
) -> tuple[list[Evidence], Mapping]:
    """The evidence one declaration gives, and how it was read."""
    resolved = resolve(declaration, matcher)
    mapping = Mapping(
        declaration.experience_id,
        declaration.kind,
        declaration.label,
        resolved.uri,
        resolved.uri_label,
        round(resolved.confidence, 4),
        resolved.low_confidence,
        resolved.method,
    )
    source = "verified" if declaration.source == "verified" else "declared"
    base = 1.0 if source == "verified" else DECLARED_FACTOR
    base *= recency_factor(declaration.end_date, today)
    if resolved.method != "given":
        base *= resolved.confidence * (LOW_CONFIDENCE_FACTOR if resolved.low_confidence else 1.0)
    if resolved.occupation is not None:
        if declaration.kind in ("job", "volunteering"):
            base *= duration_factor(declaration.start_date, declaration.end_date, today)
        else:
            base *= KIND_FACTOR.get(declaration.kind, 0.5)
        links = occupation_skill_map().get(resolved.occupation, [])
    else:
        base *= KIND_FACTOR.get(declaration.kind, 0.5)
        links = list(resolved.skills)
    evidence = [
        Evidence(
            skill_uri=skill,
            weight=round(min(1.0, base * link), 4),
            source=source,
            experience_id=declaration.experience_id,
            training_id=None,
            via_uri=resolved.uri,
            confidence=round(resolved.confidence, 4),
            low_confidence=resolved.low_confidence,
        )
        for skill, link in links
        if base * link >= MIN_WEIGHT
    ]
    return evidence, mapping


def evidence_for_training(
    training_id: str, skills: Sequence[str], completed_on: dt.date, today: dt.date
) -> list[Evidence]:
    """A training completed in our own files: verified evidence for each skill it teaches."""
    weight = KIND_FACTOR["training"] * recency_factor(completed_on, today)
    return [
        Evidence(
            skill_uri=s,
            weight=round(weight, 4),
            source="verified",
            experience_id=None,
            training_id=training_id,
            via_uri=None,
            confidence=1.0,
            low_confidence=False,
        )
        for s in skills
        if s.startswith(SKILL_PREFIX)
    ]
