"""The profile's point in the catalogue's vector space: the weighted mean of the ESCO vectors of its top
skills (docs/esco.md, "Skills profile")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from features.profile.aggregate import skill_order
from features.profile.model import Profile

if TYPE_CHECKING:
    from features.esco_matcher import EscoIndex

EMBEDDING_TOP_SKILLS = 15  # docs/esco.md: 15 of 5, 10, 15, 20, 30 ranked best on two seeds


def profile_embedding(profile: Profile, skills: EscoIndex, k: int = EMBEDDING_TOP_SKILLS) -> np.ndarray | None:
    """The profile's point in the catalogue's vector space, or None when it has no skill the index knows.

    The weighted mean of the ESCO vectors of its top ``k`` skills (each skill's *names* vector, the one the
    skill matching already uses, from the same encoder as the catalogue), weights the profile's, L2-normalised.
    It needs no encoder call, so a profile is recomputed at the cost of its database rows; encoding the
    ~200-token line of the top labels instead took 84 % of a bulk recompute (docs/esco.md).
    """
    top = profile.top(k)
    return weighted_skill_vector([s.skill_uri for s in top], [s.weight for s in top], skills)


def weighted_skill_vector(
    skill_uris: Sequence[str], weights: Sequence[float] | np.ndarray, skills: EscoIndex
) -> np.ndarray | None:
    """L2-normalised ``Σ weight · vector(skill)`` over the skills ``skills`` knows; None when it knows none."""
    rows = skills.rows_of(skill_uris)
    known = rows >= 0
    if not known.any():
        return None
    vector = np.asarray(weights, dtype=np.float32)[known] @ skills.vectors()[rows[known]]
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else None


def top_skills(skill_uris: Sequence[str], weights: np.ndarray, k: int = EMBEDDING_TOP_SKILLS) -> np.ndarray:
    """Positions of the ``k`` strongest skills, in the profile's order (``skill_order``)."""
    order = sorted(range(len(skill_uris)), key=lambda i: skill_order(float(weights[i]), skill_uris[i]))
    return np.array(order[:k], dtype=np.int64)


def embed_profiles(profiles: Sequence[Profile]) -> None:
    """Set each profile's embedding (``profile_embedding``; None without a known skill) and its model."""
    from features.encoder import model_id
    from features.esco_matcher import get_index

    skills = get_index("skill", "names")
    model = model_id()
    for profile in profiles:
        profile.embedding = profile_embedding(profile, skills)
        profile.model_id = model
