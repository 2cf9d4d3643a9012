"""The holders of a world: demographics, dated job histories, diplomas, certifications, trainings before the
window, volunteering, goal and preferences, then latent skills (the truth) and the skills they declare (in the
catalogue's language: French labels and wording from ``world_french`` in a French world)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from tqdm import tqdm

from features.catalogue import WEEKLY_HOURS
from parcours.domain.rules import flat_participation_cents
from training.datasets import world_french as fr_text
from training.datasets.world_arrays import expand_rows, group_max, weighted_sample
from training.datasets.world_catalogue import Catalogue
from training.datasets.world_esco import EscoContext
from training.datasets.world_ledger import CEC_FIRST_ACTIVITY_YEAR
from training.datasets.world_occupations import Occupations
from training.datasets.world_params import (
    CONTINUITY_GAP_DISCOUNT,
    DEFAULT_VARIANT,
    SHARE_CAREER_CHANGE,
    SHARE_DISABILITY,
    WorldScale,
    WorldVariant,
)
from training.datasets.world_reference import (
    DIPLOMA_NAMES,
    EDUCATION_END_AGE,
    EMPLOYMENT_STATUSES,
    MODALITIES,
    QUALIFICATION_LEVELS,
    QUALIFICATION_SHARES,
    REGIONS,
    VOLUNTEERING,
)
from training.datasets.world_text import capitalise, typo_variant
from training.datasets.world_time import to_days


class Population:
    """The holders, by position 0..n-1 (ids are given when the files are written)."""

    def __init__(
        self,
        esco: EscoContext,
        occupations: Occupations,
        catalogue: Catalogue,
        scale: WorldScale,
        *,
        as_of: dt.date,
        window_start_day: int,
        quiet: bool,
        variant: WorldVariant = DEFAULT_VARIANT,
    ) -> None:
        self.esco = esco
        self.variant = variant
        self.occ = occupations
        self.catalogue = catalogue
        self.scale = scale
        self.as_of = as_of
        self.as_of_day = to_days(as_of)
        self.window_start_day = window_start_day
        self.quiet = quiet
        self.french = fr_text.french_esco(esco) if catalogue.lang == "fr" else None

    def _job_label(self, rng: np.random.Generator, occ: int) -> tuple[str, str]:
        """A job as a holder declares it: preferred label, an alternative label, or free text with a typo."""
        esco = self.esco
        if self.french is not None:
            return self._job_label_fr(rng, occ)
        draw = rng.random()
        alts = esco.occ_alt_labels[occ]
        if draw < 0.55 or (draw < 0.8 and not alts):
            label = esco.occ_label[occ]
        elif draw < 0.8:
            label = alts[int(rng.integers(0, len(alts)))]
        else:
            base = (
                alts[int(rng.integers(0, len(alts)))] if alts and rng.random() < 0.4 else esco.occ_label[occ]
            )
            return typo_variant(rng, base), ""
        return label, (str(esco.occ_uris[occ]) if rng.random() < 0.75 else "")

    def _job_label_fr(self, rng: np.random.Generator, occ: int) -> tuple[str, str]:
        """The French job label: one gender form of the preferred label, an alternative label, or free text."""
        assert self.french is not None
        draw = rng.random()
        alts = self.french.occ_alt_labels[occ]
        if draw < 0.55 or (draw < 0.8 and not alts):
            label = fr_text.job_label(rng, self.french.occ_forms[occ])
        elif draw < 0.8:
            label = alts[int(rng.integers(0, len(alts)))]
        else:
            base = (
                alts[int(rng.integers(0, len(alts)))]
                if alts and rng.random() < 0.4
                else fr_text.job_label(rng, self.french.occ_forms[occ])
            )
            return typo_variant(rng, base, qualifier_templates=fr_text.QUALIFIERS_FR), ""
        return label, (str(self.esco.occ_uris[occ]) if rng.random() < 0.75 else "")

    def make_holders(self, rng: np.random.Generator, variant_rng: np.random.Generator | None = None) -> None:
        """Demographics, dated job histories, diplomas, certifications, past trainings, volunteering, goal.

        ``variant_rng`` draws what a variant adds (rights spent just before the window), so that every draw of
        ``rng`` stays as in the default world.
        """
        esco, cat, variant = self.esco, self.catalogue, self.variant
        french = self.french
        share_target, share_latent = variant.share_declared_target, variant.share_latent_target
        n = self.scale.n_holders
        as_of_day = self.as_of_day
        region_w = np.array([r[2] for r in REGIONS])
        qual = rng.choice(QUALIFICATION_LEVELS, size=n, p=QUALIFICATION_SHARES)
        status = rng.choice(3, size=n, p=[0.74, 0.16, 0.10])
        region = rng.choice(len(REGIONS), size=n, p=region_w / region_w.sum())
        edu_end = np.array([EDUCATION_END_AGE[int(q)] for q in qual]) + rng.integers(0, 2, size=n)
        age = np.maximum(rng.integers(20, 64, size=n), edu_end + 2)
        birth_year = self.as_of.year - age
        career_start = np.array([to_days(dt.date(int(y), 1, 1)) for y in birth_year + edu_end])
        career_start = np.minimum(career_start + rng.integers(0, 365, size=n), as_of_day - 400)
        first_cpf_day = to_days(dt.date(2019, 3, 1))

        exp: dict[str, list] = {k: [] for k in ("h", "kind", "label", "uri", "start", "end")}
        jobs: dict[str, list] = {k: [] for k in ("h", "occ", "start", "end", "frac", "self")}
        occ_contrib: dict[str, list] = {k: [] for k in ("h", "occ", "factor")}
        skill_contrib: dict[str, list] = {k: [] for k in ("h", "skill", "value")}
        spends: dict[str, list] = {k: [] for k in ("h", "day", "price", "ref")}
        cec_years: dict[str, list] = {k: [] for k in ("h", "year", "activity")}
        goal_occ = np.empty(n, dtype=np.int64)
        goal_mode = np.empty(n, dtype=object)
        target = np.full(n, -1, dtype=np.int64)
        current_occ = np.empty(n, dtype=np.int64)

        def add_exp(h: int, kind: str, label: str, uri: str, start: int, end: int) -> None:
            exp["h"].append(h)
            exp["kind"].append(kind)
            exp["label"].append(label)
            exp["uri"].append(uri)
            exp["start"].append(start)
            exp["end"].append(end)

        def past_training(r: np.random.Generator, h: int, held: list[int], lo: int, hi: int) -> None:
            """A catalogue training of one of the holder's domains taken between lo and hi, paid with rights."""
            focus = held[int(r.integers(0, len(held)))]
            options = cat.trainings_by_focus.get(focus)
            t = (
                int(options[int(r.integers(0, len(options)))])
                if options is not None
                else int(r.integers(0, cat.n_t))
            )
            day = int(r.integers(lo, hi))
            weeks = math.ceil(cat.t_hours[t] / WEEKLY_HOURS[MODALITIES[cat.t_modality[t]]])
            first_skill = cat.t_skills[t][0] if cat.t_skills[t] else -1
            add_exp(
                h,
                "training",
                cat.t_title[t],
                str(esco.skill_uris[first_skill]) if first_skill >= 0 and r.random() < 0.4 else "",
                day,
                min(day + 7 * weeks, self.window_start_day - 1),
            )
            spends["h"].append(h)
            spends["day"].append(day)
            spends["price"].append(int(cat.t_price[t]))
            spends["ref"].append(f"training-{cat.t_ids[t]}-{day}")
            for s in cat.t_skills[t]:
                skill_contrib["h"].append(h)
                skill_contrib["skill"].append(int(s))
                skill_contrib["value"].append(0.55)

        for h in tqdm(range(n), desc="holders", unit="holder", disable=self.quiet):
            cs = int(career_start[h])
            career_end = max(cs + 200, as_of_day - int(rng.integers(30, 700))) if status[h] == 1 else as_of_day
            career_end = min(career_end, as_of_day - 1)
            years = (career_end - cs) / 365.25
            n_jobs = int(min(6, 1 + rng.poisson(years / 7)))
            cuts = np.sort(rng.integers(cs + 30, max(cs + 31, career_end - 30), size=n_jobs - 1))
            bounds = [cs, *[int(c) for c in cuts], career_end]
            pos = self.occ.by_demand(rng)
            held: list[int] = []
            for j in range(n_jobs):
                if j > 0:
                    pos = (
                        self.occ.neighbour_of(rng, pos)
                        if rng.random() < 0.7
                        else self.occ.by_demand(rng)
                    )
                start = bounds[j]
                end = bounds[j + 1] - 1 if j < n_jobs - 1 else career_end
                if j > 0 and rng.random() < 0.3:
                    start = start + min(int(rng.integers(30, 400)), (end - start) // 2)
                end = max(end, start)
                is_open = j == n_jobs - 1 and status[h] != 1
                frac = round(float(rng.uniform(0.2, 0.8)), 2) if rng.random() < 0.15 else 1.0
                is_self = status[h] == 2 and (j == n_jobs - 1 or (j == n_jobs - 2 and rng.random() < 0.3))
                occ = int(self.occ.pool[pos])
                label, uri = self._job_label(rng, occ)
                if frac < 1.0 and rng.random() < 0.5:
                    label = f"{label} {fr_text.PART_TIME_FR if french else '(part-time)'}"
                if is_self and rng.random() < 0.5:
                    label = f"{label} {fr_text.SELF_EMPLOYED_FR if french else '(self-employed)'}"
                add_exp(h, "job", label, uri, start, -1 if is_open else end)
                jobs["h"].append(h)
                jobs["occ"].append(pos)
                jobs["start"].append(start)
                jobs["end"].append(as_of_day - 1 if is_open else end)
                jobs["frac"].append(frac)
                jobs["self"].append(bool(is_self))
                worked = (min(end, as_of_day) - start + 1) / 365.25 * frac
                occ_contrib["h"].append(h)
                occ_contrib["occ"].append(occ)
                occ_contrib["factor"].append((1 - math.exp(-worked / 2.5)) * rng.uniform(0.7, 1.0))
                held.append(pos)
            current = held[-1]
            current_occ[h] = int(self.occ.pool[current])
            # Goal: a declared target (progression or career change), a latent one, or continuity.
            draw = rng.random()
            if draw < share_target:
                mode = "target"
            elif draw < share_target + (1 - share_target) * share_latent:
                mode = "latent_target"
            else:
                mode = "continuity"
            if mode == "continuity":
                goal = current
            elif rng.random() >= SHARE_CAREER_CHANGE:
                goal = self.occ.neighbour_of(rng, current)
            else:
                goal = self.occ.by_demand(rng)
                for _ in range(20):  # a career change: an occupation never held
                    if goal not in held:
                        break
                    goal = self.occ.by_demand(rng)
            goal_occ[h] = int(self.occ.pool[goal])
            goal_mode[h] = mode
            if mode == "target":
                target[h] = int(self.occ.pool[goal])
            # Diploma.
            if qual[h] > 0:
                names = DIPLOMA_NAMES[int(qual[h])]
                field_pos = held[0] if rng.random() < 0.7 else self.occ.neighbour_of(rng, held[0])
                field_occ = int(self.occ.pool[field_pos])
                name = names[int(rng.integers(0, len(names)))]
                graduated = cs - int(rng.integers(0, 90))
                add_exp(
                    h,
                    "diploma",
                    f"{fr_text.diploma_name(name)} — {french.occ_label[field_occ]}"
                    if french
                    else f"{name} — {esco.occ_label[field_occ]}",
                    str(esco.occ_uris[field_occ]) if rng.random() < 0.3 else "",
                    graduated - int(rng.integers(300, 1100)),
                    graduated,
                )
                occ_contrib["h"].append(h)
                occ_contrib["occ"].append(field_occ)
                occ_contrib["factor"].append(0.35)
            # Hidden skills (hobbies, undeclared experience): only in the truth.
            if rng.random() < 0.5:
                occ_contrib["h"].append(h)
                occ_contrib["occ"].append(int(self.occ.pool[int(rng.integers(0, len(self.occ.pool)))]))
                occ_contrib["factor"].append(float(rng.uniform(0.2, 0.5)))
            # Certifications.
            for _ in range(int(rng.random() < 0.25) + int(rng.random() < 0.05)):
                ranked = esco.occ_skill_ranked[int(self.occ.pool[held[int(rng.integers(0, len(held)))]])][:15]
                clean = ranked[esco.skill_title_clean[ranked]]
                ranked = clean if len(clean) else ranked
                skill = int(ranked[int(rng.integers(0, len(ranked)))])
                day = int(rng.integers(cs, as_of_day - 30))
                title = esco.skill_title[skill]
                code = int(rng.integers(1000, 10000))
                kind = int(rng.integers(0, 3))
                label = (
                    fr_text.certification_label(kind, french.skill_title[skill], code)
                    if french
                    else (f"{capitalise(title)} — certificate", f"Certified in {title}", f"RS{code} {title}")[kind]
                )
                add_exp(
                    h,
                    "certification",
                    label,
                    str(esco.skill_uris[skill]) if rng.random() < 0.6 else "",
                    day,
                    day + int(rng.integers(1, 30)),
                )
                skill_contrib["h"].append(h)
                skill_contrib["skill"].append(skill)
                skill_contrib["value"].append(0.7)
            # Trainings before the window, paid with CPF rights.
            lo, hi = max(cs, first_cpf_day), self.window_start_day - 60
            if hi - lo > 60:
                for _ in range(int(rng.random() < 0.3) + int(rng.random() < 0.08)):
                    past_training(rng, h, held, lo, hi)
                # Variant "price": rights spent on one or two more trainings in the year before the window.
                if variant_rng is not None and variant.share_spent_rights and variant_rng.random() < (
                    variant.share_spent_rights
                ):
                    recent = max(lo, hi - 300)
                    for _ in range(1 + int(variant_rng.random() < 0.5)):
                        past_training(variant_rng, h, held, recent, hi)
            # Volunteering (CEC-eligible or not).
            if rng.random() < 0.2:
                a = int(rng.integers(0, len(VOLUNTEERING)))
                label, eligible, hours, skill_prefix = VOLUNTEERING[a]
                first_year = int(rng.integers(max(2010, int(birth_year[h]) + 18), self.as_of.year))
                last_year = min(self.as_of.year, first_year + int(rng.integers(0, 6)))
                if "civic service" in label:
                    last_year = first_year
                start = to_days(dt.date(first_year, int(rng.integers(1, 13)), 1))
                ongoing = last_year == self.as_of.year and "civic service" not in label
                end = (
                    -1
                    if ongoing
                    else max(start + 240, to_days(dt.date(last_year, 12, 31)) - int(rng.integers(0, 120)))
                )
                end = min(end, as_of_day - 1) if end >= 0 else end
                skill_uri = ""
                if skill_prefix:
                    skill = esco.skill(skill_prefix)
                    skill_uri = str(esco.skill_uris[skill]) if rng.random() < 0.6 else ""
                    skill_contrib["h"].append(h)
                    skill_contrib["skill"].append(skill)
                    skill_contrib["value"].append(0.5)
                add_exp(
                    h,
                    "volunteering",
                    fr_text.volunteering_label(a, hours) if french else f"{capitalise(label)}, about {hours} h a year",
                    skill_uri,
                    start,
                    end,
                )
                if eligible:
                    final = min(last_year, self.as_of.year - 1)
                    for year in range(max(first_year, CEC_FIRST_ACTIVITY_YEAR), final + 1):
                        cec_years["h"].append(h)
                        cec_years["year"].append(year)
                        cec_years["activity"].append(label)

        self.n_h = n
        self.h_qual, self.h_status, self.h_region = qual, status, region
        self.h_birth_year, self.h_career_start = birth_year, career_start
        self.h_goal_occ, self.h_goal_mode, self.h_target = goal_occ, goal_mode, target
        self.h_current_occ = current_occ  # ESCO occupation index of the current (or last) job
        self.exp = {
            k: np.array(v, dtype=object if k in ("kind", "label", "uri") else np.int64)
            for k, v in exp.items()
        }
        self.jobs = {k: np.array(v) for k, v in jobs.items()}
        self.occ_contrib = {k: np.array(v) for k, v in occ_contrib.items()}
        self.skill_contrib = {k: np.array(v) for k, v in skill_contrib.items()}
        self.pre_spends = spends
        self.cec_years = cec_years
        # Preferences (truth) and what the holder declares of them.
        self.h_price_sensitivity = np.round(
            rng.lognormal(0.0, 0.5, n) * np.array([1.0, 1.4, 0.8])[status] * variant.price_sensitivity_factor, 4
        )
        self.h_modality_w = np.round(rng.dirichlet([1.2, 1.0, 0.8], size=n), 4)
        declared = (self.h_modality_w.max(axis=1) >= 0.5) & (rng.random(n) < 0.85)
        self.h_pref_modality = np.where(
            declared, np.array(MODALITIES, dtype=object)[self.h_modality_w.argmax(axis=1)], ""
        )
        self.h_mobility = np.round(rng.beta(2.0, 5.0, n), 4)
        active = rng.random(n) >= 0.08
        self.h_activity = np.round(np.where(active, rng.lognormal(-0.245, 0.7, n), 0.0), 4)
        self.h_participation = np.array(
            [
                flat_participation_cents(
                    self.as_of, employment_status=EMPLOYMENT_STATUSES[s], cofinanced_by_employer_or_opco=False
                )
                for s in status
            ],
            dtype=np.int64,
        )

    def make_disability(self, rng: np.random.Generator) -> None:
        """A recognised disability for a small share of holders: it majorates their CPF credit. Drawn from a
        stream of its own, so that every other draw stays as it was."""
        self.h_disability = rng.random(self.n_h) < SHARE_DISABILITY

    # -- latent skills -------------------------------------------------------------------------------------

    def make_skills(self, rng: np.random.Generator) -> None:
        """Latent proficiency = max over sources; declared skills are a noisy subset of it."""
        esco = self.esco
        n_skills = len(esco.skill_uris)
        pos, skills, weight = expand_rows(esco.occ_skills, self.occ_contrib["occ"].astype(np.int64))
        values = np.r_[weight * self.occ_contrib["factor"][pos], self.skill_contrib["value"]]
        holders = np.r_[self.occ_contrib["h"][pos], self.skill_contrib["h"]].astype(np.int64)
        skills = np.r_[skills, self.skill_contrib["skill"]].astype(np.int64)
        keys, best = group_max(holders * n_skills + skills, values)
        best = np.round(np.minimum(best, 1.0), 4)
        keep = best >= 0.1
        self.hs_holder, self.hs_skill, self.hs_prof = (
            keys[keep] // n_skills,
            keys[keep] % n_skills,
            best[keep],
        )
        # Goal skills: weights of the goal occupation, normalised, times the mode weight.
        pos, g_skill, g_w = expand_rows(esco.occ_skills, self.h_goal_occ)
        totals = np.bincount(pos, weights=g_w, minlength=self.n_h)
        mode_w = np.where(self.h_goal_mode == "continuity", self.variant.continuity_mode_weight, 1.0)
        self.gs_holder, self.gs_skill = pos, g_skill
        self.gs_weight = np.round(g_w / totals[pos] * mode_w[pos], 6)
        self.h_gap_discount = np.where(self.h_goal_mode == "continuity", CONTINUITY_GAP_DISCOUNT, 1.0)
        # Declared skills.
        starts = np.searchsorted(self.hs_holder, np.arange(self.n_h + 1))
        exp = {k: list(v) for k, v in self.exp.items()}
        for h in range(self.n_h):
            lo, hi = starts[h], starts[h + 1]
            candidates = np.flatnonzero(self.hs_prof[lo:hi] >= 0.35) + lo
            k = min(len(candidates), int(rng.poisson(1.5)), 6)
            if k == 0:
                continue
            p = self.hs_prof[candidates] / self.hs_prof[candidates].sum()
            for idx in np.sort(weighted_sample(rng, candidates, k, p)):
                skill = int(self.hs_skill[idx])
                label = esco.skill_title[skill] if self.french is None else self.french.skill_title[skill]
                if rng.random() < 0.2:
                    label = typo_variant(rng, label, qualifiers=False)
                day = int(rng.integers(int(self.h_career_start[h]), self.as_of_day - 30))
                exp["h"].append(h)
                exp["kind"].append("skill")
                exp["label"].append(label)
                exp["uri"].append(str(esco.skill_uris[skill]) if rng.random() < 0.5 else "")
                exp["start"].append(day)
                exp["end"].append(-1)
        self.exp = {
            k: np.array(v, dtype=object if k in ("kind", "label", "uri") else np.int64)
            for k, v in exp.items()
        }
