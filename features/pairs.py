"""Holder×training features for the ranker, computed in bulk with numpy and sparse matrices.

Everything here is computed "as of" a date: popularity, provider completion rates and which trainings are
open come from interactions and sessions before that date only, so an evaluation at a cut date never sees the
future (WORLDS.md). The same code builds the training pairs of ``parcours train`` and scores the candidates of
one request, so the served features are the fitted ones.

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
- ``log_popularity``, ``log_region_popularity``: enrolments before the date, overall and in the holder's region.
- ``is_job_seeker``: job seekers pay no flat participation and behave differently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.esco import load_occupation_skills, load_taxonomy
from serving.services.rules import flat_participation_cents

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
    "log_popularity",
    "log_region_popularity",
    "is_job_seeker",
)
COMPLETION_PRIOR_WEIGHT = 5.0


MODALITY_CODES = {"onsite": 0, "remote": 1, "hybrid": 2}


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

    def binary(self, lists: list[list[str]] | pd.Series) -> sp.csr_matrix:
        """Rows of 0/1 over skills from lists of skill URIs (unknown URIs ignored)."""
        indptr, indices = [0], []
        for uris in lists:
            cols = sorted({self.skill_col[u] for u in uris if u in self.skill_col})
            indices.extend(cols)
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        return sp.csr_matrix((data, np.array(indices, dtype=np.int64), np.array(indptr)),
                             shape=(len(indptr) - 1, len(self.skill_col)))


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
    popularity: np.ndarray
    region_popularity: dict[str, np.ndarray]
    next_session_ordinal: np.ndarray  # first session on or after as_of (ordinal), 0 when none
    as_of: dt.date
    _orders: CandidateOrders | None = field(default=None, repr=False, compare=False)

    def candidate_orders(self) -> CandidateOrders:
        """Row orders the candidate sources walk (computed once per arrays, so a request scans a few rows)."""
        if self._orders is None:
            self._orders = CandidateOrders.build(self)
        return self._orders

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
        keys: list[int] = []
        for row, uris in enumerate(catalogue["target_occupations"]):
            keys.extend(row * len(space.occupation_row) + space.occupation_row[u] for u in uris
                        if u in space.occupation_row)
        enrol = interactions[interactions["event"].isin(("enrol", "complete"))]
        enrolled = enrol[enrol["event"] == "enrol"]
        popularity = np.zeros(n, dtype=np.float32)
        counts = enrolled["training_id"].map(position).dropna().astype(int).value_counts()
        popularity[counts.index.to_numpy()] = counts.to_numpy()
        region_popularity: dict[str, np.ndarray] = {}
        regions = enrolled["holder_id"].map(holder_regions)
        for region, group in enrolled.groupby(regions):
            vector = np.zeros(n, dtype=np.float32)
            rc = group["training_id"].map(position).dropna().astype(int).value_counts()
            vector[rc.index.to_numpy()] = rc.to_numpy()
            region_popularity[str(region)] = vector
        provider_of = dict(zip(ids, catalogue["provider_id"].astype(str), strict=True))
        by_provider = pd.DataFrame({
            "provider_id": enrol["training_id"].map(provider_of),
            "enrol": (enrol["event"] == "enrol").astype(int),
            "complete": (enrol["event"] == "complete").astype(int),
        }).groupby("provider_id")[["enrol", "complete"]].sum()
        overall = float(by_provider["complete"].sum() / max(by_provider["enrol"].sum(), 1))
        rate = ((by_provider["complete"] + COMPLETION_PRIOR_WEIGHT * overall)
                / (by_provider["enrol"] + COMPLETION_PRIOR_WEIGHT))
        provider_completion = catalogue["provider_id"].astype(str).map(rate).fillna(overall).to_numpy(np.float32)
        as_of_ordinal = as_of.toordinal()
        upcoming = sessions[sessions["start_date"].map(lambda d: d.toordinal()) >= as_of_ordinal]
        first = upcoming.groupby("training_id")["start_date"].min()
        next_session = np.zeros(n, dtype=np.int64)
        for training_id, start in first.items():
            if training_id in position:
                next_session[position[training_id]] = start.toordinal()
        skills = space.binary(catalogue["skills"])
        return cls(
            training_ids=ids, position=position, vectors=np.ascontiguousarray(vectors, dtype=np.float32),
            skills=skills, skills_csc=skills.tocsc(), prerequisites=space.binary(catalogue["prerequisites"]),
            target_keys=np.unique(np.array(keys, dtype=np.int64)), n_occupations=len(space.occupation_row),
            price_cents=catalogue["price_cents"].to_numpy(np.int64), hours=catalogue["hours"].to_numpy(np.float32),
            modality=catalogue["modality"].map(MODALITY_CODES).to_numpy(np.int8),
            region=catalogue["region_code"].astype(str).to_numpy(),
            level=pd.to_numeric(catalogue["level"], errors="coerce").to_numpy(np.float32),
            certification_code=catalogue["certification_code"].astype(str).to_numpy(),
            provider_id=catalogue["provider_id"].astype(str).to_numpy(),
            provider_completion=provider_completion, popularity=popularity, region_popularity=region_popularity,
            next_session_ordinal=next_session, as_of=as_of,
        )

    def open_mask(self, on: dt.date | None = None) -> np.ndarray:
        """Trainings with a session on or after ``on`` (default ``as_of``) that one can still enrol in."""
        on = on or self.as_of
        return self.next_session_ordinal >= on.toordinal()


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
        wanted = skill_weights["holder_id"].isin(position) & skill_weights["skill_uri"].isin(space.skill_col)
        known = skill_weights[wanted]
        skills = sp.csr_matrix(
            (known["weight"].to_numpy(np.float32).clip(0, 1),
             (known["holder_id"].map(position).to_numpy(), known["skill_uri"].map(space.skill_col).to_numpy())),
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
        cols = np.array(sorted(space.skill_col[u] for u in skill_weights if u in space.skill_col), dtype=np.int64)
        by_col = {space.skill_col[u]: w for u, w in skill_weights.items() if u in space.skill_col}
        weights = np.array([min(max(by_col[c], 0.0), 1.0) for c in cols], dtype=np.float32)
        n_skills = len(space.skill_col)
        skills = sp.csr_matrix((weights, cols, np.array([0, len(cols)])), shape=(1, n_skills))
        goal = space.occupation_row.get(goal_occupation or "", -1)
        if goal >= 0:
            importance = space.occupation_skills[goal].tocsr().astype(np.float32)
        else:
            importance = sp.csr_matrix((1, n_skills), dtype=np.float32)
        held = skills.multiply(importance > 0).tocsr()
        gap = (importance - importance.multiply(held)).tocsr()
        gap.eliminate_zeros()
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


def _rowwise_dot(left: sp.csr_matrix, right: sp.csr_matrix) -> np.ndarray:
    return np.asarray(left.multiply(right).sum(axis=1)).ravel().astype(np.float32)


def out_of_pocket_cents(
    price_cents: np.ndarray, cpf_cents: np.ndarray, cec_cents: np.ndarray, is_job_seeker: np.ndarray, on: dt.date
) -> np.ndarray:
    """Vectorised ``rules.funding_plan`` without top-ups: rights first, then the flat participation."""
    rights = np.minimum(price_cents, cpf_cents + cec_cents)
    participation = flat_participation_cents(on, employment_status="employee", cofinanced_by_employer_or_opco=False)
    uses_rights = rights > 0
    return price_cents - rights + np.where(uses_rights & ~is_job_seeker, participation, 0)


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
    similarity = np.einsum("ij,ij->i", hol.embeddings[h], cat.vectors[t])
    train_skills = cat.skills[t]
    gap_closed = _rowwise_dot(hol.gap[h], train_skills)
    gap_total = hol.gap_total[h]
    gap_coverage = np.divide(gap_closed, gap_total, out=np.zeros_like(gap_closed), where=gap_total > 0)
    n_skills = np.asarray(train_skills.sum(axis=1)).ravel().astype(np.float32)
    held_taught = _rowwise_dot(hol.skills[h], train_skills)
    novelty = np.divide(n_skills - held_taught, n_skills, out=np.zeros_like(n_skills), where=n_skills > 0)
    prerequisites = cat.prerequisites[t]
    n_prerequisites = np.asarray(prerequisites.sum(axis=1)).ravel().astype(np.float32)
    met = _rowwise_dot(hol.skills[h], prerequisites)
    prerequisites_met = np.divide(met, n_prerequisites, out=np.ones_like(met), where=n_prerequisites > 0)
    goal = hol.goal_occupation[h]
    target_match = np.where(goal >= 0, np.isin(t * cat.n_occupations + goal, cat.target_keys), False)
    price = cat.price_cents[t]
    cpf, cec = hol.cpf_balance_cents[h], hol.cec_balance_cents[h]
    out_of_pocket = out_of_pocket_cents(price, cpf, cec, hol.is_job_seeker[h], on)
    ratio = np.minimum(price / (cpf + cec + 100.0), 10.0)
    preferred = hol.preferred_modality[h]
    modality_match = np.where(preferred < 0, 0.5, (preferred == cat.modality[t]).astype(np.float32))
    region_match = ((hol.region[h] == cat.region[t]) | (cat.modality[t] == MODALITY_CODES["remote"]))
    level, qualification = cat.level[t], hol.qualification_level[h]
    level_gap = np.nan_to_num(level - qualification, nan=0.0)
    region_popularity = np.zeros(len(t), dtype=np.float32)
    for region in np.unique(hol.region[h]):
        rows = hol.region[h] == region
        counts = cat.region_popularity.get(str(region))
        if counts is not None:
            region_popularity[rows] = counts[t[rows]]
    return np.column_stack([
        similarity, gap_coverage, gap_closed, novelty, prerequisites_met, target_match.astype(np.float32),
        np.log1p(out_of_pocket / 100.0), ratio, modality_match, region_match.astype(np.float32),
        np.log1p(cat.hours[t]), level_gap, cat.provider_completion[t], np.log1p(cat.popularity[t]),
        np.log1p(region_popularity), hol.is_job_seeker[h].astype(np.float32),
    ]).astype(np.float32)
