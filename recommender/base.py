"""One recommender interface. Every recommender (the learned ranker, neutral suggestions, popularity, content
similarity, the evaluation's oracle) answers ``recommend(holder, k)`` the same way, so the server, the evaluation
and the tests treat them alike. ``recommender.context.context_from_rows`` builds the ``HolderContext`` for both.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class HolderContext:
    """What a recommender may know of a holder at request time."""

    holder_id: str
    region_code: str
    employment_status: str
    qualification_level: int | None
    preferred_modality: str | None
    target_occupation: str | None
    cpf_balance_cents: int
    cec_balance_cents: int
    profile_text: str
    excluded_training_ids: frozenset[str] = field(default_factory=frozenset)
    personalised: bool = True
    # The stored skills profile (computed when the profile changes, never per request).
    skill_weights: Mapping[str, float] = field(default_factory=dict)
    embedding: np.ndarray | None = field(default=None, compare=False)
    embedding_model: str | None = None  # the model that made ``embedding``; another model's vector is not used
    current_occupation: str | None = None
    # Every training the holder interacted with (viewed, enrolled, completed, cancelled): the collaborative signal.
    interacted_training_ids: frozenset[str] = field(default_factory=frozenset)
    # The holder's own preferences (``serving.services.preferences``), None when not given: the region they would
    # rather train in, and the most they will pay themself for one training (integer cents).
    preferred_region_code: str | None = None
    max_out_of_pocket_cents: int | None = None

    @property
    def training_region_code(self) -> str:
        """Where the holder wants to train: the preferred region when they chose one, else where they live.
        Region match and regional popularity read this one; funding (regional top-ups) stays with the region
        they live in."""
        return self.preferred_region_code or self.region_code


@dataclass(frozen=True)
class Recommendation:
    """One suggestion. ``reasons`` say why it fits; what it costs the holder is added by the service that prices
    it with the holder's real funding plan (top-ups included), so the cost said is the cost charged."""

    training_id: str
    score: float
    reasons: tuple[str, ...] = ()
    skills_closed: tuple[str, ...] = ()  # labels of the goal's missing skills it teaches, most important first
    completion_probability: float | None = None
    risk: str | None = None  # why abandonment is likely, when it is


class Recommender(abc.ABC):
    """Abstract recommender: ``model_version`` names what answers; ``degraded`` is true for a fallback."""

    model_version: str = "unfitted"
    degraded: bool = False

    @abc.abstractmethod
    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        """At most ``k`` trainings for ``holder`` (none for ``k`` ≤ 0), best first with non-increasing scores,
        each once, never one in ``excluded_training_ids`` nor one closed on the recommender's date, the same
        list for the same input (``tests/test_recommender_contract.py`` checks every implementation)."""
