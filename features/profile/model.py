"""The skills profile's types: evidence, a profile's skill, how a declaration was read, the profile, and a
declaration detached from the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PROFILE_VERSION = 1


@dataclass(frozen=True)
class Evidence:
    """Why a skill is in the profile: one declaration (or completed training) and what it contributed."""

    skill_uri: str
    weight: float
    source: str  # verified | declared
    experience_id: int | None
    training_id: str | None
    via_uri: str | None
    confidence: float
    low_confidence: bool


@dataclass(frozen=True)
class ProfileSkill:
    skill_uri: str
    label: str
    weight: float
    source: str  # verified if any evidence is verified
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Mapping:
    """How one declaration was read: the ESCO concept, how sure, and whether that is low."""

    experience_id: int
    kind: str
    label: str
    uri: str | None
    uri_label: str | None
    confidence: float
    low_confidence: bool
    method: str  # given (esco_uri) | semantic | lexical | none


@dataclass
class Profile:
    holder_id: str
    skills: list[ProfileSkill]
    mappings: list[Mapping] = field(default_factory=list)
    embedding: np.ndarray | None = None
    model_id: str | None = None

    def weights(self) -> dict[str, float]:
        return {s.skill_uri: s.weight for s in self.skills}

    def top(self, k: int) -> list[ProfileSkill]:
        return self.skills[:k]

    @property
    def is_empty(self) -> bool:
        return not self.skills


@dataclass(frozen=True)
class Declaration:
    """An experience row detached from the database (so the same code serves rows, benchmarks and tests)."""

    experience_id: int
    kind: str
    label: str
    esco_uri: str | None
    start_date: dt.date
    end_date: dt.date | None
    source: str = "declared"


def profile_frame(profile: Profile) -> pd.DataFrame:
    """One row per skill (uri, label, weight, source, n_evidence), for reports and notebooks."""
    return pd.DataFrame(
        [
            {
                "skill_uri": s.skill_uri,
                "label": s.label,
                "weight": s.weight,
                "source": s.source,
                "n_evidence": len(s.evidence),
            }
            for s in profile.skills
        ]
    )
