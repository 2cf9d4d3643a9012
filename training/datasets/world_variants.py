"""What the variants of the world zoo add to the default world (data/README.md, "The world zoo").

Catalogue side: generic or misleading texts and noisy declared skills (``weak_content``), a latent family per
training (``weak_content``) and regional hits (``social``). Holder side: taste clusters (``weak_content``) and the
affinity with the current job (``continuity``). Then the truth tables of these latent terms, which the simulation and
``world_utility.truth_utility`` both read (``world_utility.VARIANT_TRUTH_FILES``).

Every draw here comes from the builder's two variant streams (spawned after the default world's), so a variant
leaves the default world's draws as they were and the ``default`` variant draws nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ingest.world_format import LIST_SEPARATOR
from training.datasets.world_arrays import expand_rows
from training.datasets.world_catalogue import Catalogue
from training.datasets.world_holders import Population
from training.datasets.world_params import WorldVariant
from training.datasets.world_reference import LEVEL_NAMES, REGION_CODES

# weak_content: share of regular (non-anchor) trainings whose title is another training's, or a generic one.
SHARE_MISLEADING_TITLE = 0.35
SHARE_GENERIC_TITLE = 0.25
KEEP_DECLARED_SKILL = 0.6  # each skill taught is declared with this probability (at least one is)
GENERIC_TITLES = (
    "Professional development programme",
    "Career booster — certificate",
    "Upskilling course: new skills for your job",
    "Skills for tomorrow — short course",
    "Certified training programme",
    "Professional excellence pathway",
)
GENERIC_SENTENCES = (
    "A practical programme designed with professionals to boost your employability.",
    "Learn at your own pace with experienced trainers and hands-on exercises.",
    "Flexible sessions, personalised follow-up and a certificate at the end.",
    "Our trainers guide you step by step towards a recognised certification.",
    "Small groups, real cases and a team that knows your sector.",
    "Give your career a new start with a course built around your goals.",
    "Modern teaching methods and a learning platform available day and night.",
    "Recognised by employers across France, eligible for the CPF.",
)
AGE_BANDS = (35, 50)  # under 35, 35–49, 50 and over


@dataclass
class VariantLatents:
    """The latent quantities a variant adds, by holder and training position (None when the variant has none)."""

    family: np.ndarray | None = None  # family of each training (weak_content)
    hits: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # region position, training, buzz (social)
    cluster: np.ndarray | None = None  # taste cluster of each holder (weak_content)
    tastes: np.ndarray | None = None  # clusters × families, N(0, 1) (weak_content)
    affinity: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # holder, skill, a(h, s) (continuity)


def vary_catalogue(cat: Catalogue, variant: WorldVariant, rng: np.random.Generator, latents: VariantLatents) -> None:
    """Texts, declared skills, families and regional hits of the catalogue, as the variant wants them."""
    if variant.weak_text:
        _weaken_texts(cat, rng)
    if variant.taste:
        latents.family = rng.integers(0, variant.taste_families, size=cat.n_t)
    if variant.buzz:
        n_regions = len(REGION_CODES)
        local = cat.t_region[None, :] == np.arange(n_regions)[:, None]
        hit = rng.random((n_regions, cat.n_t)) < np.where(local, 3 * variant.buzz_share, variant.buzz_share)
        region, training = np.nonzero(hit)
        latents.hits = (region, training, np.round(1.0 + rng.exponential(1.0, len(region)), 4))


def _weaken_texts(cat: Catalogue, rng: np.random.Generator) -> None:
    """Titles partly misleading (another training's) or generic, descriptions generic (no occupation definition, no
    skills), declared skills a noisy subset of the skills taught plus skills of an unrelated occupation. Anchor
    trainings keep their texts (search tests rely on them)."""
    esco, n = cat.esco, cat.n_t
    titles, descriptions = list(cat.t_title), list(cat.t_description)
    declared = [list(s) for s in cat.t_skills]
    draw, other = rng.random(n), rng.integers(0, n, size=n)
    generic = rng.integers(0, len(GENERIC_TITLES), size=n)
    sentences = rng.integers(0, len(GENERIC_SENTENCES), size=(n, 2))
    for i in np.flatnonzero(cat.anchor_of < 0).tolist():
        level = int(cat.t_level[i])
        if draw[i] < SHARE_MISLEADING_TITLE:
            titles[i] = cat.t_title[int(other[i])]
        elif draw[i] < SHARE_MISLEADING_TITLE + SHARE_GENERIC_TITLE:
            titles[i] = GENERIC_TITLES[int(generic[i])] + (f" ({LEVEL_NAMES[level]})" if level else "")
        original = cat.t_description[i]
        logistics = original[original.rfind(f"{cat.t_hours[i]} hours, ") :]
        first, second = (GENERIC_SENTENCES[int(k)] for k in sentences[i])
        middle = first if first == second else f"{first} {second}"
        descriptions[i] = f"A certified training ({cat.t_code[i]}). {middle} {logistics}"
        skills = np.array(cat.t_skills[i], dtype=np.int64)
        kept = skills[rng.random(len(skills)) < KEEP_DECLARED_SKILL] if len(skills) else skills
        if len(skills) and not len(kept):
            kept = skills[[int(rng.integers(0, len(skills)))]]
        unrelated = esco.occ_skill_ranked[int(cat.occ.pool[int(rng.integers(0, len(cat.occ.pool)))])][:10]
        added = rng.choice(unrelated, size=min(len(unrelated), 1 + int(rng.random() < 0.5)), replace=False)
        declared[i] = sorted({int(s) for s in kept} | {int(s) for s in added})
    cat.t_title, cat.t_description, cat.t_declared_skills = titles, descriptions, declared


def vary_holders(pop: Population, variant: WorldVariant, rng: np.random.Generator, latents: VariantLatents) -> None:
    """Taste clusters (weak_content) and the affinity with the current job (continuity), after the latent skills."""
    if variant.taste:
        age = pop.as_of.year - pop.h_birth_year
        band = np.searchsorted(np.array(AGE_BANDS), age, side="right")
        segment = (pop.h_region * (len(AGE_BANDS) + 1) + band) * 3 + pop.h_status
        n_segments = len(REGION_CODES) * (len(AGE_BANDS) + 1) * 3
        cluster_of_segment = rng.integers(0, variant.taste_clusters, size=n_segments)
        latents.cluster = cluster_of_segment[segment]
        latents.tastes = np.round(rng.normal(0.0, 1.0, size=(variant.taste_clusters, variant.taste_families)), 4)
    if variant.affinity:
        esco = pop.esco
        pos, skill, weight = expand_rows(esco.occ_skills, pop.h_current_occ)
        totals = np.bincount(pos, weights=weight, minlength=pop.n_h)
        prof = pop.hs_prof
        matrix = sp.csr_matrix(
            (
                np.r_[weight / totals[pos], variant.affinity_partial * prof * (1 - prof)],
                (np.r_[pos, pop.hs_holder], np.r_[skill, pop.hs_skill]),
            ),
            shape=(pop.n_h, len(esco.skill_uris)),
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        coo = matrix.tocoo()
        values = np.round(coo.data, 6)
        keep = values > 0
        latents.affinity = (coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), values[keep])


def variant_truth(cat: Catalogue, latents: VariantLatents, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Add the variant's truth to the truth frames (holder and training positions as ids, as the builder's):
    columns ``taste_cluster`` (preferences) and ``family`` (training truth), and the tables of
    ``world_utility.VARIANT_TRUTH_FILES``."""
    esco = cat.esco
    if latents.cluster is not None and latents.tastes is not None and latents.family is not None:
        frames["preferences"]["taste_cluster"] = latents.cluster
        frames["training_truth"]["family"] = latents.family
        clusters, families = np.indices(latents.tastes.shape)
        frames["tastes"] = pd.DataFrame(
            {"taste_cluster": clusters.ravel(), "family": families.ravel(), "taste": latents.tastes.ravel()}
        )
    if cat.t_declared_skills is not None:
        frames["training_skills"] = pd.DataFrame(
            {"training_id": cat.t_ids, "skills": [LIST_SEPARATOR.join(esco.skill_uris[s]) for s in cat.t_skills]}
        )
    if latents.hits is not None:
        region, training, buzz = latents.hits
        frames["buzz"] = pd.DataFrame(
            {
                "region_code": np.array(REGION_CODES)[region],
                "training_id": np.array(cat.t_ids, dtype=object)[training],
                "buzz": buzz,
            }
        )
    if latents.affinity is not None:
        holder, skill, weight = latents.affinity
        frames["affinity_skills"] = pd.DataFrame(
            {
                "holder_id": holder,
                "skill_uri": pd.Categorical.from_codes(skill, dtype=esco.skill_dtype),
                "weight": weight,
            }
        )
    return frames
