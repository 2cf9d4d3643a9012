"""Synthetic CPF worlds grounded in ESCO: providers, trainings, holders and 24 months of interactions.

Why a synthetic world: the recommender, the rights ledger and the statistics need data with a known truth.
Everything here is drawn from a documented latent model (``data/README.md``: every factor, weight and step of
the view → enrol → complete process; the constants below carry the same names). What a real system would see
goes to the import files of CONTRACT.md; what only the simulator knows (latent skills, preferences, provider
quality, the noise-free utility) goes to ``truth/`` and is read back by :func:`truth_utility` for evaluation.

The world is a deterministic function of (seed, scale, as_of): one ``numpy.random.Generator`` per stage is
spawned from the seed, every collection is iterated in a sorted order and no clock is read for content.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from features.esco import load_occupation_skills, load_taxonomy
from parcours.domain.rules import flat_participation_cents

GENERATOR_VERSION = "1.0.0"

MODALITIES = ("onsite", "remote", "hybrid")
EMPLOYMENT_STATUSES = ("employee", "job_seeker", "self_employed")
IMPORT_FILES = ("trainings.csv", "holders.csv", "experience.csv", "interactions.csv")
EPOCH = dt.date(1970, 1, 1)
DAY = 86_400


# --- Scales -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldScale:
    """Size of a world and how its views are drawn (see data/README.md, "Scales")."""

    n_trainings: int
    n_holders: int
    n_providers: int
    # Occupations the world draws jobs, targets and trainings from (None: all with derived skills).
    n_occupations: int | None
    # Mean number of trainings an active holder views over the 24 months.
    mean_views: float
    # "full": views are drawn by softmax over the whole catalogue. "neighbourhood": over a candidate pool per
    # holder = the ``pool_overlap`` trainings closing most of the holder's skill gap + ``pool_random`` drawn
    # uniformly from the catalogue (trainings outside the pool have a negligible softmax weight).
    pool: str
    pool_overlap: int = 600
    pool_random: int = 200
    block: int = 250  # holders simulated together (memory ∝ block × pool size)
    # Offerings per certification (the RS register has 4-digit codes: at most 8,999 RS certifications).
    trainings_per_certification: float = 3.5


SCALES: dict[str, WorldScale] = {
    "tiny": WorldScale(
        n_trainings=300,
        n_holders=200,
        n_providers=30,
        n_occupations=40,
        mean_views=14.0,
        pool="full",
        block=200,
    ),
    "small": WorldScale(
        n_trainings=5_000,
        n_holders=3_000,
        n_providers=400,
        n_occupations=400,
        mean_views=16.0,
        pool="full",
        block=250,
    ),
    "large": WorldScale(
        n_trainings=200_000,
        n_holders=100_000,
        n_providers=12_000,
        n_occupations=None,
        mean_views=9.6,
        pool="neighbourhood",
        block=1_000,
        trainings_per_certification=12.0,
    ),
}


# --- The latent model (documented in data/README.md) --------------------------------------------------------


@dataclass(frozen=True)
class UtilityWeights:
    """Weights of the noise-free utility of holder h for training t (formula in data/README.md)."""

    gap: float = 20.0  # × skill-gap closure toward the goal occupation (target, or current job)
    affordability: float = 0.6  # × price sensitivity × log1p(out-of-pocket / OOP_SCALE_EUR)
    modality: float = 1.2  # × (holder's weight for the training's modality − 1/3)
    region: float = 1.2  # × (1 − mobility) when onsite elsewhere (half for hybrid)
    quality: float = 2.0  # × (provider quality − QUALITY_MEAN)
    popularity: float = 0.8  # × training attractiveness (brand, marketing; N(0, 1)-ish)
    prerequisites: float = 1.0  # × share of prerequisites the holder does not master
    level: float = 0.5  # × levels above qualification + 1, or half of levels below qualification − 2


UTILITY_WEIGHTS = UtilityWeights()
OOP_SCALE_EUR = 250.0
QUALITY_MEAN = 0.65
PREREQUISITE_PROFICIENCY = 0.3  # a prerequisite is met when the latent proficiency is at least this
CONTINUITY_MODE_WEIGHT = 0.6  # goal weight of holders without a target (upskilling in their current job)
CONTINUITY_GAP_DISCOUNT = 0.5  # they still value skills they partly master: gap = w × (1 − 0.5 p)
SHARE_DECLARED_TARGET = 0.55  # holders who declare a target occupation
SHARE_LATENT_TARGET = 0.15  # of the others: a target they pursue but did not declare (truth only)
SHARE_CAREER_CHANGE = 0.25  # of targets: a career change (any occupation never held, by demand)

VIEW_TEMPERATURE = 0.6  # softmax temperature of views over the catalogue (utility units)
ENROL_NOISE_SD = 0.8  # sd of the Gaussian noise added to utility for the enrolment decision
ENROL_RATE = 0.12  # share of enrollable views enrolled (threshold = quantile of utility + noise)
MAX_ENROLMENTS = 3  # per holder over the 24 months
MIN_DAYS_BEFORE_SESSION = 14  # ≈ 11 working days between confirmation and start (DOMAIN.md)
MAX_DAYS_BEFORE_SESSION = 180  # a holder enrols in a session starting within six months of the view
HOURLY_RATE_EUR = 22.0  # median price per hour of training (price = hours × rate × provider markup)
WEEKLY_HOURS = {"onsite": 30, "hybrid": 20, "remote": 12}  # pace, to date the end of a session

# Rights (DOMAIN.md). Activity years 2015–2018 were credited in hours (24 h, 48 h without level-3
# qualification) and converted at 15 €/h; from 2019 in euros.
CPF_FIRST_ACTIVITY_YEAR = 2015
CEC_FIRST_ACTIVITY_YEAR = 2017
CPF_CREDIT_MONTH_DAY = (3, 1)  # credits for year N are posted on 1 March N+1
CEC_CREDIT_MONTH_DAY = (9, 1)  # CEC: declared by 30 June N+1, validated, credited on 1 September N+1
CEC_CREDIT_CENTS = 24_000
CEC_CEILING_CENTS = 72_000
LEDGER_ACCOUNTS = ("cpf", "cec", "cpf_reserved", "cec_reserved")


# --- France -------------------------------------------------------------------------------------------------

# INSEE region codes (2016 regions), population weight (millions) and a few cities for provider names.
REGIONS: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("01", "Guadeloupe", 0.38, ("Pointe-à-Pitre", "Basse-Terre")),
    ("02", "Martinique", 0.36, ("Fort-de-France",)),
    ("03", "Guyane", 0.29, ("Cayenne",)),
    ("04", "La Réunion", 0.87, ("Saint-Denis", "Saint-Pierre")),
    ("06", "Mayotte", 0.30, ("Mamoudzou",)),
    ("11", "Île-de-France", 12.3, ("Paris", "Versailles", "Créteil", "Nanterre", "Saint-Denis", "Évry")),
    ("24", "Centre-Val de Loire", 2.6, ("Orléans", "Tours", "Bourges", "Chartres")),
    ("27", "Bourgogne-Franche-Comté", 2.8, ("Dijon", "Besançon", "Auxerre", "Mâcon")),
    ("28", "Normandie", 3.3, ("Rouen", "Caen", "Le Havre", "Cherbourg")),
    ("32", "Hauts-de-France", 6.0, ("Lille", "Amiens", "Arras", "Roubaix", "Beauvais")),
    ("44", "Grand Est", 5.5, ("Strasbourg", "Reims", "Metz", "Nancy", "Mulhouse")),
    ("52", "Pays de la Loire", 3.8, ("Nantes", "Angers", "Le Mans", "La Roche-sur-Yon")),
    ("53", "Bretagne", 3.4, ("Rennes", "Brest", "Vannes", "Lorient", "Quimper")),
    ("75", "Nouvelle-Aquitaine", 6.0, ("Bordeaux", "Limoges", "Poitiers", "Pau", "La Rochelle")),
    ("76", "Occitanie", 5.9, ("Toulouse", "Montpellier", "Nîmes", "Perpignan", "Albi")),
    ("84", "Auvergne-Rhône-Alpes", 8.0, ("Lyon", "Grenoble", "Clermont-Ferrand", "Saint-Étienne", "Annecy")),
    ("93", "Provence-Alpes-Côte d'Azur", 5.1, ("Marseille", "Nice", "Toulon", "Avignon", "Aix-en-Provence")),
    ("94", "Corse", 0.34, ("Ajaccio", "Bastia")),
)
REGION_CODES = tuple(r[0] for r in REGIONS)

QUALIFICATION_LEVELS = (0, 3, 4, 5, 6, 7, 8)  # 0: no level-3 qualification (empty in holders.csv)
QUALIFICATION_SHARES = (0.10, 0.18, 0.22, 0.18, 0.15, 0.13, 0.04)
EDUCATION_END_AGE = {0: 17, 3: 18, 4: 19, 5: 21, 6: 22, 7: 24, 8: 28}
DIPLOMA_NAMES = {
    3: ("CAP (level 3)", "BEP (level 3)"),
    4: ("Baccalauréat professionnel (level 4)", "Brevet professionnel (level 4)"),
    5: ("BTS (level 5)", "DUT (level 5)"),
    6: ("Licence professionnelle (level 6)", "BUT (level 6)", "Bachelor (level 6)"),
    7: ("Master (level 7)", "Diplôme d'ingénieur (level 7)"),
    8: ("Doctorate (level 8)",),
}
LEVEL_NAMES = {
    3: "CAP level",
    4: "baccalaureate level",
    5: "BTS level",
    6: "bachelor level",
    7: "master level",
    8: "doctorate level",
}

# Volunteering: (label, CEC-eligible, hours a year, ESCO skill text prefix or "").
VOLUNTEERING = (
    ("volunteer firefighter", True, 300, "provide first aid"),
    ("association treasurer", True, 220, "manage budgets"),
    ("youth football coach (volunteer, club board member)", True, 240, "coach young"),
    ("civic service (service civique, 8 months)", True, 900, ""),
    ("operational military reserve", True, 400, ""),
    ("food bank volunteer", False, 60, ""),
    ("literacy tutor at a neighbourhood association", False, 80, ""),
)

PROVIDER_PREFIXES = (
    "Institut",
    "Académie",
    "Centre de formation",
    "École",
    "Campus",
    "Atelier",
    "Cabinet",
    "Groupe",
    "Organisme",
    "Maison de la formation",
)
PROVIDER_CORES = (
    "Avenir",
    "Horizon",
    "Compétences",
    "Talents",
    "Métiers",
    "Savoirs",
    "Pro",
    "Évolution",
    "Transitions",
    "Perspectives",
    "Cap",
    "Trajectoires",
    "Formations",
    "Qualifications",
)
FAMILY_NAMES = (
    "Dupont",
    "Martin",
    "Bernard",
    "Moreau",
    "Laurent",
    "Lefebvre",
    "Garnier",
    "Rousseau",
    "Fontaine",
    "Chevalier",
    "Mercier",
    "Blanc",
    "Guérin",
    "Faure",
    "Girard",
    "Bonnet",
    "Lambert",
    "Fournier",
    "Morel",
    "Robin",
    "Petit",
    "Durand",
    "Leroy",
    "Roux",
    "Vincent",
    "Muller",
)


# --- Anchor clusters: trainings that search tests look for ------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """Hand-written trainings of a cluster; ESCO concepts are found by the start of their text."""

    name: str
    occupations: tuple[str, ...]  # text prefixes of ESCO occupations
    skills: tuple[str, ...]  # text prefixes of ESCO skills the cluster teaches
    trainings: tuple[tuple[str, tuple[int, ...], str], ...]  # (title, indices into skills, extra sentence)
    level: int | None = None


ANCHORS: tuple[Anchor, ...] = (
    Anchor(
        "accounting",
        ("accountant ", "payroll clerk ", "bookkeeper "),
        (
            "manage payroll",
            "prepare tax returns forms",
            "tax legislation",
            "accounting techniques",
            "accounting bookkeeping",
            "prepare financial statements",
            "use accounting systems",
        ),
        (
            (
                "Payroll and tax accounting — certificate",
                (0, 1, 2),
                "Covers payroll, payslips and tax returns.",
            ),
            (
                "Accounting techniques and bookkeeping — professional title (level 5)",
                (3, 4, 6),
                "Double-entry bookkeeping, ledgers and accounting software.",
            ),
            ("Tax returns and VAT for accountants", (1, 2, 3), "Corporate tax, VAT and income tax returns."),
            (
                "Financial statements and year-end closing",
                (5, 3, 4),
                "Balance sheet, income statement, closing.",
            ),
            (
                "Payroll management — practical training",
                (0, 6),
                "Monthly payroll run and social declarations.",
            ),
            ("Accountant — professional title (level 6)", (3, 5, 2, 0), "Full accounting and tax practice."),
        ),
        level=5,
    ),
    Anchor(
        "stone",
        ("stonemason ", "stone engraver ", "stone splitter "),
        (
            "use stone splitting techniques",
            "dimension stone",
            "polish stone",
            "use pneumatic chisel",
            "prepare stone for smoothing",
            "inspect stone surface",
            "types of stone for working",
        ),
        (
            (
                "Stone cutting and dressing — stonemason certificate",
                (0, 1, 3),
                "Cut, split and dress natural stone blocks.",
            ),
            (
                "Stonemason — professional title (level 3)",
                (1, 0, 6, 2),
                "Stone cutting, masonry and restoration.",
            ),
            ("Stone splitting techniques", (0, 5), "Traditional stone splitting with wedges and feathers."),
            ("Stone carving and engraving", (3, 2, 4), "Carve and engrave stone with chisels."),
            ("Dimension stone cutting and polishing", (1, 2, 4), "Cut stone to dimension and polish it."),
        ),
        level=3,
    ),
    Anchor(
        "massage",
        ("masseur/masseuse ", "massage therapist "),
        (
            "massage types",
            "give massages",
            "apply massage therapy",
            "therapeutic massage",
            "apply deep tissue massage",
            "apply sports massage",
            "give shiatsu massages",
            "apply massage oil",
        ),
        (
            ("Hot-stone massage — certificate", (0, 1, 7), "Hot stone massage with heated basalt stones."),
            (
                "Massage therapist — wellness massage techniques",
                (1, 2, 0),
                "Swedish, hot-stone and relaxing massage.",
            ),
            ("Hot-stone and deep tissue massage", (0, 4, 1), "Hot stones combined with deep tissue work."),
            ("Sports massage practitioner", (5, 3, 1), "Massage for athletes before and after effort."),
            ("Shiatsu and therapeutic massage", (6, 3), "Japanese shiatsu pressure techniques."),
            (
                "Wellness massage — professional title (level 4)",
                (2, 1, 0, 7),
                "Full wellness massage practice.",
            ),
        ),
        level=4,
    ),
)


# --- Small helpers ------------------------------------------------------------------------------------------


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_before(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def to_days(day: dt.date) -> int:
    return (day - EPOCH).days


def days_to_iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype="int64").astype("datetime64[D]"), unit="D")


def seconds_to_iso(seconds: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(np.asarray(seconds, dtype="int64").astype("datetime64[s]"), unit="s")
    return np.char.add(text, "Z")


def annual_credit_cents(
    year: int, time_fraction: float, status: str, without_level3: bool
) -> tuple[int, int]:
    """CPF credit for activity year ``year`` and the ceiling it is subject to, in cents (DOMAIN.md).

    ``time_fraction`` is the time worked over the year relative to full time (0..1). At least half time gives
    the full credit; less is prorated to the time worked, rounded up to the cent. Holders without a level-3
    qualification get 800 €/8,000 € as employees; self-employed get 500 €/5,000 €. Years before 2019 were
    credited in hours (24 h, 48 h without qualification) converted at 15 €/h.
    """
    if time_fraction <= 0:
        return 0, 0
    boosted = without_level3 and status != "self_employed"
    ceiling = 800_000 if boosted else 500_000
    full = (48 if boosted else 24) * 1_500 if year < 2019 else (80_000 if boosted else 50_000)
    if time_fraction >= 0.5:
        return full, ceiling
    return math.ceil(round(full * time_fraction, 6)), ceiling


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_STOP_END = {"of", "the", "on", "for", "in", "and", "to", "with", "a", "an", "by", "from", "at", "or"}


def skill_title_label(label: str, alt_labels: str) -> str:
    """A readable preferred label of an ESCO skill for titles, from the run of labels ESCO ships.

    The package runs the labels together (``inspect tax returns investigate tax returns check tax returns``);
    the preferred label ends where the next label starts. Rules, first match wins: (a) a new verb precedes the
    same object (``monitor X supervise X``; longest such prefix); (b) the first word repeats within five words
    (``security regulations security norms``); (c) the same object follows two words later (``prepare
    financial statements draw up financial statements``); (d) the last two words recur shortly after; (e) the
    last word recurs shortly after; otherwise the first three words.
    """
    words = f"{label} {alt_labels}".split()
    if len(words) <= 2:
        return " ".join(words) or label
    lower = [w.lower() for w in words]
    n_max = min(8, len(words) - 1)
    for n in range(n_max, 1, -1):  # (a)
        if lower[n + 1 : 2 * n] == lower[1:n]:
            return " ".join(words[:n])
    for n in range(2, min(5, n_max) + 1):  # (b)
        if lower[n] == lower[0]:
            return " ".join(words[:n])
    for n in range(2, n_max + 1):  # (c)
        if lower[n + 2 : 2 * n + 1] == lower[1:n]:
            return " ".join(words[:n])
    for n in range(2, n_max + 1):  # (d)
        tail = lower[n - 2 : n]
        following = lower[n : n + 10]
        if any(following[i : i + 2] == tail for i in range(len(following) - 1)):
            return " ".join(words[:n])
    for n in range(2, min(6, n_max) + 1):  # (e)
        if lower[n - 1] not in _STOP_END and lower[n - 1] in lower[n : n + 7]:
            return " ".join(words[:n])
    return " ".join(words[:3])


def _is_clean_title_label(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 6 and words[-1].lower() not in _STOP_END and len(text) <= 60


def split_occupation_alt_labels(alt_labels: str, head_words: frozenset[str]) -> list[str]:
    """Alternative labels of an occupation: the run is cut after each word ending an ESCO occupation label."""
    labels: list[str] = []
    current: list[str] = []
    words = alt_labels.split()
    for i, word in enumerate(words):
        current.append(word)
        following = words[i + 1].lower() if i + 1 < len(words) else ""
        # "head of department": a head word followed by a preposition does not end the label.
        ends = word.lower() in head_words and word.lower() not in _STOP_END and following not in _STOP_END
        if ends and len(current) <= 6:
            if current[0].lower() not in _STOP_END:
                labels.append(" ".join(current))
            current = []
        elif len(current) > 6:
            current = []
    return labels


_QWERTY_NEIGHBOURS = {
    "a": "qsz",
    "e": "rzd",
    "i": "uo",
    "o": "ip",
    "r": "et",
    "t": "ry",
    "n": "bm",
    "s": "ad",
    "c": "xv",
    "l": "km",
    "u": "yi",
    "m": "n,",
}


def typo_variant(rng: np.random.Generator, text: str, qualifiers: bool = True) -> str:
    """Free text as people type it: a typo (swap, drop, double or slip a letter) and, for job titles
    (``qualifiers``), sometimes a qualifier ("senior …", "… (part time)", capitals)."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) >= 4:
        i = letters[int(rng.integers(1, len(letters) - 1))]
        kind = int(rng.integers(0, 4))
        if kind == 0 and i + 1 < len(text) and text[i + 1].isalpha():
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif kind == 1:
            text = text[:i] + text[i + 1 :]
        elif kind == 2:
            text = text[:i] + text[i] + text[i:]
        else:
            options = _QWERTY_NEIGHBOURS.get(text[i].lower(), "")
            if options:
                text = text[:i] + options[int(rng.integers(0, len(options)))] + text[i + 1 :]
    qualifier = int(rng.integers(0, 8)) if qualifiers else -1
    if qualifier == 0:
        text = "senior " + text
    elif qualifier == 1:
        text = text + " (part time)"
    elif qualifier == 2:
        text = "assistant " + text
    elif qualifier == 3:
        text = text.upper() if len(text) < 30 else text
    return text


