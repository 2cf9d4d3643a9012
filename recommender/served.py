"""The recommender the server answers with: the registered champion ranker over the open catalogue.

Per request it builds one holder's arrays from the stored profile (``HolderArrays.single``: the embedding was
computed when the profile changed, never here), generates candidates (the catalogue index's ANN for the profile
embedding, the skill gap, the target occupation, item co-occurrence and ALS over the holder's history, regional
popularity; the co-occurrence scores and the ALS user step are computed once and the features reuse them), scores
them with the same ``pair_features`` the model was fitted on, applies the business rules (only what the holder
can enrol in, diversified) and explains each item. With personalisation off it answers the neutral list
(``recommender.neutral.NeutralRecommender``) instead: the same for every holder.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from features.pairs import CatalogueArrays, HolderArrays, SkillSpace
from recommender.base import HolderContext, Recommendation, Recommender
from recommender.baselines import allowed_mask, non_increasing
from recommender.candidates import VectorSearch, exact_vector_search, generate_candidates
from recommender.exposure import bundle_prices, row_prices
from recommender.learned import (
    Ranking,
    current_job_share,
    diversify,
    fit_reasons,
    rank_candidates,
    risk_of,
    typical_completion,
)
from recommender.neutral import NeutralRecommender

SKILLS_EXPLAINED = 3


def index_vector_search(catalogue: CatalogueArrays, index) -> VectorSearch:  # type: ignore[no-untyped-def]
    """ANN over a ``recommender.index.CatalogueIndex`` whose rows differ from the catalogue arrays' rows.

    Catalogue rows missing from the index (trainings added since the last build) are simply not returned by
    this source; the other candidate sources still see them.
    """
    index_row = np.array([-1 if (r := index.row_of(str(t))) is None else r for t in catalogue.training_ids],
                         dtype=np.int64)
    present = index_row >= 0
    size = len(index.rows)
    # For every index row, its catalogue row, or the sentinel ``n`` (a padding slot that is never allowed).
    n = len(catalogue.training_ids)
    catalogue_row = np.full(size, n, dtype=np.int64)
    catalogue_row[index_row[present]] = np.flatnonzero(present)
    catalogue_row[~index.rows.live] = n

    def search(vector: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
        if not np.any(vector):
            return np.zeros(0, dtype=np.int64)
        padded = np.append(allowed, False)  # per call: requests run in threads
        rows, _scores = index.search_rows(vector, k, padded[catalogue_row])  # one gather: the index-ordered mask
        return catalogue_row[rows]

    return search


class LearnedRecommender(Recommender):
    """The fitted ``RankerBundle`` over ``CatalogueArrays`` built at load time ("as of" the load day), or, in the
    offline evaluation, as of its cut (``today=lambda: cut``): the one code path both measure."""

    degraded = False

    def __init__(self, *, bundle, catalogue: CatalogueArrays, space: SkillSpace,  # type: ignore[no-untyped-def]
                 skill_labels: dict[str, str], french_skills: frozenset[str] | None = None,
                 vectors_model: str | None = None,
                 vector_search: VectorSearch | None = None, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.bundle = bundle
        self.catalogue = catalogue
        self.space = space
        self.skill_labels = skill_labels
        self.vectors_model = vectors_model
        self.vector_search = vector_search or exact_vector_search(catalogue)
        self.today = today
        self.model_version = str(getattr(bundle, "model_version", "unregistered"))
        self.dimension = int(catalogue.vectors.shape[1])
        self.skill_uris = np.empty(len(space.skill_col), dtype=object)
        for uri, col in space.skill_col.items():
            self.skill_uris[col] = uri
        # Skills whose label reads in French (``french_skills``; all when not given): explanations name those
        # first, so a French sentence lists an English label only when the training closes nothing else.
        self.skill_in_french = np.array([french_skills is None or uri in french_skills for uri in self.skill_uris],
                                        dtype=bool)
        self.neutral = NeutralRecommender(catalogue, today=today)
        # What an estimate reads as "well below": the settled enrolments' rate the completion model learnt.
        self.typical_completion = typical_completion(bundle, catalogue)
        # Exposure prices per catalogue row (``recommender.exposure``); None: the bundle has none, ranked as before.
        self.prices = row_prices(bundle_prices(bundle), catalogue)
        single_threaded_openmp()

    def holder_arrays(self, holder: HolderContext) -> HolderArrays:
        embedding = holder.embedding
        if holder.embedding_model and self.vectors_model and holder.embedding_model != self.vectors_model:
            embedding = None  # another model's space: comparing it with the catalogue vectors means nothing
        arrays = HolderArrays.single(
            holder_id=holder.holder_id, skill_weights=dict(holder.skill_weights), embedding=embedding,
            goal_occupation=holder.target_occupation or holder.current_occupation,
            cpf_balance_cents=holder.cpf_balance_cents, cec_balance_cents=holder.cec_balance_cents,
            region_code=holder.training_region_code, preferred_modality=holder.preferred_modality,
            qualification_level=holder.qualification_level, employment_status=holder.employment_status,
            space=self.space, dimension=self.dimension,
        )
        arrays.history = self.catalogue.history_row(holder.interacted_training_ids)
        return arrays

    def allowed(self, holder: HolderContext, on: dt.date) -> np.ndarray:
        """Open on ``on`` and not already enrolled in or completed: what the holder can be proposed."""
        return allowed_mask(self.catalogue, holder, on)

    def ranking(self, holder: HolderContext) -> Ranking:
        """A personalised holder's candidates, scored and in the order ``recommend`` diversifies (exposure prices
        applied): what ``training.exposure`` re-ranks under trial prices."""
        return self._rank(holder)[0]

    def _rank(self, holder: HolderContext) -> tuple[Ranking, HolderArrays]:
        single_threaded_openmp()  # per thread: requests run on the server's worker threads, not the loading one
        on = self.today()
        allowed = self.allowed(holder, on)
        holders = self.holder_arrays(holder)
        candidates = generate_candidates(self.catalogue, holders, 0, allowed, vector_search=self.vector_search)
        return rank_candidates(self.bundle, self.catalogue, holders, 0, candidates, on=on,
                               prices=self.prices), holders

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        return self.recommend_and_rank(holder, k)[0]

    def recommend_and_rank(self, holder: HolderContext, k: int = 10) -> tuple[list[Recommendation], Ranking | None]:
        """``recommend``'s list and the ranking it was diversified from (``None`` for the neutral list), from one
        pass: the evaluation reads both (the lists as served and before the rule)."""
        if not holder.personalised:
            return self.neutral.recommend(holder, k), None
        if k <= 0:
            return [], None
        ranking, holders = self._rank(holder)
        picked = diversify(ranking.rows.tolist(), self.catalogue, k)
        gap = holders.gap
        gap_weight = dict(zip(gap.indices.tolist(), gap.data.tolist(), strict=True))
        items = ranking.items(picked)
        job_shares = self.space.occupation_share_of(holder.current_occupation)
        out: list[Recommendation] = []
        # Diversification can put an item below a less probable one: its score then reads as that one's.
        for item, score in zip(items, non_increasing([item.score for item in items]), strict=True):
            row = item.row
            skills = self.catalogue.skills
            taught = skills.indices[skills.indptr[row]:skills.indptr[row + 1]].tolist()
            labels = tuple(self.skill_labels.get(self.skill_uris[c], self.skill_uris[c])
                           for c in explained_skills(taught, gap_weight, self.skill_in_french))
            out.append(Recommendation(
                str(self.catalogue.training_ids[row]), score,
                tuple(fit_reasons(item, job_skill_share=current_job_share(taught, job_shares),
                                  region_chosen=holder.preferred_region_code is not None)), labels,
                item.completion_probability, risk_of(item, self.typical_completion),
            ))
        return out, ranking


def explained_skills(taught: Sequence[int], gap_weight: Mapping[int, float], in_french: Sequence[bool] | np.ndarray,
                     k: int = SKILLS_EXPLAINED) -> list[int]:
    """The skill columns an item's explanation names: the ``k`` it teaches that the holder's gap weighs most, those
    with a French label before the others (a French sentence names an English label only when nothing else is
    left), ties by column."""
    closed = [c for c in taught if c in gap_weight]
    return sorted(closed, key=lambda c: (not in_french[c], -gap_weight[c], c))[:k]


_OPENMP = threading.local()


def single_threaded_openmp() -> None:
    """Run scikit-learn's OpenMP code (the boosting's ``predict_proba``) on one thread in the calling thread.

    A request scores a few hundred candidates; an OpenMP team costs more than it saves there. On the large
    world's bundle and 330 candidates, the ranker's ``predict_proba`` took 15.4 ms with the default 2 threads
    and 4.8 ms with one (the completion model 8.1 and 2.7 ms). The catalogue search sets FAISS to one thread
    for the same reason. OpenMP's thread count is a per-thread setting: set once per thread (the call itself
    costs milliseconds), in each thread that ranks; set only where the loading thread ran it, the requests
    (served from other threads) kept two. The serving process fits nothing."""
    if getattr(_OPENMP, "single", False):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")
    _OPENMP.single = True
