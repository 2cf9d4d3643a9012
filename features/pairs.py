"""Holder×training features for the ranker, computed in bulk with numpy and sparse matrices.

Everything here is computed "as of" a date: popularity, provider completion rates and which trainings are
open come from interactions and sessions before that date only, so an evaluation at a cut date never sees the
future (the time split of ``training.dataset``). The same code builds the training pairs of ``parcours train``
and scores the candidates of one request, so the served features are the fitted ones.

Feature (name → meaning):
- ``profile_similarity``: cosine of the holder's profile embedding and the training's text embedding.
- ``gap_coverage``: share of the holder's skill gap (target occupation, or current job when none) the training
  teaches, the gap weighted by importance × (1 − held).
- ``gap_closed``: the gap weight the training closes (not normalised).
- ``skill_novelty``: share of the training's skills the holder does not hold yet.
- ``prerequisites_met``: share of the prerequisites in the holder's profile (1 without prerequisites).
- ``target_match``: the training targets the holder's target occupation (or current job when no target).
- ``log_out_of_pocket``: log(1 + out-of-pocket euros) after CPF + CEC rights and the flat participation.
- ``price_balance_ratio``: price / (CPF + CEC balance + 1 €), capped at 10.
- ``modality_match``: 1 when the training's modality is the preferred one, 0.5 without a preference.
- ``region_match``: 1 in the holder's region or remote, else 0.
- ``log_hours``, ``level_gap`` (training level − qualification level; 0 when either is unknown).
- ``provider_completion``: completions / enrolments of the provider before the date, smoothed to the mean.
- ``log_relative_popularity``, ``log_relative_region_popularity``: enrolments before the date, overall and in
  the holder's region, relative to the mean training's (``log(1 + count / mean)``): a ratio, so its scale does not
  grow with the months of data behind it (the server computes it on more data than the model was fitted on).
- ``log_relative_audience``, ``log_relative_region_audience``: the holders other than this one who looked at the
  training before the date (viewed, enrolled, completed or cancelled), overall and in the holder's region, relative
  to the mean training's: what draws holders, read from many more events than the enrolments.
- ``cf_affinity``: item co-occurrence of the holder's past interactions with the training's
  (``features.collaborative``, the holder left out of the counts): behaviour, not text.
- ``is_job_seeker``: job seekers pay no flat participation and behave differently.
- ``mf_score``: the holder's implicit-feedback matrix-factorisation score for the training
  (``features.collaborative.ItemFactors``: ALS item factors, the holder folded in from their history without the
  training itself): tastes shared by holders that neither the text nor the skills show.
  Both are scores of models fitted on interactions: on training pairs they read the holder's interactions of the
  days before the pair's only, the holder left out of the counts and of the ALS fit (``training.point_in_time``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.collaborative import CoOccurrence, ItemFactors, UserStep, interest_matrix, sorted_contains, spread
from features.esco import load_occupation_skills, load_taxonomy
from parcours.domain.rules import flat_participation_cents

_T = TypeVar("_T")

FEATURE_NAMES: tuple[str, ...] = (
    "profile_similarity",
    "gap_coverage",
    "gap_closed",
    "skill_novelty",
    "prerequisites_met",
    "target_match",
    "log_out_of_pocket",
    "price_balance_ratio",
    "modality_match",
    "region_match",
    "log_hours",
    "level_gap",
    "provider_completion",
    "log_relative_popularity",
    "log_relative_region_popularity",
    "log_relative_audience",
    "log_relative_region_audience",
    "is_job_seeker",
    "cf_affinity",
    "mf_score",
)
COMPLETION_PRIOR_WEIGHT = 5.0


MODALITY_CODES = {"onsite": 0, "remote": 1, "hybrid": 2}
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def exploded_positions(lists: list[list[str]] | pd.Series, position: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(row, position) of every known item of rows of lists, vectorised (``explode`` then ``row_positions``)."""
    exploded = pd.Series(list(lists), dtype=object).explode()
    rows = exploded.index.to_numpy(np.int64)
    cols = row_positions(exploded, position)
    known = cols >= 0
    return rows[known], cols[known]


def smoothed_completion_rate(completions: np.ndarray, enrolments: np.ndarray, overall: float) -> np.ndarray:
    """A provider's completion rate smoothed towards ``overall``: (completions + w·overall) / (enrolments + w),
    w = ``COMPLETION_PRIOR_WEIGHT``; a provider with no enrolment gets ``overall``."""
    return (completions + COMPLETION_PRIOR_WEIGHT * overall) / (enrolments + COMPLETION_PRIOR_WEIGHT)


def row_positions(values: pd.Series, position: dict[str, int]) -> np.ndarray:
    """``position[value]`` for each value, −1 when absent (one dictionary lookup per distinct value)."""
    codes, uniques = pd.factorize(values)
    table = np.array([position.get(str(u), -1) for u in uniques] + [-1], dtype=np.int64)
    return table[codes]  # code −1 (missing value) takes the trailing −1