def _expand_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each entry of ``rows``, the nonzeros of that CSR row: (position in rows, column, value)."""
    starts = matrix.indptr[rows]
    counts = matrix.indptr[rows + 1] - starts
    position = np.repeat(np.arange(len(rows)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    flat = np.repeat(starts, counts) + offsets
    return position, matrix.indices[flat], matrix.data[flat]


def _group_max(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.maximum.reduceat(values, starts)


def _rank_within(groups: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order by group then score descending; returns (order, rank of each ordered item within its group)."""
    order = np.lexsort((-scores, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    lengths = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, lengths)
    return order, rank


def _weighted_sample(rng: np.random.Generator, items: np.ndarray, k: int, weights: np.ndarray) -> np.ndarray:
    """k items without replacement, probability ∝ weight at each draw (Gumbel top-k: one vectorised draw)."""
    keys = np.log(weights) + rng.gumbel(size=len(items))
    return np.asarray(items)[np.argsort(-keys, kind="stable")[:k]]


def _csr_lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros(0)
    return np.asarray(matrix[rows, cols]).ravel()


def _list_matrix(
    lists: Sequence[Sequence[int]],
    n_cols: int,
    values: Sequence[Sequence[float]] | None = None,
) -> sp.csr_matrix:
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    indptr = np.r_[0, np.cumsum(lengths)]
    indices = np.fromiter((c for x in lists for c in x), dtype=np.int64, count=int(indptr[-1]))
    data = (
        np.ones(len(indices))
        if values is None
        else np.fromiter((v for x in values for v in x), dtype=np.float64, count=int(indptr[-1]))
    )
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(lists), n_cols))
    matrix.sum_duplicates()
    matrix.sort_indices()
    if values is None:
        matrix.data[:] = 1.0
    return matrix


