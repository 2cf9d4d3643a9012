"""The noise-free utility of a holder for a training, shared by the simulation and :func:`truth_utility`.

Both build their :class:`UtilityInputs` from the tables as written to disk (:func:`utility_inputs`), so the
simulation and the oracle compute the very same numbers. Formula and weights: data/README.md; the variants of the
world zoo (``world_params.VARIANTS``) change the weights and add latent terms (affinity, taste, buzz) whose inputs
are truth tables of their own (``VARIANT_TRUTH_FILES``); the world's variant is read from its manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ingest.world_format import HOLDERS, LIST_SEPARATOR, MANIFEST, TRAININGS
from training.datasets.world_esco import EscoContext, load_esco_context
from training.datasets.world_params import (
    DEFAULT_VARIANT,
    OOP_SCALE_EUR,
    PREREQUISITE_PROFICIENCY,
    QUALITY_MEAN,
    VARIANTS,
    UtilityWeights,
    WorldVariant,
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
    # The world zoo: the variant (weights, latent terms) and the inputs of its latent terms.
    variant: WorldVariant = DEFAULT_VARIANT
    affinity: sp.csr_matrix | None = None  # holders × skills: a(h, s), closeness to the current job (continuity)
    taste: np.ndarray | None = None  # holders × families: taste of the holder's cluster (weak_content)
    family: np.ndarray | None = None  # family of each training (weak_content)
    buzz: np.ndarray | None = None  # regions × trainings: regional hits (social)


# Truth tables of the variants' latent terms (truth frame → file under truth/), written only when used.
VARIANT_TRUTH_FILES = {
    "affinity_skills": "holder_affinity_skills.csv",  # holder_id, skill_uri, weight
    "tastes": "taste_clusters.csv",  # taste_cluster, family, taste
    "training_skills": "training_skills.csv",  # training_id, skills (the skills really taught)
    "buzz": "regional_buzz.csv",  # region_code, training_id, buzz
}
TERMS = ("gap", "affordability", "modality", "region", "quality", "popularity", "prerequisites", "level",
         "affinity", "taste", "buzz")


def utility_terms(
    inputs: UtilityInputs,
    holders: np.ndarray,
    trainings: np.ndarray,
    gap: np.ndarray,
    met: np.ndarray,
    weights: UtilityWeights | None = None,
    affinity: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Each factor of the noise-free utility for pairs (holders[i], trainings[i]); sum them for the utility.

    ``gap`` is the skill-gap closure (goal_gap · teaches), ``met`` the number of prerequisites mastered and
    ``affinity`` (variants with an affinity term) Σ a(h, s) over the skills taught. ``weights`` default to the
    variant's.
    """
    v = inputs.variant
    w = weights or v.weights
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
    terms = {
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
    if affinity is not None:
        terms["affinity"] = v.affinity * affinity
    if inputs.taste is not None and inputs.family is not None:
        terms["taste"] = v.taste * inputs.taste[holders, inputs.family[trainings]]
    if inputs.buzz is not None:
        terms["buzz"] = v.buzz * inputs.buzz[inputs.region[holders], trainings]
    return terms


def pair_utility(
    inputs: UtilityInputs,
    holders: np.ndarray,
    trainings: np.ndarray,
    gap: np.ndarray,
    met: np.ndarray,
    affinity: np.ndarray | None = None,
) -> np.ndarray:
    terms = utility_terms(inputs, holders, trainings, gap, met, affinity=affinity)
    total = np.zeros(len(holders))
    for name in TERMS:  # summed in this order (the default world's numbers do not depend on the zoo)
        if name in terms:
            total = total + terms[name]
    return total


def block_utility(
    inputs: UtilityInputs,
    block: np.ndarray,
    holders: np.ndarray,
    trainings: np.ndarray,
    *,
    dense: bool,
    gap_m: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free utility and prerequisites met of pairs whose holders are all in ``block`` (a sorted range)."""
    gap, met = pair_gap_met(inputs, block, holders, trainings, dense, gap_m)
    affinity = None
    if inputs.affinity is not None:
        aff_m = (inputs.affinity[block] @ inputs.teaches.T).tocsr()
        local = holders - block[0]
        if dense:
            affinity = np.asarray(aff_m.toarray())[local, trainings]
        else:
            aff_m.sort_indices()
            affinity = _csr_lookup(aff_m, local, trainings)
    return pair_utility(inputs, holders, trainings, gap, met, affinity), met


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
    *,
    variant: WorldVariant = DEFAULT_VARIANT,
    extra: Mapping[str, pd.DataFrame] | None = None,
) -> UtilityInputs:
    """Build the utility inputs from the tables as written to disk (holders in the order of ``holders``).

    ``extra`` holds the truth tables of the variant's latent terms (``VARIANT_TRUTH_FILES``); the skills a training
    really teaches are its ``skills`` column unless ``extra["training_skills"]`` says otherwise (weak_content).
    """
    extra = extra or {}
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

    def uri_lists(values: pd.Series) -> sp.csr_matrix:
        parts = [v.split(LIST_SEPARATOR) if isinstance(v, str) and v else [] for v in values]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        codes = esco.skill_index.get_indexer([u for p in parts for u in p])
        matrix = sp.csr_matrix(
            (np.ones(len(codes)), codes, np.r_[0, np.cumsum(lengths)]), shape=(len(parts), n_skills)
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        matrix.data[:] = 1.0
        return matrix

    taught = trainings["skills"]
    if "training_skills" in extra:
        taught = extra["training_skills"].set_index("training_id")["skills"].loc[t_index]
    teaches = uri_lists(taught)
    prerequisites = uri_lists(trainings["prerequisites"])
    region_pos = {code: i for i, code in enumerate(REGION_CODES)}
    quality = providers.set_index("provider_id")["quality"]
    ttruth = training_truth.set_index("training_id").loc[t_index]
    level = pd.to_numeric(trainings["level"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    qualification = (
        pd.to_numeric(holders["qualification_level"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    )
    region = np.array([region_pos[str(c)] for c in holders["region_code"]], dtype=np.int64)
    _check_variant_tables(variant, extra, prefs, ttruth)
    affinity = taste = family = buzz = None
    if variant.affinity:
        table = extra["affinity_skills"]
        rows = h_index.get_indexer(table["holder_id"])
        cols = _skill_codes(esco, table["skill_uri"])
        keep = rows >= 0
        affinity = sp.csr_matrix(
            (table["weight"].to_numpy(dtype=float)[keep], (rows[keep], cols[keep])), shape=(len(h_index), n_skills)
        )
        affinity.sort_indices()
    if variant.taste:
        table = extra["tastes"]
        matrix = np.zeros((variant.taste_clusters, variant.taste_families))
        matrix[table["taste_cluster"].to_numpy(dtype=np.int64), table["family"].to_numpy(dtype=np.int64)] = table[
            "taste"
        ].to_numpy(dtype=float)
        taste = matrix[prefs["taste_cluster"].to_numpy(dtype=np.int64)]
        family = ttruth["family"].to_numpy(dtype=np.int64)
    if variant.buzz:
        table = extra["buzz"]
        cols = t_index.get_indexer(table["training_id"])
        keep = cols >= 0
        buzz = np.zeros((len(REGION_CODES), len(t_index)))
        buzz[np.array([region_pos[str(c)] for c in table["region_code"]], dtype=np.int64)[keep], cols[keep]] = table[
            "buzz"
        ].to_numpy(dtype=float)[keep]
    return UtilityInputs(
        goal_gap=goal_gap,
        mastered=mastered,
        price_sensitivity=prefs["price_sensitivity"].to_numpy(dtype=float),
        modality_weights=prefs[["w_onsite", "w_remote", "w_hybrid"]].to_numpy(dtype=float),
        mobility=prefs["mobility"].to_numpy(dtype=float),
        region=region,
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
        variant=variant,
        affinity=affinity,
        taste=taste,
        family=family,
        buzz=buzz,
    )


def _check_variant_tables(
    variant: WorldVariant, extra: Mapping[str, pd.DataFrame], prefs: pd.DataFrame, ttruth: pd.DataFrame
) -> None:
    needed = {
        "affinity_skills": bool(variant.affinity),
        "tastes": bool(variant.taste),
        "training_skills": variant.weak_text,
        "buzz": bool(variant.buzz),
    }
    missing = [VARIANT_TRUTH_FILES[name] for name, used in needed.items() if used and name not in extra]
    if variant.taste and ("taste_cluster" not in prefs or "family" not in ttruth):
        missing.append("taste_cluster / family columns")
    if missing:
        raise ValueError(f"the {variant.name!r} world lacks its truth tables: {', '.join(missing)}")


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def world_variant(world_dir: Path) -> WorldVariant:
    """The variant a world was drawn from (its manifest's "variant"; ``default`` when the manifest says none)."""
    path = Path(world_dir) / MANIFEST
    info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    recorded = info.get("variant", "default")
    name = recorded.get("name", "default") if isinstance(recorded, dict) else str(recorded)
    if name not in VARIANTS:
        raise ValueError(f"{path}: unknown world variant {name!r} (known: {', '.join(VARIANTS)})")
    return VARIANTS[name]


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
    for name, file in VARIANT_TRUTH_FILES.items():
        if (truth / file).exists():
            tables[name] = _read_csv(truth / file)
    return tables


def truth_utility(world_dir: Path, holder_ids: Sequence[str], training_ids: Sequence[str]) -> np.ndarray:
    """Noise-free utility of every (holder, training): an array of shape (len(holder_ids), len(training_ids)).

    Reads ``truth/`` (never available to a model) and the import files; evaluation ranks by it (the oracle). The
    utility is the world's own: that of the variant its manifest records.
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
        variant=world_variant(world_dir),
        extra={name: tables[name] for name in VARIANT_TRUTH_FILES if name in tables},
    )
    n_h, n_t = len(holders), len(trainings)
    result = np.empty((n_h, n_t))
    step = max(1, 2_000_000 // max(n_t, 1))
    for start in range(0, n_h, step):
        block = np.arange(start, min(n_h, start + step))
        hh = np.repeat(block, n_t)
        tt = np.tile(np.arange(n_t), len(block))
        utility, _met = block_utility(inputs, block, hh, tt, dense=True)
        result[block] = utility.reshape(len(block), n_t)
    return result
