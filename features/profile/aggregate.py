"""A profile from its evidence: evidence grouped by skill (noisy-or of the weights), declared skills the
holder removed left out, skills in the profile's order (``skill_order``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache

from features.esco import load_taxonomy
from features.profile.evidence import evidence_for, evidence_for_training
from features.profile.matching import Matcher
from features.profile.model import Declaration, Evidence, Mapping, Profile, ProfileSkill
from features.profile.weights import noisy_or_by_name


@lru_cache(maxsize=1)
def skill_labels() -> dict[str, str]:
    """skill URI → preferred label (a dict: profiles of many holders look labels up millions of times)."""
    skills = load_taxonomy().skills
    return {str(uri): str(label) for uri, label in zip(skills.index, skills["label"], strict=True)}


def skill_order(weight: float, skill_uri: str) -> tuple[float, str]:
    """The profile's order of skills: weight (as stored, to 1e-4) down, then URI."""
    return -round(float(weight), 4), skill_uri


def aggregate(
    holder_id: str,
    evidence: Iterable[Evidence],
    excluded: set[str] | None = None,
    mappings: list[Mapping] | None = None,
) -> Profile:
    """Group evidence by skill (noisy-or of weights), drop excluded declared skills, sort by weight."""
    labels = skill_labels()
    items = list(evidence)
    by_skill: dict[str, list[Evidence]] = defaultdict(list)
    for item in items:
        by_skill[item.skill_uri].append(item)
    combined = noisy_or_by_name([e.skill_uri for e in items], [e.weight for e in items])
    excluded = excluded or set()
    skills = []
    for uri, found in by_skill.items():
        verified = any(e.source == "verified" for e in found)
        if uri in excluded and not verified:
            continue
        ordered = tuple(sorted(found, key=lambda e: -e.weight))
        skills.append(
            ProfileSkill(
                uri,
                labels.get(uri, uri),
                round(combined[uri], 4),
                "verified" if verified else "declared",
                ordered,
            )
        )
    skills.sort(key=lambda s: skill_order(s.weight, s.skill_uri))
    return Profile(holder_id=holder_id, skills=skills, mappings=mappings or [])


def profile_from_declarations(
    holder_id: str,
    declarations: Sequence[Declaration],
    today: dt.date,
    *,
    completed: Sequence[tuple[str, Sequence[str], dt.date]] = (),
    excluded: set[str] | None = None,
    matcher: Matcher | None = None,
) -> Profile:
    """The profile of detached declarations (no database): used by ``build.build_profiles`` and the
    benchmark."""
    matcher = matcher or Matcher()
    evidence: list[Evidence] = []
    mappings: list[Mapping] = []
    for declaration in declarations:
        found, mapping = evidence_for(declaration, today, matcher)
        evidence += found
        mappings.append(mapping)
    for training_id, skills, completed_on in completed:
        evidence += evidence_for_training(training_id, skills, completed_on, today)
    return aggregate(holder_id, evidence, excluded, mappings)