# --- ESCO context -----------------------------------------------------------------------------------------


@dataclass
class EscoContext:
    """ESCO as the generator uses it: sorted URIs, the occupation×skill weight matrix, labels for texts."""

    skill_uris: np.ndarray
    skill_index: pd.Index
    skill_dtype: pd.CategoricalDtype  # categorical dtype over skill_uris (compact URI columns)
    skill_title: list[str]
    skill_title_clean: np.ndarray
    occ_uris: np.ndarray
    occ_index: pd.Index
    occ_label: list[str]
    occ_alt_labels: list[list[str]]
    occ_definition: list[str]
    occ_skills: sp.csr_matrix  # occupations × skills, derived weight in (0, 1]; rows sorted by skill index
    occ_skill_ranked: list[np.ndarray] = field(default_factory=list)  # skill indices by rank per occupation
    occ_skill_ranked_weight: list[np.ndarray] = field(default_factory=list)  # their weights

    def occupation(self, prefix: str) -> int:
        if ("occupation", prefix) in self._found:
            return self._found[("occupation", prefix)]
        matches = [i for i, text in enumerate(self._occ_text) if text.startswith(prefix.lower())]
        if not matches:
            raise RuntimeError(f"no ESCO occupation text starts with {prefix!r}")
        self._found[("occupation", prefix)] = matches[0]
        return matches[0]

    def skill(self, prefix: str) -> int:
        if ("skill", prefix) in self._found:
            return self._found[("skill", prefix)]
        matches = [i for i, text in enumerate(self._skill_text) if text.startswith(prefix.lower())]
        if not matches:
            raise RuntimeError(f"no ESCO skill text starts with {prefix!r}")
        self._found[("skill", prefix)] = matches[0]
        return matches[0]

    _occ_text: list[str] = field(default_factory=list)
    _skill_text: list[str] = field(default_factory=list)
    _found: dict = field(default_factory=dict)  # prefix lookups already made


@lru_cache(maxsize=1)
def load_esco_context() -> EscoContext:
    taxonomy = load_taxonomy()
    skills = taxonomy.skills.sort_index()
    occupations = taxonomy.occupations.sort_index()
    links = load_occupation_skills()
    skill_index = pd.Index(skills["uri"].to_numpy())
    occ_index_all = pd.Index(occupations["uri"].to_numpy())
    links = links[links["skill_uri"].isin(skill_index) & links["occupation_uri"].isin(occ_index_all)]
    occ_with_skills = np.sort(links["occupation_uri"].unique())
    occupations = occupations.loc[occ_with_skills]
    occ_index = pd.Index(occupations["uri"].to_numpy())
    rows = occ_index.get_indexer(links["occupation_uri"])
    cols = skill_index.get_indexer(links["skill_uri"])
    occ_skills = sp.csr_matrix(
        (links["weight"].to_numpy(dtype=float), (rows, cols)), shape=(len(occ_index), len(skill_index))
    )
    occ_skills.sum_duplicates()
    occ_skills.sort_indices()
    ranked_frame = pd.DataFrame({"o": rows, "s": cols, "r": links["rank"].to_numpy()}).sort_values(
        ["o", "r", "s"]
    )
    ranked_frame["w"] = links["weight"].to_numpy(dtype=float)[ranked_frame.index.to_numpy()]
    ranked = [np.zeros(0, dtype=np.int64)] * len(occ_index)
    ranked_weights = [np.zeros(0)] * len(occ_index)
    for o, group in ranked_frame.groupby("o", sort=True):
        ranked[int(o)] = group["s"].to_numpy(dtype=np.int64)
        ranked_weights[int(o)] = group["w"].to_numpy(dtype=float)
    heads = frozenset(
        str(label).split()[-1].lower() for label in taxonomy.occupations["label"] if str(label).split()
    )
    skill_titles = [
        skill_title_label(str(lab), str(alt))
        for lab, alt in zip(skills["label"], skills["alt_labels"], strict=True)
    ]
    context = EscoContext(
        skill_uris=skills["uri"].to_numpy().astype(str),
        skill_index=skill_index,
        skill_dtype=pd.CategoricalDtype(categories=skill_index),
        skill_title=skill_titles,
        skill_title_clean=np.array([_is_clean_title_label(t) for t in skill_titles]),
        occ_uris=occupations["uri"].to_numpy().astype(str),
        occ_index=occ_index,
        occ_label=[str(x) for x in occupations["label"]],
        occ_alt_labels=[split_occupation_alt_labels(str(a), heads) for a in occupations["alt_labels"]],
        occ_definition=[str(x) for x in occupations["definition"]],
        occ_skills=occ_skills,
        occ_skill_ranked=ranked,
        occ_skill_ranked_weight=ranked_weights,
    )
    context._occ_text = [str(t).lower() for t in occupations["text"]]
    context._skill_text = [str(t).lower() for t in skills["text"]]
    return context


# --- Utility (shared by the simulation and truth_utility) ---------------------------------------------------


