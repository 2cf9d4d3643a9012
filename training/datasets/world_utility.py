"""The noise-free utility of a holder for a training, shared by the simulation and :func:`truth_utility`.

Both build their :class:`UtilityInputs` from the tables as written to disk (:func:`utility_inputs`), so the
simulation and the oracle compute the very same numbers. Formula and weights: data/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ingest.world_format import HOLDERS, LIST_SEPARATOR, TRAININGS
from training.datasets.world_esco import EscoContext, load_esco_context
from training.datasets.world_params import (
    OOP_SCALE_EUR,
    PREREQUISITE_PROFICIENCY,
    QUALITY_MEAN,
    UTILITY_WEIGHTS,
    UtilityWeights,
)
from training.datasets.world_reference import MODALITIES, REGION_CODES


@dataclass
class UtilityInputs:
    """Everything the noise-free utility needs, indexed by holder / training position.

    Built from the truth tables (:func:`utility_inputs`), both by the generator and by :func:`truth_utility`,
    so the simulation and the oracle compute the very same numbers.
    """

    goal_gap: sp.csr_matrix  # holders × skills: goal weight × (1 − discount × proficiency)
    mastered: sp.csr_matrix  # holders × skills: 1 where proficiency ≥ PREREQUISITE_PROFICIENCY
    price_sensitivity: np.ndarray
    modality_weights: np.ndarray  # holders × 3 (MODALITIES order)
    mobility: np.ndarray
    region: np.ndarray  # holder region position in REGION_CODES
    budget_cents: np.ndarray  # CPF + CEC at the start of the window
    participation_cents: np.ndarray
    qualification: np.ndarray  # 0..8 (0 = none)
    teaches: sp.csr_matrix  # trainings × skills (binary)
    prerequisites: sp.csr_matrix  # trainings × skills (binary)
    n_prerequisites: np.ndarray
    price_cents: np.ndarray
    modality: np.ndarray  # position in MODALITIES
    t_region: np.ndarray
    quality: np.ndarray  # of the training's provider
    attractiveness: np.ndarray
    level: np.ndarray  # 0 = none


def utility_terms(
    inputs: UtilityInputs,
    holders: np.ndarray,
    trainings: np.ndarray,
    gap: np.ndarray,
    met: np.ndarray,
    weights: UtilityWeights = UTILITY_WEIGHTS,
) -> dict[str, np.ndarray]:
    """Each factor of the noise-free utility for pairs (holders[i], trainings[i]); sum them for the utility.

    ``gap`` is the skill-gap closure (goal_gap · teaches) and ``met`` the number of prerequisites mastered.
    """
    w = weights
    price = inputs.price_cents[trainings]
    oop = np.maximum(price - inputs.budget_cents[holders], 0)
    oop = oop + np.where(inputs.budget_cents[holders] > 0, inputs.participation_cents[holders], 0)
    modality = inputs.modality[trainings]
    away = inputs.region[holders] != inputs.t_region[trainings]
    travel = np.where(modality == 0, 1.0, np.where(modality == 2, 0.5, 0.0)) * away
    n_pre = inputs.n_prerequisites[trainings]
    unmet = np.where(n_pre > 0, (n_pre - met) / np.maximum(n_pre, 1), 0.0)
    level = inputs.level[trainings]
    qual = np.maximum(inputs.qualification[holders], 2)
    level_misfit = np.where(
        level > 0, np.maximum(level - qual - 1, 0) + 0.5 * np.maximum(qual - level - 2, 0), 0
    )
    return {
        "gap": w.gap * gap,
        "affordability": -w.affordability
        * inputs.price_sensitivity[holders]
        * np.log1p(oop / (100 * OOP_SCALE_EUR)),
        "modality": w.modality * (inputs.modality_weights[holders, modality] - 1 / 3),
        "region": -w.region * travel * (1 - inputs.mobility[holders]),
        "quality": w.quality * (inputs.quality[trainings] - QUALITY_MEAN),
        "popularity": w.popularity * inputs.attractiveness[trainings],
        "prerequisites": -w.prerequisites * unmet,
        "level": -w.level * level_misfit,
    }


def pair_utility(
    inputs: UtilityInputs, holders: np.ndarray, trainings: np.ndarray, gap: np.ndarray, met: np.ndarray
) -> np.ndarray:
    terms = utility_terms(inputs, holders, trainings, gap, met)
    total = np.zeros(len(holders))
    for name in (
        "gap",
        "affordability",
        "modality",
        "region",
        "quality",
        "popularity",
        "prerequisites",
        "level",
    ):
        total = total + terms[name]
    return total


def block_gap(inputs: UtilityInputs, block: np.ndarray) -> sp.csr_matrix:
    """Gap closure of every (holder in block, training): goal_gap · teaches, canonical CSR."""
    gap_m = (inputs.goal_gap[block] @ inputs.teaches.T).tocsr()
    gap_m.sort_indices()  # binary search in lookups (a linear scan otherwise)
    return gap_m


def pair_gap_met(
    inputs: UtilityInputs,
    block: np.ndarray,
    holders: np.ndarray,
    trainings: np.ndarray,
    dense: bool,
    gap_m: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gap closure and prerequisites met for pairs whose holders are all in ``block`` (a sorted range)."""
    local = holders - block[0]
    gap_m = block_gap(inputs, block) if gap_m is None else gap_m
    met_m = (inputs.mastered[block] @ inputs.prerequisites.T).tocsr()
    if dense:
        return np.asarray(gap_m.toarray())[local, trainings], np.asarray(met_m.toarray())[local, trainings]
    met_m.sort_indices()
    return _csr_lookup(gap_m, local, trainings), _csr_lookup(met_m, local, trainings)