@dataclass
class SkillSpace:
    """Column positions of ESCO skills and occupations, and the derived occupation→skill matrix."""

    skill_col: dict[str, int]
    occupation_row: dict[str, int]
    occupation_skills: sp.csr_matrix  # occupations × skills, link weight in (0, 1]

    @classmethod
    def load(cls) -> SkillSpace:
        taxonomy = load_taxonomy()
        skill_col = {uri: i for i, uri in enumerate(taxonomy.skills.index)}
        occupation_row = {uri: i for i, uri in enumerate(taxonomy.occupations.index)}
        links = load_occupation_skills()
        links = links[links["skill_uri"].isin(skill_col) & links["occupation_uri"].isin(occupation_row)]
        matrix = sp.csr_matrix(
            (links["weight"].to_numpy(dtype=np.float32),
             (links["occupation_uri"].map(occupation_row).to_numpy(), links["skill_uri"].map(skill_col).to_numpy())),
            shape=(len(occupation_row), len(skill_col)),
        )
        return cls(skill_col, occupation_row, matrix)

    @cached_property
    def occupation_shares(self) -> sp.csr_matrix:
        """``occupation_skills`` with each occupation's row divided by its sum: the share of an occupation's skill
        weight each skill carries."""
        totals = np.asarray(self.occupation_skills.sum(axis=1)).ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0).astype(np.float32)
        shares = (sp.diags(scale) @ self.occupation_skills).tocsr()
        shares.sort_indices()
        return shares

    def occupation_share_of(self, occupation: str | None) -> dict[int, float]:
        """Skill column → share of ``occupation``'s skill weight (the shares sum to 1; empty for an unknown or
        missing occupation)."""
        row = self.occupation_row.get(occupation or "", -1)
        if row < 0:
            return {}
        shares = self.occupation_shares
        start, end = shares.indptr[row], shares.indptr[row + 1]
        return dict(zip(shares.indices[start:end].tolist(), shares.data[start:end].tolist(), strict=True))

    def binary(self, lists: list[list[str]] | pd.Series) -> sp.csr_matrix:
        """Rows of 0/1 over skills from lists of skill URIs (unknown URIs ignored, repeats counted once)."""
        rows, cols = exploded_positions(lists, self.skill_col)
        matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                               shape=(len(lists), len(self.skill_col)))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix


def _mean_count(counts: np.ndarray) -> float:
    """Mean count per training, at least 1/len so a world with no enrolment yet still divides."""
    return float(max(counts.mean(), 1.0 / max(len(counts), 1))) if len(counts) else 1.0


def _log_relative(counts: np.ndarray, scale: float) -> np.ndarray:
    """``log(1 + count / scale)``, negative counts read as 0 (float32): the relative count features."""
    return np.log1p(np.maximum(counts, 0) / scale).astype(np.float32)


def _interest_by_holder(interactions: pd.DataFrame, training_position: dict[str, int]
                        ) -> tuple[sp.csr_matrix, np.ndarray]:
    """(holders × trainings interest, the holder id of each row), holders sorted by id so the same interactions
    give the same matrix."""
    codes, holders = pd.factorize(interactions["holder_id"].astype(str), sort=True)
    matrix = interest_matrix(interactions, {h: i for i, h in enumerate(holders)}, training_position, len(holders),
                             len(training_position))
    return matrix, np.asarray(holders, dtype=object)


