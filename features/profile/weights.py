"""The weighting rules of the skills profile: what one piece of evidence weighs (duration, recency, kind of
declaration, declared or verified) and how a skill's evidence combines (noisy-or ``1 - Π(1 - wᵢ)``).

The noisy-or is written once, vectorised (``noisy_or_by_key``): the profile of one holder
(``aggregate.aggregate``), the stored weights the server reads and the training datasets' weights of every
holder at once all go through it, so they agree to the last bit on the same evidence in the same order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

import numpy as np

DECLARED_FACTOR = 0.8
LOW_CONFIDENCE_FACTOR = 0.5
KIND_FACTOR = {"diploma": 0.5, "certification": 0.8, "training": 0.7, "skill": 0.6}
DURATION_SCALE_YEARS = 2.5
RECENCY_SCALE_YEARS = 8.0
MIN_WEIGHT = 0.01


def duration_factor(start: dt.date, end: dt.date | None, today: dt.date) -> float:
    years = max(0.0, ((end or today) - start).days / 365.25)
    return 1.0 - math.exp(-years / DURATION_SCALE_YEARS)


def recency_factor(end: dt.date | None, today: dt.date) -> float:
    since = 0.0 if end is None else max(0.0, (today - end).days / 365.25)
    return 0.6 + 0.4 * math.exp(-since / RECENCY_SCALE_YEARS)


def noisy_or_by_key(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The noisy-or ``1 - Π(1 - wᵢ)`` of the weights sharing a key: the distinct keys in ascending order and
    each one's value. Weights are clamped to [0, 1] and multiplied in their given order (a stable sort groups
    them), so one group gives exactly what the product written out by hand gives."""
    keys = np.asarray(keys)
    weights = np.asarray(weights, dtype=np.float64)
    if keys.shape != weights.shape or keys.ndim != 1:
        raise ValueError("keys and weights must be 1-D arrays of the same length")
    if not len(keys):
        return keys[:0], np.zeros(0, dtype=np.float64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    miss = np.multiply.reduceat(1.0 - np.clip(weights[order], 0.0, 1.0), starts)
    return ordered[starts], 1.0 - miss


def noisy_or_by_name(names: Sequence[str], weights: Sequence[float] | np.ndarray) -> dict[str, float]:
    """The noisy-or of the weights sharing a name (``noisy_or_by_key``), by name in first-seen order."""
    codes: dict[str, int] = {}
    keys = np.fromiter((codes.setdefault(n, len(codes)) for n in names), dtype=np.int64, count=len(names))
    _, values = noisy_or_by_key(keys, np.asarray(weights, dtype=np.float64))
    return dict(zip(codes, values.tolist(), strict=True))


def noisy_or(weights: Iterable[float]) -> float:
    """The noisy-or of these weights (0 for none): ``noisy_or_by_key`` with a single key."""
    values = np.fromiter(weights, dtype=np.float64)
    if not len(values):
        return 0.0
    return float(noisy_or_by_key(np.zeros(len(values), dtype=np.int64), values)[1][0])
