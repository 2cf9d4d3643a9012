"""The occupations of a world: the pool it draws jobs, targets and trainings from, their neighbourhoods (by
derived-skill cosine), demand and level."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from training.datasets.world_esco import EscoContext
from training.datasets.world_params import WorldScale
from training.datasets.world_reference import ANCHORS


class Occupations:
    """Drawn once per world from the "occupations" stream; positions index ``pool``."""

    def __init__(
        self, esco: EscoContext, scale: WorldScale, rng: np.random.Generator, extra: Sequence[str] = ()
    ) -> None:
        """``extra``: text prefixes of occupations always in the pool, like the anchors' (the French world's
        common trades, ``world_params.COMMON_TRADES``); none by default."""
        weights = esco.occ_skills
        norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1)).ravel())
        unit = sp.diags(1 / np.maximum(norms, 1e-12)) @ weights
        similarity = np.asarray((unit @ unit.T).toarray(), dtype=np.float32)
        np.fill_diagonal(similarity, -1.0)
        self.anchor_occupations = [[esco.occupation(p) for p in anchor.occupations] for anchor in ANCHORS]
        anchor_set = sorted(
            {o for group in self.anchor_occupations for o in group} | {esco.occupation(p) for p in extra}
        )
        n_all = len(esco.occ_uris)
        enough_skills = np.diff(esco.occ_skills.indptr) >= 8
        if scale.n_occupations is None:
            pool = np.flatnonzero(enough_skills | np.isin(np.arange(n_all), anchor_set))
        else:
            chosen: list[int] = []
            seen: set[int] = set()

            def add(o: int) -> None:
                if o not in seen:
                    seen.add(o)
                    chosen.append(o)

            for o in anchor_set:
                add(o)
                for n in np.argsort(-similarity[o], kind="stable")[:2]:
                    add(int(n))
            candidates = np.flatnonzero(enough_skills)
            while len(chosen) < scale.n_occupations:
                seed_occ = int(candidates[rng.integers(0, len(candidates))])
                add(seed_occ)
                for n in np.argsort(-similarity[seed_occ], kind="stable")[:3]:
                    if len(chosen) < scale.n_occupations and enough_skills[n]:
                        add(int(n))
            pool = np.array(sorted(chosen), dtype=np.int64)
        self.pool = pool
        sim_pool = similarity[np.ix_(pool, pool)]
        k = min(8, len(pool) - 1)
        neighbours = np.argsort(-sim_pool, axis=1, kind="stable")[:, :k]
        self.neighbours = neighbours  # pool positions
        self.neighbour_sim = np.maximum(np.take_along_axis(sim_pool, neighbours, axis=1), 1e-3).astype(float)
        demand = rng.lognormal(0.0, 0.8, len(pool))
        demand[np.isin(pool, anchor_set)] *= 2.0 if len(pool) < 1000 else 1.0
        self.demand = demand / demand.sum()
        self._demand_cdf = np.cumsum(self.demand)
        self._demand_cdf /= self._demand_cdf[-1]
        self._neighbour_cdf = np.cumsum(self.neighbour_sim, axis=1)
        self.occ_level = rng.choice([3, 4, 5, 6, 7], size=len(pool), p=[0.2, 0.25, 0.25, 0.2, 0.1])
        self.pool_pos = {int(o): i for i, o in enumerate(pool)}

    def neighbour_of(self, rng: np.random.Generator, pos: int) -> int:
        """A neighbouring occupation (pool position), probability ∝ similarity."""
        cdf = self._neighbour_cdf[pos]
        return int(self.neighbours[pos, min(int(np.searchsorted(cdf, rng.random() * cdf[-1])), len(cdf) - 1)])

    def by_demand(self, rng: np.random.Generator) -> int:
        """An occupation (pool position), probability ∝ demand."""
        return min(int(np.searchsorted(self._demand_cdf, rng.random())), len(self.pool) - 1)
