"""The world builder: one world drawn stage by stage, each stage from its own random stream spawned from the seed.

It puts the parts together: the occupations (``world_occupations``), the catalogue (``world_catalogue``), the
holders (``world_holders``), their rights (``world_ledger``) and the interactions (``world_interactions``)
driven by the latent utility (``world_utility``), and what the world's variant adds (``world_variants``).
``world.generate_world`` runs it and writes the files.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from training.datasets.world_catalogue import Catalogue
from training.datasets.world_esco import load_esco_context
from training.datasets.world_holders import Population
from training.datasets.world_interactions import Interactions, simulate
from training.datasets.world_ledger import activity_years, replay_ledger, rights_events
from training.datasets.world_occupations import Occupations
from training.datasets.world_params import COMMON_TRADES, DEFAULT_VARIANT, LANGUAGES, WorldScale, WorldVariant
from training.datasets.world_reference import ANCHORS, REGION_CODES
from training.datasets.world_time import months_before, to_days
from training.datasets.world_utility import VARIANT_TRUTH_FILES, utility_inputs
from training.datasets.world_variants import VariantLatents, variant_truth, vary_catalogue, vary_holders


class WorldBuilder:
    """Builds one world stage by stage; each stage draws from its own random stream spawned from the seed."""

    STAGES = (
        "occupations",
        "providers",
        "trainings",
        "texts",
        "holders",
        "skills",
        "interactions",
        "ledger",
        "sessions",
        "disability",  # added last: spawning one stream more leaves the streams above as they were
        "variant_catalogue",  # what a variant of the zoo adds (world_variants); unused by the default world
        "variant_holders",
    )

    def __init__(
        self,
        scale: WorldScale,
        seed: int,
        as_of: dt.date,
        variant: WorldVariant = DEFAULT_VARIANT,
        lang: str = "en",
    ) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
        self.lang = lang  # "fr": French texts, and the common trades in the pool (world_params.COMMON_TRADES)
        self.scale = scale
        self.variant = variant
        self.latents = VariantLatents()
        self.seed = seed
        self.as_of = as_of
        self.as_of_day = to_days(as_of)
        self.window_start = months_before(as_of, 24)
        self.window_start_day = to_days(self.window_start)
        self.esco = load_esco_context()
        streams = np.random.SeedSequence(seed).spawn(len(self.STAGES))
        self._rngs = {name: np.random.default_rng(s) for name, s in zip(self.STAGES, streams, strict=True)}
        self.quiet = scale.n_holders < 1_000

    def rng(self, stage: str) -> np.random.Generator:
        return self._rngs[stage]

    def make_catalogue(self) -> None:
        """Occupations, providers, trainings with their sessions, and their texts."""
        extra = COMMON_TRADES if self.lang == "fr" else ()
        self.occupations = Occupations(self.esco, self.scale, self.rng("occupations"), extra)
        self.catalogue = Catalogue(
            self.esco,
            self.occupations,
            self.scale,
            as_of_day=self.as_of_day,
            window_start_day=self.window_start_day,
            quiet=self.quiet,
            lang=self.lang,
        )
        self.catalogue.make_providers(self.rng("providers"))
        self.catalogue.make_trainings(self.rng("trainings"))
        self.catalogue.make_sessions(self.rng("sessions"))
        self.catalogue.make_texts(self.rng("texts"))
        vary_catalogue(self.catalogue, self.variant, self.rng("variant_catalogue"), self.latents)

    def make_holders(self) -> np.ndarray:
        """Holders, their latent skills and activity years; returns each holder's rights (CPF + CEC) at the
        start of the window: the budget that drives affordability."""
        self.population = Population(
            self.esco,
            self.occupations,
            self.catalogue,
            self.scale,
            as_of=self.as_of,
            window_start_day=self.window_start_day,
            quiet=self.quiet,
            variant=self.variant,
        )
        self.population.make_holders(self.rng("holders"), self.rng("variant_holders"))
        self.population.make_skills(self.rng("skills"))
        self.population.make_disability(self.rng("disability"))
        vary_holders(self.population, self.variant, self.rng("variant_holders"), self.latents)
        pop = self.population
        self.activity = activity_years(pop.jobs, pop.h_qual == 0, pop.h_disability, as_of=self.as_of)
        cpf, cec, _ = replay_ledger(
            self.rights_events(None), n_h=self.population.n_h, before_day=self.window_start_day, record=False
        )
        return cpf + cec

    def simulate(self, budget: np.ndarray) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """The interactions of the window, driven by the utility computed from the tables as they are written;
        returns those tables: the catalogue as ``trainings.csv`` holds it, and the truth frames."""
        trainings = self.catalogue.frame()
        frames = self.truth_frames(budget)
        inputs = utility_inputs(
            self.esco,
            frames["holders"],
            frames["preferences"],
            frames["holder_skills"],
            frames["goal_skills"],
            trainings,
            frames["training_truth"],
            frames["providers"],
            variant=self.variant,
            extra={name: frames[name] for name in VARIANT_TRUTH_FILES if name in frames},
        )
        self.interactions: Interactions = simulate(
            self.rng("interactions"),
            self.scale,
            self.catalogue,
            self.population.h_activity,
            inputs,
            quiet=self.quiet,
        )
        return trainings, frames

    def final_ledger(self) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Every movement of rights before as_of: available CPF and CEC rights per holder and the truth ledger."""
        cpf, cec, ledger = replay_ledger(
            self.rights_events(self.interactions.enrolments),
            n_h=self.population.n_h,
            before_day=self.as_of_day,
            record=True,
        )
        assert ledger is not None
        return cpf, cec, ledger

    def rights_events(self, enrolments: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        return rights_events(
            self.activity,
            self.population.cec_years,
            self.population.pre_spends,
            enrolments,
            as_of_day=self.as_of_day,
            training_ids=self.catalogue.t_ids,
            training_prices=self.catalogue.t_price,
        )

    def truth_frames(self, budget: np.ndarray) -> dict[str, pd.DataFrame]:
        """The truth tables by holder and training position (``budget``: CPF + CEC at the start of the window).

        ``holders`` is not written (``holders.csv`` has its columns): it only feeds :func:`utility_inputs`. A variant
        adds its own (``world_variants.variant_truth``).
        """
        esco, pop, cat = self.esco, self.population, self.catalogue
        h = np.arange(pop.n_h)
        frames = {
            "holders": pd.DataFrame(
                {
                    "holder_id": h,
                    "region_code": np.array(REGION_CODES)[pop.h_region],
                    "qualification_level": np.where(pop.h_qual > 0, pop.h_qual.astype(str), ""),
                }
            ),
            "preferences": pd.DataFrame(
                {
                    "holder_id": h,
                    "price_sensitivity": pop.h_price_sensitivity,
                    "w_onsite": pop.h_modality_w[:, 0],
                    "w_remote": pop.h_modality_w[:, 1],
                    "w_hybrid": pop.h_modality_w[:, 2],
                    "mobility": pop.h_mobility,
                    "activity": pop.h_activity,
                    "budget_cents": budget,
                    "participation_cents": pop.h_participation,
                    "goal_mode": pop.h_goal_mode.astype(str),
                    "goal_occupation": esco.occ_uris[pop.h_goal_occ],
                    "gap_discount": pop.h_gap_discount,
                }
            ),
            "holder_skills": pd.DataFrame(
                {
                    "holder_id": pop.hs_holder,
                    "skill_uri": pd.Categorical.from_codes(pop.hs_skill, dtype=esco.skill_dtype),
                    "proficiency": pop.hs_prof,
                }
            ),
            "goal_skills": pd.DataFrame(
                {
                    "holder_id": pop.gs_holder,
                    "skill_uri": pd.Categorical.from_codes(pop.gs_skill, dtype=esco.skill_dtype),
                    "weight": pop.gs_weight,
                }
            ),
            "training_truth": pd.DataFrame(
                {
                    "training_id": cat.t_ids,
                    "focus_occupation": esco.occ_uris[self.occupations.pool[cat.t_focus]],
                    "attractiveness": cat.t_attract,
                    "session_status": cat.t_status,
                    "cadence_days": cat.t_cadence,
                    "anchor": [ANCHORS[a].name if a >= 0 else "" for a in cat.anchor_of],
                }
            ),
            "providers": pd.DataFrame(
                {
                    "provider_id": cat.p_ids,
                    "provider_name": cat.p_name,
                    "region_code": np.array(REGION_CODES)[cat.p_region],
                    "quality": cat.p_quality,
                    "brand": cat.p_brand,
                }
            ),
        }
        return variant_truth(cat, self.latents, frames)
