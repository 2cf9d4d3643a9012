"""One recommender interface. Every recommender (content similarity, the learned ranker, popularity) answers
``recommend(holder, k)`` the same way, so the server, the evaluation and the tests treat them alike.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Recommendation:
    training_id: str
    score: float
    reasons: tuple[str, ...] = ()


class Recommender(abc.ABC):
    """Abstract recommender: ``model_version`` names what answers; ``degraded`` is true for a fallback."""

    model_version: str = "unfitted"
    degraded: bool = False

    @abc.abstractmethod
    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        """The ``k`` best trainings for ``holder``, best first, never one in ``excluded_training_ids``."""
