"""The catalogue of a world: providers, certifications and their offerings (trainings), dated sessions, and the
titles and descriptions written from ESCO labels and definitions (English), or from the French ESCO labels
(``lang="fr"``, wording in ``world_french``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from ingest.world_format import COLUMNS, LIST_SEPARATOR, TRAININGS
from training.datasets.world_arrays import weighted_sample
from training.datasets.world_esco import EscoContext
from training.datasets.world_french import ANCHOR_TEXTS_FR, french_esco, training_description, training_title
from training.datasets.world_occupations import Occupations
from training.datasets.world_params import HOURLY_RATE_EUR, WorldScale
from training.datasets.world_reference import (
    ANCHORS,
    FAMILY_NAMES,
    LEVEL_NAMES,
    MODALITIES,
    PROVIDER_CORES,
    PROVIDER_PREFIXES,
    REGION_CODES,
    REGIONS,
    Anchor,
)
from training.datasets.world_text import article, capitalise, is_clean_title_label
from training.datasets.world_time import days_to_iso


class Catalogue:
    """Built stage by stage (providers, trainings, sessions, texts), each stage from its own random stream."""

    def __init__(
        self,
        esco: EscoContext,
        occupations: Occupations,
        scale: WorldScale,
        *,
        as_of_day: int,
        window_start_day: int,
        quiet: bool,
        lang: str = "en",
    ) -> None:
        self.esco = esco
        self.lang = lang
        self.occ = occupations
        self.scale = scale
        self.as_of_day = as_of_day
        self.window_start_day = window_start_day
        self.quiet = quiet
        # The skills trainings.csv declares when they differ from the skills taught (variant weak_content).
        self.t_declared_skills: list[list[int]] | None = None

    def make_providers(self, rng: np.random.Generator) -> None:
        n = self.scale.n_providers
        region_w = np.array([r[2] for r in REGIONS])
        self.p_region = rng.choice(len(REGIONS), size=n, p=region_w / region_w.sum())
        self.p_quality = np.round(rng.beta(5.0, 2.7, size=n), 4)
        self.p_brand = np.round(rng.normal(0.0, 0.5, size=n), 4)
        self.p_modality = rng.dirichlet([2.0, 1.2, 0.8], size=n)
        n_spec = rng.integers(1, 4, size=n)
        draws = rng.choice(len(self.occ.pool), size=(n, 3), p=self.occ.demand)
        self.p_specialities = [
            np.array(sorted(set(draws[i, :k].tolist())), dtype=np.int64) for i, k in enumerate(n_spec)
        ]
        names: list[str] = []
        used: dict[str, int] = {}
        for i in range(n):
            city_list = REGIONS[self.p_region[i]][3]
            city = city_list[int(rng.integers(0, len(city_list)))]
            pattern = int(rng.integers(0, 4))
            prefix = PROVIDER_PREFIXES[int(rng.integers(0, len(PROVIDER_PREFIXES)))]
            core = PROVIDER_CORES[int(rng.integers(0, len(PROVIDER_CORES)))]
            family = FAMILY_NAMES[int(rng.integers(0, len(FAMILY_NAMES)))]
            name = (
                f"{prefix} {core} {city}",
                f"{prefix} {family}",
                f"{family} Formation {city}",
                f"{core} {city}",
            )[pattern]
            used[name] = used.get(name, 0) + 1
            names.append(name if used[name] == 1 else f"{name} ({used[name]})")
        self.p_name = names
        self.p_ids = [f"P{i + 1:05d}" for i in range(n)]
        by_occ: dict[int, list[int]] = {}
        for p, specs in enumerate(self.p_specialities):
            for s in specs:
                by_occ.setdefault(int(s), []).append(p)
        self.providers_by_occ = {k: np.array(v, dtype=np.int64) for k, v in sorted(by_occ.items())}

    # -- certifications and trainings ------------------------------------------------------------------------

    def make_trainings(self, rng: np.random.Generator) -> None:
        """Certifications (RNCP with a level, RS without) per occupation, then offerings by providers."""
        esco = self.esco
        n_t = self.scale.n_trainings
        anchor_specs: list[tuple[int, int, Anchor]] = []  # (anchor index, training index in anchor, anchor)
        for a, anchor in enumerate(ANCHORS):
            for j in range(len(anchor.trainings)):
                anchor_specs.append((a, j, anchor))
        n_anchor = len(anchor_specs)
        n_pool = len(self.occ.pool)
        n_cert = max(n_pool, int(round((n_t - n_anchor) / self.scale.trainings_per_certification)))
        # Each pool occupation gets a certification first; the rest follow demand.
        focus = np.r_[np.arange(n_pool), rng.choice(n_pool, size=n_cert - n_pool, p=self.occ.demand)]
        max_rs = 8_999
        is_rs = rng.random(n_cert) < 0.4
        if is_rs.sum() > max_rs:
            is_rs[np.flatnonzero(is_rs)[max_rs:]] = False
        rncp_codes = rng.choice(np.arange(10_000, 100_000), size=int((~is_rs).sum()), replace=False)
        rs_codes = rng.choice(np.arange(1_000, 10_000), size=int(is_rs.sum()), replace=False)
        codes = np.empty(n_cert, dtype=object)
        codes[~is_rs] = [f"RNCP{c}" for c in rncp_codes]
        codes[is_rs] = [f"RS{c}" for c in rs_codes]
        cert_level = np.where(
            is_rs, 0, np.clip(self.occ.occ_level[focus] + rng.choice([-1, 0, 0, 1], size=n_cert), 3, 8)
        )
        cert_skills: list[list[int]] = []
        cert_prereq: list[list[int]] = []
        cert_targets: list[list[int]] = []
        for c in range(n_cert):
            pos = int(focus[c])
            occ = int(self.occ.pool[pos])
            ranked = esco.occ_skill_ranked[occ]
            w = esco.occ_skill_ranked_weight[occ] ** 2
            k = int(rng.integers(2, 5)) if is_rs[c] else int(rng.integers(4, 9))
            k = min(k, len(ranked))
            taught = list(weighted_sample(rng, ranked, k, w))
            if rng.random() < 0.3:
                other = int(self.occ.pool[self.occ.neighbour_of(rng, pos)])
                extra = esco.occ_skill_ranked[other][:5]
                if len(extra):
                    taught.append(int(extra[int(rng.integers(0, len(extra)))]))
            taught_set = set(int(s) for s in taught)
            p_prereq = 0.4 if is_rs[c] else (0.7 if cert_level[c] >= 5 else 0.3)
            prereq: list[int] = []
            if rng.random() < p_prereq:
                core = [int(s) for s in ranked[:12] if int(s) not in taught_set]
                if rng.random() < 0.35:  # a feeder occupation's core skill
                    feeder = int(self.occ.pool[self.occ.neighbour_of(rng, pos)])
                    core += [int(s) for s in esco.occ_skill_ranked[feeder][:6] if int(s) not in taught_set]
                core = sorted(set(core))
                n_pre = min(len(core), int(rng.integers(1, 4)))
                if n_pre:
                    prereq = sorted(int(s) for s in rng.choice(core, size=n_pre, replace=False))
            targets = [pos]
            n_extra = int(rng.integers(0, 3))
            for n in self.occ.neighbours[pos][:n_extra]:
                targets.append(int(n))
            cert_skills.append(sorted(taught_set))
            cert_prereq.append(prereq)
            cert_targets.append(targets)
        # Base price and hours per certification: hours lognormal, price = hours × hourly rate.
        base_hours = np.where(
            is_rs,
            rng.lognormal(math.log(35), 0.55, n_cert),
            rng.lognormal(math.log(110), 0.6, n_cert) * (1 + 0.1 * (cert_level - 5)),
        )
        base_rate = rng.lognormal(math.log(HOURLY_RATE_EUR), 0.45, n_cert)
        cert_attract = rng.normal(0.0, 0.6, n_cert)

        # Offerings: anchors first (one each), then every certification at least once, the rest by appeal.
        n_regular = n_t - n_anchor
        appeal = np.exp(cert_attract) * self.occ.demand[focus]
        extra = (
            rng.multinomial(n_regular - n_cert, appeal / appeal.sum())
            if n_regular > n_cert
            else np.zeros(n_cert, int)
        )
        cert_of = np.r_[np.full(n_anchor, -1), np.repeat(np.arange(n_cert), 1 + extra)][:n_t]
        n_t = len(cert_of)
        # Anchor trainings: their own skills and targets, a level, an RNCP/RS code.
        t_skills: list[list[int]] = []
        t_prereq: list[list[int]] = []
        t_targets: list[list[int]] = []
        t_focus = np.empty(n_t, dtype=np.int64)
        t_level = np.empty(n_t, dtype=np.int64)
        t_code = np.empty(n_t, dtype=object)
        hours = np.empty(n_t)
        rate = np.empty(n_t)
        anchor_codes = rng.choice(np.arange(10_000, 100_000), size=n_anchor, replace=False)
        self.anchor_of = np.full(n_t, -1)
        self.anchor_item = np.full(n_t, -1)
        for i, (a, j, anchor) in enumerate(anchor_specs):
            title_skill_idx = anchor.trainings[j][1]
            skills = [esco.skill(anchor.skills[s]) for s in title_skill_idx]
            occ_group = self.occ.anchor_occupations[a]
            lead = occ_group[j % len(occ_group)]
            skills += [int(s) for s in esco.occ_skill_ranked[lead][:2]]
            t_skills.append(sorted(set(skills)))
            t_prereq.append([])
            t_targets.append([self.occ.pool_pos[o] for o in occ_group])
            t_focus[i] = self.occ.pool_pos[lead]
            is_title = "professional title" in anchor.trainings[j][0]
            t_level[i] = (anchor.level or 4) if is_title else 0
            t_code[i] = f"RNCP{anchor_codes[i]}" if is_title else f"RS{1000 + (anchor_codes[i] % 9000)}"
            hours[i] = rng.lognormal(math.log(140 if is_title else 35), 0.3)
            rate[i] = rng.lognormal(math.log(HOURLY_RATE_EUR), 0.3)
            self.anchor_of[i] = a
            self.anchor_item[i] = j
        for i in range(n_anchor, n_t):
            c = int(cert_of[i])
            skills = list(cert_skills[c])
            if len(skills) >= 4 and rng.random() < 0.15:  # providers drop or add a skill
                skills.pop(int(rng.integers(0, len(skills))))
            t_skills.append(skills)
            t_prereq.append(cert_prereq[c])
            t_targets.append(cert_targets[c])
            t_focus[i] = focus[c]
            t_level[i] = cert_level[c]
            t_code[i] = codes[c]
            hours[i] = base_hours[c] * rng.uniform(0.85, 1.15)
            rate[i] = base_rate[c]
        # Providers: mostly specialists of the focus occupation.
        provider = rng.integers(0, self.scale.n_providers, size=n_t)
        specialist = rng.random(n_t) < 0.75
        pick = rng.random(n_t)
        for i in np.flatnonzero(specialist).tolist():
            options = self.providers_by_occ.get(int(t_focus[i]))
            if options is not None:
                provider[i] = options[int(pick[i] * len(options))]
        markup = rng.lognormal(0.0, 0.2, n_t)
        hours = np.clip(np.round(hours), 7, 1_600).astype(np.int64)
        price_eur = np.clip(hours * rate * markup, 150, 10_000)
        price_cents = (np.round(price_eur * 100 / 500) * 500).astype(np.int64)  # prices end in 0 or 5 €
        cumulative = np.cumsum(self.p_modality[provider], axis=1)
        modality = np.minimum((rng.random(n_t)[:, None] > cumulative).sum(axis=1), 2).astype(np.int64)
        attractiveness = np.round(
            0.8 * rng.normal(0.0, 1.0, n_t)
            + 0.6 * self.p_brand[provider]
            + 0.3 * np.r_[np.zeros(n_anchor), cert_attract[cert_of[n_anchor:]]],
            4,
        )
        self.t_ids = [f"T{i + 1:06d}" for i in range(n_t)]
        self.t_skills, self.t_prereq, self.t_targets = t_skills, t_prereq, t_targets
        self.t_focus, self.t_level, self.t_code = t_focus, t_level, t_code
        self.t_hours, self.t_price, self.t_modality = hours, price_cents, modality
        self.t_provider, self.t_region = provider, self.p_region[provider]
        self.t_attract = attractiveness
        self.n_t = n_t
        self.trainings_by_focus: dict[int, np.ndarray] = {}
        order = np.argsort(t_focus, kind="stable")
        starts = np.flatnonzero(np.r_[True, t_focus[order][1:] != t_focus[order][:-1]])
        for s, e in zip(starts, np.r_[starts[1:], len(order)], strict=True):
            self.trainings_by_focus[int(t_focus[order[s]])] = order[s:e]

    def make_sessions(self, rng: np.random.Generator) -> None:
        """Dated sessions: a cadence per training over the 24 months and up to 12 months after as_of."""
        n_t = self.n_t
        cadence = rng.choice([28, 42, 56, 91, 119, 182], size=n_t, p=[0.15, 0.15, 0.25, 0.25, 0.1, 0.1])
        status = rng.choice(3, size=n_t, p=[0.78, 0.12, 0.10])  # 0 running, 1 expired, 2 new
        horizon = self.as_of_day + 365
        first = self.window_start_day - 60 + rng.integers(0, cadence)
        new_first = self.as_of_day - rng.integers(0, 300, size=n_t)
        first = np.where(status == 2, new_first, first)
        last = np.where(status == 1, self.as_of_day - rng.integers(15, 400, size=n_t), horizon)
        last = np.maximum(last, first)
        counts = (last - first) // cadence + 1
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        days = np.repeat(first, counts) + offsets * np.repeat(cadence, counts)
        days = days - ((days + 3) % 7)  # sessions start on Mondays (1970-01-01 was a Thursday)
        self.sess_ptr = np.r_[0, np.cumsum(counts)]
        self.sess_days = days.astype(np.int64)
        self.t_status = np.array(["running", "expired", "new"])[status]
        self.t_cadence = cadence

    def next_session(self, trainings: np.ndarray, min_day: np.ndarray) -> np.ndarray:
        """First session start ≥ min_day for each training (-1 when there is none)."""
        big = 10_000_000
        keys = np.repeat(np.arange(self.n_t, dtype=np.int64), np.diff(self.sess_ptr)) * big + self.sess_days
        query = trainings.astype(np.int64) * big + min_day.astype(np.int64)
        idx = np.searchsorted(keys, query, side="left")
        ok = idx < self.sess_ptr[trainings + 1]
        return np.where(ok, self.sess_days[np.minimum(idx, len(self.sess_days) - 1)], -1)

    # -- texts -----------------------------------------------------------------------------------------------

    def _skill_phrases(self, skills: Sequence[int], rng: np.random.Generator) -> list[str]:
        clean = list(
            dict.fromkeys(self.esco.skill_title[s] for s in skills if self.esco.skill_title_clean[s])
        )
        rest = list(
            dict.fromkeys(self.esco.skill_title[s] for s in skills if not self.esco.skill_title_clean[s])
        )
        if len(clean) > 1:
            clean = [clean[i] for i in rng.permutation(len(clean))]
        return clean + [r for r in rest if r not in clean]

    def make_texts(self, rng: np.random.Generator) -> None:
        """English titles and descriptions from ESCO labels and definitions, with varied templates (French ones
        from the French labels when the world's language is French)."""
        if self.lang == "fr":
            self._make_texts_fr(rng)
            return
        esco = self.esco
        titles: list[str] = []
        descriptions: list[str] = []
        iterator = tqdm(range(self.n_t), desc="training texts", unit="training", disable=self.quiet)
        for i in iterator:
            occ = int(self.occ.pool[self.t_focus[i]])
            occ_label = esco.occ_label[occ]
            phrases = self._skill_phrases(self.t_skills[i], rng)
            clean = [p for p in phrases if is_clean_title_label(p)]
            s1 = clean[0] if clean else occ_label
            s2 = clean[1] if len(clean) > 1 else ""
            level = int(self.t_level[i])
            code = str(self.t_code[i])
            if self.anchor_of[i] >= 0:
                anchor = ANCHORS[self.anchor_of[i]]
                title, _, extra = anchor.trainings[self.anchor_item[i]]
            else:
                extra = ""
                templates: tuple[str, ...]
                pair = f"{s1} and {s2}" if s2 else s1
                if level:
                    templates = (
                        f"{capitalise(occ_label)} — professional title (level {level})",
                        f"{capitalise(occ_label)}: {pair}",
                        f"Become {article(occ_label)} {occ_label} — {LEVEL_NAMES[level]}",
                        f"{capitalise(pair)} — {LEVEL_NAMES[level]} diploma",
                        f"{capitalise(occ_label)} certification programme (level {level})",
                        f"Professional {occ_label} training: {s1}",
                    )
                else:
                    templates = (
                        f"{capitalise(s1)} — certificate",
                        f"Certificate in {s1}",
                        f"{capitalise(pair)} — short course",
                        f"{capitalise(s1)}: practical training for {occ_label} work",
                        f"Skills block: {s1}",
                    )
                title = templates[int(rng.integers(0, len(templates)))]
            definition = esco.occ_definition[occ]
            definition = definition if len(definition) <= 320 else definition[:317].rsplit(" ", 1)[0] + "…"
            kind = (
                f"an RNCP professional certification at level {level}"
                if code.startswith("RNCP")
                else "a certification registered in the RS (répertoire spécifique)"
            )
            a_occ = f"{article(occ_label)} {occ_label}"
            intros = (
                f"This programme leads to {kind} ({code}) and prepares you to work as {a_occ}.",
                f"A certified training ({code}) for people who work, or want to work, as {a_occ}.",
                f"Registered with France Compétences under {code}: {kind}.",
            )
            learn = "; ".join(phrases[:4]) if phrases else occ_label
            prereq = [esco.skill_title[s] for s in self.t_prereq[i]]
            region = REGIONS[self.t_region[i]]
            city = REGIONS[self.t_region[i]][3][i % len(region[3])]
            modality = MODALITIES[self.t_modality[i]]
            where = {
                "onsite": f"on site in {city} ({region[1]})",
                "remote": "fully remote",
                "hybrid": f"hybrid: remote and on site in {city}",
            }[modality]
            parts = [intros[int(rng.integers(0, len(intros)))], definition, f"You will learn to: {learn}."]
            if extra:
                parts.append(extra)
            if prereq:
                parts.append(f"Prerequisites: {', '.join(prereq)}.")
            parts.append(f"{self.t_hours[i]} hours, {where}.")
            titles.append(title)
            descriptions.append(" ".join(p for p in parts if p))
        self.t_title, self.t_description = titles, descriptions

    def _make_texts_fr(self, rng: np.random.Generator) -> None:
        """French titles and descriptions (``world_french``): the same choices as the English ones, in French."""
        fr = french_esco(self.esco)
        titles: list[str] = []
        descriptions: list[str] = []
        iterator = tqdm(range(self.n_t), desc="training texts", unit="training", disable=self.quiet)
        for i in iterator:
            occ = int(self.occ.pool[self.t_focus[i]])
            occ_label = fr.occ_label[occ]
            phrases = self._skill_phrases_fr(self.t_skills[i], rng)
            clean = [p for p in phrases[:6] if fr.skill_title_clean[p[1]]]
            s1 = clean[0][0] if clean else occ_label
            s2 = clean[1][0] if len(clean) > 1 else ""
            level = int(self.t_level[i])
            if self.anchor_of[i] >= 0:
                anchor = ANCHORS[self.anchor_of[i]]
                title, extra = ANCHOR_TEXTS_FR[anchor.name][self.anchor_item[i]]
            else:
                extra = ""
                title = training_title(rng, occ_label, s1, s2, level)
            region = REGIONS[self.t_region[i]]
            descriptions.append(
                training_description(
                    rng,
                    occ_label=occ_label,
                    occ_alt_labels=fr.occ_alt_labels[occ],
                    code=str(self.t_code[i]),
                    level=level,
                    phrases=[p[0] for p in phrases],
                    prerequisites=[fr.skill_title[s] for s in self.t_prereq[i]],
                    extra=extra,
                    hours=int(self.t_hours[i]),
                    modality=MODALITIES[self.t_modality[i]],
                    city=region[3][i % len(region[3])],
                    region=region[1],
                )
            )
            titles.append(title)
        self.t_title, self.t_description = titles, descriptions

    def _skill_phrases_fr(self, skills: Sequence[int], rng: np.random.Generator) -> list[tuple[str, int]]:
        """French labels of the skills taught with their index, those fit for a title first in random order."""
        fr = french_esco(self.esco)
        labels = {int(s): fr.skill_title[s] for s in skills}
        clean = [s for s in labels if fr.skill_title_clean[s]]
        rest = [s for s in labels if not fr.skill_title_clean[s]]
        if len(clean) > 1:
            clean = [clean[i] for i in rng.permutation(len(clean))]
        seen: set[str] = set()
        out: list[tuple[str, int]] = []
        for s in clean + rest:
            if labels[s] not in seen:
                seen.add(labels[s])
                out.append((labels[s], s))
        return out

    # -- the import file ---------------------------------------------------------------------------------------

    def frame(self) -> pd.DataFrame:
        """The catalogue as ``trainings.csv`` holds it (the columns of the world format, in its order)."""
        esco = self.esco
        dates = days_to_iso(self.sess_days)
        ptr = self.sess_ptr
        level = np.where(self.t_level > 0, self.t_level.astype(str), "")
        declared = self.t_skills if self.t_declared_skills is None else self.t_declared_skills
        return pd.DataFrame(
            {
                "training_id": self.t_ids,
                "title": self.t_title,
                "description": self.t_description,
                "certification_code": self.t_code.astype(str),
                "provider_id": [self.p_ids[p] for p in self.t_provider],
                "provider_name": [self.p_name[p] for p in self.t_provider],
                "price_cents": self.t_price,
                "hours": self.t_hours,
                "modality": np.array(MODALITIES)[self.t_modality],
                "region_code": np.array(REGION_CODES)[self.t_region],
                "skills": [LIST_SEPARATOR.join(esco.skill_uris[s]) for s in declared],
                "prerequisites": [LIST_SEPARATOR.join(esco.skill_uris[s]) for s in self.t_prereq],
                "target_occupations": [
                    LIST_SEPARATOR.join(esco.occ_uris[self.occ.pool[t]]) for t in self.t_targets
                ],
                "level": level,
                "start_dates": [LIST_SEPARATOR.join(dates[ptr[i] : ptr[i + 1]]) for i in range(self.n_t)],
            }
        )[list(COLUMNS[TRAININGS])]