def _csr_lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros(0)
    return np.asarray(matrix[rows, cols]).ravel()


def _skill_codes(esco: EscoContext, uris: pd.Series) -> np.ndarray:
    """Positions of skill URIs in the sorted ESCO skill list (for categoricals on that list: their codes)."""
    if isinstance(uris.dtype, pd.CategoricalDtype) and uris.dtype == esco.skill_dtype:
        return uris.cat.codes.to_numpy(dtype=np.int64)
    return esco.skill_index.get_indexer(uris)


def utility_inputs(
    esco: EscoContext,
    holders: pd.DataFrame,
    preferences: pd.DataFrame,
    holder_skills: pd.DataFrame,
    goal_skills: pd.DataFrame,
    trainings: pd.DataFrame,
    training_truth: pd.DataFrame,
    providers: pd.DataFrame,
) -> UtilityInputs:
    """Build the utility inputs from the tables as written to disk (holders in the order of ``holders``)."""
    h_index = pd.Index(holders["holder_id"].to_numpy())
    t_index = pd.Index(trainings["training_id"].to_numpy())
    n_skills = len(esco.skill_uris)
    prefs = preferences.set_index("holder_id").loc[h_index]
    hs_rows = h_index.get_indexer(holder_skills["holder_id"])
    hs_cols = _skill_codes(esco, holder_skills["skill_uri"])
    keep = hs_rows >= 0
    proficiency = sp.csr_matrix(
        (holder_skills["proficiency"].to_numpy(dtype=float)[keep], (hs_rows[keep], hs_cols[keep])),
        shape=(len(h_index), n_skills),
    )
    proficiency.sort_indices()
    g_rows = h_index.get_indexer(goal_skills["holder_id"])
    g_cols = _skill_codes(esco, goal_skills["skill_uri"])
    keep = g_rows >= 0
    goal = sp.csr_matrix(
        (goal_skills["weight"].to_numpy(dtype=float)[keep], (g_rows[keep], g_cols[keep])),
        shape=(len(h_index), n_skills),
    )
    goal.sort_indices()
    discount = prefs["gap_discount"].to_numpy(dtype=float)
    goal_gap = (goal - sp.diags(discount) @ goal.multiply(proficiency)).tocsr()
    goal_gap.eliminate_zeros()
    goal_gap.sort_indices()
    mastered = (proficiency >= PREREQUISITE_PROFICIENCY).astype(np.float64).tocsr()

    def uri_lists(column: str) -> sp.csr_matrix:
        parts = [v.split(LIST_SEPARATOR) if isinstance(v, str) and v else [] for v in trainings[column]]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        codes = esco.skill_index.get_indexer([u for p in parts for u in p])
        matrix = sp.csr_matrix(
            (np.ones(len(codes)), codes, np.r_[0, np.cumsum(lengths)]), shape=(len(parts), n_skills)
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        matrix.data[:] = 1.0
        return matrix

    teaches = uri_lists("skills")
    prerequisites = uri_lists("prerequisites")
    region_pos = {code: i for i, code in enumerate(REGION_CODES)}
    quality = providers.set_index("provider_id")["quality"]
    ttruth = training_truth.set_index("training_id").loc[t_index]
    level = pd.to_numeric(trainings["level"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    qualification = (
        pd.to_numeric(holders["qualification_level"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    )
    return UtilityInputs(
        goal_gap=goal_gap,
        mastered=mastered,
        price_sensitivity=prefs["price_sensitivity"].to_numpy(dtype=float),
        modality_weights=prefs[["w_onsite", "w_remote", "w_hybrid"]].to_numpy(dtype=float),
        mobility=prefs["mobility"].to_numpy(dtype=float),
        region=np.array([region_pos[str(c)] for c in holders["region_code"]], dtype=np.int64),
        budget_cents=prefs["budget_cents"].to_numpy(dtype=np.int64),
        participation_cents=prefs["participation_cents"].to_numpy(dtype=np.int64),
        qualification=qualification,
        teaches=teaches,
        prerequisites=prerequisites,
        n_prerequisites=np.diff(prerequisites.indptr),
        price_cents=trainings["price_cents"].to_numpy(dtype=np.int64),
        modality=np.array([MODALITIES.index(str(m)) for m in trainings["modality"]], dtype=np.int64),
        t_region=np.array([region_pos[str(c)] for c in trainings["region_code"]], dtype=np.int64),
        quality=quality.loc[trainings["provider_id"].to_numpy()].to_numpy(dtype=float),
        attractiveness=ttruth["attractiveness"].to_numpy(dtype=float),
        level=level,
    )


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _read_truth_tables(world_dir: Path) -> dict[str, pd.DataFrame]:
    truth = world_dir / "truth"
    tables = {
        "holders": _read_csv(world_dir / HOLDERS),
        "trainings": _read_csv(world_dir / TRAININGS),
        "preferences": _read_csv(truth / "holder_preferences.csv"),
        "holder_skills": _read_csv(truth / "holder_skills.csv"),
        "goal_skills": _read_csv(truth / "holder_goal_skills.csv"),
        "training_truth": _read_csv(truth / "trainings.csv"),
        "providers": _read_csv(truth / "providers.csv"),
    }
    for column in ("price_sensitivity", "w_onsite", "w_remote", "w_hybrid", "mobility", "gap_discount"):
        tables["preferences"][column] = tables["preferences"][column].astype(float)
    for column in ("budget_cents", "participation_cents"):
        tables["preferences"][column] = tables["preferences"][column].astype(np.int64)
    tables["holder_skills"]["proficiency"] = tables["holder_skills"]["proficiency"].astype(float)
    tables["goal_skills"]["weight"] = tables["goal_skills"]["weight"].astype(float)
    tables["training_truth"]["attractiveness"] = tables["training_truth"]["attractiveness"].astype(float)
    tables["providers"]["quality"] = tables["providers"]["quality"].astype(float)
    tables["trainings"]["price_cents"] = tables["trainings"]["price_cents"].astype(np.int64)
    return tables


def truth_utility(world_dir: Path, holder_ids: Sequence[str], training_ids: Sequence[str]) -> np.ndarray:
    """Noise-free utility of every (holder, training): an array of shape (len(holder_ids), len(training_ids)).

    Reads ``truth/`` (never available to a model) and the import files; evaluation ranks by it (the oracle).
    """
    world_dir = Path(world_dir)
    tables = _read_truth_tables(world_dir)
    holders = (
        tables["holders"].set_index("holder_id", drop=False).loc[list(holder_ids)].reset_index(drop=True)
    )
    trainings = (
        tables["trainings"]
        .set_index("training_id", drop=False)
        .loc[list(training_ids)]
        .reset_index(drop=True)
    )
    inputs = utility_inputs(
        load_esco_context(),
        holders,
        tables["preferences"],
        tables["holder_skills"],
        tables["goal_skills"],
        trainings,
        tables["training_truth"],
        tables["providers"],
    )
    n_h, n_t = len(holders), len(trainings)
    result = np.empty((n_h, n_t))
    step = max(1, 2_000_000 // max(n_t, 1))
    for start in range(0, n_h, step):
        block = np.arange(start, min(n_h, start + step))
        hh = np.repeat(block, n_t)
        tt = np.tile(np.arange(n_t), len(block))
        gap, met = pair_gap_met(inputs, block, hh, tt, dense=True)
        result[block] = pair_utility(inputs, hh, tt, gap, met).reshape(len(block), n_t)
    return result