@dataclass
class UtilityInputs:
    """Everything the noise-free utility needs, indexed by holder / training position.

    Built from the truth tables (:func:`_utility_inputs`), both by the generator and by :func:`truth_utility`,
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


def _block_gap(inputs: UtilityInputs, block: np.ndarray) -> sp.csr_matrix:
    """Gap closure of every (holder in block, training): goal_gap · teaches, canonical CSR."""
    gap_m = (inputs.goal_gap[block] @ inputs.teaches.T).tocsr()
    gap_m.sort_indices()  # binary search in lookups (a linear scan otherwise)
    return gap_m


def _pair_gap_met(
    inputs: UtilityInputs,
    block: np.ndarray,
    holders: np.ndarray,
    trainings: np.ndarray,
    dense: bool,
    gap_m: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gap closure and prerequisites met for pairs whose holders are all in ``block`` (a sorted range)."""
    local = holders - block[0]
    gap_m = _block_gap(inputs, block) if gap_m is None else gap_m
    met_m = (inputs.mastered[block] @ inputs.prerequisites.T).tocsr()
    if dense:
        return np.asarray(gap_m.toarray())[local, trainings], np.asarray(met_m.toarray())[local, trainings]
    met_m.sort_indices()
    return _csr_lookup(gap_m, local, trainings), _csr_lookup(met_m, local, trainings)


def _skill_codes(esco: EscoContext, uris: pd.Series) -> np.ndarray:
    """Positions of skill URIs in the sorted ESCO skill list (for categoricals on that list: their codes)."""
    if isinstance(uris.dtype, pd.CategoricalDtype) and uris.dtype == esco.skill_dtype:
        return uris.cat.codes.to_numpy(dtype=np.int64)
    return esco.skill_index.get_indexer(uris)