def _audience(interest: sp.csr_matrix, home: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Distinct holders per training (the columns' sums of the binary interest matrix), overall and per home
    region of the holders (``home``, one per row; holders of unknown region only in the overall count)."""
    overall = np.asarray(interest.sum(axis=0)).ravel().astype(np.float32)
    codes, names = pd.factorize(pd.Series(home, dtype=object))
    known = np.flatnonzero(codes >= 0)
    if not len(known):
        return overall, {}
    by_region = sp.csr_matrix((np.ones(len(known), np.float32), (codes[known], known)),
                              shape=(len(names), interest.shape[0]))
    counts = np.asarray((by_region @ interest).todense(), dtype=np.float32)
    return overall, {str(name): counts[i] for i, name in enumerate(names)}


@dataclass
class CatalogueArrays:
    """The catalogue as aligned arrays, with activity statistics computed before ``as_of``."""

    training_ids: np.ndarray
    position: dict[str, int]
    vectors: np.ndarray  # n × d, L2-normalised
    skills: sp.csr_matrix  # n × S binary
    skills_csc: sp.csc_matrix
    prerequisites: sp.csr_matrix  # n × S binary
    target_keys: np.ndarray  # sorted int64 keys training_row * n_occupations + occupation_row
    n_occupations: int
    price_cents: np.ndarray
    hours: np.ndarray
    modality: np.ndarray
    region: np.ndarray
    level: np.ndarray  # float, nan when unknown
    certification_code: np.ndarray
    provider_id: np.ndarray
    provider_completion: np.ndarray
    provider_enrolments: np.ndarray  # enrolments with each training's provider before ``as_of``
    provider_completions: np.ndarray  # completions with each training's provider before ``as_of``
    completion_overall: float  # completions / enrolments over every provider (the prior of the rate)
    popularity: np.ndarray
    region_popularity: dict[str, np.ndarray]
    popularity_scale: float  # mean enrolments per training (the unit of the relative popularity features)
    region_popularity_scale: dict[str, float]
    # Distinct holders who interacted with each training before ``as_of``, overall and per region of the holder.
    audience: np.ndarray
    region_audience: dict[str, np.ndarray]
    next_session_ordinal: np.ndarray  # first session on or after as_of (ordinal), 0 when none
    as_of: dt.date
    cooccurrence: CoOccurrence | None = None
    factors: ItemFactors | None = None
    # Who the audience counts: the binary holders × trainings interest before ``as_of``, each row's holder id
    # (``interest_rows``) and home region, so a holder's own interest can be left out of what it reads.
    interest: sp.csr_matrix | None = None
    interest_rows: dict[str, int] = field(default_factory=dict)
    interest_regions: np.ndarray | None = None
    _orders: CandidateOrders | None = field(default=None, repr=False, compare=False)
    _regions: tuple[np.ndarray, np.ndarray, dict[str, int]] | None = field(default=None, repr=False, compare=False)
    _counts: tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray, np.ndarray] | None = field(
        default=None, repr=False, compare=False)
    _id_ranks: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)
    _open: tuple[np.ndarray, int, np.ndarray] | None = field(default=None, repr=False, compare=False)
    _certifications: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def candidate_orders(self) -> CandidateOrders:
        """Row orders the candidate sources walk (computed once per arrays, so a request scans a few rows)."""
        if self._orders is None:
            self._orders = CandidateOrders.build(self)
        return self._orders

    def row_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(skills, prerequisites) of every row, as float32 sums of the rows (each row's sum is the same whether
        the matrix is summed whole or a request's rows are taken first); summed again if a matrix is replaced."""
        if self._counts is None or self._counts[0] is not self.skills or self._counts[1] is not self.prerequisites:
            self._counts = (self.skills, self.prerequisites,
                            np.asarray(self.skills.sum(axis=1)).ravel().astype(np.float32),
                            np.asarray(self.prerequisites.sum(axis=1)).ravel().astype(np.float32))
        return self._counts[2], self._counts[3]

    def id_ranks(self) -> np.ndarray:
        """Each row's rank among the training ids in string order: ties broken "by id" on these integers order rows
        as the ids would, without comparing strings (a request's sort by object ids cost four times its sort by
        integers). Computed once per arrays (again if ``training_ids`` is replaced)."""
        if self._id_ranks is None or self._id_ranks[0] is not self.training_ids:
            ranks = np.empty(len(self.training_ids), dtype=np.int64)
            ranks[np.argsort(self.training_ids.astype(str), kind="stable")] = np.arange(len(self.training_ids))
            self._id_ranks = (self.training_ids, ranks)
        return self._id_ranks[1]

    def certification_codes(self) -> np.ndarray:
        """Each row's certification as an integer code (equal codes: the same certification), computed once per
        arrays (again if ``certification_code`` is replaced): a request groups its candidates by certification, and
        sorting object strings cost ten times sorting integers."""
        if self._certifications is None or self._certifications[0] is not self.certification_code:
            codes, _names = pd.factorize(self.certification_code)
            self._certifications = (self.certification_code, np.asarray(codes, dtype=np.int64))
        return self._certifications[1]

    def region_codes(self) -> tuple[np.ndarray, dict[str, int]]:
        """(each row's region as an integer code, the code of each region), computed once per arrays (again if
        ``region`` is replaced)."""
        if self._regions is None or self._regions[0] is not self.region:
            codes, names = pd.factorize(self.region)
            self._regions = (self.region, np.asarray(codes, dtype=np.int64),
                             {str(name): i for i, name in enumerate(names)})
        return self._regions[1], self._regions[2]

    @classmethod
    def build(
        cls,
        catalogue: pd.DataFrame,
        sessions: pd.DataFrame,
        vectors: np.ndarray,
        interactions: pd.DataFrame,
        holder_regions: dict[str, str],
        space: SkillSpace,
        *,
        as_of: dt.date,
    ) -> CatalogueArrays:
        """``catalogue`` rows align with ``vectors``; ``interactions`` must hold only events before ``as_of``."""
        ids = catalogue["training_id"].astype(str).to_numpy()
        position = {t: i for i, t in enumerate(ids)}
        n = len(ids)
        target_rows, target_cols = exploded_positions(catalogue["target_occupations"], space.occupation_row)
        keys = target_rows * len(space.occupation_row) + target_cols
        enrol = interactions[interactions["event"].isin(("enrol", "complete"))]
        rows = row_positions(enrol["training_id"], position)
        is_enrol = (enrol["event"] == "enrol").to_numpy()
        is_complete = (enrol["event"] == "complete").to_numpy()
        counted = is_enrol & (rows >= 0)
        popularity = np.bincount(rows[counted], minlength=n).astype(np.float32)
        region_popularity: dict[str, np.ndarray] = {}
        # Per region of the enrolling holders (holders of unknown region left out).
        region_codes, region_names = pd.factorize(enrol["holder_id"].map(holder_regions))
        for code in np.unique(region_codes[is_enrol & (region_codes >= 0)]):
            mine = counted & (region_codes == code)
            region_popularity[str(region_names[code])] = np.bincount(rows[mine], minlength=n).astype(np.float32)
        # Provider completion rate (smoothed towards the overall rate), from enrolments and completions.
        provider_codes, providers = pd.factorize(catalogue["provider_id"].astype(str))
        known = rows >= 0
        of_provider = provider_codes[rows[known]]
        seen = np.bincount(of_provider, minlength=len(providers)) > 0
        enrols = np.bincount(of_provider, weights=is_enrol[known], minlength=len(providers))
        completes = np.bincount(of_provider, weights=is_complete[known], minlength=len(providers))
        overall = float(completes.sum() / max(enrols.sum(), 1))
        rate = np.where(seen, smoothed_completion_rate(completes, enrols, overall), overall)
        provider_completion = rate[provider_codes].astype(np.float32)
        # Session start dates as ordinals (date objects, ISO text or datetime64 alike), vectorised.
        starts = pd.to_datetime(sessions["start_date"]).to_numpy("datetime64[D]").astype(np.int64) + EPOCH_ORDINAL
        rows = row_positions(sessions["training_id"], position)
        upcoming = (starts >= as_of.toordinal()) & (rows >= 0)
        next_session = np.zeros(n, dtype=np.int64)
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, rows[upcoming], starts[upcoming])
        has_session = first < np.iinfo(np.int64).max
        next_session[has_session] = first[has_session]
        skills = space.binary(catalogue["skills"])
        interest, interested = _interest_by_holder(interactions, position)
        home = pd.Series(interested, dtype=object).map(holder_regions).astype(object).to_numpy()
        audience, region_audience = _audience(interest, home)
        return cls(
            training_ids=ids, position=position, vectors=np.ascontiguousarray(vectors, dtype=np.float32),
            skills=skills, skills_csc=skills.tocsc(), prerequisites=space.binary(catalogue["prerequisites"]),
            target_keys=np.unique(keys.astype(np.int64)), n_occupations=len(space.occupation_row),
            price_cents=catalogue["price_cents"].to_numpy(np.int64), hours=catalogue["hours"].to_numpy(np.float32),
            modality=catalogue["modality"].map(MODALITY_CODES).to_numpy(np.int8),
            region=catalogue["region_code"].astype(str).to_numpy(),
            level=pd.to_numeric(catalogue["level"], errors="coerce").to_numpy(np.float32),
            certification_code=catalogue["certification_code"].astype(str).to_numpy(),
            provider_id=catalogue["provider_id"].astype(str).to_numpy(),
            provider_completion=provider_completion,
            provider_enrolments=enrols[provider_codes].astype(np.float32),
            provider_completions=completes[provider_codes].astype(np.float32), completion_overall=overall,
            popularity=popularity, region_popularity=region_popularity,
            popularity_scale=_mean_count(popularity),
            region_popularity_scale={r: _mean_count(c) for r, c in region_popularity.items()},
            audience=audience, region_audience=region_audience, next_session_ordinal=next_session, as_of=as_of,
            cooccurrence=CoOccurrence.build(interest), interest=interest,
            interest_rows={str(holder): i for i, holder in enumerate(interested)}, interest_regions=home,
            factors=ItemFactors.build(interest, item_order=np.argsort(ids, kind="stable")),
        )

    def relative_popularity(self, counts: np.ndarray, region: str | None = None) -> np.ndarray:
        """``log(1 + count / mean count)`` overall (``region`` None) or in a region."""
        return _log_relative(counts, self.popularity_scale if region is None
                             else self.region_popularity_scale.get(region, 1.0))

    @cached_property
    def audience_scale(self) -> float:
        """Mean audience per training (the unit of ``log_relative_audience``)."""
        return _mean_count(self.audience)

    @cached_property
    def region_audience_scale(self) -> dict[str, float]:
        return {region: _mean_count(counts) for region, counts in self.region_audience.items()}

    def counted_interest(self, holder_ids: np.ndarray, training_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pair: 1 where the audience counts the pair's holder for the pair's training (else 0), and the home
        region it was counted under (None where not counted). ``holder_ids``: one per pair, or a single id for
        every pair (a request's holder: no per-pair lookup)."""
        counted = np.zeros(len(training_rows), dtype=np.float32)
        home = np.full(len(training_rows), None, dtype=object)
        if self.interest is None or self.interest_regions is None or not len(training_rows):
            return counted, home
        if len(holder_ids) == 1:  # one request's holder: its row's few columns
            row = self.interest_rows.get(str(holder_ids[0]), -1)
            if row >= 0:
                looked = self.interest.indices[self.interest.indptr[row]:self.interest.indptr[row + 1]]
                counted[:] = np.isin(training_rows, looked)
                home[counted > 0] = self.interest_regions[row]
            return counted, home
        codes, distinct = pd.factorize(pd.Series(holder_ids, dtype=object))
        rows = np.array([self.interest_rows.get(str(h), -1) for h in distinct] + [-1], dtype=np.int64)[codes]
        known = np.flatnonzero(rows >= 0)
        if len(known):
            counted[known] = np.asarray(self.interest[rows[known], training_rows[known]]).ravel() > 0
        home[counted > 0] = self.interest_regions[rows[counted > 0]]
        return counted, home

    def relative_audience(self, counts: np.ndarray, region: str | None = None) -> np.ndarray:
        """``log(1 + audience / mean audience)`` overall (``region`` None) or in a region."""
        return _log_relative(counts, self.audience_scale if region is None
                             else self.region_audience_scale.get(region, 1.0))

    def history_row(self, training_ids: Iterable[str]) -> sp.csr_matrix:
        """One holder's interest row (1 × trainings) from the ids they interacted with."""
        cols = np.unique([self.position[t] for t in training_ids if t in self.position]).astype(np.int64)
        return sp.csr_matrix((np.ones(len(cols), np.float32), cols, np.array([0, len(cols)])),
                             shape=(1, len(self.training_ids)))

    def open_mask(self, on: dt.date | None = None) -> np.ndarray:
        """Trainings with a session on or after ``on`` (default ``as_of``) that one can still enrol in."""
        on = on or self.as_of
        # Kept for the last day asked (every request of a day asks the same): a copy costs a fraction of the
        # comparison over the catalogue. Callers own what they get and may write to it.
        cached = self._open
        if cached is None or cached[0] is not self.next_session_ordinal or cached[1] != on.toordinal():
            cached = (self.next_session_ordinal, on.toordinal(), self.next_session_ordinal >= on.toordinal())
            self._open = cached
        return cached[2].copy()


@dataclass
class CandidateOrders:
    """Catalogue rows in the order each non-personal candidate source takes them, ties broken by row.

    ``overall``: every row by enrolments (most first); ``popular``: the rows with at least one enrolment;
    ``by_region[code]``: rows enrolled in by holders of the region (regional count, then overall count);
    ``by_occupation[row]``: trainings targeting the occupation, by enrolments.
    """

    overall: np.ndarray
    popular: np.ndarray
    by_region: dict[str, np.ndarray]
    by_occupation: dict[int, np.ndarray]
    empty: np.ndarray

    @classmethod
    def build(cls, catalogue: CatalogueArrays) -> CandidateOrders:
        rows = np.arange(len(catalogue.training_ids), dtype=np.int64)
        popularity = catalogue.popularity.astype(np.float64)
        overall = np.lexsort((rows, -popularity))
        by_region: dict[str, np.ndarray] = {}
        for region, counts in catalogue.region_popularity.items():
            score = counts.astype(np.float64) + 1e-3 * popularity
            order = np.lexsort((rows, -score))
            by_region[region] = order[score[order] > 0]
        keys = catalogue.target_keys
        occupation = keys % catalogue.n_occupations
        training = keys // catalogue.n_occupations
        by_occupation: dict[int, np.ndarray] = {}
        order = np.lexsort((training, -popularity[training], occupation))
        bounds = np.flatnonzero(np.diff(occupation[order])) + 1
        for group in np.split(order, bounds):
            if len(group):
                by_occupation[int(occupation[group[0]])] = training[group]
        return cls(overall=overall, popular=overall[popularity[overall] > 0], by_region=by_region,
                   by_occupation=by_occupation, empty=np.zeros(0, dtype=np.int64))


_Sparse = tuple[np.ndarray, np.ndarray]  # (rows ascending, values): every other row's value is 0


@dataclass
class HolderArrays:
    """Holders as aligned arrays: profile weights, skill gap, embedding, balances and preferences."""

    holder_ids: np.ndarray
    position: dict[str, int]
    skills: sp.csr_matrix  # m × S profile weights in [0, 1]
    gap: sp.csr_matrix  # m × S gap weights: importance × (1 − held)
    gap_total: np.ndarray
    goal_occupation: np.ndarray  # occupation row of the target (or current job), −1 when none
    embeddings: np.ndarray  # m × d, zeros when no profile
    cpf_balance_cents: np.ndarray
    cec_balance_cents: np.ndarray
    region: np.ndarray
    preferred_modality: np.ndarray  # −1 without preference
    qualification_level: np.ndarray  # float, nan when unknown
    is_job_seeker: np.ndarray
    # Binary holders × trainings matrix of past interactions (``features.collaborative``), None when unknown.
    history: sp.csr_matrix | None = None
    # Per holder row: (co-occurrence matrix, history, that row's sparse ``CoOccurrence`` scores)
    # (``cooccurrence_support``).
    _cooccurrence_rows: dict[int, tuple[CoOccurrence, sp.csr_matrix, _Sparse]] = field(
        default_factory=dict, repr=False, compare=False)
    # Per holder row: (item factors, history, that row's ``ItemFactors.user_step``) (``factor_step``).
    _factor_steps: dict[int, tuple[ItemFactors, sp.csr_matrix, UserStep | None]] = field(
        default_factory=dict, repr=False, compare=False)

    def history_of(self, row: int) -> sp.csr_matrix | None:
        """Row ``row`` of ``history`` (1 × trainings), or ``None`` without a history matrix."""
        return None if self.history is None else matrix_row(self.history, row)

    def cooccurrence_scores(self, cooccurrence: CoOccurrence, row: int) -> np.ndarray:
        """``cooccurrence.scores_for(self.history[row])`` over the whole catalogue, spread from
        ``cooccurrence_support``."""
        return spread(cooccurrence.counts.shape[0], *self.cooccurrence_support(cooccurrence, row))

    def cooccurrence_at(self, cooccurrence: CoOccurrence, row: int, training_rows: np.ndarray) -> np.ndarray:
        """``cooccurrence_scores(cooccurrence, row)[training_rows]`` read from the support by binary search, without
        spreading it over the catalogue (a request's few hundred candidates)."""
        cols, values = self.cooccurrence_support(cooccurrence, row)
        out = np.zeros(len(training_rows), dtype=np.float32)
        if len(cols):
            at = np.minimum(np.searchsorted(cols, training_rows), len(cols) - 1)
            found = cols[at] == training_rows
            out[found] = values[at[found]]
        return out

    def cooccurrence_support(self, cooccurrence: CoOccurrence, row: int) -> tuple[np.ndarray, np.ndarray]:
        """``cooccurrence.sparse_scores_for(self.history[row])``, computed once per holder row (a request's
        candidate source and its candidates' features both read it). Read-only: the arrays are shared."""
        def sparse(history_row: sp.csr_matrix) -> _Sparse:
            cols, values = cooccurrence.sparse_scores_for(history_row)
            for array in (cols, values):
                array.flags.writeable = False
            return cols, values

        return self._once_per_row("_cooccurrence_rows", cooccurrence, row, sparse)

    def factor_step(self, factors: ItemFactors, row: int) -> UserStep | None:
        """``factors.user_step(self.history[row])``, solved once per holder row (a request's ALS candidate source
        and its candidates' ``mf_score`` both read it)."""
        return self._once_per_row("_factor_steps", factors, row, factors.user_step)

    def forget_row(self, row: int) -> None:
        """Drop what ``cooccurrence_scores`` and ``factor_step`` keep for ``row``: a batch job that visits many rows
        once (candidate negatives, exposure lists) would otherwise keep a catalogue-sized array per row."""
        for cache in ("_cooccurrence_rows", "_factor_steps"):
            self.__dict__.setdefault(cache, {}).pop(row, None)

    def _once_per_row(self, cache: str, model: object, row: int, compute: Callable[[sp.csr_matrix], _T]) -> _T:
        """``compute(self.history[row])``, kept in the per-row ``cache`` field and computed again if ``model`` or
        the history is replaced."""
        assert self.history is not None
        rows = self.__dict__.setdefault(cache, {})  # arrays unpickled from before the field too
        cached = rows.get(row)
        if cached is None or cached[0] is not model or cached[1] is not self.history:
            cached = (model, self.history, compute(matrix_row(self.history, row)))
            rows[row] = cached
        return cached[2]  # type: ignore[no-any-return]

    @classmethod
    def build(
        cls,
        holders: pd.DataFrame,
        skill_weights: pd.DataFrame,
        embeddings: dict[str, np.ndarray],
        current_occupation: dict[str, str],
        balances: dict[str, tuple[int, int]],
        space: SkillSpace,
        dimension: int,
    ) -> HolderArrays:
        """``skill_weights``: holder_id, skill_uri, weight (one row per holder and skill)."""
        ids = holders["holder_id"].astype(str).to_numpy()
        position = {h: i for i, h in enumerate(ids)}
        m, n_skills = len(ids), len(space.skill_col)
        rows = row_positions(skill_weights["holder_id"], position)
        cols = row_positions(skill_weights["skill_uri"], space.skill_col)
        wanted = (rows >= 0) & (cols >= 0)
        skills = sp.csr_matrix(
            (skill_weights["weight"].to_numpy(np.float32)[wanted].clip(0, 1), (rows[wanted], cols[wanted])),
            shape=(m, n_skills),
        )
        skills.sum_duplicates()
        goal = np.full(m, -1, dtype=np.int64)
        for i, (holder_id, target) in enumerate(zip(ids, holders["target_occupation"], strict=True)):
            uri = target if isinstance(target, str) and target else current_occupation.get(holder_id)
            if uri in space.occupation_row:
                goal[i] = space.occupation_row[uri]
        has_goal = goal >= 0
        selector = sp.csr_matrix((np.ones(int(has_goal.sum()), dtype=np.float32),
                                  (np.flatnonzero(has_goal), goal[has_goal])),
                                 shape=(m, len(space.occupation_row)))
        importance = (selector @ space.occupation_skills).tocsr()
        held = skills.multiply(importance > 0).tocsr()
        gap = (importance - importance.multiply(held)).tocsr()
        gap.eliminate_zeros()
        vectors = np.zeros((m, dimension), dtype=np.float32)
        for holder_id, vector in embeddings.items():
            if holder_id in position and vector is not None and len(vector) == dimension:
                vectors[position[holder_id]] = vector
        cpf = np.array([balances.get(h, (0, 0))[0] for h in ids], dtype=np.int64)
        cec = np.array([balances.get(h, (0, 0))[1] for h in ids], dtype=np.int64)
        modality = holders["preferred_modality"].map(MODALITY_CODES)
        return cls(
            holder_ids=ids, position=position, skills=skills, gap=gap,
            gap_total=np.asarray(gap.sum(axis=1)).ravel().astype(np.float32), goal_occupation=goal,
            embeddings=vectors, cpf_balance_cents=cpf, cec_balance_cents=cec,
            region=holders["region_code"].astype(str).to_numpy(),
            preferred_modality=modality.fillna(-1).to_numpy(np.int8),
            qualification_level=pd.to_numeric(holders["qualification_level"], errors="coerce").to_numpy(np.float32),
            is_job_seeker=(holders["employment_status"] == "job_seeker").to_numpy(),
        )


    @classmethod
    def single(
        cls,
        *,
        holder_id: str,
        skill_weights: dict[str, float],
        embedding: np.ndarray | None,
        goal_occupation: str | None,
        cpf_balance_cents: int,
        cec_balance_cents: int,
        region_code: str,
        preferred_modality: str | None,
        qualification_level: int | None,
        employment_status: str,
        space: SkillSpace,
        dimension: int,
    ) -> HolderArrays:
        """One holder, at request time: the same arrays ``build`` gives for that holder, without pandas.

        ``goal_occupation`` is the target occupation, or the current job when there is no target.
        """
        column = space.skill_col
        by_col = {c: w for u, w in skill_weights.items() if (c := column.get(u)) is not None}
        cols = np.array(sorted(by_col), dtype=np.int64)
        weights = np.clip(np.array([by_col[c] for c in cols.tolist()], dtype=np.float64), 0.0, 1.0).astype(np.float32)
        n_skills = len(space.skill_col)
        # int32 indices: what scipy stores them as anyway, given directly so the constructor does not convert them.
        skills = sp.csr_matrix((weights, cols.astype(np.int32), np.array([0, len(cols)], dtype=np.int32)),
                               shape=(1, n_skills))
        # The gap, importance × (1 − held) over the goal's skills, as ``build`` computes it with sparse matrices
        # (importance − importance·held in float32, zeros dropped), on the goal's row of the occupation matrix
        # directly: a few hundred entries, where the sparse operations' set-up cost more than the arithmetic.
        goal = space.occupation_row.get(goal_occupation or "", -1)
        gap_cols, gap_weights = _gap_of(space.occupation_skills, goal, cols, weights)
        gap = sp.csr_matrix((gap_weights, gap_cols.astype(np.int32), np.array([0, len(gap_cols)], dtype=np.int32)),
                            shape=(1, n_skills))
        vector = np.zeros((1, dimension), dtype=np.float32)
        if embedding is not None and len(embedding) == dimension:
            vector[0] = embedding
        return cls(
            holder_ids=np.array([holder_id]), position={holder_id: 0}, skills=skills, gap=gap,
            gap_total=np.asarray(gap.sum(axis=1)).ravel().astype(np.float32),
            goal_occupation=np.array([goal], dtype=np.int64), embeddings=vector,
            cpf_balance_cents=np.array([cpf_balance_cents], dtype=np.int64),
            cec_balance_cents=np.array([cec_balance_cents], dtype=np.int64),
            region=np.array([str(region_code)]),
            preferred_modality=np.array([MODALITY_CODES.get(preferred_modality or "", -1)], dtype=np.int8),
            qualification_level=np.array([np.nan if qualification_level is None else qualification_level],
                                         dtype=np.float32),
            is_job_seeker=np.array([employment_status == "job_seeker"]),
        )


def matrix_row(matrix: sp.csr_matrix, row: int) -> sp.csr_matrix:
    """``matrix[row]`` (1 × columns); a one-row matrix (one request's holder) is its own row, not copied: the copy
    was most of the cost of reading one holder's row. Read it, never write to it."""
    if matrix.shape[0] == 1 and row in (0, -1):
        return matrix
    return matrix[row]


def _gap_of(occupation_skills: sp.csr_matrix, goal: int, held_cols: np.ndarray, held_weights: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """(columns, float32 weights) of one holder's gap for occupation row ``goal`` (none when ``goal`` < 0), the
    holder holding ``held_weights`` at the sorted ``held_cols``."""
    if goal < 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    start, end = occupation_skills.indptr[goal], occupation_skills.indptr[goal + 1]
    cols = occupation_skills.indices[start:end].astype(np.int64)
    importance = occupation_skills.data[start:end].astype(np.float32)
    order = np.argsort(cols, kind="stable")  # a canonical matrix is sorted already: then this changes nothing
    cols, importance = cols[order], importance[order]
    held = np.zeros(len(cols), dtype=np.float32)
    if len(held_cols):
        at = np.minimum(np.searchsorted(held_cols, cols), len(held_cols) - 1)
        found = (held_cols[at] == cols) & (importance > 0)  # held only where the goal needs the skill
        held[found] = held_weights[at[found]]
    gap = importance - importance * held
    kept = gap != 0
    return cols[kept], gap[kept]


def _rowwise_dot(left: sp.csr_matrix, right: sp.csr_matrix) -> np.ndarray:
    return np.asarray(left.multiply(right).sum(axis=1)).ravel().astype(np.float32)


def _rows_dots(matrix: sp.csr_matrix, rows: np.ndarray, *vectors: np.ndarray) -> list[np.ndarray]:
    """For each of ``vectors``: ``matrix[rows] @ vector`` (float32), read from the CSR arrays without building the
    rows' sub-matrix (its construction and a product per vector were most of a request's skill features). Each
    row's products are summed in float64 and rounded once: within a float32 rounding of the sparse product."""
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    lengths = (ends - starts).astype(np.int64)
    total = int(lengths.sum())
    positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    which = np.repeat(np.arange(len(rows)), lengths)
    columns, values = matrix.indices[positions], matrix.data[positions]
    return [np.bincount(which, weights=values * vector[columns], minlength=len(rows)).astype(np.float32)
            for vector in vectors]


def out_of_pocket_cents(
    price_cents: np.ndarray, cpf_cents: np.ndarray, cec_cents: np.ndarray, is_job_seeker: np.ndarray, on: dt.date
) -> np.ndarray:
    """Vectorised ``rules.file_funding`` without top-ups (rights first, then the flat participation), or the
    price paid directly where that is cheaper (``rules.compare_with_direct_payment``)."""
    rights = np.minimum(price_cents, cpf_cents + cec_cents)
    participation = flat_participation_cents(on, employment_status="employee", cofinanced_by_employer_or_opco=False)
    uses_rights = rights > 0
    with_rights = price_cents - rights + np.where(uses_rights & ~is_job_seeker, participation, 0)
    return np.minimum(with_rights, price_cents)


def pair_features(
    catalogue: CatalogueArrays, holders: HolderArrays, holder_rows: np.ndarray, training_rows: np.ndarray,
    *, on: dt.date | None = None, chunk: int = 200_000,
) -> np.ndarray:
    """The ``FEATURE_NAMES`` matrix (float32) for pairs (holder_rows[i], training_rows[i])."""
    on = on or catalogue.as_of
    holder_rows = np.asarray(holder_rows, dtype=np.int64)
    training_rows = np.asarray(training_rows, dtype=np.int64)
    out = np.empty((len(holder_rows), len(FEATURE_NAMES)), dtype=np.float32)
    for start in range(0, len(holder_rows), chunk):
        h = holder_rows[start:start + chunk]
        t = training_rows[start:start + chunk]
        out[start:start + chunk] = _features(catalogue, holders, h, t, on)
    return out


def _features(cat: CatalogueArrays, hol: HolderArrays, h: np.ndarray, t: np.ndarray, on: dt.date) -> np.ndarray:
    one_holder = bool(len(h)) and bool((h == h[0]).all())  # one holder's candidates (a request)
    if one_holder:  # products with that holder's rows
        similarity = cat.vectors[t] @ hol.embeddings[h[0]]
        gap_vector = matrix_row(hol.gap, int(h[0])).toarray().ravel()
        held_vector = matrix_row(hol.skills, int(h[0])).toarray().ravel()
        gap_closed, held_taught = _rows_dots(cat.skills, t, gap_vector, held_vector)
        (met,) = _rows_dots(cat.prerequisites, t, held_vector)
    else:
        similarity = np.einsum("ij,ij->i", hol.embeddings[h], cat.vectors[t])
        train_skills = cat.skills[t]
        gap_closed = _rowwise_dot(hol.gap[h], train_skills)
        held_taught = _rowwise_dot(hol.skills[h], train_skills)
        met = _rowwise_dot(hol.skills[h], cat.prerequisites[t])
    gap_total = hol.gap_total[h]
    gap_coverage = np.divide(gap_closed, gap_total, out=np.zeros_like(gap_closed), where=gap_total > 0)
    skill_counts, prerequisite_counts = cat.row_counts()
    n_skills = skill_counts[t]
    novelty = np.divide(n_skills - held_taught, n_skills, out=np.zeros_like(n_skills), where=n_skills > 0)
    n_prerequisites = prerequisite_counts[t]
    prerequisites_met = np.divide(met, n_prerequisites, out=np.ones_like(met), where=n_prerequisites > 0)
    goal = hol.goal_occupation[h]
    target_match = np.where(goal >= 0, sorted_contains(cat.target_keys, t * cat.n_occupations + goal), False)
    price = cat.price_cents[t]
    cpf, cec = hol.cpf_balance_cents[h], hol.cec_balance_cents[h]
    out_of_pocket = out_of_pocket_cents(price, cpf, cec, hol.is_job_seeker[h], on)
    ratio = np.minimum(price / (cpf + cec + 100.0), 10.0)
    preferred = hol.preferred_modality[h]
    modality_match = np.where(preferred < 0, 0.5, (preferred == cat.modality[t]).astype(np.float32))
    # Regions as integer codes: the catalogue's coded once per arrays, each distinct holder region looked up once
    # (a region no training has gets a code of its own below zero, which matches no training).
    catalogue_region, code_of = cat.region_codes()
    if one_holder:
        holder_regions, which = [str(hol.region[h[0]])], np.zeros(len(h), dtype=np.int64)
    else:
        which, distinct = pd.factorize(hol.region[h])
        holder_regions = [str(region) for region in distinct]
    codes = np.array([code_of.get(region, -1 - i) for i, region in enumerate(holder_regions)], dtype=np.int64)
    region_match = (codes[which] == catalogue_region[t]) | (cat.modality[t] == MODALITY_CODES["remote"])
    level, qualification = cat.level[t], hol.qualification_level[h]
    level_gap = np.nan_to_num(level - qualification, nan=0.0)
    region_popularity = np.zeros(len(t), dtype=np.float32)
    region_audience = np.zeros(len(t), dtype=np.float32)
    # Other holders only: where the counts hold the pair's own holder (a training pair's positive always does),
    # that holder is left out, in the region it was counted under.
    own, own_home = cat.counted_interest(hol.holder_ids[h[:1]] if one_holder else hol.holder_ids[h], t)
    for i, region in enumerate(holder_regions):
        rows = which == i
        counts = cat.region_popularity.get(region)
        if counts is not None:
            region_popularity[rows] = cat.relative_popularity(counts[t[rows]], region)
        looked = cat.region_audience.get(region)
        if looked is not None:
            region_audience[rows] = cat.relative_audience(looked[t[rows]] - (own_home[rows] == region), region)
    return np.column_stack([
        similarity, gap_coverage, gap_closed, novelty, prerequisites_met, target_match.astype(np.float32),
        np.log1p(out_of_pocket / 100.0), ratio, modality_match, region_match.astype(np.float32),
        np.log1p(cat.hours[t]), level_gap, cat.provider_completion[t], cat.relative_popularity(cat.popularity[t]),
        region_popularity, cat.relative_audience(cat.audience[t] - own), region_audience,
        hol.is_job_seeker[h].astype(np.float32), _cf_affinity(cat, hol, h, t),
        mf_score(cat.factors, hol, h, t),
    ]).astype(np.float32)


def _cf_affinity(cat: CatalogueArrays, hol: HolderArrays, h: np.ndarray, t: np.ndarray) -> np.ndarray:
    if cat.cooccurrence is None or hol.history is None or len(h) == 0:
        return np.zeros(len(h), dtype=np.float32)
    if (h == h[0]).all():  # one holder's candidates (a request): its support, computed once, read at them
        return hol.cooccurrence_at(cat.cooccurrence, int(h[0]), t)
    return cat.cooccurrence.affinity(hol.history, h, t)


def mf_score(factors: ItemFactors | None, hol: HolderArrays, h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The ``mf_score`` feature of pairs under ``factors`` (zero without factors or history)."""
    if factors is None or hol.history is None or len(h) == 0:
        return np.zeros(len(h), dtype=np.float32)
    if (h == h[0]).all():  # one holder's candidates: the user step the candidate source solved, if it did
        row = int(h[0])
        return factors.scores_at(matrix_row(hol.history, row), t, hol.factor_step(factors, row))
    return factors.affinity(hol.history, h, t)
