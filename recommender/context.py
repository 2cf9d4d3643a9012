"""One way to turn what is stored about a holder into the ``HolderContext`` every recommender answers from.

The server reads the rows from the database (``serving.services.holders.holder_context``: today's profile,
available balances, what the holder already took); the offline evaluation reads them from the world frames as
they stood before its cut (``training.evaluate.contexts_as_of``). Both call ``context_from_rows``, so a field
normalised, derived or withheld one way here is so for both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from recommender.base import HolderContext

# Interactions after which a training is never proposed again to the holder.
TAKEN_EVENTS = ("enrol", "complete")
# The holder's own columns a context reads (``holders`` table, ``WorldFrames.holders``).
HOLDER_COLUMNS = ("holder_id", "region_code", "employment_status", "qualification_level", "preferred_modality",
                  "target_occupation", "personalisation_enabled", "preferred_region_code", "max_out_of_pocket_cents")


def personalisation(enabled: object, requested: bool | None = None) -> bool:
    """The holder's stored choice, which a request can only turn off (never personalise a holder who opted out).
    An unknown stored choice (``None``, a frame without the column) counts as on, the default."""
    return (_missing(enabled) or bool(enabled)) and requested is not False


def context_from_rows(
    holder: Mapping[str, Any],
    *,
    cpf_balance_cents: int,
    cec_balance_cents: int,
    events: Iterable[tuple[str, str]],
    profile_text: str = "",
    skill_weights: Mapping[str, float] | None = None,
    embedding: np.ndarray | None = None,
    embedding_model: str | None = None,
    current_occupation: str | None = None,
    personalised: bool | None = None,
) -> HolderContext:
    """The context of one holder from plain rows: ``holder`` maps ``HOLDER_COLUMNS`` (missing or NaN values are
    unknown), ``events`` the holder's interactions as (training id, event): those enrolled in or completed
    (``TAKEN_EVENTS``) are never proposed again, all of them are the holder's history (the collaborative signal).
    ``personalised`` is the request's wish (``personalisation``); without personalisation the profile (skills,
    embedding, current job, history, preferred region, most out of pocket) is withheld, so nothing personal can
    reach the neutral list."""
    personalise = personalisation(holder.get("personalisation_enabled"), personalised)
    events = [(str(training_id), str(event)) for training_id, event in events]
    return HolderContext(
        holder_id=str(holder["holder_id"]),
        region_code=str(holder["region_code"]),
        employment_status=str(holder["employment_status"]),
        qualification_level=_integer(holder.get("qualification_level")),
        preferred_modality=_text(holder.get("preferred_modality")),
        target_occupation=_text(holder.get("target_occupation")),
        cpf_balance_cents=int(cpf_balance_cents),
        cec_balance_cents=int(cec_balance_cents),
        profile_text=profile_text,
        excluded_training_ids=frozenset(t for t, event in events if event in TAKEN_EVENTS),
        personalised=personalise,
        skill_weights=dict(skill_weights or {}) if personalise else {},
        embedding=embedding if personalise else None,
        embedding_model=embedding_model if personalise else None,
        current_occupation=_text(current_occupation) if personalise else None,
        interacted_training_ids=frozenset(t for t, _ in events) if personalise else frozenset(),
        preferred_region_code=_text(holder.get("preferred_region_code")) if personalise else None,
        max_out_of_pocket_cents=_integer(holder.get("max_out_of_pocket_cents")) if personalise else None,
    )


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: object) -> str | None:
    return None if _missing(value) or value == "" else str(value)


def _integer(value: object) -> int | None:
    return None if _missing(value) else int(value)  # type: ignore[call-overload]
