"""Exposure prices: how much a training's ranking margin is lowered so no training fills too many served lists.

``parcours train`` learns, with the ranker, a price per training (``RankerBundle.exposure_prices``, in the
ranker's margin units, log-odds; most trainings have none) by the dual of a capacity constraint on exposure: no
training in more than a share ``cap`` of the top-10 lists served to the holders of the training data
(``training.exposure``; Christakopoulou, Kawale & Banerjee, "Recommendation under Capacity Constraints", WSDM 2017).
Serving orders the candidates by margin minus price before diversifying; the enrolment probability shown, the
completion estimate and the reasons are the model's own, unpriced. Bundles fitted before the prices were learnt
have none, and rank as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from features.pairs import CatalogueArrays


def bundle_prices(bundle) -> Mapping[str, float]:  # type: ignore[no-untyped-def]
    """The bundle's prices by training id; none for bundles pickled before the field existed."""
    return getattr(bundle, "exposure_prices", None) or {}


def row_prices(prices: Mapping[str, float], catalogue: CatalogueArrays) -> np.ndarray | None:
    """The prices as one value per catalogue row (0 for trainings without one), or ``None`` when no training of
    this catalogue has a price (the unpriced ranking, exactly as before)."""
    out = np.zeros(len(catalogue.training_ids), dtype=np.float64)
    for training_id, price in prices.items():
        row = catalogue.position.get(training_id)
        if row is not None and price > 0:
            out[row] = price
    return out if out.any() else None


def priced_order(margin: np.ndarray, price: np.ndarray, id_keys: np.ndarray) -> np.ndarray:
    """Positions of ``margin`` (one holder's candidates) by margin minus ``price``, best first, ties by id
    (``id_keys``: the training ids, or ``CatalogueArrays.id_ranks`` of the rows, which order them alike). The
    calibrated probability is monotone in the margin, so with no price this is the unpriced order."""
    return np.lexsort((id_keys, -(margin - price)))