def _utility_inputs(
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
        parts = [v.split("|") if isinstance(v, str) and v else [] for v in trainings[column]]
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
        "holders": _read_csv(world_dir / "holders.csv"),
        "trainings": _read_csv(world_dir / "trainings.csv"),
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
    inputs = _utility_inputs(
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
        gap, met = _pair_gap_met(inputs, block, hh, tt, dense=True)
        result[block] = pair_utility(inputs, hh, tt, gap, met).reshape(len(block), n_t)
    return result


# --- The generator ------------------------------------------------------------------------------------------


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 2)
        self._last = now


class _WorldBuilder:
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
    )

    def __init__(self, scale: WorldScale, seed: int, as_of: dt.date) -> None:
        self.scale = scale
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

    # -- occupations ---------------------------------------------------------------------------------------

    def pick_occupations(self) -> None:
        """The occupations of this world, their neighbourhoods (by derived-skill cosine), demand and level."""
        rng = self.rng("occupations")
        esco = self.esco
        weights = esco.occ_skills
        norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1)).ravel())
        unit = sp.diags(1 / np.maximum(norms, 1e-12)) @ weights
        similarity = np.asarray((unit @ unit.T).toarray(), dtype=np.float32)
        np.fill_diagonal(similarity, -1.0)
        self.anchor_occupations = [[esco.occupation(p) for p in anchor.occupations] for anchor in ANCHORS]
        anchor_set = sorted({o for group in self.anchor_occupations for o in group})
        n_all = len(esco.occ_uris)
        enough_skills = np.diff(esco.occ_skills.indptr) >= 8
        if self.scale.n_occupations is None:
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
            while len(chosen) < self.scale.n_occupations:
                seed_occ = int(candidates[rng.integers(0, len(candidates))])
                add(seed_occ)
                for n in np.argsort(-similarity[seed_occ], kind="stable")[:3]:
                    if len(chosen) < self.scale.n_occupations and enough_skills[n]:
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

    # -- providers -----------------------------------------------------------------------------------------

    def make_providers(self) -> None:
        rng = self.rng("providers")
        n = self.scale.n_providers
        region_w = np.array([r[2] for r in REGIONS])
        self.p_region = rng.choice(len(REGIONS), size=n, p=region_w / region_w.sum())
        self.p_quality = np.round(rng.beta(5.0, 2.7, size=n), 4)
        self.p_brand = np.round(rng.normal(0.0, 0.5, size=n), 4)
        self.p_modality = rng.dirichlet([2.0, 1.2, 0.8], size=n)
        n_spec = rng.integers(1, 4, size=n)
        draws = rng.choice(len(self.pool), size=(n, 3), p=self.demand)
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

    def make_trainings(self) -> None:
        """Certifications (RNCP with a level, RS without) per occupation, then offerings by providers."""
        rng = self.rng("trainings")
        esco = self.esco
        n_t = self.scale.n_trainings
        anchor_specs: list[tuple[int, int, Anchor]] = []  # (anchor index, training index in anchor, anchor)
        for a, anchor in enumerate(ANCHORS):
            for j in range(len(anchor.trainings)):
                anchor_specs.append((a, j, anchor))
        n_anchor = len(anchor_specs)
        n_pool = len(self.pool)
        n_cert = max(n_pool, int(round((n_t - n_anchor) / self.scale.trainings_per_certification)))
        # Each pool occupation gets a certification first; the rest follow demand.
        focus = np.r_[np.arange(n_pool), rng.choice(n_pool, size=n_cert - n_pool, p=self.demand)]
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
            is_rs, 0, np.clip(self.occ_level[focus] + rng.choice([-1, 0, 0, 1], size=n_cert), 3, 8)
        )
        cert_skills: list[list[int]] = []
        cert_prereq: list[list[int]] = []
        cert_targets: list[list[int]] = []
        for c in range(n_cert):
            pos = int(focus[c])
            occ = int(self.pool[pos])
            ranked = esco.occ_skill_ranked[occ]
            w = esco.occ_skill_ranked_weight[occ] ** 2
            k = int(rng.integers(2, 5)) if is_rs[c] else int(rng.integers(4, 9))
            k = min(k, len(ranked))
            taught = list(_weighted_sample(rng, ranked, k, w))
            if rng.random() < 0.3:
                other = int(self.pool[self.neighbour_of(rng, pos)])
                extra = esco.occ_skill_ranked[other][:5]
                if len(extra):
                    taught.append(int(extra[int(rng.integers(0, len(extra)))]))
            taught_set = set(int(s) for s in taught)
            p_prereq = 0.4 if is_rs[c] else (0.7 if cert_level[c] >= 5 else 0.3)
            prereq: list[int] = []
            if rng.random() < p_prereq:
                core = [int(s) for s in ranked[:12] if int(s) not in taught_set]
                if rng.random() < 0.35:  # a feeder occupation's core skill
                    feeder = int(self.pool[self.neighbour_of(rng, pos)])
                    core += [int(s) for s in esco.occ_skill_ranked[feeder][:6] if int(s) not in taught_set]
                core = sorted(set(core))
                n_pre = min(len(core), int(rng.integers(1, 4)))
                if n_pre:
                    prereq = sorted(int(s) for s in rng.choice(core, size=n_pre, replace=False))
            targets = [pos]
            n_extra = int(rng.integers(0, 3))
            for n in self.neighbours[pos][:n_extra]:
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
        appeal = np.exp(cert_attract) * self.demand[focus]
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
            occ_group = self.anchor_occupations[a]
            lead = occ_group[j % len(occ_group)]
            skills += [int(s) for s in esco.occ_skill_ranked[lead][:2]]
            t_skills.append(sorted(set(skills)))
            t_prereq.append([])
            t_targets.append([self.pool_pos[o] for o in occ_group])
            t_focus[i] = self.pool_pos[lead]
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
        self.make_sessions()

    def make_sessions(self) -> None:
        """Dated sessions: a cadence per training over the 24 months and up to 12 months after as_of."""
        rng = self.rng("sessions")
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

    def make_texts(self) -> None:
        """English titles and descriptions from ESCO labels and definitions, with varied templates."""
        rng = self.rng("texts")
        esco = self.esco
        titles: list[str] = []
        descriptions: list[str] = []
        iterator = tqdm(range(self.n_t), desc="training texts", unit="training", disable=self.quiet)
        for i in iterator:
            occ = int(self.pool[self.t_focus[i]])
            occ_label = esco.occ_label[occ]
            phrases = self._skill_phrases(self.t_skills[i], rng)
            clean = [p for p in phrases if _is_clean_title_label(p)]
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
                        f"{_cap(occ_label)} — professional title (level {level})",
                        f"{_cap(occ_label)}: {pair}",
                        f"Become {_a(occ_label)} {occ_label} — {LEVEL_NAMES[level]}",
                        f"{_cap(pair)} — {LEVEL_NAMES[level]} diploma",
                        f"{_cap(occ_label)} certification programme (level {level})",
                        f"Professional {occ_label} training: {s1}",
                    )
                else:
                    templates = (
                        f"{_cap(s1)} — certificate",
                        f"Certificate in {s1}",
                        f"{_cap(pair)} — short course",
                        f"{_cap(s1)}: practical training for {occ_label} work",
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
            a_occ = f"{_a(occ_label)} {occ_label}"
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

    # -- holders ---------------------------------------------------------------------------------------------

    def _job_label(self, rng: np.random.Generator, occ: int) -> tuple[str, str]:
        """A job as a holder declares it: preferred label, an alternative label, or free text with a typo."""
        esco = self.esco
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

    def make_holders(self) -> None:
        """Demographics, dated job histories, diplomas, certifications, past trainings, volunteering, goal."""
        rng = self.rng("holders")
        esco = self.esco
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

        def add_exp(h: int, kind: str, label: str, uri: str, start: int, end: int) -> None:
            exp["h"].append(h)
            exp["kind"].append(kind)
            exp["label"].append(label)
            exp["uri"].append(uri)
            exp["start"].append(start)
            exp["end"].append(end)

        for h in tqdm(range(n), desc="holders", unit="holder", disable=self.quiet):
            cs = int(career_start[h])
            career_end = max(cs + 200, as_of_day - int(rng.integers(30, 700))) if status[h] == 1 else as_of_day
            career_end = min(career_end, as_of_day - 1)
            years = (career_end - cs) / 365.25
            n_jobs = int(min(6, 1 + rng.poisson(years / 7)))
            cuts = np.sort(rng.integers(cs + 30, max(cs + 31, career_end - 30), size=n_jobs - 1))
            bounds = [cs, *[int(c) for c in cuts], career_end]
            pos = self.by_demand(rng)
            held: list[int] = []
            for j in range(n_jobs):
                if j > 0:
                    pos = (
                        self.neighbour_of(rng, pos)
                        if rng.random() < 0.7
                        else self.by_demand(rng)
                    )
                start = bounds[j]
                end = bounds[j + 1] - 1 if j < n_jobs - 1 else career_end
                if j > 0 and rng.random() < 0.3:
                    start = start + min(int(rng.integers(30, 400)), (end - start) // 2)
                end = max(end, start)
                is_open = j == n_jobs - 1 and status[h] != 1
                frac = round(float(rng.uniform(0.2, 0.8)), 2) if rng.random() < 0.15 else 1.0
                is_self = status[h] == 2 and (j == n_jobs - 1 or (j == n_jobs - 2 and rng.random() < 0.3))
                occ = int(self.pool[pos])
                label, uri = self._job_label(rng, occ)
                if frac < 1.0 and rng.random() < 0.5:
                    label = f"{label} (part-time)"
                if is_self and rng.random() < 0.5:
                    label = f"{label} (self-employed)"
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
            # Goal: a declared target (progression or career change), a latent one, or continuity.
            draw = rng.random()
            if draw < SHARE_DECLARED_TARGET:
                mode = "target"
            elif draw < SHARE_DECLARED_TARGET + (1 - SHARE_DECLARED_TARGET) * SHARE_LATENT_TARGET:
                mode = "latent_target"
            else:
                mode = "continuity"
            if mode == "continuity":
                goal = current
            elif rng.random() >= SHARE_CAREER_CHANGE:
                goal = self.neighbour_of(rng, current)
            else:
                goal = self.by_demand(rng)
                for _ in range(20):  # a career change: an occupation never held
                    if goal not in held:
                        break
                    goal = self.by_demand(rng)
            goal_occ[h] = int(self.pool[goal])
            goal_mode[h] = mode
            if mode == "target":
                target[h] = int(self.pool[goal])
            # Diploma.
            if qual[h] > 0:
                names = DIPLOMA_NAMES[int(qual[h])]
                field_pos = held[0] if rng.random() < 0.7 else self.neighbour_of(rng, held[0])
                field_occ = int(self.pool[field_pos])
                name = names[int(rng.integers(0, len(names)))]
                graduated = cs - int(rng.integers(0, 90))
                add_exp(
                    h,
                    "diploma",
                    f"{name} — {esco.occ_label[field_occ]}",
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
                occ_contrib["occ"].append(int(self.pool[int(rng.integers(0, len(self.pool)))]))
                occ_contrib["factor"].append(float(rng.uniform(0.2, 0.5)))
            # Certifications.
            for _ in range(int(rng.random() < 0.25) + int(rng.random() < 0.05)):
                ranked = esco.occ_skill_ranked[int(self.pool[held[int(rng.integers(0, len(held)))]])][:15]
                clean = ranked[esco.skill_title_clean[ranked]]
                ranked = clean if len(clean) else ranked
                skill = int(ranked[int(rng.integers(0, len(ranked)))])
                day = int(rng.integers(cs, as_of_day - 30))
                title = esco.skill_title[skill]
                label = (
                    f"{_cap(title)} — certificate",
                    f"Certified in {title}",
                    f"RS{int(rng.integers(1000, 10000))} {title}",
                )[int(rng.integers(0, 3))]
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
                    focus = held[int(rng.integers(0, len(held)))]
                    options = self.trainings_by_focus.get(focus)
                    t = (
                        int(options[int(rng.integers(0, len(options)))])
                        if options is not None
                        else int(rng.integers(0, self.n_t))
                    )
                    day = int(rng.integers(lo, hi))
                    weeks = math.ceil(self.t_hours[t] / WEEKLY_HOURS[MODALITIES[self.t_modality[t]]])
                    first_skill = self.t_skills[t][0] if self.t_skills[t] else -1
                    add_exp(
                        h,
                        "training",
                        self.t_title[t],
                        str(esco.skill_uris[first_skill]) if first_skill >= 0 and rng.random() < 0.4 else "",
                        day,
                        min(day + 7 * weeks, self.window_start_day - 1),
                    )
                    spends["h"].append(h)
                    spends["day"].append(day)
                    spends["price"].append(int(self.t_price[t]))
                    spends["ref"].append(f"training-{self.t_ids[t]}-{day}")
                    for s in self.t_skills[t]:
                        skill_contrib["h"].append(h)
                        skill_contrib["skill"].append(int(s))
                        skill_contrib["value"].append(0.55)
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
                add_exp(h, "volunteering", f"{_cap(label)}, about {hours} h a year", skill_uri, start, end)
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
        self.h_price_sensitivity = np.round(rng.lognormal(0.0, 0.5, n) * np.array([1.0, 1.4, 0.8])[status], 4)
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

    # -- latent skills -------------------------------------------------------------------------------------

    def make_skills(self) -> None:
        """Latent proficiency = max over sources; declared skills are a noisy subset of it."""
        rng = self.rng("skills")
        esco = self.esco
        n_skills = len(esco.skill_uris)
        pos, skills, weight = _expand_rows(esco.occ_skills, self.occ_contrib["occ"].astype(np.int64))
        values = np.r_[weight * self.occ_contrib["factor"][pos], self.skill_contrib["value"]]
        holders = np.r_[self.occ_contrib["h"][pos], self.skill_contrib["h"]].astype(np.int64)
        skills = np.r_[skills, self.skill_contrib["skill"]].astype(np.int64)
        keys, best = _group_max(holders * n_skills + skills, values)
        best = np.round(np.minimum(best, 1.0), 4)
        keep = best >= 0.1
        self.hs_holder, self.hs_skill, self.hs_prof = (
            keys[keep] // n_skills,
            keys[keep] % n_skills,
            best[keep],
        )
        # Goal skills: weights of the goal occupation, normalised, times the mode weight.
        pos, g_skill, g_w = _expand_rows(esco.occ_skills, self.h_goal_occ)
        totals = np.bincount(pos, weights=g_w, minlength=self.n_h)
        mode_w = np.where(self.h_goal_mode == "continuity", CONTINUITY_MODE_WEIGHT, 1.0)
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
            for idx in np.sort(_weighted_sample(rng, candidates, k, p)):
                skill = int(self.hs_skill[idx])
                label = esco.skill_title[skill]
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

    # -- rights ledger ---------------------------------------------------------------------------------------

    def make_activity_years(self) -> None:
        """Time worked per holder and civil year (from the dated jobs) and the CPF credit the rules give."""
        jobs = self.jobs
        years = [
            y
            for y in range(CPF_FIRST_ACTIVITY_YEAR, self.as_of.year)
            if to_days(dt.date(y + 1, *CPF_CREDIT_MONTH_DAY)) < self.as_of_day
        ]
        rows: dict[str, list] = {
            k: [] for k in ("h", "year", "fraction", "status", "credit", "ceiling", "day")
        }
        for year in years:
            y0, y1 = to_days(dt.date(year, 1, 1)), to_days(dt.date(year + 1, 1, 1))
            overlap = np.clip(np.minimum(jobs["end"] + 1, y1) - np.maximum(jobs["start"], y0), 0, None)
            share = overlap / (y1 - y0) * jobs["frac"]
            employee = np.bincount(jobs["h"], weights=share * ~jobs["self"], minlength=self.n_h)
            self_employed = np.bincount(jobs["h"], weights=share * jobs["self"], minlength=self.n_h)
            fraction = np.round(np.minimum(employee + self_employed, 1.0), 4)
            posted = to_days(dt.date(year + 1, *CPF_CREDIT_MONTH_DAY))
            for h in np.flatnonzero(fraction > 0):
                status = "self_employed" if self_employed[h] > employee[h] else "employee"
                credit, ceiling = annual_credit_cents(
                    year, float(fraction[h]), status, bool(self.h_qual[h] == 0)
                )
                rows["h"].append(int(h))
                rows["year"].append(year)
                rows["fraction"].append(float(fraction[h]))
                rows["status"].append(status)
                rows["credit"].append(credit)
                rows["ceiling"].append(ceiling)
                rows["day"].append(posted)
        self.activity = {k: np.array(v) for k, v in rows.items()}

    def _events(self, enrolments: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """Every movement of rights: credits, trainings before the window, reservations and refunds."""
        ev: dict[str, list] = {
            k: [] for k in ("h", "day", "order", "kind", "amount", "ceiling", "ref", "link", "rate")
        }

        def add(
            h: int,
            day: int,
            order: int,
            kind: str,
            amount: int,
            ceiling: int,
            ref: str,
            link: int = -1,
            rate: int = 0,
        ) -> None:
            for key, value in zip(ev, (h, day, order, kind, amount, ceiling, ref, link, rate), strict=True):
                ev[key].append(value)

        act = self.activity
        for i in range(len(act["h"])):
            add(
                int(act["h"][i]),
                int(act["day"][i]),
                0,
                "cpf_credit",
                int(act["credit"][i]),
                int(act["ceiling"][i]),
                f"cpf-credit-{act['year'][i]}",
            )
        for h, year, activity in zip(
            self.cec_years["h"], self.cec_years["year"], self.cec_years["activity"], strict=True
        ):
            day = to_days(dt.date(year + 1, *CEC_CREDIT_MONTH_DAY))
            if day < self.as_of_day:
                add(
                    h,
                    day,
                    0,
                    "cec_credit",
                    CEC_CREDIT_CENTS,
                    CEC_CEILING_CENTS,
                    f"cec-credit-{year}-{activity}",
                )
        sp_ = self.pre_spends
        for h, day, price, ref in zip(sp_["h"], sp_["day"], sp_["price"], sp_["ref"], strict=True):
            add(h, day, 2, "training", price, 0, ref)
        if enrolments is not None:
            for i in range(len(enrolments["h"])):
                h, t = int(enrolments["h"][i]), int(enrolments["t"][i])
                ref = f"enrolment-{self.t_ids[t]}-{enrolments['session'][i]}"
                add(h, int(enrolments["day"][i]), 2, "reservation", int(self.t_price[t]), 0, ref, i)
                if enrolments["cancel_day"][i] >= 0:
                    add(h, int(enrolments["cancel_day"][i]), 3, "cancellation_refund", 0, 0, ref, i)
                elif enrolments["complete_ts"][i] >= 0:
                    add(h, int(enrolments["complete_ts"][i] // DAY), 3, "payment", 0, 0, ref, i)
                elif enrolments["dropout_day"][i] >= 0:
                    add(
                        h,
                        int(enrolments["dropout_day"][i]),
                        3,
                        "unpaid_refund",
                        0,
                        0,
                        ref,
                        i,
                        int(enrolments["completion_pct"][i]),
                    )
        return {k: np.array(v, dtype=object if k in ("kind", "ref") else np.int64) for k, v in ev.items()}

    def replay_ledger(
        self,
        events: dict[str, np.ndarray],
        before_day: int,
        record: bool,
    ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
        """Apply the events dated before ``before_day`` in order; returns available CPF and CEC rights.

        Accounts per holder: ``cpf`` and ``cec`` (available), ``cpf_reserved`` and ``cec_reserved`` (held by
        a file not yet paid). A credit is capped so that available + reserved stays within its ceiling. A
        training or a reservation takes CPF rights, then CEC rights (the rest is out of pocket). A
        cancellation restores the reservation; a payment consumes it; a dropout pays the completion rate and
        restores the rest.
        """
        balance = {name: np.zeros(self.n_h, dtype=np.int64) for name in LEDGER_ACCOUNTS}
        order = np.lexsort((np.arange(len(events["h"])), events["order"], events["day"], events["h"]))
        used: dict[int, tuple[int, int]] = {}
        rows: list[tuple] = []
        for i in order:
            day = int(events["day"][i])
            if day >= before_day:
                continue
            h, kind, amount = int(events["h"][i]), str(events["kind"][i]), int(events["amount"][i])
            ceiling = int(events["ceiling"][i])
            moves: list[tuple[str, int]] = []
            if kind in ("cpf_credit", "cec_credit"):
                account = kind[:3]
                held = int(balance[account][h]) + int(balance[f"{account}_reserved"][h])
                moves.append((account, min(amount, max(0, ceiling - held))))
            elif kind in ("training", "reservation"):
                from_cpf = min(int(balance["cpf"][h]), amount)
                from_cec = min(int(balance["cec"][h]), amount - from_cpf)
                moves += [("cpf", -from_cpf), ("cec", -from_cec)]
                if kind == "reservation":
                    used[int(events["link"][i])] = (from_cpf, from_cec)
                    moves += [("cpf_reserved", from_cpf), ("cec_reserved", from_cec)]
            else:
                from_cpf, from_cec = used[int(events["link"][i])]
                moves += [("cpf_reserved", -from_cpf), ("cec_reserved", -from_cec)]
                if kind == "cancellation_refund":
                    moves += [("cpf", from_cpf), ("cec", from_cec)]
                elif kind == "unpaid_refund":
                    rate = int(events["rate"][i])
                    unpaid_cpf = from_cpf - from_cpf * rate // 100
                    unpaid_cec = from_cec - from_cec * rate // 100
                    moves += [("cpf", unpaid_cpf), ("cec", unpaid_cec)]
            for account, delta in moves:
                if delta == 0:
                    continue
                balance[account][h] += delta
                if record:
                    after = int(balance[account][h])
                    rows.append((h, day, account, kind, delta, after, ceiling, str(events["ref"][i])))
        ledger = None
        if record:
            columns = ["h", "day", "account", "kind", "amount_cents", "balance_after_cents", "ceiling_cents",
                       "reference"]
            ledger = pd.DataFrame(rows, columns=columns)
        return balance["cpf"], balance["cec"], ledger

    # -- interactions ----------------------------------------------------------------------------------------

    def simulate(self, inputs: UtilityInputs) -> None:
        """Views by softmax over the catalogue (Gumbel top-k), enrolments by utility + noise, outcomes."""
        rng = self.rng("interactions")
        scale = self.scale
        n_h, n_t = self.n_h, self.n_t
        n_views = np.minimum(rng.poisson(self.h_activity * scale.mean_views), n_t)
        views: dict[str, list[np.ndarray]] = {k: [] for k in ("h", "t", "u", "met")}
        blocks = range(0, n_h, scale.block)
        for b0 in tqdm(blocks, desc="views", unit="block", disable=self.quiet):
            block = np.arange(b0, min(n_h, b0 + scale.block))
            active = block[n_views[block] > 0]
            if len(active) == 0:
                continue
            if scale.pool == "full":
                cand_h = np.repeat(block, n_t)
                cand_t = np.tile(np.arange(n_t), len(block))
                keep = n_views[cand_h] > 0
                cand_h, cand_t = cand_h[keep], cand_t[keep]
                gap, met = _pair_gap_met(inputs, block, cand_h, cand_t, dense=True)
            else:
                gap_m = _block_gap(inputs, block)
                near: list[np.ndarray] = []
                k = scale.pool_overlap
                for row in range(len(block)):  # the k trainings closing most of this holder's gap
                    lo, hi = gap_m.indptr[row], gap_m.indptr[row + 1]
                    cols = gap_m.indices[lo:hi]
                    if hi - lo > k:
                        cols = cols[np.argpartition(-gap_m.data[lo:hi], k - 1)[:k]]
                    near.append(cols.astype(np.int64) + (block[row] * n_t))
                rand_h = np.repeat(block, scale.pool_random)
                rand_t = rng.integers(0, n_t, size=len(rand_h))
                key = np.sort(np.concatenate([*near, rand_h * n_t + rand_t]))
                key = key[np.r_[True, key[1:] != key[:-1]]]  # (np.unique hashes: much slower here)
                cand_h, cand_t = key // n_t, key % n_t
                keep = n_views[cand_h] > 0
                cand_h, cand_t = cand_h[keep], cand_t[keep]
                gap, met = _pair_gap_met(inputs, block, cand_h, cand_t, dense=False, gap_m=gap_m)
            utility = pair_utility(inputs, cand_h, cand_t, gap, met)
            keys = utility / VIEW_TEMPERATURE + rng.gumbel(size=len(utility))
            order, rank = _rank_within(cand_h, keys)
            chosen = order[rank < n_views[cand_h[order]]]
            chosen = chosen[np.lexsort((cand_t[chosen], cand_h[chosen]))]
            views["h"].append(cand_h[chosen])
            views["t"].append(cand_t[chosen])
            views["u"].append(np.round(utility[chosen], 10))
            views["met"].append(met[chosen])
        vh = np.concatenate(views["h"]).astype(np.int64)
        vt = np.concatenate(views["t"]).astype(np.int64)
        vu = np.concatenate(views["u"])
        vmet = np.concatenate(views["met"])
        # When: a few search episodes per holder; a view happens while the training is on the catalogue
        # (a session within the next 12 months).
        window_s, as_of_s = self.window_start_day * DAY, self.as_of_day * DAY
        n_episodes = 1 + rng.poisson(1.0, n_h)
        episode_start = window_s + (rng.random((n_h, int(n_episodes.max()))) * (as_of_s - window_s - 2 * DAY))
        episode = (rng.random(len(vh)) * n_episodes[vh]).astype(np.int64)
        when = episode_start[vh, episode] + rng.exponential(1.5 * DAY, len(vh))
        first_session = self.sess_days[self.sess_ptr[:-1]]
        last_session = self.sess_days[self.sess_ptr[1:] - 1]
        open_from = np.maximum((first_session[vt] - 365) * DAY, window_s)
        open_until = np.minimum(last_session[vt] * DAY, as_of_s - DAY) - 1
        outside = (when < open_from) | (when > open_until)
        redraw = open_from + rng.random(len(vh)) * np.maximum(open_until - open_from, 0)
        when = np.where(outside, redraw, when)
        valid = open_until > open_from
        when = np.floor(np.minimum(when, as_of_s - DAY - 1)).astype(np.int64)
        vh, vt, vu, vmet, when = vh[valid], vt[valid], vu[valid], vmet[valid], when[valid]
        # Enrolments: a session starting 14–180 days after the view; utility + noise above a world threshold.
        view_day = when // DAY
        session = self.next_session(vt, view_day + MIN_DAYS_BEFORE_SESSION)
        eligible = (session >= 0) & (session <= view_day + MAX_DAYS_BEFORE_SESSION)
        decision = vu + rng.normal(0.0, ENROL_NOISE_SD, len(vu))
        threshold = float(np.quantile(decision[eligible], 1 - ENROL_RATE)) if eligible.any() else np.inf
        enrol = eligible & (decision > threshold)
        idx = np.flatnonzero(enrol)
        order, rank = _rank_within(vh[idx], decision[idx])
        idx = np.sort(idx[order[rank < MAX_ENROLMENTS]])
        eh, et, es = vh[idx], vt[idx], session[idx]
        upper = np.minimum.reduce(
            [np.full(len(idx), 5 * DAY), (es - 11) * DAY - when[idx], as_of_s - 1 - when[idx]]
        )
        enrol_ts = when[idx] + 3_600 + (rng.random(len(idx)) * np.maximum(upper - 3_600, 1)).astype(np.int64)
        quality = inputs.quality[et]
        n_pre = inputs.n_prerequisites[et]
        unmet = np.where(n_pre > 0, (n_pre - vmet[idx]) / np.maximum(n_pre, 1), 0.0)
        p_cancel = 0.05 + 0.2 * (1 - quality) + 0.1 * unmet
        cancel_ts = enrol_ts + (rng.random(len(idx)) * (es * DAY - enrol_ts)).astype(np.int64)
        cancelled = (rng.random(len(idx)) < p_cancel) & (cancel_ts < as_of_s)
        weekly = np.array([WEEKLY_HOURS[m] for m in MODALITIES])[self.t_modality[et]]
        end_day = es + np.ceil(self.t_hours[et] / weekly * 7).astype(np.int64)
        finished = ~cancelled & (end_day < self.as_of_day)
        p_complete = np.clip(0.2 + 0.75 * quality - 0.4 * unmet, 0.05, 0.97)
        completed = finished & (rng.random(len(idx)) < p_complete)
        complete_ts = end_day * DAY + rng.integers(9 * 3_600, 18 * 3_600, size=len(idx))
        dropout = finished & ~completed
        self.views = {"h": vh, "t": vt, "ts": when, "u": vu}
        self.enrolments = {
            "h": eh,
            "t": et,
            "ts": enrol_ts,
            "day": enrol_ts // DAY,
            "session": days_to_iso(es),
            "session_day": es,
            "cancel_ts": np.where(cancelled, cancel_ts, -1),
            "cancel_day": np.where(cancelled, cancel_ts // DAY, -1),
            "complete_ts": np.where(completed, complete_ts, -1),
            "dropout_day": np.where(dropout, end_day, -1),
            "completion_pct": np.where(dropout, rng.integers(10, 71, size=len(idx)), 100),
        }
        self.enrol_threshold = threshold

    # -- tables ----------------------------------------------------------------------------------------------

    def training_frame(self) -> pd.DataFrame:
        esco = self.esco
        dates = days_to_iso(self.sess_days)
        ptr = self.sess_ptr
        level = np.where(self.t_level > 0, self.t_level.astype(str), "")
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
                "skills": ["|".join(esco.skill_uris[s]) for s in self.t_skills],
                "prerequisites": ["|".join(esco.skill_uris[s]) for s in self.t_prereq],
                "target_occupations": ["|".join(esco.occ_uris[self.pool[t]]) for t in self.t_targets],
                "level": level,
                "start_dates": ["|".join(dates[ptr[i] : ptr[i + 1]]) for i in range(self.n_t)],
            }
        )

    def truth_frames(self, budget: np.ndarray) -> dict[str, pd.DataFrame]:
        esco = self.esco
        h = np.arange(self.n_h)
        return {
            "holders": pd.DataFrame(
                {
                    "holder_id": h,
                    "region_code": np.array(REGION_CODES)[self.h_region],
                    "qualification_level": np.where(self.h_qual > 0, self.h_qual.astype(str), ""),
                }
            ),
            "preferences": pd.DataFrame(
                {
                    "holder_id": h,
                    "price_sensitivity": self.h_price_sensitivity,
                    "w_onsite": self.h_modality_w[:, 0],
                    "w_remote": self.h_modality_w[:, 1],
                    "w_hybrid": self.h_modality_w[:, 2],
                    "mobility": self.h_mobility,
                    "activity": self.h_activity,
                    "budget_cents": budget,
                    "participation_cents": self.h_participation,
                    "goal_mode": self.h_goal_mode.astype(str),
                    "goal_occupation": esco.occ_uris[self.h_goal_occ],
                    "gap_discount": self.h_gap_discount,
                }
            ),
            "holder_skills": pd.DataFrame(
                {
                    "holder_id": self.hs_holder,
                    "skill_uri": pd.Categorical.from_codes(self.hs_skill, dtype=esco.skill_dtype),
                    "proficiency": self.hs_prof,
                }
            ),
            "goal_skills": pd.DataFrame(
                {
                    "holder_id": self.gs_holder,
                    "skill_uri": pd.Categorical.from_codes(self.gs_skill, dtype=esco.skill_dtype),
                    "weight": self.gs_weight,
                }
            ),
            "training_truth": pd.DataFrame(
                {
                    "training_id": self.t_ids,
                    "focus_occupation": esco.occ_uris[self.pool[self.t_focus]],
                    "attractiveness": self.t_attract,
                    "session_status": self.t_status,
                    "cadence_days": self.t_cadence,
                    "anchor": [ANCHORS[a].name if a >= 0 else "" for a in self.anchor_of],
                }
            ),
            "providers": pd.DataFrame(
                {
                    "provider_id": self.p_ids,
                    "provider_name": self.p_name,
                    "region_code": np.array(REGION_CODES)[self.p_region],
                    "quality": self.p_quality,
                    "brand": self.p_brand,
                }
            ),
        }


def _demo_order(builder: _WorldBuilder, cpf: np.ndarray) -> np.ndarray:
    """Holder order with three demo holders first: employees with a declared target, a live enrolment and
    CPF rights left (falling back to fewer conditions)."""
    enrolled = np.zeros(builder.n_h, dtype=bool)
    live = builder.enrolments["cancel_ts"] < 0
    enrolled[builder.enrolments["h"][live]] = True
    preferred = enrolled & (builder.h_target >= 0) & (builder.h_status == 0)
    demo: list[int] = []
    for mask in (preferred & (cpf > 0), preferred, enrolled, np.ones(builder.n_h, dtype=bool)):
        for h in np.flatnonzero(mask):
            if len(demo) < 3 and int(h) not in demo:
                demo.append(int(h))
    rest = [h for h in range(builder.n_h) if h not in set(demo)]
    return np.array(demo + rest, dtype=np.int64)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def generate_world(out: Path, *, scale: str, seed: int, as_of: dt.date | None = None) -> str:
    """Write a synthetic world (import files, demo users, ``truth/``, ``manifest.json``) into ``out``.

    The world is a deterministic function of (seed, scale, as_of); ``as_of`` defaults to the first day of the
    current month. Returns a one-paragraph summary with counts and timings.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    as_of = as_of or first_of_month(dt.date.today())
    out = Path(out)
    truth_dir = out / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    timer = _Timer()
    builder = _WorldBuilder(SCALES[scale], seed, as_of)
    timer.lap("esco")
    builder.pick_occupations()
    builder.make_providers()
    builder.make_trainings()
    builder.make_texts()
    timer.lap("catalogue")
    builder.make_holders()
    builder.make_skills()
    builder.make_activity_years()
    cpf0, cec0, _ = builder.replay_ledger(builder._events(None), builder.window_start_day, record=False)
    timer.lap("holders")
    trainings = builder.training_frame()
    frames = builder.truth_frames(cpf0 + cec0)
    inputs = _utility_inputs(
        builder.esco,
        frames["holders"],
        frames["preferences"],
        frames["holder_skills"],
        frames["goal_skills"],
        trainings,
        frames["training_truth"],
        frames["providers"],
    )
    builder.simulate(inputs)
    timer.lap("interactions")
    cpf, cec, ledger = builder.replay_ledger(
        builder._events(builder.enrolments), builder.as_of_day, record=True
    )
    assert ledger is not None
    timer.lap("ledger")

    order = _demo_order(builder, cpf)
    rank = np.empty(builder.n_h, dtype=np.int64)
    rank[order] = np.arange(builder.n_h)
    hid = np.array([f"H{i + 1:06d}" for i in range(builder.n_h)], dtype=object)[rank]  # holder position → id
    esco = builder.esco

    holders = pd.DataFrame(
        {
            "holder_id": hid,
            "birth_year": builder.h_birth_year,
            "region_code": np.array(REGION_CODES)[builder.h_region],
            "employment_status": np.array(EMPLOYMENT_STATUSES)[builder.h_status],
            "qualification_level": np.where(builder.h_qual > 0, builder.h_qual.astype(str), ""),
            "cpf_balance_cents": cpf,
            "cec_balance_cents": cec,
            "preferred_modality": builder.h_pref_modality.astype(str),
            "target_occupation": np.where(
                builder.h_target >= 0, esco.occ_uris[np.maximum(builder.h_target, 0)], ""
            ),
        }
    ).iloc[order]
    exp = builder.exp
    experience = pd.DataFrame(
        {
            "holder_id": hid[exp["h"]],
            "kind": exp["kind"],
            "label": exp["label"],
            "esco_uri": exp["uri"],
            "start_date": days_to_iso(exp["start"]),
            "end_date": np.where(exp["end"] >= 0, days_to_iso(np.maximum(exp["end"], 0)), ""),
        }
    ).sort_values("holder_id", kind="stable")
    en, vw = builder.enrolments, builder.views
    t_ids = np.array(builder.t_ids, dtype=object)
    parts = [
        (vw["h"], vw["t"], "view", vw["ts"], 0),
        (en["h"], en["t"], "enrol", en["ts"], 1),
        (
            en["h"][en["cancel_ts"] >= 0],
            en["t"][en["cancel_ts"] >= 0],
            "cancel",
            en["cancel_ts"][en["cancel_ts"] >= 0],
            2,
        ),
        (
            en["h"][en["complete_ts"] >= 0],
            en["t"][en["complete_ts"] >= 0],
            "complete",
            en["complete_ts"][en["complete_ts"] >= 0],
            3,
        ),
    ]
    interactions = pd.DataFrame(
        {
            "holder_id": np.concatenate([hid[p[0]] for p in parts]),
            "training_id": np.concatenate([t_ids[p[1]] for p in parts]),
            "event": np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts]),
            "ts": np.concatenate([p[3] for p in parts]).astype(np.int64),
            "rank": np.concatenate([np.full(len(p[0]), p[4]) for p in parts]),
        }
    ).sort_values(["ts", "holder_id", "training_id", "rank"], kind="stable")
    interactions["timestamp"] = seconds_to_iso(interactions["ts"].to_numpy())
    counts_by_event = interactions["event"].value_counts().to_dict()

    _write_csv(trainings, out / "trainings.csv")
    _write_csv(holders, out / "holders.csv")
    _write_csv(experience, out / "experience.csv")
    _write_csv(interactions[["holder_id", "training_id", "event", "timestamp"]], out / "interactions.csv")

    # Demo users (passwords documented in data/README.md: "demo-<username>").
    first = int(order[0])
    first_enrolments = en["t"][en["h"] == first]
    if len(first_enrolments):
        providers_of_first = pd.Series([builder.p_ids[builder.t_provider[t]] for t in first_enrolments])
        counts = providers_of_first.value_counts()
        provider_id = sorted(counts[counts == counts.max()].index)[0]
    else:
        provider_id = (
            builder.p_ids[int(pd.Series(builder.t_provider[en["t"]]).mode().min())]
            if len(en["t"])
            else builder.p_ids[0]
        )
    users = [
        ("admin", "admin", "", "", ""),
        ("adviser", "adviser", "", "", ""),
        ("analyst", "analyst", "", "", ""),
        ("provider", "provider", "", provider_id, ""),
        ("funder", "funder", "", "", "CDC"),
    ]
    users += [(f"holder{i + 1}", "holder", f"H{i + 1:06d}", "", "") for i in range(min(3, builder.n_h))]
    _write_csv(
        pd.DataFrame(
            [(u, f"demo-{u}", r, h, p, f) for u, r, h, p, f in users],
            columns=["username", "password", "role", "holder_id", "provider_id", "funder_id"],
        ),
        out / "demo_users.csv",
    )

    # Truth.
    for name, frame in frames.items():
        if name in ("holders",):
            continue
        frame = frame.copy()
        if "holder_id" in frame:
            frame["holder_id"] = hid[frame["holder_id"].to_numpy(dtype=np.int64)]
            frame = frame.sort_values(["holder_id"], kind="stable")
        file_name = {
            "preferences": "holder_preferences.csv",
            "holder_skills": "holder_skills.csv",
            "goal_skills": "holder_goal_skills.csv",
            "training_truth": "trainings.csv",
            "providers": "providers.csv",
        }[name]
        _write_csv(frame, truth_dir / file_name)
    jobs = builder.jobs
    _write_csv(
        pd.DataFrame(
            {
                "holder_id": hid[jobs["h"]],
                "occupation_uri": esco.occ_uris[builder.pool[jobs["occ"]]],
                "start_date": days_to_iso(jobs["start"]),
                "end_date": days_to_iso(jobs["end"]),
                "time_fraction": jobs["frac"],
                "self_employed": jobs["self"],
            }
        ).sort_values("holder_id", kind="stable"),
        truth_dir / "jobs.csv",
    )
    act = builder.activity
    _write_csv(
        pd.DataFrame(
            {
                "holder_id": hid[act["h"]] if len(act["h"]) else [],
                "year": act["year"],
                "time_fraction": act["fraction"],
                "status": act["status"],
                "without_level3": builder.h_qual[act["h"]] == 0 if len(act["h"]) else [],
                "credit_cents": act["credit"],
                "ceiling_cents": act["ceiling"],
                "posted_date": days_to_iso(act["day"]) if len(act["h"]) else [],
            }
        ).sort_values(["holder_id", "year"], kind="stable"),
        truth_dir / "activity_years.csv",
    )
    ledger.insert(0, "holder_id", hid[ledger["h"].to_numpy(dtype=np.int64)])
    ledger.insert(1, "date", days_to_iso(ledger["day"].to_numpy()))
    _write_csv(
        ledger.drop(columns=["h", "day"]).sort_values("holder_id", kind="stable"), truth_dir / "ledger.csv"
    )
    outcome = np.where(
        en["cancel_ts"] >= 0,
        "cancelled",
        np.where(
            en["complete_ts"] >= 0, "completed", np.where(en["dropout_day"] >= 0, "dropout", "in_progress")
        ),
    )
    _write_csv(
        pd.DataFrame(
            {
                "holder_id": hid[en["h"]],
                "training_id": t_ids[en["t"]],
                "session_start": en["session"],
                "enrolled_at": seconds_to_iso(en["ts"]),
                "outcome": outcome,
                "completion_pct": en["completion_pct"],
            }
        ).sort_values(["holder_id", "training_id"], kind="stable"),
        truth_dir / "enrolments.csv",
    )
    _write_csv(
        pd.DataFrame(
            {"holder_id": hid[vw["h"]], "training_id": t_ids[vw["t"]], "utility": vw["u"]}
        ).sort_values(["holder_id", "training_id"], kind="stable"),
        truth_dir / "viewed_utility.csv",
    )
    timer.lap("write")

    counts = {
        "trainings": builder.n_t,
        "providers": len(builder.p_ids),
        "holders": builder.n_h,
        "experience": len(experience),
        "interactions": len(interactions),
        "events": {k: int(counts_by_event.get(k, 0)) for k in ("view", "enrol", "cancel", "complete")},
        "sessions": len(builder.sess_days),
        "occupations": len(builder.pool),
        "ledger_movements": len(ledger),
        "trainings_with_future_session": int(
            (builder.sess_days[builder.sess_ptr[1:] - 1] >= builder.as_of_day).sum()
        ),
    }
    manifest = {
        "generator": "training.datasets.world",
        "generator_version": GENERATOR_VERSION,
        "scale": scale,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "window": {"start": builder.window_start.isoformat(), "end_exclusive": as_of.isoformat()},
        "scale_parameters": asdict(builder.scale),
        "utility_weights": asdict(UTILITY_WEIGHTS),
        "process": {
            "view_temperature": VIEW_TEMPERATURE,
            "enrol_noise_sd": ENROL_NOISE_SD,
            "enrol_rate": ENROL_RATE,
            "enrol_threshold": round(builder.enrol_threshold, 6),
            "max_enrolments": MAX_ENROLMENTS,
            "min_days_before_session": MIN_DAYS_BEFORE_SESSION,
            "max_days_before_session": MAX_DAYS_BEFORE_SESSION,
        },
        "counts": counts,
        "files": {name: _sha256(out / name) for name in (*IMPORT_FILES, "demo_users.csv")},
        "demo_users": {"password_rule": "demo-<username>", "usernames": [u[0] for u in users]},
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    timer.lap("manifest")
    total = sum(timer.timings.values())
    ev = counts["events"]
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in timer.timings.items())
    return (
        f"World '{scale}' (seed {seed}, as of {as_of.isoformat()}) written to {out}: {builder.n_t} trainings "
        f"from {len(builder.p_ids)} providers over {len(builder.pool)} ESCO occupations, "
        f"{counts['trainings_with_future_session']} with a future session; {builder.n_h} holders with "
        f"{len(experience)} experience rows; {len(interactions)} interactions ({ev['view']} views, "
        f"{ev['enrol']} enrolments, {ev['complete']} completions, {ev['cancel']} cancellations) from "
        f"{builder.window_start.isoformat()} to {as_of.isoformat()}; {len(users)} demo users; truth in "
        f"{truth_dir.name}/. Generated in {total:.1f} s ({steps})."
    )
