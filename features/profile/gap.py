"""The skill gap: the skills of a target occupation the holder lacks, weighted by their importance."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from features.esco import OCCUPATION_PREFIX, load_taxonomy
from features.profile.evidence import occupation_skill_map
from features.profile.recompute import ensure_profile
from parcours.errors import NotFound, ValidationFailed
from parcours.store.models import Holder


@dataclass(frozen=True)
class GapItem:
    skill_uri: str
    label: str
    importance: float  # link weight of the skill for the target occupation, in (0, 1]
    held: float  # the holder's weight for the skill, 0 when absent
    gap: float  # importance × (1 - held)


@dataclass(frozen=True)
class SkillGap:
    target_uri: str
    target_label: str
    confidence: float
    low_confidence: bool
    items: list[GapItem]
    coverage: float  # share of the target's importance the holder already has


def resolve_target(target: str) -> tuple[str, str, float, bool]:
    """A target occupation given as an ESCO occupation URI or free text → (uri, label, confidence, low)."""
    taxonomy = load_taxonomy()
    target = (target or "").strip()
    if not target:
        raise ValidationFailed(
            [{"field": "target", "message": "a target occupation (URI or text) is required"}]
        )
    if target.startswith(OCCUPATION_PREFIX):
        if not taxonomy.is_occupation(target):
            raise NotFound(f"unknown ESCO occupation {target}")
        return target, taxonomy.occupation_label(target), 1.0, False
    if target.startswith("http://") or target.startswith("https://"):
        raise ValidationFailed([{"field": "target", "message": "the target must be an ESCO occupation URI"}])
    from features.esco_matcher import match

    found = match(target, "occupation", 1)
    if not found:
        raise ValidationFailed([{"field": "target", "message": f"no occupation matches {target!r}"}])
    return found[0].uri, found[0].label, found[0].confidence, found[0].low_confidence


def gap_between(
    held: dict[str, float],
    target_uri: str,
    target_label: str,
    confidence: float = 1.0,
    low_confidence: bool = False,
) -> SkillGap:
    taxonomy = load_taxonomy()
    links = occupation_skill_map().get(target_uri, [])
    items = [
        GapItem(
            s,
            taxonomy.skill_label(s),
            round(w, 4),
            round(held.get(s, 0.0), 4),
            round(w * (1.0 - held.get(s, 0.0)), 4),
        )
        for s, w in links
    ]
    total = sum(i.importance for i in items)
    covered = sum(i.importance - i.gap for i in items)
    items = sorted((i for i in items if i.gap > 0), key=lambda i: (-i.gap, i.skill_uri))
    return SkillGap(
        target_uri,
        target_label,
        confidence,
        low_confidence,
        items,
        round(covered / total, 4) if total else 0.0,
    )


def skill_gap(session: Session, holder_id: str, target: str) -> SkillGap:
    """The skills of the target occupation the holder lacks, weighted by importance (stored profile)."""
    if session.get(Holder, holder_id) is None:
        raise NotFound(f"holder {holder_id} not found")
    uri, label, confidence, low = resolve_target(target)
    return gap_between(ensure_profile(session, holder_id).weights(), uri, label, confidence, low)
